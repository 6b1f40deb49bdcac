/**
 * 6. lock-handoff — 8 clients contend for one lock through the SDK's fair, fenced lock recipe
 * (client.lock); each acquisition is released as soon as it is taken. After 50 warm-up
 * acquisitions (checked, not timed), 200 are measured. ops/s is hand-offs per second; the
 * latency columns are the hand-off gap: from the moment a holder starts its release to the
 * moment the next holder has the lock. `waitP50Ms` is how long a client waits in lock() (about
 * the queue length times the gap).
 *
 * Verified: no two clients ever hold the lock at once (checked across a yield of the event loop
 * while holding it), fencing tokens strictly rise with every grant, no holder's `lost` signal
 * fires while it holds, exactly the acquisitions asked for happened, and the lock's directory is
 * empty at the end.
 */
import { performance } from 'node:perf_hooks';
import type { Lock } from '../../../client/index.ts';
import { CpuMeter } from '../cpu.ts';
import { LatencyRecorder, msBetween, now } from '../recorder.ts';
import { VerificationError, verify, type BenchContext, type Workload, type WorkloadResult } from '../types.ts';

const CLIENTS = 8;
const ACQUISITIONS = 200;
const WARMUP = 50;

export const lockHandoff: Workload = {
  name: 'lock-handoff',
  describe: `${CLIENTS} clients contend for one lock (client.lock), ${ACQUISITIONS} acquisitions`,
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const clients = await ctx.connect(CLIENTS);
    const path = `${ctx.prefix}/lock/l`;
    const gap = new LatencyRecorder();
    const wait = new LatencyRecorder();
    const stop = new AbortController();
    let started = 0;
    let acquired = 0;
    let holder: number | null = null;
    let lastToken = 0;
    let releasedAt: bigint | null = null;
    let problem = '';
    let t0 = performance.now();
    let meter = CpuMeter.start(ctx.cpuPids);
    // The count defines this workload; the time bound is a safety cap.
    const boundMs = Math.max(20_000, 2 * ctx.durationMs);
    const timer = setTimeout(() => stop.abort(new Error('time bound reached')), boundMs);

    const worker = async (c: number): Promise<void> => {
      const client = clients[c]!;
      while (started < WARMUP + ACQUISITIONS && !stop.signal.aborted && problem === '') {
        started++;
        const asked = now();
        let l: Lock;
        try {
          l = await client.lock(path, { signal: stop.signal, info: `client ${c}` });
        } catch (err) {
          if (stop.signal.aborted) {
            started--;
            return;
          }
          throw err;
        }
        const got = now();
        if (holder !== null) problem ||= `client ${c} got the lock while client ${holder} held it`;
        if (l.token <= lastToken) problem ||= `fencing token ${l.token} after ${lastToken}`;
        holder = c;
        lastToken = l.token;
        const measured = acquired++ >= WARMUP;
        if (measured) {
          wait.add(msBetween(asked, got));
          gap.add(msBetween(releasedAt!, got));
        }
        // Hold it across a turn of the event loop, so a second grant in the meantime is seen.
        await new Promise((r) => setImmediate(r));
        if (l.lost.aborted) problem ||= `client ${c} lost the lock while holding it: ${String(l.lost.reason)}`;
        if (holder !== c) problem ||= `client ${holder} took the lock while client ${c} held it`;
        holder = null;
        releasedAt = now();
        if (acquired === WARMUP) {
          // The measured hand-offs start with this release.
          t0 = performance.now();
          meter = CpuMeter.start(ctx.cpuPids);
        }
        await l.release();
      }
    };
    let failure: unknown = null;
    await Promise.all(clients.map((_, c) => worker(c).catch((err) => {
      failure ??= err;
      stop.abort(err);
    })));
    clearTimeout(timer);
    const elapsedMs = performance.now() - t0;
    const cpu = meter.read();
    if (failure !== null) throw failure;
    if (problem !== '') throw new VerificationError(`lock-handoff: ${problem}`);
    verify(acquired === started, `lock-handoff: ${started} lock() calls went ahead but ${acquired} acquired`);
    const left = await clients[0]!.walk(`${path}/*`);
    verify(left.files.length === 0, `lock-handoff: ${left.files.length} contender files left after every release`);
    const w = wait.summary();
    const measured = Math.max(0, acquired - WARMUP);
    return {
      ops: measured,
      elapsedMs,
      latency: gap.summary(),
      extras: { waitP50Ms: w.p50Ms, waitP99Ms: w.p99Ms, ...cpu },
      notes: measured < ACQUISITIONS ? [`only ${measured} of ${ACQUISITIONS} measured acquisitions fit in the time bound`] : [],
    };
  },
};
