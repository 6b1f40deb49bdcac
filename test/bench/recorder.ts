/**
 * A latency recorder: `start()` takes a process.hrtime.bigint() timestamp, `stop(t)` records the
 * milliseconds since it. Samples go into a growing Float64Array (no per-sample object), so
 * recording a few hundred thousand latencies costs the load generator next to nothing.
 */
import { summarize, type LatencySummary } from './stats.ts';

export const now = (): bigint => process.hrtime.bigint();

/** Milliseconds between two hrtime.bigint() readings. */
export const msBetween = (from: bigint, to: bigint): number => Number(to - from) / 1e6;

export class LatencyRecorder {
  private samples = new Float64Array(4096);
  private n = 0;

  start(): bigint {
    return now();
  }

  /** Records the time since `started`; returns it in milliseconds. */
  stop(started: bigint): number {
    const ms = msBetween(started, now());
    this.add(ms);
    return ms;
  }

  add(ms: number): void {
    if (this.n === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2);
      bigger.set(this.samples);
      this.samples = bigger;
    }
    this.samples[this.n++] = ms;
  }

  get count(): number {
    return this.n;
  }

  summary(): LatencySummary {
    return summarize(this.samples.slice(0, this.n));
  }
}
