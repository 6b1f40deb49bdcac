// Method: `coord lock|claim|elect|register ... -- CMD` run as real child processes against a real
// in-process server; CMD is a shell that writes its pid (and a grandchild's) to files and
// sleeps. Then only the coord process is SIGKILLed (not its process group), the way the OOM
// killer would, and /proc (or kill -0) is polled every 10 ms until CMD and its grandchild are
// gone (a zombie counts as gone: it runs nothing, and the container's init may not reap it).
// The bound asserted is generous (3 s, against about 1 s promised); the figures measured are
// printed. The terminal case runs coord under `script` (a pseudo-terminal), skipped without it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordClient } from '../../client/index.ts';
import { coordBin, killAllCli, spawnCoord, type CliProcess } from '../helpers/cli-run.ts';
import { RecipeEnv, eventually } from '../helpers/recipe-env.ts';
import { removeDir, repoRoot, tempDir } from '../helpers/server.ts';

let env: RecipeEnv;
let admin: CoordClient;
let dir: string;
const figures: string[] = [];

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
  dir = tempDir('coord-cli-death-');
});

afterAll(async () => {
  if (figures.length > 0) console.log(`time from coord's SIGKILL to CMD gone:\n  ${figures.join('\n  ')}`);
  await killAllCli();
  await env.stop();
  removeDir(dir);
});

