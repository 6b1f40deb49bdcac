/**
 * `npm run bench`: coord's benchmark. Starts a real `coord server` child process per workload
 * (fresh data directory, fsync on) unless --url names one, drives it from this process over real
 * WebSockets with the SDK, verifies what it measured, prints a table and writes a JSON file.
 * See test/bench/README.md.
 *
 *   npm run bench -- [--workload NAME[,NAME]] [--duration SECONDS] [--runs N]
 *                    [--url ws://HOST:PORT] [--json FILE] [--cpu-prof DIR]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, type CoordClient } from '../../client/index.ts';
import { formatTable, machineInfo, medianRow, rowOf, writeJson, type RunOutcome } from './report.ts';
import { formatTargets } from './targets.ts';
import { startBenchCluster, startBenchServer, stopAllServers, type BenchServer } from './server.ts';
import type { BenchContext, Workload, WorkloadResult } from './types.ts';
import { cas } from './workloads/cas.ts';
import { concurrentGet } from './workloads/concurrent-get.ts';
import { concurrentSet } from './workloads/concurrent-set.ts';
import { lockHandoff } from './workloads/lock-handoff.ts';
import { memory } from './workloads/memory.ts';
import { seqSet } from './workloads/seq-set.ts';
import { startup } from './workloads/startup.ts';
import { watchFanout } from './workloads/watch-fanout.ts';

const workloads: Workload[] = [seqSet, concurrentSet, concurrentGet, cas, watchFanout, lockHandoff, memory, startup];

const usage = `usage: npm run bench -- [options]
  --workload NAME[,NAME]  which workloads (default: all): ${workloads.map((w) => w.name).join(', ')}
  --duration SECONDS      measuring time per workload (default 10); each is also bounded in count
  --runs N                run everything N times and report medians (default 1)
  --url ws://HOST:PORT    use this running server or cluster instead of starting one
                          (memory is skipped: it needs the server's pid)
  --json FILE             where to write the results (default bench-results/latest.json)
  --cpu-prof DIR          run each server under node --cpu-prof, profiles written to DIR
  --cluster N             run the workloads against a local cluster of N servers (3 or 5),
                          each client connected to one of them in turn (memory is skipped)
  --server-root DIR       start DIR/bin/coord.mjs instead of this checkout's (another version,
                          built, e.g. a git worktree): the same workloads against it`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${usage}\n`);
  process.exit(2);
}

function parse() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        workload: { type: 'string' },
        duration: { type: 'string', default: '10' },
        runs: { type: 'string', default: '1' },
        url: { type: 'string' },
        json: { type: 'string', default: 'bench-results/latest.json' },
        'cpu-prof': { type: 'string' },
        'server-root': { type: 'string' },
        cluster: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const names = values.workload === undefined ? workloads.map((w) => w.name) : values.workload.split(',').map((s) => s.trim());
  const chosen = names.map((n) => workloads.find((w) => w.name === n) ?? fail(`unknown workload "${n}"`));
  const duration = Number(values.duration);
  if (!(duration > 0 && duration <= 600)) fail(`--duration must be a number of seconds in (0, 600], got "${values.duration}"`);
  const runs = Number(values.runs);
  if (!(Number.isInteger(runs) && runs >= 1 && runs <= 50)) fail(`--runs must be an integer from 1 to 50, got "${values.runs}"`);
  if (values.url !== undefined && !/^wss?:\/\//.test(values.url)) fail(`--url must be ws://host:port, got "${values.url}"`);
  const cluster = values.cluster === undefined ? 1 : Number(values.cluster);
  if (![1, 3, 5].includes(cluster)) fail(`--cluster must be 3 or 5, got "${values.cluster}"`);
  if (cluster > 1 && values.url !== undefined) fail('--cluster starts its own servers: leave out --url');
  return {
    workloads: chosen,
    durationMs: duration * 1000,
    runs,
    url: values.url ?? null,
    json: resolve(values.json),
    cpuProfDir: values['cpu-prof'] !== undefined ? resolve(values['cpu-prof']) : null,
    serverRoot: values['server-root'] !== undefined ? resolve(values['server-root']) : null,
    cluster,
  };
}

const log = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

/** The one workload being run, for errors nobody awaited. */
let current: { name: string; stray: unknown[] } | null = null;
process.on('unhandledRejection', (err) => {
  log(`bench: unhandled rejection${current ? ` during ${current.name}` : ''}: ${(err as Error)?.stack ?? String(err)}`);
  current?.stray.push(err);
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    log(`bench: ${sig}: stopping servers`);
    void stopAllServers().finally(() => process.exit(130));
  });
}

