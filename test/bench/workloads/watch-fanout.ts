/**
 * 5. watch-fanout — 1,000 watchers (50 connections × 20 WATCHes) on one glob, in this process;
 * a writer in a child process of its own (fanout-writer.ts) SETs updates under the glob, one at
 * a time, each after every watcher has received the one before: 20 to warm up (checked, not
 * timed), then 200 measured. ops = deliveries of the measured updates.
 *
 * Latency: from the moment the writer has the SET's acknowledgement to the moment each
 * watcher's stream yields the event, both read from process.hrtime.bigint() (CLOCK_MONOTONIC,
 * shared by the processes). The writer is a separate process because in one process its
 * acknowledgement would simply be read after the 1,000 event frames, and every latency would
 * come out 0. The server pushes events before it answers the SET, so a watcher can still have
 * an event before the writer has its answer: such deliveries count as 0 ms and are counted in
 * `beforeAckPct`. `fromSend*` is measured from the moment the SET was sent (write latency
 * included), and is always positive.
 *
 * Verified: every watcher receives every update exactly once, in order, with the path, value
 * and revision the writer was acknowledged.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { CoordClient, WatchStream } from '../../../client/index.ts';
import { CpuMeter } from '../cpu.ts';
import { LatencyRecorder, msBetween, now } from '../recorder.ts';
import { taggedValue, tagOf, until } from '../load.ts';
import { VerificationError, verify, type BenchContext, type Workload, type WorkloadResult } from '../types.ts';

const CONNECTIONS = 50;
const WATCHES_PER_CONNECTION = 20;
const WATCHERS = CONNECTIONS * WATCHES_PER_CONNECTION;
const UPDATES = 200;
const WARMUP_UPDATES = 20;
/** Updates written in all; arrays are indexed [watcher * TOTAL + update]. */
const TOTAL = WARMUP_UPDATES + UPDATES;
/** How long to wait for the last deliveries after the writer stopped. */
const DRAIN_MS = 10_000;

export const watchFanout: Workload = {
  name: 'watch-fanout',
  describe: `${WATCHERS} watchers (${CONNECTIONS} connections × ${WATCHES_PER_CONNECTION}) on one glob, ${UPDATES} updates`,
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const watchClients = await ctx.connect(CONNECTIONS);
    const writer = await Writer.start(ctx.url);
    try {
      return await measure(ctx, watchClients, writer);
    } finally {
      writer.stop();
    }
  },
};

