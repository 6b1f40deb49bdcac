/**
 * The server under test: a real `coord server` child process with its own data directory in
 * the system temp dir (fsync on, as always), logging at warn. Readiness is found by polling
 * /readyz on a port picked free beforehand (at warn level there is no start line to wait for).
 *
 * `stop()` asks it to stop (SIGTERM: in-flight writes finish, a --cpu-prof profile is written),
 * SIGKILLs it if it has not exited in time, and removes the data directory. It is safe to call
 * twice and is also run on the bench's own exit and on SIGINT/SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../helpers/ports.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

export interface BenchServer {
  url: string;
  pid: number;
  dataDir: string;
  /** Last output lines of the child (stdout and stderr), for error messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface ServerSpawnOptions {
  /** Extra node flags for the server process, e.g. ['--cpu-prof', '--cpu-prof-dir', dir]. */
  nodeArgs?: string[];
  /** Extra `coord server` flags. */
  serverArgs?: string[];
  readyTimeoutMs?: number;
  /** The checkout whose bin/coord.mjs to run (default: this one). */
  root?: string;
  /** The port (default: a free one). */
  port?: number;
}

const live = new Set<BenchServer>();

/** Stops every server still running (on exit or interruption of the bench). */
export async function stopAllServers(): Promise<void> {
  await Promise.allSettled([...live].map((s) => s.stop()));
}

function killAllNow(): void {
  for (const s of live) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(s.dataDir, { recursive: true, force: true });
  }
}
process.on('exit', killAllNow);


/** N servers forming one cluster (--id n1.. --peers), each with its own data directory. */
export async function startBenchCluster(size: number, options: ServerSpawnOptions = {}): Promise<BenchServer[]> {
  const ports: number[] = [];
  for (let i = 0; i < size; i++) ports.push(await freePort());
  const spec = ports.map((p, i) => `n${i + 1}=ws://127.0.0.1:${p}`).join(',');
  const started = await Promise.allSettled(ports.map((port, i) => startBenchServer({
    ...options, port, serverArgs: [...(options.serverArgs ?? []), '--id', `n${i + 1}`, '--peers', spec],
  })));
  const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(servers.map((s) => s.stop()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return servers;
}

export async function startBenchServer(options: ServerSpawnOptions = {}): Promise<BenchServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'coord-bench-'));
  const port = options.port ?? await freePort();
  const proc: ChildProcess = spawn(process.execPath, [
    ...(options.nodeArgs ?? []),
    join(options.root ?? repoRoot, 'bin/coord.mjs'), 'server',
    '--host', '127.0.0.1', '--port', String(port), '--data', dataDir, '--log-level', 'warn',
    ...(options.serverArgs ?? []),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-8000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  let exitedWith: string | null = null;
  const exited = new Promise<void>((r) => proc.on('exit', (code, signal) => {
    exitedWith = String(code ?? signal);
    r();
  }));

  let stopping: Promise<void> | null = null;
  const server: BenchServer = {
    url: `ws://127.0.0.1:${port}`,
    pid: proc.pid!,
    dataDir,
    output: () => tail,
    stop: () => {
      stopping ??= (async () => {
        if (exitedWith === null) {
          proc.kill('SIGTERM');
          const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(timer);
        }
        live.delete(server);
        rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  live.add(server);

  const limit = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exitedWith !== null) {
      await server.stop();
      throw new Error(`coord server exited (${exitedWith}) before it was ready:\n${tail}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > limit) {
      await server.stop();
      throw new Error(`coord server not ready within ${options.readyTimeoutMs ?? 30_000} ms:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resident and peak memory of a process, in MiB, from /proc/<pid>/status (Linux). */
export function readRss(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (m === null) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]);
  };
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
}
