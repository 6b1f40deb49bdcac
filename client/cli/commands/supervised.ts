/**
 * Runs a command under the supervisor (bin/coord-supervise.mjs, plain JavaScript started with
 * plain `node`) instead of as coord's own child, so that the command dies with coord: when
 * coord dies by any means, even SIGKILL, the kernel closes the IPC channel, and the supervisor
 * stops the command and whatever it started (SIGTERM, then SIGKILL after `graceMs`). The
 * supervisor's header says what "whatever it started" covers in each mode.
 *
 * Why not the parent-death signal (prctl PR_SET_PDEATHSIG, `setpriv --pdeathsig`)? It is
 * Linux-only, reaches only the direct child (not `sh -c '...; sleep'`'s grandchildren), and fires
 * when the spawning thread ends, not the process. The supervisor covers the process group too.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './package-info.ts';

export type Outcome =
  /** The command ran and exited (code) or was killed (signal). */
  | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  /** The command could not be started (ENOENT, EACCES, ...). */
  | { kind: 'error'; code: string; message: string }
  /** The supervisor died before reporting (killed on its own): coord has SIGKILLed the command. */
  | { kind: 'supervisor-died'; code: number | null; signal: NodeJS.Signals | null };

export interface Supervised {
  /** Sends `sig` to the command and what it started. */
  signal(sig: 'SIGTERM' | 'SIGKILL'): void;
  readonly done: Promise<Outcome>;
}

type Report = { started: number } | { exit: { code: number | null; signal: NodeJS.Signals | null } } | { error: { code: string; message: string } };

/**
 * With a controlling terminal the command has to stay in the terminal's foreground process
 * group (to read the terminal, and get Ctrl-C); without one it gets a process group of its own.
 */
function hasControllingTerminal(): boolean {
  try {
    closeSync(openSync('/dev/tty', 'r'));
    return true;
  } catch {
    return false;
  }
}

export function superviseCommand(argv: string[], env: Record<string, string>, graceMs: number): Supervised {
  const mode = hasControllingTerminal() ? 'tree' : 'group';
  const supervisor = spawn(
    process.execPath,
    [join(packageRoot(), 'bin/coord-supervise.mjs'), mode, String(graceMs), '--', ...argv],
    { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env }, detached: mode === 'group' },
  );
  let commandPid: number | undefined;
  let outcome: Outcome | undefined;
  const done = new Promise<Outcome>((resolve) => {
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let disconnected = false;
    const settle = (o: Outcome) => {
      if (outcome !== undefined) return;
      outcome = o;
      resolve(o);
    };
    supervisor.on('message', (m: Report) => {
      if ('started' in m) commandPid = m.started;
      else if ('exit' in m) settle({ kind: 'exit', ...m.exit });
      else if ('error' in m) settle({ kind: 'error', ...m.error });
    });
    // Gone without a report (every message is read once the channel has closed): the command
    // may still run, and nobody else will stop it.
    const checkDied = () => {
      if (exit === undefined || !disconnected || outcome !== undefined) return;
      killCommand(mode, supervisor.pid, commandPid);
      settle({ kind: 'supervisor-died', ...exit });
    };
    supervisor.on('exit', (code, signal) => {
      exit = { code, signal };
      checkDied();
    });
    supervisor.on('disconnect', () => {
      disconnected = true;
      checkDied();
    });
    supervisor.on('error', (err) => {
      // The supervisor itself could not start: nothing runs.
      settle({ kind: 'error', code: (err as NodeJS.ErrnoException).code ?? 'ERROR', message: err.message });
    });
  });
  return {
    signal: (sig) => {
      if (outcome === undefined && supervisor.connected) supervisor.send({ signal: sig });
    },
    done,
  };
}

function killCommand(mode: 'group' | 'tree', supervisorPid: number | undefined, commandPid: number | undefined): void {
  const target = mode === 'group' ? (supervisorPid !== undefined ? -supervisorPid : undefined) : commandPid;
  if (target === undefined) return;
  try {
    process.kill(target, 'SIGKILL');
  } catch {
    // already gone
  }
}
