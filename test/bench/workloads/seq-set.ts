/**
 * 1. seq-set — one client, one SET at a time, 256-byte values over 1,000 keys: the latency of a
 * single durable write (fsync included) with nothing to batch it with.
 *
 * Verified: every acknowledged revision is higher than the one before (consecutive when nothing
 * else writes), and each key reads back the value of its last acknowledged write at its rev.
 */
import { closedLoop, taggedValue, tagOf } from '../load.ts';
import { verify, type BenchContext, type Workload, type WorkloadResult } from '../types.ts';

const KEYS = 1000;
const MAX_OPS = 200_000;

export const seqSet: Workload = {
  name: 'seq-set',
  describe: 'one client, sequential SET of 256-byte values (latency of one durable write)',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const [client] = await ctx.connect(1);
    const dir = `${ctx.prefix}/seq`;
    const last = new Map<number, { tag: string; rev: number }>();
    let prevRev = -1;
    let gaps = 0;
    const loop = await closedLoop({
      concurrency: 1,
      warmupMs: Math.min(1000, ctx.durationMs / 10),
      durationMs: ctx.durationMs,
      maxOps: MAX_OPS,
      cpuPids: ctx.cpuPids,
      op: async (_w, n, measured) => {
        const tag = `${measured ? 'm' : 'w'}${n}`;
        const k = n % KEYS;
        const rev = await client!.set(`${dir}/k${k}`, taggedValue(tag));
        verify(rev > prevRev, `seq-set: revision went from ${prevRev} to ${rev}`);
        if (prevRev >= 0 && rev !== prevRev + 1) gaps++;
        prevRev = rev;
        last.set(k, { tag, rev });
      },
    });
    if (ctx.serverPid !== null) verify(gaps === 0, `seq-set: ${gaps} gaps between consecutive revisions with no other writer`);
    for (const [k, want] of last) {
      const got = await client!.get(`${dir}/k${k}`);
      verify(got.rev === want.rev && tagOf(got.value) === want.tag,
        `seq-set: ${dir}/k${k} reads ${tagOf(got.value)}@${got.rev}, acknowledged ${want.tag}@${want.rev}`);
      verify(got.value!.byteLength === 256, `seq-set: ${dir}/k${k} has ${got.value!.byteLength} bytes`);
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
