/**
 * lock, claim and elect: run a command while holding something. The command gets the fencing
 * token in its environment; when it exits, the claim is released and coord exits with its code.
 * If the claim is lost first, the command gets SIGTERM (and SIGKILL if it is still running
 * LOST_KILL_AFTER_MS later: work done without the claim is exactly what a lock is to prevent) and
 * coord exits with ExitCode.LOST.
 */
import { spawn } from 'node:child_process';
import type { CoordClient } from '../../client.ts';
import { ExitCode } from '../output.ts';

export const LOST_KILL_AFTER_MS = 5000;

interface Held {
  lost: AbortSignal;
  release(): Promise<void>;
}

/** Runs `argv` while `held` lasts; resolves with the exit code for coord. */
export function runWhileHeld(held: Held, argv: string[], env: Record<string, string>, signal: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { stdio: 'inherit', env: { ...process.env, ...env } });
    let lost = false;
    let cannotRun = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onLost = () => {
      lost = true;
      process.stderr.write(`coord: lost: ${(held.lost.reason as Error)?.message ?? 'claim lost'}; stopping the command\n`);
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), LOST_KILL_AFTER_MS);
    };
    const onSignal = () => child.kill('SIGTERM');
    // A claim lost (or a signal received) before these listeners existed must still count.
    if (held.lost.aborted) onLost();
    else held.lost.addEventListener('abort', onLost, { once: true });
    if (signal.aborted) onSignal();
    else signal.addEventListener('abort', onSignal, { once: true });
    child.on('error', (err) => {
      cannotRun = true;
      process.stderr.write(`coord: cannot run ${cmd}: ${err.message}\n`);
    });
    child.on('close', async (code, sig) => {
      clearTimeout(killTimer);
      held.lost.removeEventListener('abort', onLost);
      signal.removeEventListener('abort', onSignal);
      await held.release().catch(() => {});
      if (lost) return resolve(ExitCode.LOST);
      // The shell's code for a command that cannot be run (spawn reports a negative errno).
      if (cannotRun || (code === null && sig === null)) return resolve(127);
      resolve(code ?? 128 + (signalNumber(sig) ?? 0));
    });
  });
}

function signalNumber(sig: NodeJS.Signals | null): number | undefined {
  return sig === null ? undefined : ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[sig];
}

export async function lockRun(client: CoordClient, path: string, argv: string[], signal: AbortSignal, timeoutMs?: number): Promise<number> {
  const l = await client.lock(path, { signal, ...(timeoutMs !== undefined ? { timeoutMs } : {}), info: `pid ${process.pid}` });
  return runWhileHeld(l, argv, { COORD_LOCK_TOKEN: String(l.token), COORD_LOCK_PATH: path }, signal);
}

export async function claimRun(client: CoordClient, prefix: string, n: number, argv: string[], signal: AbortSignal): Promise<number> {
  const c = await client.claimSlot(prefix, n, { signal });
  return runWhileHeld(c, argv, {
    COORD_SLOT: String(c.slot), COORD_SLOTS: String(n), COORD_LOCK_TOKEN: String(c.token),
  }, signal);
}

export async function electRun(client: CoordClient, path: string, id: string, argv: string[], signal: AbortSignal): Promise<number> {
  const leadership = await client.elect(path, id).campaign({ signal });
  return runWhileHeld(
    { lost: leadership.lost, release: () => leadership.resign() },
    argv,
    { COORD_LOCK_TOKEN: String(leadership.token), COORD_LEADER_ID: id },
    signal,
  );
}
