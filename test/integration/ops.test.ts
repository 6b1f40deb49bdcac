// Method: a real server on an ephemeral port over a temp LevelDB; one raw WebSocket client sends
// each operation as an exact frame and checks the result or the coded error against the
// protocol (protocol/messages.ts), including Doozer's own demo, revision accounting (a refused
// write consumes no revision), paging and reads at past and future revisions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { limits } from '../../protocol/limits.ts';
import type { GetdirResult, GetResult, StatResult, WalkResult } from '../../protocol/messages.ts';
import { RawClient, bytes, utf8 } from '../helpers/raw-client.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

let server: Awaited<ReturnType<typeof startTestServer>>;
let c: RawClient;

const rev = async (): Promise<number> => (await c.call<{ rev: number }>({ op: 'rev' })).rev;
const set = async (path: string, value: string, extra: Record<string, unknown> = {}): Promise<number> =>
  (await c.call<{ rev: number }>({ op: 'set', path, value: bytes(value), ...extra })).rev;
const get = (path: string, extra: Record<string, unknown> = {}): Promise<GetResult> =>
  c.call<GetResult>({ op: 'get', path, ...extra });

/** Asserts the request fails with `code` and that it consumed no revision. */
async function refused(body: Record<string, unknown>, code: string): Promise<Record<string, unknown> | undefined> {
  const before = await rev();
  const err = await c.callError(body);
  expect(err.code, err.message).toBe(code);
  expect(typeof err.message).toBe('string');
  expect(await rev()).toBe(before);
  return err.details;
}

beforeAll(async () => {
  server = await startTestServer();
  c = (await RawClient.connect(server.url)).client;
});

afterAll(async () => {
  await c.close();
  await server.close();
  removeDir(server.dataDir);
});

