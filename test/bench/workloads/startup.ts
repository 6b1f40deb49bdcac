/**
 * 8. startup — what a shell user and an operator feel before any work is done:
 * - `coord get` against the running server, as a new process each time (the whole command:
 *   node starting, the CLI loading, connect, hello, the read, close), beside `node -e 0` on the
 *   same machine at the same moment, so the ratio holds when the machine is noisy;
 * - a new `coord server` on an empty data directory, from spawn to its first 200 on /readyz;
 * - the bench server's resident set while idle (before any client connected to it), read once
 *   it has settled: V8 keeps the young generation its start-up grew until its memory reducer
 *   sees the process idle, about 10 s later (75 → 65 MiB here).
 * Each is the median of several runs. ops = CLI runs; the latency columns are theirs.
 *
 * Needs the server's pid (idle RSS): skipped under --url. Verified: every `coord get` printed
 * the value written, and every new server became ready.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { LatencyRecorder } from '../recorder.ts';
import { readRss } from '../server.ts';
import { verify, type BenchContext, type Workload, type WorkloadResult } from '../types.ts';

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, '../../..');
const coordBin = join(repoRoot, 'bin/coord.mjs');
const CLI_RUNS = 21;
/** How long the fresh server is left idle before its RSS is read. */
const IDLE_SETTLE_MS = 12_000;
const SERVER_RUNS = 5;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Spawn to first 200 on /readyz, polling every 5 ms. */
async function serverReadyMs(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'coord-bench-start-'));
  const t0 = performance.now();
  const proc = spawn(process.execPath, [coordBin, 'server', '--port', '0', '--data', dir, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    const url = await new Promise<string>((res, rej) => {
      proc.stdout.on('data', (d) => {
        out += d;
        const m = /"url":"ws:\/\/([^"]+)"/.exec(out);
        if (m) res(`http://${m[1]}/readyz`);
      });
      proc.on('exit', (code) => rej(new Error(`server exited (${code}) before listening`)));
    });
    for (;;) {
      const ok = await fetch(url).then((r) => r.ok, () => false);
      if (ok) return performance.now() - t0;
      verify(performance.now() - t0 < 30_000, 'startup: a new server was not ready within 30 s');
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

export const startup: Workload = {
  name: 'startup',
  describe: '`coord get` as a new process (vs `node -e 0`), server spawn → /readyz, idle server RSS',
  needsLocalServer: true,
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const idle = readRss(ctx.serverPid!);
    const [client] = await ctx.connect(1);
    const key = `${ctx.prefix}/startup`;
    await client!.set(key, 'ready');
    const env = { ...process.env, COORD_URL: ctx.url };
    const latency = new LatencyRecorder();
    const baseline: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < CLI_RUNS; i++) {
      // Interleaved, so both see the same machine.
      baseline.push(await timed(() => run(process.execPath, ['-e', '0'])));
      const t = latency.start();
      const { stdout } = await run(process.execPath, [coordBin, 'get', key], { env });
      latency.stop(t);
      verify(stdout === 'ready', `startup: coord get printed ${JSON.stringify(stdout)}`);
    }
    const elapsedMs = performance.now() - t0;
    const ready: number[] = [];
    for (let i = 0; i < SERVER_RUNS; i++) ready.push(await serverReadyMs());
    const summary = latency.summary();
    const nodeMs = median(baseline);
    return {
      ops: CLI_RUNS,
      elapsedMs,
      latency: summary,
      extras: {
        cliGetMs: summary.p50Ms,
        nodeBaselineMs: nodeMs,
        cliOverNode: summary.p50Ms / nodeMs,
        serverReadyMs: median(ready),
        idleRssMiB: idle.rssMiB,
        idleRssAfterMs: IDLE_SETTLE_MS,
      },
      notes: [],
    };
  },
};