async function measure(ctx: BenchContext, watchClients: CoordClient[], writer: Writer): Promise<WorkloadResult> {
  const dir = `${ctx.prefix}/fan`;
  const sentAt: bigint[] = [];
  const ackAt: bigint[] = [];
  const ackRev: number[] = [];
  /** recvAt[w * TOTAL + u]: when watcher w got update u (0n: not yet). */
  const recvAt = new BigInt64Array(WATCHERS * TOTAL);
  const recvRev = new Float64Array(WATCHERS * TOTAL);
  const delivered = new Int32Array(TOTAL);
  let problem = '';
  const wake: { fn: (() => void) | null } = { fn: null };

  const streams: WatchStream[] = [];
  const consumers: Promise<void>[] = [];
  for (let w = 0; w < WATCHERS; w++) {
    const stream = watchClients[w % CONNECTIONS]!.watch(`${dir}/*`);
    streams.push(stream);
    consumers.push((async () => {
      let lastU = -1;
      for await (const e of stream) {
        const t = now();
        const tag = tagOf(e.value ?? null) ?? '';
        const u = tag.startsWith('u') ? Number(tag.slice(1)) : Number.NaN;
        if (!(u >= 0 && u < TOTAL) || e.path !== `${dir}/k${u % 10}` || e.kind !== 'set') {
          problem ||= `watcher ${w} got an event nobody wrote: ${e.kind} ${e.path} ${tag}@${e.rev}`;
          continue;
        }
        if (recvAt[w * TOTAL + u] !== 0n) problem ||= `watcher ${w} got update ${u} twice`;
        if (u <= lastU) problem ||= `watcher ${w} got update ${u} after update ${lastU}`;
        lastU = u;
        recvAt[w * TOTAL + u] = t;
        recvRev[w * TOTAL + u] = e.rev;
        if (++delivered[u]! === WATCHERS) wake.fn?.();
      }
    })());
  }
  // Every watch must be registered (the server answered with its fromRev) before we write.
  await until(() => streams.every((s) => s.fromRev !== undefined || s.finished), 30_000, 'the watches to open');
  verify(!streams.some((s) => s.finished), 'watch-fanout: a watch ended before the first update');

  let started = performance.now();
  let meter = CpuMeter.start(ctx.cpuPids);
  // The count defines this workload; the time bound is a safety cap.
  const deadline = started + Math.max(20_000, 2 * ctx.durationMs);
  let updates = 0;
  for (let u = 0; u < TOTAL && performance.now() < deadline && problem === ''; u++) {
    if (u === WARMUP_UPDATES) {
      started = performance.now();
      meter = CpuMeter.start(ctx.cpuPids);
    }
    const all = new Promise<void>((r) => (wake.fn = r));
    const ack = await writer.set(u, `${dir}/k${u % 10}`, taggedValue(`u${u}`));
    verify(now() >= ack.ackAt, 'watch-fanout: the writer process\'s clock is ahead of ours (hrtime is not shared)');
    sentAt[u] = ack.sentAt;
    ackAt[u] = ack.ackAt;
    ackRev[u] = ack.rev;
    updates++;
    if (delivered[u]! < WATCHERS) {
      const left = Math.max(0, deadline - performance.now()) + DRAIN_MS;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
      if (delivered[u]! < WATCHERS) break;
    }
  }
  const elapsedMs = performance.now() - started;
  const cpu = meter.read();
  for (const s of streams) s.cancel();
  await Promise.allSettled(consumers);

  if (problem !== '') throw new VerificationError(`watch-fanout: ${problem}`);
  const fromAck = new LatencyRecorder();
  const fromSend = new LatencyRecorder();
  let beforeAck = 0;
  let missing = 0;
  for (let w = 0; w < WATCHERS; w++) {
    for (let u = 0; u < updates; u++) {
      const t = recvAt[w * TOTAL + u]!;
      if (t === 0n) {
        missing++;
        continue;
      }
      verify(recvRev[w * TOTAL + u] === ackRev[u],
        `watch-fanout: watcher ${w} saw update ${u} at rev ${recvRev[w * TOTAL + u]}, the writer was acknowledged rev ${ackRev[u]}`);
      if (u < WARMUP_UPDATES) continue;
      const ms = msBetween(ackAt[u]!, t);
      if (ms < 0) beforeAck++;
      fromAck.add(Math.max(0, ms));
      fromSend.add(msBetween(sentAt[u]!, t));
    }
  }
  verify(missing === 0, `watch-fanout: ${missing} of ${updates * WATCHERS} deliveries never arrived (waited ${DRAIN_MS} ms)`);
  const send = fromSend.summary();
  const measured = Math.max(0, updates - WARMUP_UPDATES);
  const notes = measured < UPDATES ? [`only ${measured} of ${UPDATES} measured updates fit in the time bound`] : [];
  return {
    ops: measured * WATCHERS,
    elapsedMs,
    latency: fromAck.summary(),
    extras: {
      updates: measured,
      updatesPerSec: measured / (elapsedMs / 1000),
      fromSendP50Ms: send.p50Ms,
      fromSendP99Ms: send.p99Ms,
      beforeAckPct: (100 * beforeAck) / Math.max(1, measured * WATCHERS),
      ...cpu,
    },
    notes,
  };
}

/** The writer child process. */
class Writer {
  private readonly waiting = new Map<number, { resolve(a: Ack): void; reject(e: Error): void }>();
  private constructor(private readonly proc: ChildProcess) {
    proc.on('message', (m: { u: number; rev?: number; sentAt?: string; ackAt?: string; error?: string }) => {
      const w = this.waiting.get(m.u);
      this.waiting.delete(m.u);
      if (m.error !== undefined) w?.reject(new Error(`the writer's SET failed: ${m.error}`));
      else w?.resolve({ rev: m.rev!, sentAt: BigInt(m.sentAt!), ackAt: BigInt(m.ackAt!) });
    });
    proc.on('exit', (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`the writer process exited (${code ?? signal})`));
      this.waiting.clear();
    });
  }

  static async start(url: string): Promise<Writer> {
    const proc = fork(fileURLToPath(new URL('./fanout-writer.ts', import.meta.url)), [url], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the writer process did not start within 30 s')), 30_000);
      proc.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the writer process exited (${code}) before it was ready`));
      });
    });
    return new Writer(proc);
  }

  set(u: number, path: string, value: Buffer): Promise<Ack> {
    return new Promise((resolve, reject) => {
      this.waiting.set(u, { resolve, reject });
      this.proc.send({ u, path, value: [...value] });
    });
  }

  stop(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.disconnect();
    setTimeout(() => this.proc.kill('SIGKILL'), 5000).unref();
  }
}

interface Ack {
  rev: number;
  sentAt: bigint;
  ackAt: bigint;
}
