/**
 * Starts test/helpers/sdk-child.ts in a child process and reads its JSON lines; `stop()` and
 * `resume()` freeze and thaw it with SIGSTOP / SIGCONT, as a GC pause or a stalled VM would.
 * `killAllChildren()` SIGKILLs whatever a test left running (a stopped child included).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { sleep } from './recipe-env.ts';
import type { ChildLine, ChildSpec } from './sdk-child.ts';
import { repoRoot } from './server.ts';

export interface SdkChild {
  proc: ChildProcess;
  /** Every line printed so far, parsed. */
  readonly lines: ChildLine[];
  stderr(): string;
  /** Resolves with the first line of kind `ev` from index `from` on (fails if the child exits first). */
  line<K extends ChildLine['ev']>(ev: K, from?: number, what?: string): Promise<Extract<ChildLine, { ev: K }>>;
  send(command: 'check' | 'exit'): void;
  stop(): void;
  resume(): void;
  kill(): Promise<void>;
}

const running = new Set<SdkChild>();

export function spawnSdkChild(spec: ChildSpec): SdkChild {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/helpers/sdk-child.ts'), JSON.stringify(spec)], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: ChildLine[] = [];
  let partial = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const p of parts) if (p !== '') lines.push(JSON.parse(p) as ChildLine);
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  proc.stdin!.on('error', () => {});
  const exited = new Promise<void>((resolve) => proc.on('close', () => resolve()));
  const child: SdkChild = {
    proc,
    lines,
    stderr: () => err,
    line: async (ev, from = 0, what = `the child to print ${ev}`) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const found = lines.slice(from).find((l) => l.ev === ev);
        if (found !== undefined) return found as Extract<ChildLine, { ev: typeof ev }>;
        if (proc.exitCode !== null || Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what} (exit ${proc.exitCode}; stderr: ${err})`);
        }
        await sleep(20);
      }
    },
    send: (command) => void proc.stdin!.write(`${command}\n`),
    stop: () => void proc.kill('SIGSTOP'),
    resume: () => void proc.kill('SIGCONT'),
    kill: async () => {
      running.delete(child);
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
  running.add(child);
  return child;
}

export async function killAllChildren(): Promise<void> {
  await Promise.all([...running].map((c) => c.kill()));
}