async function closeAll(clients: CoordClient[]): Promise<void> {
  await Promise.race([
    Promise.allSettled(clients.map((c) => c.close())),
    new Promise((r) => setTimeout(r, 5000).unref()),
  ]);
}

async function runOne(workload: Workload, run: number, opts: ReturnType<typeof parse>): Promise<RunOutcome> {
  if (workload.needsLocalServer && (opts.url !== null || opts.cluster > 1)) {
    return { run, ok: true, skipped: true, result: null, error: null, loadAvgBefore: loadavg()[0]! };
  }
  let server: BenchServer | null = null;
  let members: BenchServer[] = [];
  const clients: CoordClient[] = [];
  current = { name: workload.name, stray: [] };
  const loadAvgBefore = loadavg()[0]!;
  try {
    if (opts.url === null) {
      // One directory per server: node writes one profile per thread (the main thread's has
      // thread id 0 in its name: CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile). The interval is
      // 2 ms: at node's default 1 ms the server sometimes never finished starting here.
      const profDir = opts.cpuProfDir === null ? null : join(opts.cpuProfDir, `${workload.name}-run${run}`);
      if (profDir !== null) mkdirSync(profDir, { recursive: true });
      const spawnOptions = {
        nodeArgs: profDir === null ? [] : ['--cpu-prof', '--cpu-prof-interval', '2000', '--cpu-prof-dir', profDir],
        ...(opts.serverRoot !== null ? { root: opts.serverRoot } : {}),
      };
      if (opts.cluster > 1) members = await startBenchCluster(opts.cluster, spawnOptions);
      else server = await startBenchServer(spawnOptions);
    }
    const urls = members.length > 0 ? members.map((m) => m.url) : (server?.url ?? opts.url!).split(',');
    const url = urls.join(',');
    let nextClient = 0;
    const ctx: BenchContext = {
      url,
      serverPid: server?.pid ?? null,
      cpuPids: server !== null ? [server.pid] : members.map((m) => m.pid),
      durationMs: opts.durationMs,
      prefix: `/bench/r${run}-${randomBytes(4).toString('hex')}`,
      connect: async (n, o = {}) => {
        // Each client starts at the next server in turn (its others are for failover).
        const made = await Promise.all(Array.from({ length: n }, () => {
          const k = nextClient++ % urls.length;
          return connect({ urls: [...urls.slice(k), ...urls.slice(0, k)], ...o });
        }));
        clients.push(...made);
        return made;
      },
      log,
    };
    // A last-resort bound: each workload bounds itself; this catches a hang.
    const watchdogMs = Math.max(120_000, 6 * opts.durationMs) + 120_000;
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      workload.run(ctx),
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`${workload.name} still running after ${watchdogMs} ms: hung`)), watchdogMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (current.stray.length > 0) throw current.stray[0];
    return { run, ok: true, skipped: false, result, error: null, loadAvgBefore };
  } catch (err) {
    const message = (err as Error)?.name === 'VerificationError'
      ? (err as Error).message
      : (err as Error)?.stack ?? String(err);
    const serverTail = server?.output().trim();
    return {
      run, ok: false, skipped: false, result: null, loadAvgBefore,
      error: serverTail ? `${message}\nserver output:\n${serverTail}` : message,
    };
  } finally {
    current = null;
    await closeAll(clients);
    await server?.stop();
    await Promise.all(members.map((m) => m.stop()));
  }
}

