/**
 * Reconnect backoff: an explicit list of delays (the last one repeats), each with full jitter
 * between half and all of it, so a fleet of clients that lost the same server does not come
 * back in one wave.
 */
export const defaultBackoffMs: readonly number[] = [0, 50, 100, 250, 500, 1000, 2000];

export function backoffDelay(attempt: number, schedule: readonly number[] = defaultBackoffMs, random = Math.random): number {
  const base = schedule[Math.min(attempt, schedule.length - 1)] ?? 0;
  return Math.round(base / 2 + (random() * base) / 2);
}

/**
 * Delay before sending again a request answered UNAVAILABLE: doubles from 25 ms to 250 ms (the
 * server already waits out an election before it answers so; a refusal costs it nothing).
 */
export function unavailableDelayMs(times: number): number {
  const base = Math.min(250, 25 * 2 ** Math.min(times, 4));
  return base / 2 + Math.random() * (base / 2);
}
