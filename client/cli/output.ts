/** How the CLI prints values, events and errors, and which exit code an error gives. */
import type { Event } from '../../protocol/messages.ts';
import { ConnectionError, CoordClientError } from '../errors.ts';

export const ExitCode = {
  OK: 0,
  /** The server refused: stderr starts with the error code. */
  REFUSED: 1,
  USAGE: 2,
  /** No server reachable, or no answer in time. */
  UNREACHABLE: 3,
  /** A lock, slot or leadership was lost while the command ran. */
  LOST: 4,
} as const;

/** The command line itself is wrong (a bad --url, say): one line on stderr, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `{ value }` as text when it is UTF-8, else `{ valueBase64 }`. */
export function jsonValue(value: Uint8Array | null | undefined): Record<string, string | null> {
  if (value === null || value === undefined) return { value: null };
  try {
    return { value: utf8.decode(value) };
  } catch {
    return { valueBase64: Buffer.from(value).toString('base64') };
  }
}

export function eventJson(e: Event): string {
  return JSON.stringify({ path: e.path, rev: e.rev, kind: e.kind, ...(e.kind === 'set' ? jsonValue(e.value) : {}) });
}

/** Prints an error the way scripts can rely on, and returns the exit code for it. */
export function reportError(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`coord: ${err.message}\n`);
    return ExitCode.USAGE;
  }
  if (err instanceof ConnectionError || (err instanceof CoordClientError && err.code === 'TIMEOUT')) {
    process.stderr.write(`${err.code === 'TIMEOUT' ? 'TIMEOUT' : 'UNREACHABLE'}: ${err.message}\n`);
    return ExitCode.UNREACHABLE;
  }
  if (err instanceof CoordClientError) {
    process.stderr.write(`${err.code}: ${err.message}\n`);
    return ExitCode.REFUSED;
  }
  process.stderr.write(`coord: ${(err as Error)?.stack ?? String(err)}\n`);
  return ExitCode.REFUSED;
}
