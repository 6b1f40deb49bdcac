/**
 * 2. concurrent-set — 64 SETs in flight over 8 connections (8 per connection), 256-byte values:
 * throughput of durable writes when group commit has something to batch.
 *
 * Verified: every acknowledgement carries a distinct revision; the store revision rose by
 * exactly the number of writes (when nothing else writes); every key reads back the value of
 * its last acknowledged write at its rev.
 */
import { closedLoop, taggedValue, tagOf } from '../load.ts';
import { verify, type BenchContext, type Workload, type WorkloadResult } from '../types.ts';

const CONNECTIONS = 8;
const IN_FLIGHT = 64;
const KEYS_PER_WORKER = 100;
const MAX_OPS = 2_000_000;

export const concurrentSet: Workload = {
  name: 'concurrent-set',
  describe: `${IN_FLIGHT} SETs in flight over ${CONNECTIONS} connections (durable write throughput)`,
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const clients = await ctx.connect(CONNECTIONS);
    const dir = `${ctx.prefix}/cset`;
    const revs = new Set<number>();
    const last = new Map<string, { tag: string; rev: number }>();
    let duplicates = 0;
    const startRev = await clients[0]!.rev();
    let acks = 0;
    const loop = await closedLoop({
      concurrency: IN_FLIGHT,
      warmupMs: Math.min(1000, ctx.durationMs / 10),
      durationMs: ctx.durationMs,
      maxOps: MAX_OPS,
      cpuPids: ctx.cpuPids,
      op: async (w, n, measured) => {
        const tag = `${measured ? 'm' : 'w'}${n}`;
        const path = `${dir}/w${w}/k${n % KEYS_PER_WORKER}`;
        const rev = await clients[w % CONNECTIONS]!.set(path, taggedValue(tag));
        acks++;
        if (revs.has(rev)) duplicates++;
        revs.add(rev);
        const prev = last.get(path);
        if (prev === undefined || prev.rev < rev) last.set(path, { tag, rev });
      },
    });
    verify(duplicates === 0, `concurrent-set: ${duplicates} acknowledgements repeated a revision`);
    const endRev = await clients[0]!.rev();
    if (ctx.serverPid !== null) {
      verify(endRev - startRev === acks,
        `concurrent-set: the store revision rose by ${endRev - startRev} for ${acks} acknowledged writes`);
    }
    for (const [path, want] of last) {
      const got = await clients[0]!.get(path);
      verify(got.rev === want.rev && tagOf(got.value) === want.tag,
        `concurrent-set: ${path} reads ${tagOf(got.value)}@${got.rev}, acknowledged ${want.tag}@${want.rev}`);
    }
    return {
      ops: loop.ops,
      elapsedMs: loop.elapsedMs,
      latency: loop.latency,
      extras: { ...loop.cpu },
      notes: loop.hitCountBound ? [`stopped at the count bound (${MAX_OPS})`] : [],
    };
  },
};