describe('every operation over the wire', () => {
  it("runs Doozer's demo: set /hello 0 gives a rev, again gives REV_MISMATCH", async () => {
    const r = await set('/hello', 'world', { rev: 0 });
    expect(r).toBe(await rev());
    const details = await refused({ op: 'set', path: '/hello', value: bytes('again'), rev: 0 }, ErrorCode.REV_MISMATCH);
    expect(details).toEqual({ path: '/hello', rev: r });
    expect(utf8((await get('/hello')).value)).toBe('world');
  });

  it('set, get, stat, del, rev and ping agree on revisions', async () => {
    const missing = await get('/ops/f');
    expect(missing).toEqual({ value: null, rev: 0, at: await rev() });
    const r1 = await set('/ops/f', 'one');
    expect(r1).toBe(missing.at + 1);
    expect(await get('/ops/f')).toEqual({ value: Buffer.from('one'), rev: r1, at: r1 });
    expect(await c.call<StatResult>({ op: 'stat', path: '/ops/f' })).toEqual({ kind: 'file', rev: r1, length: 3, ephemeral: false, at: r1 });
    expect(await c.call<StatResult>({ op: 'stat', path: '/ops' })).toEqual({ kind: 'dir', rev: 0, children: 1, at: r1 });
    expect(await c.call<StatResult>({ op: 'stat', path: '/ops/none' })).toEqual({ kind: 'missing', rev: 0, at: r1 });
    // Compare-and-set with the rev read; a store revision at or after the file's rev also passes.
    const r2 = await set('/ops/f', 'two', { rev: r1 });
    expect(r2).toBe(r1 + 1);
    await refused({ op: 'set', path: '/ops/f', value: bytes('stale'), rev: r1 }, ErrorCode.REV_MISMATCH);
    const r3 = await set('/ops/other', 'x');
    const r4 = await set('/ops/f', 'three', { rev: r3 });
    expect(r4).toBe(r3 + 1);
    // A value may also travel as a msgpack string: it is stored as its UTF-8 bytes.
    const r5 = (await c.call<{ rev: number }>({ op: 'set', path: '/ops/s', value: 'text é' })).rev;
    expect(await get('/ops/s')).toEqual({ value: Buffer.from('text é'), rev: r5, at: r5 });
    await refused({ op: 'del', path: '/ops/f', rev: r1 }, ErrorCode.REV_MISMATCH);
    const d = await c.call<{ rev: number; deleted: boolean }>({ op: 'del', path: '/ops/f', rev: r4 });
    expect(d).toEqual({ rev: r5 + 1, deleted: true });
    // Deleting a missing file changes nothing and consumes no revision.
    expect(await c.call({ op: 'del', path: '/ops/f' })).toEqual({ rev: r5 + 1, deleted: false });
    expect(await c.call({ op: 'ping' })).toEqual({ rev: r5 + 1 });
    expect(await rev()).toBe(r5 + 1);
  });

  it('refuses bad input with coded errors and consumes no revision', async () => {
    await set('/err/file', 'f');
    await set('/err/dir/child', 'c');
    await refused({ op: 'get', path: '/err/dir' }, ErrorCode.ISDIR);
    await refused({ op: 'set', path: '/err/dir', value: bytes('v') }, ErrorCode.ISDIR);
    await refused({ op: 'set', path: '/err/file/below', value: bytes('v') }, ErrorCode.NOTDIR);
    await refused({ op: 'getdir', path: '/err/file' }, ErrorCode.NOTDIR);
    await refused({ op: 'getdir', path: '/err/nothing' }, ErrorCode.NOENT);
    await refused({ op: 'set', path: '/', value: bytes('v') }, ErrorCode.ISDIR);
    for (const p of ['', 'rel', '/a/', '/a//b', '/a/..', '/a/.', '/sp ace', '/star*']) {
      await refused({ op: 'set', path: p, value: bytes('v') }, ErrorCode.BAD_PATH);
    }
    await refused({ op: 'get', path: '/' + 'a'.repeat(limits.pathBytesMax) }, ErrorCode.TOO_LARGE);
    await refused({ op: 'walk', glob: '/a//b' }, ErrorCode.BAD_GLOB);
    await refused({ op: 'wait', glob: 'nope', rev: 1 }, ErrorCode.BAD_GLOB);
    await refused({ op: 'set', path: '/err/big', value: new Uint8Array(limits.valueBytesMax + 1) }, ErrorCode.TOO_LARGE);
    await refused({ op: 'getdir', path: '/', limit: limits.pageEntriesMax + 1 }, ErrorCode.TOO_LARGE);
    await refused({ op: 'frobnicate' }, ErrorCode.UNKNOWN_OP);
    await refused({ op: 'set', value: bytes('v') }, ErrorCode.BAD_REQUEST);
    await refused({ op: 'set', path: '/err/x', value: 12 }, ErrorCode.BAD_REQUEST);
    await refused({ op: 'set', path: '/err/x', value: bytes('v'), rev: -2 }, ErrorCode.BAD_REQUEST);
    await refused({ op: 'get', path: '/err/x', rev: 1.5 }, ErrorCode.BAD_REQUEST);
    await refused({ op: 'set', path: '/err/x', value: bytes('v'), ephemeral: 'yes' }, ErrorCode.BAD_REQUEST);
    await refused({ op: 'cancel' }, ErrorCode.BAD_REQUEST);
    // The largest value allowed is accepted.
    const r = await set('/err/max', 'x'.repeat(limits.valueBytesMax));
    expect((await c.call<StatResult>({ op: 'stat', path: '/err/max' }))).toMatchObject({ kind: 'file', rev: r, length: limits.valueBytesMax });
  });

  it('pages GETDIR with after/limit at one revision while writes go on', async () => {
    const names = Array.from({ length: 25 }, (_, i) => `f${String(i).padStart(2, '0')}`);
    const at = (await c.call<{ rev: number }>({
      op: 'txn', conds: [], ops: names.map((n) => ({ op: 'set', path: `/page/${n}`, value: bytes(n) })),
    })).rev;
    await set('/page/sub/x', 'dir entry');
    const head = await set('/page/zz-later', 'after');
    const p1 = await c.call<GetdirResult>({ op: 'getdir', path: '/page', rev: at, limit: 10 });
    expect(p1).toEqual({ names: names.slice(0, 10), at, more: true });
    const p2 = await c.call<GetdirResult>({ op: 'getdir', path: '/page', rev: at, limit: 10, after: p1.names[9] });
    expect(p2).toEqual({ names: names.slice(10, 20), at, more: true });
    const p3 = await c.call<GetdirResult>({ op: 'getdir', path: '/page', rev: at, limit: 10, after: p2.names[9] });
    expect(p3).toEqual({ names: names.slice(20), at, more: false });
    // At the head the later files are there; a directory is listed by name.
    const now = await c.call<GetdirResult>({ op: 'getdir', path: '/page', after: 'f24' });
    expect(now).toEqual({ names: ['sub', 'zz-later'], at: head, more: false });
    // `after` need not be an existing name.
    expect((await c.call<GetdirResult>({ op: 'getdir', path: '/page', rev: at, after: 'f235', limit: 2 })).names).toEqual(['f24']);
  });

  it('pages WALK with after/limit, in tree order, at one revision', async () => {
    const at = await set('/walk/b/2', 'b2');
    await set('/walk/a', 'a');
    await set('/walk/b/1', 'b1');
    await set('/walk/c/d/e', 'e');
    const last = await set('/walk/b/3', 'b3');
    await set('/walkx', 'not under /walk');
    const all = await c.call<WalkResult>({ op: 'walk', glob: '/walk/**', rev: last });
    expect(all.files.map((f) => [f.path, f.rev, utf8(f.value)])).toEqual([
      ['/walk/a', at + 1, 'a'], ['/walk/b/1', at + 2, 'b1'], ['/walk/b/2', at, 'b2'],
      ['/walk/b/3', last, 'b3'], ['/walk/c/d/e', at + 3, 'e'],
    ]);
    expect(all.more).toBe(false);
    const pages: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = await c.call<WalkResult>({ op: 'walk', glob: '/walk/**', rev: last, limit: 2, ...(after ? { after } : {}) });
      expect(page.at).toBe(last);
      pages.push(page.files.map((f) => f.path));
      if (!page.more) break;
      after = page.files[page.files.length - 1]!.path;
    }
    expect(pages).toEqual([['/walk/a', '/walk/b/1'], ['/walk/b/2', '/walk/b/3'], ['/walk/c/d/e']]);
    const star = await c.call<WalkResult>({ op: 'walk', glob: '/walk/b/*', rev: at });
    expect(star.files.map((f) => f.path)).toEqual(['/walk/b/2']);
  });

  it('reads the tree as it stood at old revisions', async () => {
    const r1 = await set('/hist/a', 'v1');
    const r2 = await set('/hist/a', 'v2');
    const r3 = (await c.call<{ rev: number }>({ op: 'del', path: '/hist/a' })).rev;
    expect(await get('/hist/a', { rev: r1 })).toEqual({ value: Buffer.from('v1'), rev: r1, at: r1 });
    expect(await get('/hist/a', { rev: r2 })).toEqual({ value: Buffer.from('v2'), rev: r2, at: r2 });
    expect(await get('/hist/a', { rev: r3 })).toEqual({ value: null, rev: 0, at: r3 });
    expect(await get('/hist/a', { rev: r1 - 1 })).toEqual({ value: null, rev: 0, at: r1 - 1 });
    expect(await c.call({ op: 'stat', path: '/hist/a', rev: r1 })).toEqual({ kind: 'file', rev: r1, length: 2, ephemeral: false, at: r1 });
    expect(await c.call({ op: 'getdir', path: '/hist', rev: r2 })).toEqual({ names: ['a'], at: r2, more: false });
    expect((await c.callError({ op: 'getdir', path: '/hist', rev: r3 })).code).toBe(ErrorCode.NOENT);
    const w = await c.call<WalkResult>({ op: 'walk', glob: '/hist/*', rev: r1 });
    expect(w.files.map((f) => [f.path, utf8(f.value)])).toEqual([['/hist/a', 'v1']]);
  });

  it('answers a GET at a future revision once that revision is applied', async () => {
    const head = await rev();
    const id = c.request({ op: 'get', path: '/future/b', rev: head + 2 });
    const sid = c.request({ op: 'stat', path: '/future/a', rev: head + 1 });
    await set('/future/a', 'first');
    const statRes = await c.response(sid);
    expect(statRes.result).toMatchObject({ kind: 'file', rev: head + 1, at: head + 1 });
    // The write at head + 1 is acknowledged, so revision head + 2 cannot have been seen yet.
    expect(c.untaken((m) => m.id === id)).toEqual([]);
    await set('/future/b', 'second');
    const res = await c.response(id);
    expect(res.result).toEqual({ value: Buffer.from('second'), rev: head + 2, at: head + 2 });
  });

  it('applies a transaction atomically: all writes in one revision, or none', async () => {
    const ra = await set('/txn/a', 'a0');
    await set('/txn/c', 'c0');
    const before = await rev();
    const r = (await c.call<{ rev: number }>({
      op: 'txn',
      conds: [{ path: '/txn/a', rev: ra }, { path: '/txn/none', rev: 0 }],
      ops: [
        { op: 'set', path: '/txn/a', value: bytes('a1'), rev: ra },
        { op: 'set', path: '/txn/b', value: bytes('b1') },
        { op: 'del', path: '/txn/c' },
      ],
    })).rev;
    expect(r).toBe(before + 1);
    expect(await get('/txn/a')).toMatchObject({ value: Buffer.from('a1'), rev: r });
    expect(await get('/txn/b')).toMatchObject({ value: Buffer.from('b1'), rev: r });
    expect(await get('/txn/c')).toMatchObject({ value: null, rev: 0 });
    // A failing condition: nothing applied.
    await refused({
      op: 'txn', conds: [{ path: '/txn/a', rev: ra }],
      ops: [{ op: 'set', path: '/txn/x', value: bytes('x') }, { op: 'del', path: '/txn/b' }],
    }, ErrorCode.REV_MISMATCH);
    // A failing op after good ones: nothing applied either.
    await refused({
      op: 'txn', conds: [],
      ops: [
        { op: 'set', path: '/txn/y', value: bytes('y') },
        { op: 'del', path: '/txn/a' },
        { op: 'set', path: '/txn/b/under-a-file', value: bytes('z') },
      ],
    }, ErrorCode.NOTDIR);
    expect(await get('/txn/y')).toMatchObject({ value: null });
    expect(await get('/txn/a')).toMatchObject({ value: Buffer.from('a1'), rev: r });
    await refused({
      op: 'txn', conds: [],
      ops: [{ op: 'set', path: '/txn/d', value: bytes('1') }, { op: 'del', path: '/txn/d' }],
    }, ErrorCode.BAD_REQUEST);
    await refused({
      op: 'txn', conds: [],
      ops: Array.from({ length: limits.txnOpsMax + 1 }, (_, i) => ({ op: 'set', path: `/txn/m${i}`, value: bytes('v') })),
    }, ErrorCode.TOO_LARGE);
    // Ops see the effect of earlier ops in the same txn: a set creates a dir a later op writes under.
    const r2 = (await c.call<{ rev: number }>({
      op: 'txn', conds: [],
      ops: [{ op: 'del', path: '/txn/b' }, { op: 'set', path: '/txn/b/now-a-dir', value: bytes('ok') }],
    })).rev;
    expect(await get('/txn/b/now-a-dir')).toMatchObject({ value: Buffer.from('ok'), rev: r2 });
    // A txn that changes nothing consumes no revision.
    expect(await c.call({ op: 'txn', conds: [], ops: [{ op: 'del', path: '/txn/never' }] })).toEqual({ rev: r2 });
    expect(await rev()).toBe(r2);
  });
});
