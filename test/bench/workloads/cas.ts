/**
 * 4. cas — 16 clients increment one hot key: GET it, then SET n+1 with the rev they read
 * (compare-and-set). A REV_MISMATCH is a conflict: someone else got there first; read again.
 * After a warm-up (a tenth of the duration, at most 1 s), ops = successful increments started
 * in the measured window; latency = one increment, from its first read to its successful write
 * (conflicts and retries included).
 *
 * Verified: the counter ends equal to the number of successful increments, each success was
 * acknowledged with a distinct revision, and the final rev is the last success's rev.
 */
import { performance } from 'node:perf_hooks';
import { RevMismatchError, text } from '../../../client/index.ts';
import { CpuMeter } from '../cpu.ts';
import { LatencyRecorder } from '../recorder.ts';
import { verify, type BenchContext, type Workload, type WorkloadResult } from '../types.ts';

const CLIENTS = 16;
const MAX_SUCCESSES = 1_000_000;

export const cas: Workload = {
  name: 'cas',
  describe: `${CLIENTS} clients do read-then-SET(rev) increments of one hot key`,
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const clients = await ctx.connect(CLIENTS);
    const key = `${ctx.prefix}/cas/counter`;
    await clients[0]!.set(key, '0', { rev: 0 });
    const recorder = new LatencyRecorder();
    let successes = 0;
    let measuredSuccesses = 0;
    let measuredConflicts = 0;
    let maxRev = 0;
    const revs = new Set<number>();
    let failure: unknown = null;
    let started = performance.now() + Math.min(1000, ctx.durationMs / 10);
    let meter: CpuMeter | null = null;
    const warm = setTimeout(() => {
      started = performance.now();
      meter = CpuMeter.start(ctx.cpuPids);
    }, started - performance.now());
    const deadline = started + ctx.durationMs;

    const worker = async (c: number): Promise<void> => {
      const client = clients[c]!;
      while (failure === null && performance.now() < deadline && successes < MAX_SUCCESSES) {
        const t = recorder.start();
        const measured = meter !== null;
        for (;;) {
          const cur = await client.get(key);
          const n = Number(text(cur.value));
          try {
            const rev = await client.set(key, String(n + 1), { rev: cur.rev });
            successes++;
            revs.add(rev);
            maxRev = Math.max(maxRev, rev);
            if (measured) {
              measuredSuccesses++;
              recorder.stop(t);
            }
            break;
          } catch (err) {
            if (!(err instanceof RevMismatchError)) throw err;
            if (measured) measuredConflicts++;
          }
        }
      }
    };
    await Promise.all(clients.map((_, c) => worker(c).catch((err) => {
      failure ??= err;
    })));
    clearTimeout(warm);
    const elapsedMs = performance.now() - started;
    const cpu = (meter as CpuMeter | null)?.read() ?? {};
    if (failure !== null) throw failure;

    const final = await clients[0]!.get(key);
    verify(Number(text(final.value)) === successes,
      `cas: the counter reads ${text(final.value)} after ${successes} successful increments (lost or doubled updates)`);
    verify(revs.size === successes, `cas: ${successes} successes but ${revs.size} distinct revisions`);
    verify(final.rev === maxRev, `cas: the counter's rev is ${final.rev}, the last success was acknowledged at ${maxRev}`);
    const s = elapsedMs / 1000;
    return {
      ops: measuredSuccesses,
      elapsedMs,
      latency: recorder.summary(),
      extras: {
        successesPerSec: measuredSuccesses / s,
        conflictsPerSec: measuredConflicts / s,
        conflicts: measuredConflicts,
        attemptsPerSuccess: (measuredSuccesses + measuredConflicts) / Math.max(1, measuredSuccesses),
        ...cpu,
      },
      notes: [],
    };
  },
};