/** /proc/PID/stat fields after the command name: state, ppid, pgrp, ... */
function procStat(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function running(pid: number): boolean {
  if (existsSync('/proc/self/stat')) {
    const stat = procStat(pid);
    return stat !== null && stat[0] !== 'Z';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const pidIn = (name: string) =>
  eventually(() => {
    const text = existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8').trim() : '';
    return /^\d+$/.test(text) ? Number(text) : undefined;
  }, `a pid in ${name}`);

/** Polls until every pid has stopped running; resolves with the ms it took from `since`. */
async function goneAfter(pids: number[], since: number): Promise<number> {
  const deadline = since + 15_000;
  while (pids.some(running)) {
    if (Date.now() > deadline) throw new Error(`still running 15 s after coord died: ${pids.filter(running).join(', ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - since;
}

/** SIGKILLs the coord process alone (not its group), and measures until `pids` are gone. */
async function killCoordAndMeasure(p: CliProcess, pids: number[], what: string): Promise<number> {
  for (const pid of pids) expect(running(pid), `${what}: ${pid} runs before coord dies`).toBe(true);
  const t0 = Date.now();
  p.proc.kill('SIGKILL');
  const ms = await goneAfter(pids, t0);
  figures.push(`${what}: ${ms} ms`);
  expect((await p.exited).signal).toBe('SIGKILL');
  expect(ms).toBeLessThan(3000);
  return ms;
}

describe('CMD dies with coord', () => {
  it('claim: an exec\'d CMD is gone soon after coord is SIGKILLed, before a spare gets the slot', async () => {
    const opts = { url: env.url, env: { MARK: dir } };
    const p = spawnCoord(['--ttl', '3000', 'claim', '/dw/claim', '1', '--', 'sh', '-c', 'echo $$ > "$MARK/claim.pid"; exec sleep 60'], opts);
    const pid = await pidIn('claim.pid');
    // A spare waits for the slot; it gets it once the dead coord's session expires.
    const spare = spawnCoord(['claim', '/dw/claim', '1', '--', 'sh', '-c', 'echo spare has slot $COORD_SLOT'], opts);
    const t0 = Date.now();
    await killCoordAndMeasure(p, [pid], 'claim, exec sleep (SIGTERM)');
    expect(spare.stdout()).toBe(''); // CMD gone, and the slot not yet handed over
    const r = await spare.exited;
    expect(r).toMatchObject({ code: 0, stdout: 'spare has slot 0\n' });
    expect(Date.now() - t0).toBeGreaterThan(1000); // the slot passed only once the session expired
  });

  it('lock: CMD and its grandchild (sh -c \'sleep & wait\') are both gone', async () => {
    const p = spawnCoord(['lock', '/dw/lock', '--', 'sh', '-c', 'echo $$ > "$MARK/lock.pid"; sleep 60 & echo $! > "$MARK/lock.gc"; wait'], { url: env.url, env: { MARK: dir } });
    const [pid, gc] = [await pidIn('lock.pid'), await pidIn('lock.gc')];
    await killCoordAndMeasure(p, [pid, gc], 'lock, sh + grandchild (SIGTERM)');
  });

  it('elect: a CMD and grandchild that ignore SIGTERM get SIGKILL after the grace', async () => {
    const p = spawnCoord(['elect', '/dw/elect', '--id', 'e1', '--', 'sh', '-c', 'trap "" TERM; echo $$ > "$MARK/elect.pid"; sleep 60 & echo $! > "$MARK/elect.gc"; wait'], { url: env.url, env: { MARK: dir } });
    const [pid, gc] = [await pidIn('elect.pid'), await pidIn('elect.gc')];
    // The supervisor leads the process group of CMD: not coord's, not its parent's.
    expect(procStat(pid)![2]).not.toBe(procStat(p.proc.pid!)![2]);
    await killCoordAndMeasure(p, [pid, gc], 'elect, ignores SIGTERM (SIGKILL after 1 s)');
  });

  it('register: CMD is gone soon after coord is SIGKILLed', async () => {
    const p = spawnCoord(['register', '/dw/members', 'm1', '--', 'sh', '-c', 'echo $$ > "$MARK/register.pid"; exec sleep 60'], { url: env.url, env: { MARK: dir } });
    await killCoordAndMeasure(p, [await pidIn('register.pid')], 'register, exec sleep (SIGTERM)');
  });

  it('when the supervisor alone is SIGKILLed, coord kills CMD\'s group and exits 137', async () => {
    const p = spawnCoord(['lock', '/dw/sup', '--', 'sh', '-c', 'echo $$ > "$MARK/sup.pid"; sleep 60 & echo $! > "$MARK/sup.gc"; wait'], { url: env.url, env: { MARK: dir } });
    const [pid, gc] = [await pidIn('sup.pid'), await pidIn('sup.gc')];
    const supervisor = Number(procStat(pid)![1]);
    expect(Number(procStat(supervisor)![1])).toBe(p.proc.pid); // CMD ← supervisor ← coord
    process.kill(supervisor, 'SIGKILL');
    await goneAfter([pid, gc], Date.now());
    const r = await p.exited;
    expect(r.code).toBe(137);
    expect(r.stderr).toMatch(/supervisor .* died/);
    expect((await admin.walk('/dw/sup/*')).files).toEqual([]); // released
  });

  const hasScript = spawnSync('script', ['--version']).status === 0 && existsSync('/proc/self/stat');
  it.skipIf(!hasScript)('with a terminal, CMD stays in the terminal\'s process group and still dies with coord', async () => {
    // script gives sh a pseudo-terminal; coord runs under that sh, so coord's death hangs up
    // nothing. CMD ignores SIGHUP and SIGTERM: only the supervisor's SIGKILL can stop it.
    const cmd = `trap "" HUP TERM; echo $$ > "$MARK/tty.pid"; sleep 60 & echo $! > "$MARK/tty.gc"; wait`;
    const line = `${quote(process.execPath)} ${quote(coordBin)} claim /dw/tty 1 -- sh -c ${quote(cmd)}; echo coord-ended`;
    const proc = spawn('script', ['-qfec', `sh -c ${quote(line)}`, '/dev/null'], {
      cwd: repoRoot, env: { ...process.env, COORD_URL: env.url, MARK: dir }, stdio: ['pipe', 'pipe', 'pipe'], detached: true,
    });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    const [pid, gc] = [await pidIn('tty.pid'), await pidIn('tty.gc')];
    const supervisor = Number(procStat(pid)![1]);
    const coordPid = Number(procStat(supervisor)![1]);
    expect(procStat(pid)![2]).toBe(procStat(coordPid)![2]); // CMD is in coord's (the terminal's) group
    const t0 = Date.now();
    process.kill(coordPid, 'SIGKILL');
    const ms = await goneAfter([pid, gc], t0);
    figures.push(`claim under a terminal, ignores SIGTERM and SIGHUP (SIGKILL after 1 s): ${ms} ms`);
    expect(ms).toBeLessThan(3000);
    await eventually(() => out.includes('coord-ended'), 'the shell to go on after coord');
    try {
      process.kill(-proc.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  });
});

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
