/**
 * 3. concurrent-get — 64 GETs in flight over 8 connections, of 1,000 existing keys holding
 * 256-byte values, with the default (linearizable, read-index) consistency.
 *
 * Verified: every read returns the key's own value (its tag) at the rev it was written at.
 */
import { closedLoop, taggedValue, tagOf } from '../load.ts';
import { verify, type BenchContext, type Workload, type WorkloadResult } from '../types.ts';

const CONNECTIONS = 8;
const IN_FLIGHT = 64;
const KEYS = 1000;
const MAX_OPS = 5_000_000;

export const concurrentGet: Workload = {
  name: 'concurrent-get',
  describe: `${IN_FLIGHT} linearizable GETs in flight over ${CONNECTIONS} connections, 1,000 keys of 256 bytes`,
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const clients = await ctx.connect(CONNECTIONS);
    const dir = `${ctx.prefix}/cget`;
    const revOf: number[] = [];
    await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, w) => {
      for (let k = w; k < KEYS; k += IN_FLIGHT) {
        revOf[k] = await clients[w % CONNECTIONS]!.set(`${dir}/k${k}`, taggedValue(`k${k}`));
      }
    }));
    let wrong = '';
    const loop = await closedLoop({
      concurrency: IN_FLIGHT,
      warmupMs: Math.min(1000, ctx.durationMs / 10),
      durationMs: ctx.durationMs,
      maxOps: MAX_OPS,
      cpuPids: ctx.cpuPids,
      op: async (w, n) => {
        const k = (n * 7919 + w) % KEYS;
        const got = await clients[w % CONNECTIONS]!.get(`${dir}/k${k}`);
        if (got.rev !== revOf[k] || tagOf(got.value) !== `k${k}` || got.value!.byteLength !== 256) {
          wrong ||= `${dir}/k${k} read ${tagOf(got.value)}@${got.rev}, written k${k}@${revOf[k]}`;
        }
      },
    });
    verify(wrong === '', `concurrent-get: ${wrong}`);
    return { ops: loop.ops, elapsedMs: loop.elapsedMs, latency: loop.latency, extras: { ...loop.cpu }, notes: [] };
  },
};
