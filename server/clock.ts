/**
 * Time, behind an interface, so session expiry can be tested without waiting and simulated
 * deterministically. Only code outside store/ reads it: the store never sees a clock.
 */
export interface Clock {
  /** Milliseconds on a monotonic clock (not wall time). */
  now(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
};

/** A clock that moves only when told to: for tests. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
