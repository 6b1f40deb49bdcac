/**
 * Test servers: in-process (a real fastify server on an ephemeral port over a real LevelDB in a
 * temp directory) and as a child process (`coord server`), for crash tests that SIGKILL it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServer, type RunningServer, type ServerOptions } from '../../server/server.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');

export function tempDir(prefix = 'coord-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export async function startTestServer(options: Partial<ServerOptions> = {}): Promise<RunningServer & { dataDir: string }> {
  const dataDir = options.dataDir ?? tempDir();
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    logLevel: 'silent',
    onFatal: (err) => {
      throw err;
    },
    ...options,
  });
  return Object.assign(server, { dataDir });
}

export interface ChildServer {
  proc: ChildProcess;
  url: string;
  port: number;
  stderr: () => string;
  /** What it printed on stdout so far (its log lines, JSON). */
  stdout: () => string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `coord server` as a child process and waits until it listens (its info-level start line). */
export async function spawnServer(dataDir: string, extraArgs: string[] = [], port = 0, env?: Record<string, string>): Promise<ChildServer> {
  const proc = spawn(process.execPath, [
    join(repoRoot, 'bin/coord.mjs'), 'server', '--data', dataDir, '--port', String(port), ...extraArgs,
  ], { stdio: ['ignore', 'pipe', 'pipe'], ...(env !== undefined ? { env: { ...process.env, ...env } } : {}) });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.on('exit', (code, signal) => res({ code, signal })));
  const url = await new Promise<string>((res, rej) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /"url":"(wss?:\/\/[^"]+)"/.exec(out);
      if (m) res(m[1]!);
    });
    exited.then(({ code, signal }) => rej(new Error(`server exited (${code ?? signal}) before listening: ${err}`)));
  });
  return { proc, url, port: Number(new URL(url).port), stderr: () => err, stdout: () => out, exited };
}
