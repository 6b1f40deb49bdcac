// Method: `coord lock|claim|elect ... -- CMD` run as real child processes against a real
// in-process server, with shell commands as CMD. Exclusion is checked by the commands
// themselves: each takes an atomic `mkdir` marker for what it holds (the lock, or its slot) and
// fails with exit 99 if the marker is already there, so any overlap fails the run. Loss is caused
// by deleting the holder's file with an SDK client; waiting is observed in the tree (a queued
// contender file) or by freeing a held slot; interrupting is a real SIGTERM. Exit codes, the
// environment given to CMD and what is left in the tree afterwards are compared exactly.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordClient } from '../../client/index.ts';
import { coord, killAllCli, spawnCoord } from '../helpers/cli-run.ts';
import { RecipeEnv, eventually, sleep } from '../helpers/recipe-env.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

let env: RecipeEnv;
let admin: CoordClient;
let dir: string;

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
  dir = tempDir('coord-cli-run-');
});

afterAll(async () => {
  await killAllCli();
  await env.stop();
  removeDir(dir);
});

const files = async (glob: string) => (await admin.walk(glob)).files;

describe('coord lock', () => {
  it('runs CMD holding the lock, with COORD_LOCK_TOKEN, and exits with its code; two runs never overlap', async () => {
    const cmd = ['sh', '-c', 'mkdir "$MARK/lock" || exit 99; echo "$COORD_LOCK_TOKEN $COORD_LOCK_PATH"; sleep 0.3; rmdir "$MARK/lock"; exit 7'];
    const opts = { url: env.url, env: { MARK: dir } };
    const [a, b] = await Promise.all([coord(['lock', '/rl/a', '--', ...cmd], opts), coord(['lock', '/rl/a', '--', ...cmd], opts)]);
    expect([a.code, b.code]).toEqual([7, 7]);
    const [ta, tb] = [a, b].map((r) => {
      const [token, path] = r.stdout.trim().split(' ');
      expect(path).toBe('/rl/a');
      return Number(token);
    });
    expect(ta).not.toBe(tb);
    // The token is the rev of the holder's file, which held "pid N" while CMD ran.
    for (const t of [ta!, tb!]) {
      const held = (await admin.walk('/rl/a/*', { rev: t })).files.find((f) => f.rev === t);
      expect(Buffer.from(held!.value).toString()).toMatch(/^pid \d+$/);
    }
    expect(await files('/rl/a/*')).toEqual([]); // released
  });

  it('gives up with exit 3 after --wait; interrupted while waiting it exits 143 without running CMD, leaving the queue', async () => {
    const held = await admin.lock('/rl/w');
    const waiter = spawnCoord(['lock', '/rl/w', '--', 'sh', '-c', 'echo ran'], { url: env.url });
    const timedOut = await coord(['lock', '/rl/w', '--wait', '300', '--', 'sh', '-c', 'echo ran'], { url: env.url });
    expect(timedOut.code).toBe(3);
    expect(timedOut.stderr).toMatch(/^TIMEOUT: /);
    expect(timedOut.stdout).toBe('');
    await eventually(async () => (await files('/rl/w/*')).length === 2, 'the other waiter to queue');
    waiter.kill('SIGTERM');
    const r = await waiter.exited;
    expect(r.code).toBe(143);
    expect(r.stdout).toBe('');
    expect((await files('/rl/w/*')).map((f) => f.path)).toEqual([held.key]);
    await held.release();
  });

  it('sends CMD SIGTERM and exits 4 when someone else deletes the lock file', async () => {
    const p = spawnCoord(['lock', '/rl/lost', '--', 'sh', '-c', 'trap "echo got-term; exit 0" TERM; echo held; while :; do sleep 0.1; done'], { url: env.url });
    await eventually(() => p.stdout().includes('held'), 'CMD to start');
    const [file] = await files('/rl/lost/*');
    await admin.del(file!.path);
    const r = await p.exited;
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('held\ngot-term\n');
    expect(r.stderr).toMatch(/lost/);
  });

  it('kills a CMD that ignores SIGTERM once the lock is lost, and exits 4', async () => {
    const p = spawnCoord(['lock', '/rl/stubborn', '--', 'sh', '-c', 'trap "" TERM; echo held; while :; do sleep 0.1; done'], { url: env.url });
    await eventually(() => p.stdout().includes('held'), 'CMD to start');
    const [file] = await files('/rl/stubborn/*');
    await admin.del(file!.path);
    const r = await p.exited;
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/lost/);
  }, 30_000);

  it('exits 127 when CMD cannot be run, and releases the lock', async () => {
    const r = await coord(['lock', '/rl/nocmd', '--', 'coord-test-no-such-command'], { url: env.url });
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/cannot run coord-test-no-such-command/);
    expect(await files('/rl/nocmd/*')).toEqual([]);
  });
});

