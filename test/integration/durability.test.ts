// Method: write through the SDK and raw clients to a real server over a temp LevelDB, record
// what the server reports (values, revs, history, sessions), stop it with RunningServer.close(),
// start a new server on the same data directory and compare everything again: the same tree at
// the head and at old revisions, the same events, the same revision counter, sessions that can
// be resumed with their ephemeral files and remembered write results. A second suite uses a small
// snapshotEveryEntries and history window so the restart goes through snapshot + log replay, and
// checks on disk (after the server is closed) that a snapshot was in fact taken.
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import type { Event, WalkEntry, WalkResult } from '../../protocol/messages.ts';
import { openDataDir } from '../../server/storage/open-storage.ts';
import { RawClient, bytes } from '../helpers/raw-client.ts';
import { removeDir, startTestServer, tempDir } from '../helpers/server.ts';

type Server = Awaited<ReturnType<typeof startTestServer>>;
const dirs: string[] = [];
const running: Server[] = [];

afterAll(async () => {
  for (const s of running) await s.close();
  for (const d of dirs) removeDir(d);
});

async function start(dataDir: string, extra: { snapshotEveryEntries?: number; historyRevisions?: number } = {}): Promise<Server> {
  const s = await startTestServer({ dataDir, ...extra });
  running.push(s);
  return s;
}

async function stop(s: Server): Promise<void> {
  await s.close();
  running.splice(running.indexOf(s), 1);
}

/** Every file at `rev`, across pages. */
async function walkAll(c: RawClient, rev: number): Promise<[string, number, string][]> {
  const out: WalkEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await c.call<WalkResult>({ op: 'walk', glob: '/**', rev, limit: 97, ...(after ? { after } : {}) });
    out.push(...page.files);
    if (!page.more) break;
    after = page.files[page.files.length - 1]!.path;
  }
  return out.map((f) => [f.path, f.rev, Buffer.from(f.value).toString()]);
}

/** Every event from `from` to `head`, through a WATCH of `/**`. */
async function history(c: RawClient, from: number, head: number): Promise<Event[]> {
  const id = c.request({ op: 'watch', glob: '/**', fromRev: from });
  await c.response(id);
  const events = from > head ? [] : await c.eventsUntil(id, head);
  await c.call({ op: 'cancel', target: id });
  return events;
}

const rev = async (c: RawClient): Promise<number> => (await c.call<{ rev: number }>({ op: 'rev' })).rev;

describe('restart on the same data directory', () => {
  it('keeps values, revs, the revision counter, history, sessions and remembered results', async () => {
    const dir = tempDir();
    dirs.push(dir);
    let server = await start(dir);
    const sdk = await connect({ urls: server.url });
    await sdk.set('/dur/a', 'a1');
    const ra2 = await sdk.set('/dur/a', 'a2');
    await sdk.set('/dur/b/c', 'c1', { rev: 0 });
    await sdk.set('/dur/gone', 'soon');
    await sdk.del('/dur/gone');
    await sdk.txn({ conds: [{ path: '/dur/a', rev: ra2 }], ops: [{ op: 'set', path: '/dur/t1', value: 't' }, { op: 'set', path: '/dur/b/t2', value: 'u' }] });
    await sdk.close();
    const { client: raw, hello } = await RawClient.connect(server.url, { ttlMs: 60_000 });
    const eph = (await raw.call<{ rev: number }>({ op: 'set', path: '/dur/eph', value: bytes('mine'), ephemeral: true })).rev;
    const seqd = await raw.call<{ rev: number }>({ op: 'set', path: '/dur/seq', value: bytes('once'), seq: 7, seqFloor: 7 });
    const { client: closer, hello: closedHello } = await RawClient.connect(server.url);
    await closer.call({ op: 'close' });

    const head = await rev(raw);
    const tree = await walkAll(raw, head);
    const oldTrees = await Promise.all([1, 2, 4, 5, head - 1].map((r) => walkAll(raw, r)));
    const events = await history(raw, 1, head);
    expect(events.length).toBeGreaterThanOrEqual(head);
    await raw.terminate();
    await stop(server);

    server = await start(dir);
    const c = (await RawClient.connect(server.url)).client;
    expect(await rev(c)).toBe(head);
    expect(await walkAll(c, head)).toEqual(tree);
    expect(await Promise.all([1, 2, 4, 5, head - 1].map((r) => walkAll(c, r)))).toEqual(oldTrees);
    expect(await history(c, 1, head)).toEqual(events);
    expect(await c.call({ op: 'get', path: '/dur/a', rev: ra2 })).toEqual({ value: Buffer.from('a2'), rev: ra2, at: ra2 });
    // The live session resumes, still owns its file, and remembers its write.
    const { client: again, hello: h2 } = await RawClient.connect(server.url, { session: hello.session });
    expect(h2).toMatchObject({ resumed: true, rev: head, session: { id: hello.session.id, ttlMs: 60_000 } });
    expect(await c.call({ op: 'stat', path: '/dur/eph' })).toMatchObject({ kind: 'file', rev: eph, ephemeral: true });
    expect(await again.call({ op: 'set', path: '/dur/seq', value: bytes('once'), seq: 7, seqFloor: 7 })).toEqual(seqd);
    expect(await rev(c)).toBe(head);
    // The closed session stays closed.
    const d = await RawClient.open(server.url);
    expect((await d.callError({ op: 'hello', version: 1, session: closedHello.session })).code).toBe(ErrorCode.SESSION_EXPIRED);
    // The counter goes on from where it was.
    expect((await c.call<{ rev: number }>({ op: 'set', path: '/dur/next', value: bytes('n') })).rev).toBe(head + 1);
    await again.call({ op: 'close' });
    expect(await c.call({ op: 'get', path: '/dur/eph' })).toMatchObject({ value: null });
    for (const x of [c, d]) await x.close();
  });
});

