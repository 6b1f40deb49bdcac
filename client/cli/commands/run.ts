/**
 * lock, claim, elect (and register, in membership.ts): run a command while holding something. The command gets the fencing
 * token in its environment (COORD_LOCK_TOKEN, and COORD_LOCK_KEY, the file that holds the claim:
 * a txn condition { path: KEY, rev: TOKEN, exact: true } holds exactly as long as the claim); when it exits, the claim is released and coord exits with its code.
 * If the claim is lost first, the command gets SIGTERM (and SIGKILL if it is still running
 * LOST_KILL_AFTER_MS later: work done without the claim is exactly what a lock is to prevent) and
 * coord exits with ExitCode.LOST.
 *
 * The command runs under a supervisor (supervised.ts) so that it also dies when coord dies,
 * SIGKILL included: its claim will expire, and a spare will take it over.
 */
import { constants } from 'node:os';
import type { CoordClient } from '../../client.ts';
import { ExitCode } from '../output.ts';
import { superviseCommand } from './supervised.ts';

export const LOST_KILL_AFTER_MS = 5000;

interface Held {
  lost: AbortSignal;
  release(): Promise<void>;
}

/**
 * How long a command gets between SIGTERM and SIGKILL once coord has died. The claim outlives
 * coord until its session expires, at the earliest about two thirds of a TTL after coord's last
 * message (the SDK pings a third of a TTL after it last spoke), so a command stopped within a
 * third of the TTL (one second at most) stops while the claim is still its own.
 */
export function deathGraceMs(client: CoordClient): number {
  return Math.min(1000, Math.floor(client.sessionTtlMs / 3));
}

/** Runs `argv` while `held` lasts; resolves with the exit code for coord. */
export async function runWhileHeld(held: Held, argv: string[], env: Record<string, string>, signal: AbortSignal, graceMs: number): Promise<number> {
  const cmd = argv[0]!;
  const child = superviseCommand(argv, env, graceMs);
  let lost = false;
  let killTimer: NodeJS.Timeout | undefined;
  const onLost = () => {
    lost = true;
    process.stderr.write(`coord: lost: ${(held.lost.reason as Error)?.message ?? 'claim lost'}; stopping the command\n`);
    child.signal('SIGTERM');
    killTimer = setTimeout(() => child.signal('SIGKILL'), LOST_KILL_AFTER_MS);
  };
  const onSignal = () => child.signal('SIGTERM');
  // A claim lost (or a signal received) before these listeners existed must still count.
  if (held.lost.aborted) onLost();
  else held.lost.addEventListener('abort', onLost, { once: true });
  if (signal.aborted) onSignal();
  else signal.addEventListener('abort', onSignal, { once: true });
  const outcome = await child.done;
  clearTimeout(killTimer);
  held.lost.removeEventListener('abort', onLost);
  signal.removeEventListener('abort', onSignal);
  await held.release().catch(() => {});
  if (outcome.kind === 'error') {
    process.stderr.write(`coord: cannot run ${cmd}: ${outcome.message}\n`);
  } else if (outcome.kind === 'supervisor-died') {
    process.stderr.write(`coord: the supervisor of ${cmd} died (${outcome.signal ?? `exit ${outcome.code}`}); the command was killed\n`);
  }
  if (lost) return ExitCode.LOST;
  // The shell's codes: 126 found but cannot be run, 127 not found.
  if (outcome.kind === 'error') return outcome.code === 'EACCES' ? 126 : 127;
  if (outcome.kind === 'supervisor-died') return signalCode('SIGKILL');
  return outcome.code ?? signalCode(outcome.signal);
}

/** The shell's code for a command killed by a signal: 128 + its number (SIGQUIT 131, SIGSEGV 139). */
function signalCode(sig: NodeJS.Signals | null): number {
  return 128 + (sig === null ? 0 : (constants.signals[sig] ?? 0));
}

/**
 * Runs `take` (a recipe's wait for a lock, slot or leadership) and gives up after `waitMs`, if
 * given: then it prints `TIMEOUT: <timedOut>` and resolves null. The recipes leave their queue
 * when their signal aborts, so nothing is left behind to block others.
 */
async function acquire<T>(signal: AbortSignal, waitMs: number | undefined, timedOut: string, take: (signal: AbortSignal) => Promise<T>): Promise<T | null> {
  if (waitMs === undefined) return take(signal);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error(timedOut)), waitMs);
  try {
    return await take(AbortSignal.any([signal, deadline.signal]));
  } catch (err) {
    if (!deadline.signal.aborted || signal.aborted) throw err;
    process.stderr.write(`TIMEOUT: ${timedOut}\n`);
    return null;
  } finally {
    clearTimeout(timer);
  }
}

export async function lockRun(client: CoordClient, path: string, argv: string[], signal: AbortSignal, opts: { wait?: number }): Promise<number> {
  const l = await acquire(signal, opts.wait, `lock ${path} not taken within ${opts.wait} ms`,
    (s) => client.lock(path, { signal: s, info: `pid ${process.pid}` }));
  if (l === null) return ExitCode.UNREACHABLE;
  return runWhileHeld(l, argv, { COORD_LOCK_TOKEN: String(l.token), COORD_LOCK_PATH: path, COORD_LOCK_KEY: l.key }, signal, deathGraceMs(client));
}

export async function claimRun(client: CoordClient, prefix: string, n: number, argv: string[], signal: AbortSignal, opts: { wait?: number }): Promise<number> {
  const c = await acquire(signal, opts.wait, `no slot of ${prefix} free within ${opts.wait} ms`,
    (s) => client.claimSlot(prefix, n, { signal: s }));
  if (c === null) return ExitCode.UNREACHABLE;
  return runWhileHeld(c, argv, {
    COORD_SLOT: String(c.slot), COORD_SLOTS: String(n), COORD_LOCK_TOKEN: String(c.token), COORD_LOCK_KEY: c.path,
  }, signal, deathGraceMs(client));
}

export async function electRun(client: CoordClient, path: string, argv: string[], signal: AbortSignal, opts: { id: string; info?: string; wait?: number }): Promise<number> {
  const leadership = await acquire(signal, opts.wait, `not elected leader at ${path} within ${opts.wait} ms`,
    (s) => client.elect(path, opts.id).campaign({ signal: s, ...(opts.info !== undefined ? { info: opts.info } : {}) }));
  if (leadership === null) return ExitCode.UNREACHABLE;
  return runWhileHeld(
    { lost: leadership.lost, release: () => leadership.resign() },
    argv,
    { COORD_LOCK_TOKEN: String(leadership.token), COORD_LOCK_KEY: leadership.guard.path, COORD_LEADER_ID: opts.id },
    signal,
    deathGraceMs(client),
  );
}
