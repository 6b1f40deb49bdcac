/**
 * The closed-loop driver shared by the throughput workloads: `concurrency` workers, each issuing
 * one operation at a time (so exactly `concurrency` are in flight), first for a warm-up whose
 * results are not recorded, then for the measured window. It stops at the deadline or after
 * `maxOps` measured operations, whichever comes first, waits for what is in flight, and fails
 * on the first error (every worker stops; the error is rethrown).
 */
import { performance } from 'node:perf_hooks';
import { CpuMeter, type CpuReading } from './cpu.ts';
import { LatencyRecorder, now } from './recorder.ts';
import type { LatencySummary } from './stats.ts';

export interface LoopOptions {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  maxOps: number;
  /** Servers whose CPU is measured (none with --url). */
  cpuPids: readonly number[];
  /** One operation. `n` numbers the operations of the phase (warm-up and measured separately). */
  op(worker: number, n: number, measured: boolean): Promise<void>;
}

export interface LoopResult {
  ops: number;
  elapsedMs: number;
  latency: LatencySummary;
  warmupOps: number;
  /** True if the count bound, not the deadline, ended it. */
  hitCountBound: boolean;
  /** CPU of the server and of this process over the measured window. */
  cpu: CpuReading;
}

export async function closedLoop(o: LoopOptions): Promise<LoopResult> {
  const recorder = new LatencyRecorder();
  const measureFrom = performance.now() + o.warmupMs;
  const measureUntil = measureFrom + o.durationMs;
  let warmupIssued = 0;
  let issued = 0;
  let lastDone = measureFrom;
  let failure: unknown = null;
  let meter: CpuMeter | null = null;

  const worker = async (w: number): Promise<void> => {
    while (failure === null) {
      const t = performance.now();
      if (t >= measureUntil || issued >= o.maxOps) return;
      const measured = t >= measureFrom;
      if (measured) meter ??= CpuMeter.start(o.cpuPids);
      const n = measured ? issued++ : warmupIssued++;
      const started = now();
      try {
        await o.op(w, n, measured);
      } catch (err) {
        failure ??= err;
        return;
      }
      if (measured) {
        recorder.stop(started);
        lastDone = performance.now();
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)));
  if (failure !== null) throw failure;
  const cpu = (meter ?? CpuMeter.start(o.cpuPids)).read();
  return {
    ops: recorder.count,
    elapsedMs: Math.max(1, lastDone - measureFrom),
    latency: recorder.summary(),
    warmupOps: warmupIssued,
    hitCountBound: issued >= o.maxOps,
    cpu,
  };
}

/** `n` bytes: a readable tag (which op wrote it) padded with '.', so a read can be checked. */
export function taggedValue(tag: string, n = 256): Buffer {
  const b = Buffer.alloc(n, 0x2e);
  b.write(tag, 0, 'latin1');
  return b;
}

/** The tag written by taggedValue (up to the first '.'). */
export function tagOf(value: Uint8Array | null): string | null {
  if (value === null) return null;
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const end = b.indexOf(0x2e);
  return b.toString('latin1', 0, end < 0 ? b.length : end);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `done()` is true, polling; throws `what` after `timeoutMs`. */
export async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const limit = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > limit) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}
