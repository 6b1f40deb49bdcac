/**
 * Invariant checks. A failed assertion means coord's own state is wrong; carrying on could
 * corrupt data or acknowledge a lie, so it throws an AssertionError that the process treats as
 * fatal (server/main.ts exits on it). Client mistakes never reach here: they get coded errors.
 */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function unreachable(x: never): never {
  throw new AssertionError(`unreachable: ${JSON.stringify(x)}`);
}