describe('coord claim', () => {
  it('sets COORD_SLOT, COORD_SLOTS and COORD_LOCK_TOKEN, never shares a slot, and waits while all are held', async () => {
    // Each holder marks its slot, prints its environment, and holds until told to finish.
    const script = 'mkdir "$MARK/slot-$COORD_SLOT" || exit 99; echo "$COORD_SLOT $COORD_SLOTS $COORD_LOCK_TOKEN";'
      + ' while [ ! -e "$MARK/go-$COORD_SLOT" ]; do sleep 0.05; done; rmdir "$MARK/slot-$COORD_SLOT"';
    const proxy = await env.proxy();
    const claim = (via = env.url) => spawnCoord(['claim', '/rc', '2', '--', 'sh', '-c', script], { url: via, env: { MARK: dir } });
    const parse = (out: string) => out.trim().split(' ').map(Number);
    const [a, b] = [claim(), claim()];
    await eventually(() => a.stdout() !== '' && b.stdout() !== '', 'both slots to be taken');
    const [slotA, countA, tokenA] = parse(a.stdout());
    const [slotB, countB, tokenB] = parse(b.stdout());
    expect(new Set([slotA, slotB])).toEqual(new Set([0, 1]));
    expect([countA, countB]).toEqual([2, 2]);
    expect(tokenA).not.toBe(tokenB);

    const c = claim(proxy.url); // through a proxy, to see when it has connected
    await eventually(() => proxy.accepted >= 1, 'the third claimer to connect');
    await sleep(300);
    expect(c.stdout()).toBe(''); // both slots held: it waits
    expect(c.proc.exitCode).toBeNull();

    writeFileSync(join(dir, `go-${slotA}`), '');
    expect((await a.exited).code).toBe(0);
    await eventually(() => c.stdout() !== '', 'the third claimer to take the freed slot');
    const [slotC, , tokenC] = parse(c.stdout());
    expect(slotC).toBe(slotA);
    expect(tokenC).toBeGreaterThan(Math.max(tokenA!, tokenB!));
    writeFileSync(join(dir, `go-${slotB}`), '');
    const [rb, rc] = await Promise.all([b.exited, c.exited]);
    expect([rb.code, rc.code]).toEqual([0, 0]);
    expect(await files('/rc/*')).toEqual([]);
    expect(existsSync(join(dir, 'slot-0')) || existsSync(join(dir, 'slot-1'))).toBe(false);
  });
});

describe('coord elect', () => {
  it('runs CMD once it leads, with COORD_LEADER_ID and COORD_LOCK_TOKEN', async () => {
    const sdkLeader = await admin.elect('/re', 'sdk').campaign();
    const p = spawnCoord(['elect', '/re', '--id', 'cli-1', '--', 'sh', '-c', 'echo "$COORD_LEADER_ID $COORD_LOCK_TOKEN"'], { url: env.url });
    await eventually(async () => (await files('/re/*')).length === 2, 'the CLI candidate to queue');
    expect(await admin.elect('/re', 'x').leader()).toEqual({ id: 'sdk', token: sdkLeader.token });
    expect(p.stdout()).toBe('');
    await sdkLeader.resign();
    const r = await p.exited;
    expect(r.code).toBe(0);
    const [id, token] = r.stdout.trim().split(' ');
    expect(id).toBe('cli-1');
    expect(Number(token)).toBeGreaterThan(sdkLeader.token);
    expect(await files('/re/*')).toEqual([]);
  });
});
