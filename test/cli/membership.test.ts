// Method: `coord register`, `members`, `elect --info` and `leader` as real child processes
// against a real in-process server. Registered commands hold until the test creates a "go"
// file; what `members` and `leader` print (once, and with --watch while the set changes) is
// compared exactly with the tree an SDK client reads. Loss is caused by deleting the
// registration with the SDK; watchers are ended with SIGTERM.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordClient } from '../../client/index.ts';
import { coord, killAllCli, spawnCoord } from '../helpers/cli-run.ts';
import { RecipeEnv, eventually } from '../helpers/recipe-env.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

let env: RecipeEnv;
let admin: CoordClient;
let dir: string;

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
  dir = tempDir('coord-cli-members-');
});

afterAll(async () => {
  await killAllCli();
  await env.stop();
  removeDir(dir);
});

const lines = (s: string) => s.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);
const holdUntil = (go: string, then = 'exit 0') => `echo "$COORD_MEMBER_PATH"; while [ ! -e "$MARK/${go}" ]; do sleep 0.05; done; ${then}`;
const go = (name: string) => writeFileSync(join(dir, name), '');
const opts = () => ({ url: env.url, env: { MARK: dir } });

describe('coord register and members', () => {
  it('keeps DIR/ID while CMD runs, exits with its code; members lists them, --watch follows joins and leaves', async () => {
    const one = spawnCoord(['register', '/mb/www', 'host-1', '--info', '{"addr":"10.0.0.7:8080"}', '--', 'sh', '-c', holdUntil('go-1', 'exit 5')], opts());
    await eventually(() => one.stdout() === '/mb/www/host-1\n', 'host-1 to register and run');
    const watcher = spawnCoord(['members', '/mb/www', '--watch'], { url: env.url });
    await eventually(() => watcher.stdout() !== '', 'the watcher to list host-1');
    const two = spawnCoord(['register', '/mb/www', 'host-2', '--info', '10.0.0.8:8080', '--', 'sh', '-c', holdUntil('go-2')], opts());
    await eventually(() => two.stdout() !== '', 'host-2 to register and run');

    const listed = await coord(['members', '/mb/www'], { url: env.url });
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(lines(listed.stdout)).toEqual([
      { id: 'host-1', info: { addr: '10.0.0.7:8080' } },
      { id: 'host-2', info: '10.0.0.8:8080' },
    ]);
    const files = (await admin.walk('/mb/www/*')).files;
    expect(files.map((f) => [f.path, Buffer.from(f.value).toString()])).toEqual([
      ['/mb/www/host-1', '{"addr":"10.0.0.7:8080"}'],
      ['/mb/www/host-2', '10.0.0.8:8080'],
    ]);

    go('go-1');
    expect((await one.exited).code).toBe(5); // CMD's code; deregistered on the way out
    await eventually(() => lines(watcher.stdout()).length === 3, 'the watcher to see host-1 leave');
    watcher.kill('SIGTERM');
    const w = await watcher.exited;
    expect(w.code).toBe(0);
    const [rev1, rev2] = files.map((f) => f.rev);
    expect(lines(w.stdout)).toEqual([
      { kind: 'join', id: 'host-1', info: { addr: '10.0.0.7:8080' }, rev: expect.any(Number) },
      { kind: 'join', id: 'host-2', info: '10.0.0.8:8080', rev: rev2 },
      { kind: 'leave', id: 'host-1', rev: expect.any(Number) },
    ]);
    expect((lines(w.stdout)[0] as { rev: number }).rev).toBeGreaterThanOrEqual(rev1!);
    expect((await admin.walk('/mb/www/*')).files.map((f) => f.path)).toEqual(['/mb/www/host-2']);

    // Lost for good (someone deleted it): CMD gets SIGTERM and coord exits 4, as for a lock.
    await admin.del('/mb/www/host-2');
    const r = await two.exited;
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/lost/);
  });
});

describe('coord elect --info and coord leader', () => {
  it('publishes the leader\'s info with its id; leader prints it, --watch follows; nobody leads: exit 1', async () => {
    const [none, watcher] = [await coord(['leader', '/mb/e'], { url: env.url }), spawnCoord(['leader', '/mb/e', '--watch'], { url: env.url })];
    expect(none).toEqual({ code: 1, signal: null, stdout: '', stderr: 'NOENT: nobody leads /mb/e\n' });
    await eventually(() => watcher.stdout() === 'null\n', 'the watcher to report no leader');
    const candidate = spawnCoord(['elect', '/mb/e', '--id', 'sched-1', '--info', '10.0.0.5:9000', '--', 'sh', '-c', holdUntil('go-e')], opts());
    await eventually(() => lines(watcher.stdout()).length === 2, 'the watcher to see the leader');
    const sdk = await admin.elect('/mb/e', 'x').leader();
    expect(sdk).toEqual({ id: 'sched-1', info: '10.0.0.5:9000', token: expect.any(Number) });
    const now = await coord(['leader', '/mb/e'], { url: env.url });
    expect(now).toMatchObject({ code: 0, stderr: '' });
    expect(lines(now.stdout)).toEqual([{ id: 'sched-1', token: sdk!.token, info: '10.0.0.5:9000' }]);

    go('go-e');
    expect((await candidate.exited).code).toBe(0);
    await eventually(() => lines(watcher.stdout()).length === 3, 'the watcher to see the leader go');
    watcher.kill('SIGTERM');
    const w = await watcher.exited;
    expect(w.code).toBe(0);
    expect(lines(w.stdout)).toEqual([null, { id: 'sched-1', token: sdk!.token, info: '10.0.0.5:9000' }, null]);
  });

  it('reads candidates that hold a bare id (written without info, or by an older client)', async () => {
    const plain = await admin.elect('/mb/plain', 'plain-id').campaign();
    expect(await admin.elect('/mb/plain', 'x').leader()).toEqual({ id: 'plain-id', token: plain.token });
    await plain.resign();
    // An id that merely looks like JSON stays an id.
    const odd = await admin.elect('/mb/odd', '{not json').campaign();
    expect(await admin.elect('/mb/odd', 'x').leader()).toEqual({ id: '{not json', token: odd.token });
    await odd.resign();
  });
});