function progress(workload: Workload, o: RunOutcome): string {
  if (o.skipped) return `  ${workload.name}: skipped (needs the server's pid; not available with --url)`;
  if (!o.ok) return `  ${workload.name}: FAILED\n${o.error!.replace(/^/gm, '    ')}`;
  const r = rowOf(workload.name, o);
  const res = o.result as WorkloadResult;
  return `  ${workload.name}: ${Math.round(r.opsPerSec).toLocaleString('en-US')} ops/s, p50 ${r.p50Ms.toFixed(2)} ms, ` +
    `p99 ${r.p99Ms.toFixed(2)} ms (${res.ops} ops in ${(res.elapsedMs / 1000).toFixed(1)} s)`;
}

async function main(): Promise<void> {
  const opts = parse();
  const machine = machineInfo();
  log(`coord bench: ${opts.workloads.map((w) => w.name).join(', ')}; ${opts.durationMs / 1000} s each; ${opts.runs} run(s); ` +
    `${opts.url ?? (opts.cluster > 1 ? `a fresh ${opts.cluster}-node cluster (child processes) per workload` : 'a fresh coord server child per workload')}`);
  log(`machine: ${machine.cpuCount} × ${machine.cpuModel}, ${machine.totalMemoryMiB} MiB, node ${machine.node}; ` +
    `commit ${machine.git?.commit.slice(0, 7) ?? 'unknown'}${machine.git?.dirty ? ' with uncommitted changes to the sources' : ''}`);
  const outcomes = new Map<string, RunOutcome[]>(opts.workloads.map((w) => [w.name, []]));
  // Runs are interleaved (all workloads, then all again) so slow drift spreads over all of them.
  for (let run = 1; run <= opts.runs; run++) {
    log(`run ${run} of ${opts.runs}`);
    for (const w of opts.workloads) {
      const o = await runOne(w, run, opts);
      outcomes.get(w.name)!.push(o);
      log(progress(w, o));
    }
  }
  const rows = opts.workloads.map((w) => medianRow(w.name, outcomes.get(w.name)!));
  const title = opts.runs > 1 ? `medians of ${opts.runs} runs` : 'one run';
  process.stdout.write(`\ncoord bench (${title}; ${machine.cpuCount} × ${machine.cpuModel}, node ${machine.node}; ` +
    `server and load generator share the machine)\n\n${formatTable(rows)}\n\n`);
  const targets = formatTargets(rows, opts.cluster > 1);
  if (targets !== '') process.stdout.write(`${targets}\n`);
  writeJson(opts.json, {
    machine,
    options: {
      workloads: opts.workloads.map((w) => w.name),
      durationS: opts.durationMs / 1000,
      runs: opts.runs,
      url: opts.url,
      server: opts.url === null ? 'coord server child process per workload, fresh temp data dir, fsync on' : opts.url,
      cpuProfDir: opts.cpuProfDir,
    },
    results: opts.workloads.map((w, i) => ({
      workload: w.name,
      describe: w.describe,
      median: rows[i],
      runs: outcomes.get(w.name)!.map((o) => ({
        ...rowOf(w.name, o),
        run: o.run,
        latency: o.result?.latency ?? null,
        elapsedMs: o.result?.elapsedMs ?? null,
        loadAvgBefore: o.loadAvgBefore,
        error: o.error,
      })),
    })),
  });
  const busy = rows.filter((r) => (r.extras.otherCpuPct ?? 0) > 25);
  if (busy.length > 0) {
    process.stdout.write(`warning: other processes were using the machine (otherCpuPct ${busy
      .map((r) => `${r.workload} ${Math.round(r.extras.otherCpuPct!)} %`).join(', ')}); those figures are low and noisy\n`);
  }
  process.stdout.write(`results: ${opts.json}\n`);
  const failed = [...outcomes.values()].flat().filter((o) => !o.ok);
  if (failed.length > 0) {
    process.stderr.write(`\nbench: ${failed.length} workload run(s) FAILED verification or errored; their numbers are not reported (see above)\n`);
    process.exitCode = 1;
  }
}

main().catch(async (err) => {
  log(`bench: ${(err as Error)?.stack ?? String(err)}`);
  await stopAllServers();
  process.exit(1);
}).then(() => {
  // Everything is closed; anything still holding the event loop (a stray timer) must not keep us.
  setTimeout(() => process.exit(), 1000).unref();
});
