// The supervisor that `coord lock|claim|elect|register ... -- CMD` runs CMD under, so that CMD
// never outlives coord: however coord dies (SIGKILL, the OOM killer, a crash), CMD and what it
// started are stopped within a second, while the claim coord held for it is still valid.
//
// Plain JavaScript with no dependencies, started with plain `node` (not through tsx): it costs
// tens of milliseconds. Only coord starts it:
//
//   node coord-supervise.mjs group|tree GRACE_MS -- CMD [ARG...]   (stdio: inherit, + an IPC channel)
//
// coord → supervisor:  { signal: 'SIGTERM' | 'SIGKILL' }     signal CMD and everything it started
// supervisor → coord:  { started: pid }, then { exit: { code, signal } } or { error: { code, message } }
//
// When the IPC channel closes before CMD has exited (coord died, or closed it on purpose), CMD
// and everything it started get SIGTERM, then SIGKILL GRACE_MS later, and the supervisor exits.
// "Everything it started" depends on the mode coord chose:
// - group: coord started this supervisor in a new session (no controlling terminal), so the
//   supervisor leads a process group that holds CMD and, unless they left it on purpose (setsid,
//   setpgid), all of CMD's descendants, orphans included. The group is signalled as a whole.
// - tree: coord has a controlling terminal, and CMD must stay in the terminal's foreground
//   process group to read it and get Ctrl-C (a background group reading its terminal is
//   stopped). The group then belongs to the shell's job, so instead CMD and its descendants are
//   found through /proc (Linux; elsewhere only CMD itself) and signalled one by one. A
//   descendant that was already orphaned when the snapshot is taken is not found.
//
// The supervisor ignores SIGINT, SIGTERM, SIGHUP and SIGQUIT: it obeys only the channel, so
// signals meant for CMD's group or the terminal's job do not make it abandon CMD.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const [mode, graceArg, dashes, cmd, ...args] = process.argv.slice(2);
if ((mode !== 'group' && mode !== 'tree') || dashes !== '--' || cmd === undefined) {
  process.stderr.write('coord-supervise: started by coord only\n');
  process.exit(2);
}
const graceMs = Number(graceArg);

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']) process.on(sig, () => {});

const child = spawn(cmd, args, { stdio: 'inherit' });
let exited = false;
/** Set when coord asked for SIGKILL in group mode: the group goes once CMD's exit is reported. */
let killGroupAfterReport = false;

/** CMD and its descendants, from the parent links in /proc (just CMD where there is no /proc). */
function tree(roots) {
  const children = new Map();
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    return new Set(roots);
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  const found = new Set(roots);
  const queue = [...roots];
  while (queue.length > 0) {
    for (const c of children.get(queue.pop()) ?? []) {
      if (!found.has(c)) {
        found.add(c);
        queue.push(c);
      }
    }
  }
  return found;
}

let known = new Set();

/** Sends `sig` to CMD and everything it started (the group includes this process: it ignores TERM). */
function signalAll(sig) {
  if (mode === 'group') {
    try {
      process.kill(-process.pid, sig);
    } catch {
      // nothing left
    }
    return;
  }
  known = tree(exited ? known : new Set([child.pid, ...known]));
  known.delete(process.pid);
  for (const pid of known) {
    try {
      process.kill(pid, sig);
    } catch {
      known.delete(pid);
    }
  }
}

/** Reports to coord if it is still there, then runs `then`. */
function report(message, then) {
  if (!process.connected) return then();
  process.send(message, () => then());
}

process.on('message', (m) => {
  if (m?.signal !== 'SIGTERM' && m?.signal !== 'SIGKILL') return;
  if (m.signal === 'SIGKILL' && mode === 'group') {
    // Not the group yet: it holds this process, which must live to report CMD's exit.
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
    killGroupAfterReport = true;
  } else {
    signalAll(m.signal);
  }
});

process.on('disconnect', () => {
  // coord is gone (or let go of CMD): stop CMD while its claim still holds.
  signalAll('SIGTERM');
  setTimeout(() => {
    signalAll('SIGKILL'); // in group mode, this process goes with the group
    process.exit(0);
  }, graceMs);
});

child.on('spawn', () => report({ started: child.pid }, () => {}));

child.on('error', (err) => {
  exited = true;
  report({ error: { code: err.code ?? 'ERROR', message: err.message } }, () => process.exit(0));
});

child.on('exit', (code, signal) => {
  exited = true;
  if (!process.connected) return; // coord is gone: the disconnect handler finishes the job
  report({ exit: { code, signal } }, () => {
    if (killGroupAfterReport) signalAll('SIGKILL'); // what CMD left behind, and this process
    process.exit(0);
  });
});