describe('restart through snapshot + log replay (snapshotEveryEntries: 50, historyRevisions: 120)', () => {
  it('rebuilds the same tree, history window and sessions, twice', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const opts = { snapshotEveryEntries: 50, historyRevisions: 120 };
    let server = await start(dir, opts);
    const { client: owner, hello } = await RawClient.connect(server.url, { ttlMs: 60_000 });
    const { client: w } = await RawClient.connect(server.url);
    // 400 writes, pipelined 40 at a time: sets, deletes, txns and ephemeral files.
    for (let batch = 0; batch < 10; batch++) {
      const sent: [RawClient, number][] = [];
      for (let i = 0; i < 40; i++) {
        const n = batch * 40 + i;
        const k = `/snap/d${n % 7}/f${n % 23}`;
        if (n % 11 === 5) sent.push([w, w.request({ op: 'del', path: k })]);
        else if (n % 13 === 0) {
          sent.push([w, w.request({
            op: 'txn', conds: [], ops: [
              { op: 'set', path: `/snap/t/${n % 5}`, value: bytes(`t${n}`) },
              { op: 'set', path: `/snap/u/${n % 3}`, value: bytes(`u${n}`) },
            ],
          })]);
        } else if (n % 17 === 0) {
          sent.push([owner, owner.request({ op: 'set', path: `/snap/eph/${n}`, value: bytes(`e${n}`), ephemeral: true })]);
        } else sent.push([w, w.request({ op: 'set', path: k, value: bytes(`v${n}`) })]);
      }
      for (const res of await Promise.all(sent.map(([cl, id]) => cl.response(id)))) expect(res.error).toBeUndefined();
    }
    const head = await rev(w);
    expect(head).toBeGreaterThan(300);
    const tooLate = await w.callError({ op: 'get', path: '/snap', rev: 0 });
    expect(tooLate.code).toBe(ErrorCode.TOO_LATE);
    // oldestRev is the oldest revision whose events are kept; the state just before it is readable too.
    const oldest = (tooLate.details!.oldestRev as number) - 1;
    expect(oldest).toBe(head - 120);
    const checkpoints = [oldest, oldest + 1, head - 60, head - 1, head];
    const trees = await Promise.all(checkpoints.map((r) => walkAll(w, r)));
    const events = await history(w, oldest + 1, head);
    await owner.terminate();
    await w.close();
    await stop(server);

    for (let round = 0; round < 2; round++) {
      server = await start(dir, opts);
      const c = (await RawClient.connect(server.url)).client;
      expect(await rev(c)).toBe(head + round);
      // The write made in round 0 moved the window on by one revision.
      expect(await Promise.all(checkpoints.slice(round).map((r) => walkAll(c, r)))).toEqual(trees.slice(round));
      expect(await history(c, oldest + 1 + round, head)).toEqual(events.filter((e) => e.rev > oldest + round));
      const e = await c.callError({ op: 'get', path: '/snap', rev: oldest - 1 });
      expect(e).toMatchObject({ code: ErrorCode.TOO_LATE, details: { oldestRev: round === 0 ? oldest + 1 : oldest + 2 } });
      const { client: o, hello: h } = await RawClient.connect(server.url, { session: hello.session });
      expect(h.resumed).toBe(true);
      expect(await c.call({ op: 'stat', path: '/snap/eph/17' })).toMatchObject({ kind: 'file', ephemeral: true });
      if (round === 0) {
        // One more write so the second restart replays a log that follows a snapshot.
        expect((await c.call<{ rev: number }>({ op: 'set', path: '/snap/after', value: bytes('x') })).rev).toBe(head + 1);
      } else {
        expect(await c.call({ op: 'get', path: '/snap/after' })).toMatchObject({ value: Buffer.from('x'), rev: head + 1 });
      }
      await o.terminate();
      await c.close();
      await stop(server);
    }

    // On disk: a snapshot exists and the log before it is gone.
    const storage = await openDataDir(dir);
    try {
      const state = await storage.load();
      expect(state.snapshot).not.toBeNull();
      expect(state.snapshot!.index).toBeGreaterThan(300);
      expect(state.entries.length).toBeLessThan(60);
    } finally {
      await storage.close();
    }
  });
});
