/**
 * protocol/README.md's claims, checked on the wire.
 *
 * Method: a real server (in-process, ephemeral port, real LevelDB in a temp dir) and a raw
 * WebSocket that sends hand-made msgpack frames — no SDK — so each test shows what a client in
 * another language would see. Each test follows one README statement: the hello bytes, framing
 * and close codes, ids and out-of-order responses, Doozer's conditional-write rule, DEL of a
 * missing file, TOO_LATE details, WATCH/cancel ordering, sessions, seq dedupe and the HTTP
 * endpoints. Waiting is by message, never by clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decode, encode } from '../../protocol/codec.ts';
import { limits, WS_PATH } from '../../protocol/limits.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

type Msg = Record<string, any>;

class Raw {
  readonly ws: WebSocket;
  private readonly inbox: Msg[] = [];
  private readonly waiters: (() => void)[] = [];
  closed: { code: number; reason: string } | null = null;
  readonly opened: Promise<void>;
  readonly whenClosed: Promise<{ code: number; reason: string }>;

  constructor(url: string) {
    this.ws = new WebSocket(url + WS_PATH);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.whenClosed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        resolve(this.closed);
        this.wake();
      });
    });
    this.ws.on('message', (data: Buffer) => {
      this.inbox.push(decode(data) as Msg);
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(msg: unknown): void {
    this.ws.send(encode(msg));
  }

  /** The next message matching `pred` (removed from the inbox); rejects if the socket closes. */
  async next(pred: (m: Msg) => boolean): Promise<Msg> {
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      if (this.closed !== null) throw new Error(`closed ${this.closed.code} ${this.closed.reason}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  response(id: number): Promise<Msg> {
    return this.next((m) => m.id === id);
  }

  async call(msg: Msg): Promise<Msg> {
    this.send(msg);
    return this.response(msg.id);
  }

  async result(msg: Msg): Promise<any> {
    const r = await this.call(msg);
    expect(r.error, JSON.stringify(r.error)).toBeUndefined();
    return r.result;
  }

  async errorOf(msg: Msg): Promise<Msg> {
    const r = await this.call(msg);
    expect(r.error, `expected an error for ${JSON.stringify(msg)}`).toBeDefined();
    return r.error;
  }

  close(): void {
    this.ws.close();
  }
}

let server: Awaited<ReturnType<typeof startTestServer>>;
const clients: Raw[] = [];
let nextPath = 0;
/** A fresh path per test, so tests do not see each other's files. */
const fresh = (prefix = 'k') => `/t${nextPath++}/${prefix}`;

async function connect(): Promise<Raw> {
  const c = new Raw(server.url);
  clients.push(c);
  await c.opened;
  return c;
}

async function session(extra: Msg = {}): Promise<{ c: Raw; hello: any }> {
  const c = await connect();
  const hello = await c.result({ id: 0, op: 'hello', version: 1, ...extra });
  return { c, hello };
}

const text = (b: Uint8Array) => Buffer.from(b).toString();

beforeAll(async () => {
  server = await startTestServer({ historyRevisions: 20 });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server.close();
  removeDir(server.dataDir);
});

describe('transport and the hello', () => {
  it('the README hello bytes open a session', async () => {
    const c = await connect();
    c.ws.send(Buffer.from('83a26964 00a26f70 a568656c 6c6fa776 65727369 6f6e01'.replace(/ /g, ''), 'hex'));
    const r = await c.response(0);
    expect(r.result).toMatchObject({ version: 1, resumed: false, session: { ttlMs: limits.sessionTtlMsDefault } });
    expect(r.result.session.id).toEqual(expect.any(String));
    expect(r.result.session.secret).toEqual(expect.any(String));
    expect(Number.isSafeInteger(r.result.rev)).toBe(true);
  });

  it('a request before the hello: HELLO_REQUIRED, then close 1008', async () => {
    const c = await connect();
    const r = await c.call({ id: 4, op: 'rev' });
    expect(r.error.code).toBe('HELLO_REQUIRED');
    expect((await c.whenClosed).code).toBe(1008);
  });

  it('a refused hello leaves the connection open; a second hello is refused without closing', async () => {
    const c = await connect();
    expect((await c.errorOf({ id: 0, op: 'hello', version: 2 })).code).toBe('BAD_VERSION');
    expect((await c.errorOf({ id: 1, op: 'hello', version: 1, session: { id: 'nope', secret: 'x' } })).code)
      .toBe('SESSION_EXPIRED');
    expect((await c.errorOf({ id: 2, op: 'hello', version: 1, ttlMs: limits.sessionTtlMsMax + 1 })).code)
      .toBe('BAD_REQUEST');
    await c.result({ id: 3, op: 'hello', version: 1 });
    expect((await c.errorOf({ id: 4, op: 'hello', version: 1 })).code).toBe('HELLO_REQUIRED');
    expect(await c.result({ id: 5, op: 'ping' })).toEqual({ rev: expect.any(Number) });
  });

  it.each([
    ['a text frame', 'hello', 1002],
    ['bytes that are not msgpack', Buffer.from('81a2', 'hex'), 1002],
    ['a msgpack value that is not a map', encode([1, 2, 3]), 1002],
    ['a map without an id', encode({ op: 'rev' }), 1002],
    ['a frame over frameBytesMax', Buffer.alloc(limits.frameBytesMax + 1), 1009],
  ] as const)('%s closes the connection with %i', async (_name, frame, code) => {
    const { c } = await session();
    c.ws.send(frame);
    expect((await c.whenClosed).code).toBe(code);
  });

  it('a malformed request with an id gets an error response and the connection goes on', async () => {
    const { c } = await session();
    expect((await c.errorOf({ id: 1, op: 'frobnicate' })).code).toBe('UNKNOWN_OP');
    expect((await c.errorOf({ id: 2, op: 'get', path: 'no-slash' })).code).toBe('BAD_PATH');
    expect((await c.errorOf({ id: 3, op: 'wait', glob: '/a[' })).code).toBe('BAD_GLOB');
    expect(await c.result({ id: 4, op: 'rev' })).toEqual({ rev: expect.any(Number) });
  });

  it('values come back as bin whether they were sent as bin or str', async () => {
    const { c } = await session();
    const p = fresh();
    await c.result({ id: 1, op: 'set', path: p, value: 'as a string' });
    const got = await c.result({ id: 2, op: 'get', path: p });
    expect(got.value).toBeInstanceOf(Uint8Array);
    expect(text(got.value)).toBe('as a string');
  });
});

describe('ids, pipelining and order', () => {
  it('a pending WAIT does not block later requests; responses come out of order', async () => {
    const { c } = await session();
    const p = fresh();
    const { rev } = await c.result({ id: 1, op: 'rev' });
    c.send({ id: 2, op: 'wait', glob: p, rev: rev + 1 });
    c.send({ id: 3, op: 'get', path: p });
    const first = await c.next((m) => m.id === 2 || m.id === 3);
    expect(first.id).toBe(3);
    const set = await c.result({ id: 4, op: 'set', path: p, value: 'x' });
    const wait = await c.response(2);
    expect(wait.result.event).toMatchObject({ path: p, rev: set.rev, kind: 'set' });
  });

  it('an id may be reused once its request is finished', async () => {
    const { c } = await session();
    const p = fresh();
    const { rev } = await c.result({ id: 1, op: 'rev' });
    c.send({ id: 7, op: 'wait', glob: p, rev: rev + 1 });
    await c.result({ id: 8, op: 'set', path: p, value: 'x' });
    expect((await c.response(7)).result.event.path).toBe(p);
    expect(await c.result({ id: 7, op: 'rev' })).toEqual({ rev: expect.any(Number) });
  });

  it('reusing an id still in flight closes the connection with 1002', async () => {
    const { c } = await session();
    const { rev } = await c.result({ id: 1, op: 'rev' });
    c.send({ id: 7, op: 'wait', glob: fresh(), rev: rev + 1 });
    c.send({ id: 7, op: 'rev' });
    const closed = await c.whenClosed;
    expect(closed.code).toBe(1002);
    expect(closed.reason).toContain('already in flight');
  });

  it('a request pipelined behind the hello is served once the hello is', async () => {
    const c = await connect();
    c.send({ id: 0, op: 'hello', version: 1 });
    c.send({ id: 1, op: 'rev' });
    expect((await c.response(0)).result.session.id).toEqual(expect.any(String));
    expect((await c.response(1)).result).toEqual({ rev: expect.any(Number) });
  });
});

describe("revisions and Doozer's conditional-write rule", () => {
  it('-1, 0, the file rev, and any later revision', async () => {
    const { c } = await session();
    const p = fresh();
    const r1 = (await c.result({ id: 1, op: 'set', path: p, value: 'a', rev: 0 })).rev;
    const again = await c.errorOf({ id: 2, op: 'set', path: p, value: 'b', rev: 0 });
    expect(again).toMatchObject({ code: 'REV_MISMATCH', details: { path: p, rev: r1 } });
    const r2 = (await c.result({ id: 3, op: 'set', path: p, value: 'c', rev: r1 })).rev;
    expect(r2).toBe(r1 + 1); // a refused write consumed no revision
    expect((await c.errorOf({ id: 4, op: 'set', path: p, value: 'd', rev: r1 })).code).toBe('REV_MISMATCH');
    const r3 = (await c.result({ id: 5, op: 'set', path: p, value: 'e', rev: r2 + 1000 })).rev;
    const r4 = (await c.result({ id: 6, op: 'set', path: p, value: 'f', rev: -1 })).rev;
    expect(await c.result({ id: 7, op: 'get', path: p })).toMatchObject({ rev: r4, at: r4 });
    expect(r4).toBe(r3 + 1);
  });

  it('a missing file reads as nil at rev 0; DEL of it changes nothing', async () => {
    const { c } = await session();
    const p = fresh();
    const before = (await c.result({ id: 1, op: 'rev' })).rev;
    expect(await c.result({ id: 2, op: 'get', path: p })).toEqual({ value: null, rev: 0, at: before });
    expect(await c.result({ id: 3, op: 'del', path: p })).toEqual({ rev: before, deleted: false });
    expect((await c.result({ id: 4, op: 'rev' })).rev).toBe(before);
  });

  it('directories: ISDIR, NOTDIR, NOENT with details.path', async () => {
    const { c } = await session();
    const dir = fresh('d');
    await c.result({ id: 1, op: 'set', path: `${dir}/f`, value: '' });
    expect(await c.errorOf({ id: 2, op: 'set', path: dir, value: 'x' })).toMatchObject({ code: 'ISDIR', details: { path: dir } });
    expect(await c.errorOf({ id: 3, op: 'get', path: dir })).toMatchObject({ code: 'ISDIR' });
    expect(await c.errorOf({ id: 4, op: 'del', path: '/' })).toMatchObject({ code: 'ISDIR' });
    expect(await c.errorOf({ id: 5, op: 'set', path: `${dir}/f/g`, value: 'x' }))
      .toMatchObject({ code: 'NOTDIR', details: { path: `${dir}/f` } });
    expect(await c.errorOf({ id: 6, op: 'getdir', path: `${dir}/f` })).toMatchObject({ code: 'NOTDIR' });
    expect(await c.errorOf({ id: 7, op: 'getdir', path: `${dir}/none` })).toMatchObject({ code: 'NOENT' });
    expect(await c.result({ id: 8, op: 'stat', path: dir })).toMatchObject({ kind: 'dir', rev: 0, children: 1 });
  });
});

describe('listing', () => {
  it('GETDIR pages names in byte order; WALK pages files in tree order', async () => {
    const { c } = await session();
    const d = fresh('l');
    for (const name of ['a-c', 'a/b', 'a/a', 'b', 'B']) {
      await c.result({ id: 1, op: 'set', path: `${d}/${name}`, value: name });
    }
    const page1 = await c.result({ id: 2, op: 'getdir', path: d, limit: 2 });
    expect(page1).toMatchObject({ names: ['B', 'a'], more: true });
    const page2 = await c.result({ id: 3, op: 'getdir', path: d, limit: 2, after: 'a', rev: page1.at });
    expect(page2).toEqual({ names: ['a-c', 'b'], at: page1.at, more: false });
    const walk1 = await c.result({ id: 4, op: 'walk', glob: `${d}/**`, limit: 3 });
    expect(walk1.files.map((f: Msg) => f.path.slice(d.length))).toEqual(['/B', '/a/a', '/a/b']);
    expect(walk1.more).toBe(true);
    const walk2 = await c.result({ id: 5, op: 'walk', glob: `${d}/**`, after: walk1.files[2].path, rev: walk1.at });
    expect(walk2.files.map((f: Msg) => [f.path.slice(d.length), text(f.value)])).toEqual([['/a-c', 'a-c'], ['/b', 'b']]);
    expect(walk2.more).toBe(false);
  });
});

describe('transactions', () => {
  it('ops see the earlier ops; one revision; all or nothing', async () => {
    const { c } = await session();
    const d = fresh('x');
    await c.result({ id: 1, op: 'set', path: `${d}/a/x`, value: '1' });
    const ok = await c.result({ id: 2, op: 'txn', ops: [
      { op: 'del', path: `${d}/a/x` }, { op: 'set', path: `${d}/a`, value: 'now a file' },
    ] });
    expect(await c.result({ id: 3, op: 'get', path: `${d}/a` })).toMatchObject({ rev: ok.rev });
    const refused = await c.errorOf({ id: 4, op: 'txn', ops: [
      { op: 'set', path: `${d}/b`, value: '' }, { op: 'set', path: `${d}/a/y`, value: '' },
    ] });
    expect(refused).toMatchObject({ code: 'NOTDIR', details: { path: `${d}/a` } });
    expect(await c.result({ id: 5, op: 'stat', path: `${d}/b` })).toMatchObject({ kind: 'missing' });
    const cond = await c.errorOf({ id: 6, op: 'txn', conds: [{ path: `${d}/a`, rev: ok.rev - 1 }], ops: [] });
    expect(cond).toMatchObject({ code: 'REV_MISMATCH', details: { path: `${d}/a`, rev: ok.rev } });
    expect(await c.result({ id: 7, op: 'txn', conds: [{ path: `${d}/a`, rev: ok.rev }], ops: [] })).toEqual({ rev: ok.rev });
  });
});

describe('history', () => {
  it('TOO_LATE carries one oldestRev for reads and waits: the oldest revision both accept now', async () => {
    const { c } = await session();
    const p = fresh();
    for (let i = 0; i < 25; i++) await c.result({ id: 100 + i, op: 'set', path: p, value: String(i) });
    const late = await c.errorOf({ id: 1, op: 'get', path: p, rev: 1 });
    expect(late.code).toBe('TOO_LATE');
    const oldest = late.details.oldestRev as number;
    expect((await c.result({ id: 2, op: 'get', path: p, rev: oldest })).at).toBe(oldest);
    const lateWait = await c.errorOf({ id: 3, op: 'wait', glob: p, rev: 1 });
    expect(lateWait).toMatchObject({ code: 'TOO_LATE', details: { oldestRev: oldest } });
    expect((await c.result({ id: 4, op: 'wait', glob: p, rev: oldest })).event.rev).toBe(oldest);
    // A WATCH from too far back: a successful response, then a TOO_LATE end push.
    expect(await c.result({ id: 5, op: 'watch', glob: p, fromRev: 1 })).toEqual({ fromRev: 1 });
    const end = await c.next((m) => m.watch === 5);
    expect(end.end).toMatchObject({ code: 'TOO_LATE', details: { oldestRev: oldest } });
  });
});

describe('WATCH and cancel', () => {
  it('response first, then every event in order; cancel ends it before answering', async () => {
    const { c } = await session();
    const dir = fresh('w');
    const { rev } = await c.result({ id: 1, op: 'rev' });
    expect(await c.result({ id: 2, op: 'watch', glob: `${dir}/**` })).toEqual({ fromRev: rev + 1 });
    await c.result({ id: 3, op: 'set', path: `${dir}/a`, value: '1' });
    await c.result({ id: 4, op: 'txn', ops: [
      { op: 'set', path: `${dir}/c`, value: '2' }, { op: 'set', path: `${dir}/b`, value: '3' },
    ] });
    await c.result({ id: 5, op: 'del', path: `${dir}/a` });
    const pushes: Msg[][] = [];
    while (pushes.length < 3) pushes.push((await c.next((m) => m.watch === 2)).events);
    // One push per revision; a transaction's events arrive together, in path order.
    expect(pushes.map((es) => es.map((e) => [e.path.slice(dir.length), e.rev - rev, e.kind]))).toEqual([
      [['/a', 1, 'set']], [['/b', 2, 'set'], ['/c', 2, 'set']], [['/a', 3, 'delete']],
    ]);
    expect(text(pushes[1]![0]!.value)).toBe('3');
    expect('value' in pushes[2]![0]!).toBe(false);
    c.send({ id: 6, op: 'cancel', target: 2 });
    const endOrResponse = await c.next((m) => m.watch === 2 || m.id === 6);
    expect(endOrResponse.end).toMatchObject({ code: 'CANCELLED' });
    expect((await c.response(6)).result).toEqual({ cancelled: true });
    expect(await c.result({ id: 7, op: 'cancel', target: 2 })).toEqual({ cancelled: false });
  });

  it('the WATCH response comes before its first push', async () => {
    const { c } = await session();
    const p = fresh();
    await c.result({ id: 1, op: 'set', path: p, value: 'x' });
    const { rev } = await c.result({ id: 2, op: 'rev' });
    c.send({ id: 3, op: 'watch', glob: p, fromRev: rev });
    const first = await c.next((m) => m.id === 3 || m.watch === 3);
    expect(first).toEqual({ id: 3, result: { fromRev: rev } });
    expect((await c.next((m) => m.watch === 3)).events).toEqual([{ path: p, rev, kind: 'set', value: expect.anything() }]);
  });

  it('a cancelled WAIT is answered CANCELLED', async () => {
    const { c } = await session();
    const { rev } = await c.result({ id: 1, op: 'rev' });
    c.send({ id: 2, op: 'wait', glob: fresh(), rev: rev + 1 });
    // Let the WAIT register first (see the cancel deviation below): a write's answer comes
    // only after a disk sync, long after the WAIT's own start.
    await c.result({ id: 4, op: 'set', path: fresh(), value: '' });
    expect(await c.result({ id: 3, op: 'cancel', target: 2 })).toEqual({ cancelled: true });
    expect((await c.response(2)).error.code).toBe('CANCELLED');
  });
});

describe('sessions and exactly-once', () => {
  it('close: ephemeral files go, every connection of the session closes, no resume', async () => {
    const { c, hello } = await session();
    const other = await connect();
    await other.result({ id: 0, op: 'hello', version: 1, session: hello.session });
    const { c: watcher } = await session();
    const p = fresh('eph');
    const made = await c.result({ id: 1, op: 'set', path: p, value: 'me', ephemeral: true });
    expect(await c.result({ id: 2, op: 'stat', path: p })).toMatchObject({ kind: 'file', ephemeral: true });
    watcher.send({ id: 1, op: 'wait', glob: p, rev: made.rev + 1 });
    const closed = await c.result({ id: 3, op: 'close' });
    expect(closed.rev).toBe(made.rev + 1);
    expect(await c.whenClosed).toEqual({ code: 1000, reason: 'session closed' });
    expect(await other.whenClosed).toEqual({ code: 1000, reason: 'session closed' });
    expect((await watcher.response(1)).result.event).toEqual({ path: p, rev: closed.rev, kind: 'delete' });
    const d = await connect();
    const refused = await d.errorOf({ id: 0, op: 'hello', version: 1, session: hello.session });
    expect(refused.code).toBe('SESSION_EXPIRED');
  });

  it('expiry: silence past the TTL ends the session, deletes its files, closes with 1008', async () => {
    const { c, hello } = await session({ ttlMs: limits.sessionTtlMsMin });
    const { c: watcher } = await session();
    const p = fresh('eph');
    const made = await c.result({ id: 1, op: 'set', path: p, value: 'x', ephemeral: true });
    await watcher.result({ id: 1, op: 'watch', glob: p, fromRev: made.rev + 1 });
    // Send nothing more on `c`: receiving does not keep a session alive.
    expect(await c.whenClosed).toEqual({ code: 1008, reason: 'session expired' });
    const push = await watcher.next((m) => m.watch === 1);
    expect(push.events).toEqual([{ path: p, rev: made.rev + 1, kind: 'delete' }]);
    const d = await connect();
    expect((await d.errorOf({ id: 0, op: 'hello', version: 1, session: hello.session })).code).toBe('SESSION_EXPIRED');
  });

  it('a session resumes on a new connection, with its TTL', async () => {
    const { c, hello } = await session({ ttlMs: 20_000 });
    c.close();
    const d = await connect();
    const again = await d.result({ id: 0, op: 'hello', version: 1, session: { id: hello.session.id, secret: hello.session.secret } });
    expect(again).toMatchObject({ resumed: true, session: { id: hello.session.id, ttlMs: 20_000 } });
  });

  it('a retried seq returns the first outcome without applying again; below the floor its outcome is unknown', async () => {
    const { c } = await session();
    const p = fresh();
    const first = await c.result({ id: 1, op: 'set', path: p, value: 'once', seq: 1 });
    const retry = await c.result({ id: 2, op: 'set', path: p, value: 'once', seq: 1 });
    expect(retry).toEqual(first);
    expect((await c.result({ id: 3, op: 'get', path: p })).rev).toBe(first.rev);
    const failed = await c.errorOf({ id: 4, op: 'set', path: p, value: 'x', rev: 0, seq: 2 });
    expect(await c.errorOf({ id: 5, op: 'set', path: p, value: 'x', rev: 0, seq: 2 })).toEqual(failed);
    await c.result({ id: 6, op: 'del', path: p, seq: 3, seqFloor: 3 });
    expect(await c.errorOf({ id: 7, op: 'set', path: p, value: 'y', seq: 1 })).toMatchObject({
      code: 'OUTCOME_UNKNOWN', details: { seq: 1, floor: 3 },
    });
  });

  it('a retry after its result was evicted by the per-session cap: OUTCOME_UNKNOWN, not applied again', async () => {
    const { c } = await session();
    const p = fresh();
    await c.result({ id: 1, op: 'set', path: p, value: 'first', seq: 1 });
    // No seqFloor: the session keeps the last dedupeResultsPerSessionMax results.
    for (let seq = 2; seq <= 1026; seq++) await c.result({ id: seq, op: 'set', path: `${p}-${seq % 4}`, value: 'x', seq });
    const before = (await c.result({ id: 2000, op: 'rev' })).rev;
    expect(await c.errorOf({ id: 2001, op: 'set', path: p, value: 'first', seq: 1 })).toMatchObject({ code: 'OUTCOME_UNKNOWN' });
    expect((await c.result({ id: 2002, op: 'rev' })).rev).toBe(before);
  });
});

describe('HTTP endpoints', () => {
  it('/healthz and /readyz', async () => {
    const base = server.url.replace(/^ws/, 'http');
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, rev: expect.any(Number), leader: true, disk: 'ok' });
  });
});

describe('WAIT and WATCH ahead of the head', () => {
  it('a WAIT for a future revision takes nothing before it', async () => {
    const { c } = await session();
    const p = fresh();
    const { rev } = await c.result({ id: 1, op: 'rev' });
    c.send({ id: 2, op: 'wait', glob: p, rev: rev + 3 });
    for (let i = 0; i < 3; i++) await c.result({ id: 10 + i, op: 'set', path: p, value: String(i) });
    const r = (await c.response(2)).result;
    expect(r.event.rev).toBe(rev + 3);
    expect(text(r.event.value)).toBe('2');
  });

  it('a WATCH from a future revision starts there', async () => {
    const { c } = await session();
    const p = fresh();
    const { rev } = await c.result({ id: 1, op: 'rev' });
    expect(await c.result({ id: 2, op: 'watch', glob: p, fromRev: rev + 3 })).toEqual({ fromRev: rev + 3 });
    for (let i = 0; i < 3; i++) await c.result({ id: 10 + i, op: 'set', path: p, value: String(i) });
    expect((await c.next((m) => m.watch === 2)).events[0].rev).toBe(rev + 3);
  });

  it('a WAIT with no rev takes the next change, not history', async () => {
    const { c } = await session();
    const p = fresh();
    await c.result({ id: 1, op: 'set', path: p, value: 'old' });
    c.send({ id: 2, op: 'wait', glob: p });
    const { rev } = await c.result({ id: 3, op: 'set', path: p, value: 'new' });
    expect((await c.response(2)).result.event.rev).toBe(rev);
  });

  it('a WAIT answers every matching event of the revision it found', async () => {
    const { c } = await session();
    const dir = fresh('d');
    const { rev } = await c.result({ id: 1, op: 'rev' });
    c.send({ id: 2, op: 'wait', glob: `${dir}/*`, rev: rev + 1 });
    await c.result({ id: 3, op: 'txn', conds: [], ops: [
      { op: 'set', path: `${dir}/b`, value: '2' }, { op: 'set', path: `${dir}/a`, value: '1' },
    ] });
    const r = (await c.response(2)).result;
    expect(r.events.map((e: Msg) => e.path)).toEqual([`${dir}/a`, `${dir}/b`]);
    expect(r.event).toEqual(r.events[0]);
  });
});

describe('cancel and limits', () => {
  it('a cancel right behind its WAIT cancels it', async () => {
    const { c } = await session();
    const { rev } = await c.result({ id: 1, op: 'rev' });
    // Both frames in one socket write, so the server reads them together.
    const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.cork();
    c.send({ id: 2, op: 'wait', glob: fresh(), rev: rev + 1 });
    c.send({ id: 3, op: 'cancel', target: 2 });
    socket.uncork();
    expect((await c.response(3)).result).toEqual({ cancelled: true });
    expect((await c.response(2)).error.code).toBe('CANCELLED');
  });

  it('a connection full of watches can still cancel one, and refuses one more', async () => {
    const { c } = await session();
    const p = fresh();
    const max = limits.watchesPerConnectionMax;
    for (let i = 1; i <= max; i++) c.send({ id: i, op: 'watch', glob: p });
    await c.response(max);
    expect((await c.errorOf({ id: max + 1, op: 'watch', glob: p })).code).toBe('LIMIT');
    const r = await c.call({ id: 0, op: 'cancel', target: 1 });
    expect(r.result).toEqual({ cancelled: true });
  });
});
