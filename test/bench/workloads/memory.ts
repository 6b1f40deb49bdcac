/**
 * 7. memory — the server's resident set (VmRSS of the server process, /proc/<pid>/status):
 * at start, after 100,000 keys of 256 bytes were written (each its own SET, 64 in flight over
 * 8 connections, so with the default history window every one of those revisions is also kept
 * in history), and after 10,000 watchers were opened on top (10 connections × 1,000 WATCHes,
 * each on one of the keys). ops = keys written; the latency columns are those writes'.
 *
 * Needs the server's pid: skipped under --url. Verified: the directory holds exactly the keys
 * written, every watch was opened, and a sample of the watches is live (gets a new write).
 */
import { performance } from 'node:perf_hooks';
import type { WatchStream } from '../../../client/index.ts';
import { CpuMeter } from '../cpu.ts';
import { LatencyRecorder } from '../recorder.ts';
import { readRss } from '../server.ts';
import { sleep, taggedValue, tagOf, until } from '../load.ts';
import { verify, type BenchContext, type Workload, type WorkloadResult } from '../types.ts';

const KEYS = 100_000;
const WRITE_CONNECTIONS = 8;
const IN_FLIGHT = 64;
const WATCH_CONNECTIONS = 10;
const WATCHES_PER_CONNECTION = 1000;
const SAMPLED_WATCHES = 20;
/** Time for the server to settle (finish writes, let the allocator breathe) before a reading. */
const SETTLE_MS = 2000;

export const memory: Workload = {
  name: 'memory',
  describe: `server RSS after ${KEYS.toLocaleString('en')} keys of 256 bytes, then after ${(WATCH_CONNECTIONS * WATCHES_PER_CONNECTION).toLocaleString('en')} watchers`,
  needsLocalServer: true,
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const pid = ctx.serverPid!;
    const writers = await ctx.connect(WRITE_CONNECTIONS);
    await sleep(SETTLE_MS);
    const base = readRss(pid);
    const dir = `${ctx.prefix}/mem`;
    // Writing every key is the point, so this phase has its own, longer bound.
    const boundMs = Math.max(120_000, 6 * ctx.durationMs);
    const deadline = performance.now() + boundMs;
    const latency = new LatencyRecorder();
    let next = 0;
    const t0 = performance.now();
    const meter = CpuMeter.start([pid]);
    await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, w) => {
      const client = writers[w % WRITE_CONNECTIONS]!;
      while (next < KEYS && performance.now() < deadline) {
        const k = next++;
        const t = latency.start();
        await client.set(`${dir}/k${k}`, taggedValue(`k${k}`), { rev: 0 });
        latency.stop(t);
      }
    }));
    const writeMs = performance.now() - t0;
    const cpu = meter.read();
    verify(latency.count === KEYS, `memory: only ${latency.count} of ${KEYS} keys were written within ${boundMs} ms`);
    await sleep(SETTLE_MS);
    const keys = readRss(pid);

    const stat = await writers[0]!.stat(dir);
    verify(stat.kind === 'dir' && stat.children === KEYS, `memory: ${dir} has ${stat.kind === 'dir' ? stat.children : stat.kind} children, ${KEYS} written`);
    const probe = await writers[0]!.get(`${dir}/k${KEYS - 1}`);
    verify(tagOf(probe.value) === `k${KEYS - 1}`, `memory: ${dir}/k${KEYS - 1} reads ${tagOf(probe.value)}`);

    const watchers = await ctx.connect(WATCH_CONNECTIONS);
    const streams: WatchStream[] = [];
    for (let i = 0; i < WATCH_CONNECTIONS * WATCHES_PER_CONNECTION; i++) {
      streams.push(watchers[i % WATCH_CONNECTIONS]!.watch(`${dir}/k${i % KEYS}`));
    }
    await until(() => streams.every((s) => s.fromRev !== undefined || s.finished), 60_000, 'the watches to open');
    verify(!streams.some((s) => s.finished), 'memory: a watch ended while opening');
    await sleep(SETTLE_MS);
    const watching = readRss(pid);

    // A sample of the watches must be live: each sees one more write of its key.
    const step = Math.floor(streams.length / SAMPLED_WATCHES);
    const sample = Array.from({ length: SAMPLED_WATCHES }, (_, j) => j * step);
    const seen = sample.map(async (i) => {
      const it = streams[i]![Symbol.asyncIterator]();
      const r = await it.next();
      return r.done ? null : tagOf(r.value.value ?? null);
    });
    await Promise.all(sample.map((i) => writers[0]!.set(`${dir}/k${i % KEYS}`, taggedValue(`again${i}`))));
    const got = await Promise.race([Promise.all(seen), sleep(10_000).then(() => null)]);
    verify(got !== null && got.every((t, j) => t === `again${sample[j]}`),
      `memory: sampled watches did not all see their key's new value: ${JSON.stringify(got)}`);
    for (const s of streams) s.cancel();

    return {
      ops: KEYS,
      elapsedMs: writeMs,
      latency: latency.summary(),
      extras: {
        rssStartMiB: base.rssMiB,
        rssKeysMiB: keys.rssMiB,
        rssWatchersMiB: watching.rssMiB,
        peakRssMiB: Math.max(keys.hwmMiB, watching.hwmMiB),
        ...cpu,
      },
      notes: [],
    };
  },
};
