// Method: the real `coord` binary (`node bin/coord.mjs ...`, one child process per command, most
// run in parallel to keep the file quick) against a real in-process server, found through
// COORD_URL or --url. Each command's stdout, stderr and exit code are compared exactly with what
// an SDK client reads from the same server: 0 ok, 1 refused (stderr starts with the error code),
// 2 usage (the error and a pointer to --help), 3 unreachable. wait and watch are started before the writes they must
// report (at an explicit revision, or by writing until the command reports one of the writes),
// and watch is ended with SIGTERM. Conditions are polled with deadlines, never timed.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordClient } from '../../client/index.ts';
import { coord, killAllCli, spawnCoord } from '../helpers/cli-run.ts';
import { RecipeEnv, eventually, sleep } from '../helpers/recipe-env.ts';

let env: RecipeEnv;
let admin: CoordClient;

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
});

afterAll(async () => {
  await killAllCli();
  await env.stop();
});

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);

describe('coord CLI: store commands', () => {
  it('`printf world | coord set /hello 0` prints the revision; again: exit 1, REV_MISMATCH', async () => {
    const first = await coord(['set', '/hello', '0'], { url: env.url, input: 'world' });
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(/^\d+\n$/);
    const rev = Number(first.stdout);
    expect(await admin.get('/hello')).toMatchObject({ value: Buffer.from('world'), rev });

    const again = await coord(['set', '/hello', '0'], { url: env.url, input: 'world' });
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/^REV_MISMATCH: /);
    expect((await admin.get('/hello')).rev).toBe(rev);
  });

  it('reads: get (raw, --json, --rev), rev, stat, ls, walk; a missing file is exit 1 with NOENT', async () => {
    const r1 = await admin.set('/rd/a', 'alpha');
    const r2 = await admin.set('/rd/a', 'alpha, again');
    const rb = await admin.set('/rd/b', Buffer.from([0xff, 0x00, 0xfe]));
    const rx = await admin.set('/rd/dir/x', 'x');
    const head = await admin.rev();
    const [get, getJson, getOld, rev, statFile, statDir, statMissing, ls, walk, getMissing, lsMissing] = await Promise.all([
      coord(['get', '/rd/a'], { url: env.url }),
      coord(['--url', env.url, 'get', '/rd/a', '--json']), // --url instead of COORD_URL
      coord(['get', '/rd/a', '--rev', String(r1)], { url: env.url }),
      coord(['rev'], { url: env.url }),
      coord(['stat', '/rd/a'], { url: env.url }),
      coord(['stat', '/rd/dir'], { url: env.url }),
      coord(['stat', '/rd/none'], { url: env.url }),
      coord(['ls', '/rd'], { url: env.url }),
      coord(['walk', '/rd/**'], { url: env.url }),
      coord(['get', '/rd/none'], { url: env.url }),
      coord(['ls', '/rd/none'], { url: env.url }),
    ]);
    expect(get).toEqual({ code: 0, signal: null, stdout: 'alpha, again', stderr: '' }); // raw bytes, nothing added
    expect(getJson.stdout).toBe(`${JSON.stringify({ path: '/rd/a', rev: r2, value: 'alpha, again' })}\n`);
    expect(getOld.stdout).toBe('alpha');
    expect(Number(rev.stdout)).toBeGreaterThanOrEqual(head);
    expect(rev.stdout).toMatch(/^\d+\n$/);
    expect(lines(statFile.stdout)).toEqual([{ path: '/rd/a', kind: 'file', rev: r2, length: 12, ephemeral: false, at: expect.any(Number) }]);
    expect(lines(statDir.stdout)).toEqual([{ path: '/rd/dir', kind: 'dir', rev: 0, children: 1, at: expect.any(Number) }]);
    expect(statMissing.code).toBe(1);
    expect(lines(statMissing.stdout)).toEqual([{ path: '/rd/none', kind: 'missing', rev: 0, at: expect.any(Number) }]);
    expect(statMissing.stderr).toMatch(/^NOENT: /);
    expect(ls).toMatchObject({ code: 0, stdout: 'a\nb\ndir\n' });
    expect(lines(walk.stdout)).toEqual([
      { path: '/rd/a', rev: r2, value: 'alpha, again' },
      { path: '/rd/b', rev: rb, valueBase64: Buffer.from([0xff, 0x00, 0xfe]).toString('base64') },
      { path: '/rd/dir/x', rev: rx, value: 'x' },
    ]);
    expect(getMissing).toMatchObject({ code: 1, stdout: '' });
    expect(getMissing.stderr).toMatch(/^NOENT: \/rd\/none/);
    expect(lsMissing.code).toBe(1);
    expect(lsMissing.stderr).toMatch(/^NOENT: /);
  });

  it('writes: set --value with compare-and-set, set -1, del with a rev, and --ephemeral goes with the command', async () => {
    const r0 = await admin.set('/wr/a', 'v0');
    const [cas, stale, uncond] = await Promise.all([
      coord(['set', '/wr/a', String(r0), '--value', 'v1'], { url: env.url }),
      coord(['set', '/wr/b', '0', '--value', 'b'], { url: env.url }),
      coord(['set', '/wr/c', '-1'], { url: env.url, input: 'from stdin' }),
    ]);
    expect(cas.code).toBe(0);
    const r1 = Number(cas.stdout);
    expect(await admin.get('/wr/a')).toMatchObject({ value: Buffer.from('v1'), rev: r1 });
    expect(stale.code).toBe(0);
    expect(await admin.get('/wr/c')).toMatchObject({ value: Buffer.from('from stdin'), rev: Number(uncond.stdout) });

    const [casStale, delStale, eph] = await Promise.all([
      coord(['set', '/wr/a', String(r0), '--value', 'lost update'], { url: env.url }),
      coord(['del', '/wr/a', String(r0)], { url: env.url }),
      coord(['set', '/wr/eph', '--ephemeral', '--value', 'short-lived'], { url: env.url }),
    ]);
    expect(casStale.code).toBe(1);
    expect(casStale.stderr).toMatch(/^REV_MISMATCH: /);
    expect(delStale.code).toBe(1);
    expect(delStale.stderr).toMatch(/^REV_MISMATCH: /);
    expect(eph.code).toBe(0);
    expect(eph.stderr).toMatch(/ephemeral/);
    const ephRev = Number(eph.stdout);
    expect((await admin.get('/wr/eph', { rev: ephRev })).value).toEqual(Buffer.from('short-lived'));
    expect((await admin.stat('/wr/eph')).kind).toBe('missing'); // its session ended with the command

    const del = await coord(['del', '/wr/a', String(r1)], { url: env.url });
    expect(del.code).toBe(0);
    const delRev = Number(del.stdout); // the revision of the delete
    expect((await admin.get('/wr/a', { rev: delRev - 1 })).value).toEqual(Buffer.from('v1'));
    expect((await admin.get('/wr/a', { rev: delRev })).value).toBeNull();
  });

  it('wait prints the first matching event at or after REV as a JSON line; by default the next one', async () => {
    const head = await admin.rev();
    const atRev = spawnCoord(['wait', '/wt/*', String(head + 1)], { url: env.url });
    const next = spawnCoord(['wait', '/wt/**'], { url: env.url });
    const fromHistory = coord(['wait', '/hello', '1'], { url: env.url });
    await admin.set('/wt/deep/x', 'not for /wt/*');
    const ra = await admin.set('/wt/a', 'A');
    // The default waits from the revision after the one it read at start: write until it reports.
    const written = new Map<number, string>();
    for (let i = 0; next.proc.exitCode === null && i < 400; i++) {
      written.set(await admin.set('/wt/deep/y', `y${i}`), `y${i}`);
      await sleep(50);
    }
    const [a, n, h] = await Promise.all([atRev.exited, next.exited, fromHistory]);
    expect(a.code).toBe(0);
    expect(lines(a.stdout)).toEqual([{ path: '/wt/a', rev: ra, kind: 'set', value: 'A' }]);
    expect(n.code).toBe(0);
    const [event] = lines(n.stdout) as { path: string; rev: number; kind: string; value: string }[];
    expect(event).toEqual({ path: '/wt/deep/y', rev: event!.rev, kind: 'set', value: written.get(event!.rev) });
    expect(h.code).toBe(0);
    expect(lines(h.stdout)).toEqual([{ path: '/hello', rev: expect.any(Number), kind: 'set', value: 'world' }]);
  });

  it('watch prints every change as JSON lines until interrupted, then exits 0', async () => {
    const head = await admin.rev();
    const w = spawnCoord(['watch', '/wa/**', '--from', String(head + 1)], { url: env.url });
    const r1 = await admin.set('/wa/a', '1');
    const r2 = await admin.txn({ ops: [{ op: 'set', path: '/wa/b/c', value: '2' }, { op: 'del', path: '/wa/a' }] });
    await admin.set('/elsewhere', 'not watched');
    const r3 = await admin.set('/wa/a', Buffer.from([0xc3, 0x28]));
    const expected = [
      { path: '/wa/a', rev: r1, kind: 'set', value: '1' },
      { path: '/wa/a', rev: r2, kind: 'delete' },
      { path: '/wa/b/c', rev: r2, kind: 'set', value: '2' },
      { path: '/wa/a', rev: r3, kind: 'set', valueBase64: Buffer.from([0xc3, 0x28]).toString('base64') },
    ];
    await eventually(() => lines(w.stdout()).length >= expected.length, 'watch to print every change');
    w.kill('SIGTERM');
    const r = await w.exited;
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(expected);
  });

  it('bad usage exits 2 and says what is wrong and where to read more; an unreachable server exits 3', async () => {
    const dead = `ws://127.0.0.1:${await deadPort()}`;
    const [noArg, badRev, badCount, unknown, bare, unreachable, unreachableEnv] = await Promise.all([
      coord(['get'], { url: env.url }),
      coord(['set', '/x', 'abc', '--value', 'v'], { url: env.url }),
      coord(['claim', '/p', 'zero', '--', 'true'], { url: env.url }),
      coord(['bogus'], { url: env.url }),
      coord([], { url: env.url }),
      coord(['--url', dead, '--timeout', '500', 'get', '/x']),
      coord(['--timeout', '500', 'rev'], { url: dead }),
    ]);
    expect(noArg.code).toBe(2);
    expect(noArg.stderr).toBe("coord: error: missing required argument 'path'\nRun 'coord get --help' for usage.\n");
    expect(badRev.code).toBe(2);
    expect(badRev.stderr).toMatch(/^coord: error: .*invalid for argument 'rev'.*\nRun 'coord set --help' for usage\.\n$/);
    expect(badCount.code).toBe(2);
    expect(badCount.stderr).toMatch(/^coord: error: .*invalid for argument 'n'.*\nRun 'coord claim --help' for usage\.\n$/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("coord: error: unknown command 'bogus'\nRun 'coord --help' for usage.\n");
    expect(bare.code).toBe(2);
    expect(bare.stdout).toMatch(/^Usage: coord/);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/^UNREACHABLE: /);
    expect(unreachableEnv.code).toBe(3);
    expect(unreachableEnv.stderr).toMatch(/^UNREACHABLE: /);
    expect((await admin.stat('/x')).kind).toBe('missing'); // the refused set wrote nothing
  });
});
