/**
 * Small statistics for the benchmark: percentiles by nearest rank over a sorted array, medians
 * across runs. No interpolation: a p99 is a latency some request really had.
 */

/** The p-th percentile (0 < p ≤ 100) of an ascending array, by nearest rank; NaN if empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** The median of some numbers (the mean of the middle two for an even count); NaN if empty. */
export function median(values: readonly number[]): number {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return Number.NaN;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** Summarises latencies in milliseconds (the array is sorted in place). */
export function summarize(samples: Float64Array): LatencySummary {
  samples.sort();
  let sum = 0;
  for (const s of samples) sum += s;
  return {
    count: samples.length,
    p50Ms: percentile(samples, 50),
    p90Ms: percentile(samples, 90),
    p99Ms: percentile(samples, 99),
    maxMs: samples.length > 0 ? samples[samples.length - 1]! : Number.NaN,
    meanMs: samples.length > 0 ? sum / samples.length : Number.NaN,
  };
}
