/**
 * Runs the real `coord` binary (`node bin/coord.mjs ...`) as a child process, for CLI tests.
 * Each child leads its own process group, so killing it (SIGKILL included) also takes down the
 * command it runs (`coord lock PATH -- CMD`); `killAllCli()` removes whatever a test left running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './server.ts';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** COORD_URL for the child (omit to pass none). */
  url?: string;
  /** Written to stdin, which is then closed (default: stdin is empty). */
  input?: string;
  env?: Record<string, string>;
  cwd?: string;
}

export interface CliProcess {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once the process has exited and its output is complete. */
  exited: Promise<CliResult>;
  /** Signals the whole process group (coord and the command it runs). */
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<CliProcess>();

export const coordBin = join(repoRoot, 'bin/coord.mjs');

/** Starts `coord ...args` and returns at once. */
export function spawnCoord(args: string[], options: CliOptions = {}): CliProcess {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  delete env.COORD_URL;
  if (options.url !== undefined) env.COORD_URL = options.url;
  const proc = spawn(process.execPath, [coordBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  proc.stdin!.on('error', () => {});
  proc.stdin!.end(options.input ?? '');
  const child: CliProcess = {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited: new Promise((resolve) => {
      proc.on('close', (code, signal) => {
        running.delete(child);
        resolve({ code, signal, stdout: out, stderr: err });
      });
    }),
    kill: (signal = 'SIGTERM') => {
      try {
        process.kill(-proc.pid!, signal);
      } catch {
        // already gone
      }
    },
  };
  running.add(child);
  return child;
}

/** Runs `coord ...args` to the end. */
export function coord(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return spawnCoord(args, options).exited;
}

/** SIGKILLs every coord child (and its process group) still running. */
export async function killAllCli(): Promise<void> {
  const left = [...running];
  for (const c of left) c.kill('SIGKILL');
  await Promise.all(left.map((c) => c.exited));
}
