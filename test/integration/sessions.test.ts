// Method: a real server on an ephemeral port; raw clients own ephemeral files and then close
// their session, drop their socket, or go silent past a short TTL, while an observer client
// polls (with a generous deadline, never a fixed sleep) and checks what the tree holds and which
// revisions and events the session's end made. Exactly-once writes are checked by resending the
// same (session, seq) on the same and on a new socket.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode } from '../../protocol/errors.ts';
import type { GetResult, StatResult } from '../../protocol/messages.ts';
import { RawClient, bytes, eventually } from '../helpers/raw-client.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

let server: Awaited<ReturnType<typeof startTestServer>>;
let obs: RawClient;
const clients: RawClient[] = [];

async function connect(hello: { ttlMs?: number; session?: { id: string; secret: string } } = {}) {
  const r = await RawClient.connect(server.url, hello);
  clients.push(r.client);
  return r;
}
const rev = async (): Promise<number> => (await obs.call<{ rev: number }>({ op: 'rev' })).rev;
const get = (path: string): Promise<GetResult> => obs.call<GetResult>({ op: 'get', path });

beforeAll(async () => {
  server = await startTestServer();
  obs = (await RawClient.connect(server.url)).client;
});

afterAll(async () => {
  for (const c of [obs, ...clients]) await c.close();
  await server.close();
  removeDir(server.dataDir);
});

describe('ephemeral files', () => {
  it('are deleted in one revision when the session is closed with op close', async () => {
    const { client: a } = await connect();
    const r1 = (await a.call<{ rev: number }>({ op: 'set', path: '/eph/close/x', value: bytes('x'), ephemeral: true })).rev;
    const r2 = (await a.call<{ rev: number }>({
      op: 'txn', conds: [], ops: [{ op: 'set', path: '/eph/close/y', value: bytes('y'), ephemeral: true }],
    })).rev;
    await a.call({ op: 'set', path: '/eph/close/plain', value: bytes('p') });
    expect(await obs.call<StatResult>({ op: 'stat', path: '/eph/close/x' })).toMatchObject({ kind: 'file', rev: r1, ephemeral: true });
    expect(await obs.call<StatResult>({ op: 'stat', path: '/eph/close/y' })).toMatchObject({ kind: 'file', rev: r2, ephemeral: true });
    const wid = obs.request({ op: 'watch', glob: '/eph/close/*' });
    await obs.response(wid);
    const before = await rev();
    const closed = await a.call<{ rev: number }>({ op: 'close' });
    expect(closed.rev).toBe(before + 1);
    expect((await a.closed()).code).toBe(CloseCode.NORMAL);
    expect(await obs.push(wid)).toEqual({
      watch: wid,
      events: [
        { path: '/eph/close/x', rev: before + 1, kind: 'delete' },
        { path: '/eph/close/y', rev: before + 1, kind: 'delete' },
      ],
    });
    expect((await get('/eph/close/x')).value).toBeNull();
    expect((await get('/eph/close/y')).value).toBeNull();
    expect((await get('/eph/close/plain')).value).toEqual(Buffer.from('p'));
    expect(await rev()).toBe(before + 1);
    await obs.call({ op: 'cancel', target: wid });
  });

  it('stop being ephemeral when rewritten without the flag, and close of an owner-less session costs no revision', async () => {
    const { client: a } = await connect();
    await a.call({ op: 'set', path: '/eph/handover', value: bytes('1'), ephemeral: true });
    await obs.call({ op: 'set', path: '/eph/handover', value: bytes('2') });
    expect(await obs.call<StatResult>({ op: 'stat', path: '/eph/handover' })).toMatchObject({ ephemeral: false });
    const before = await rev();
    expect(await a.call({ op: 'close' })).toEqual({ rev: before });
    expect((await get('/eph/handover')).value).toEqual(Buffer.from('2'));
  });

  it('are deleted when the TTL passes without traffic, while a session that pings keeps its own', async () => {
    const { client: silent, hello } = await connect({ ttlMs: 1000 });
    const { client: talker } = await connect({ ttlMs: 1000 });
    await silent.call({ op: 'set', path: '/eph/ttl/silent', value: bytes('s'), ephemeral: true });
    await talker.call({ op: 'set', path: '/eph/ttl/talker', value: bytes('t'), ephemeral: true });
    const wid = obs.request({ op: 'watch', glob: '/eph/ttl/*' });
    await obs.response(wid);
    const pinger = setInterval(() => talker.request({ op: 'ping' }), 100);
    try {
      const gone = await eventually(async () => ((await get('/eph/ttl/silent')).value === null ? true : undefined),
        'the silent session to expire', 15_000);
      expect(gone).toBe(true);
      // The expiry is one revision holding the delete of the silent session's file, and nothing else.
      const push = await obs.push(wid);
      expect(push.events).toEqual([{ path: '/eph/ttl/silent', rev: push.events![0]!.rev, kind: 'delete' }]);
      await obs.call({ op: 'cancel', target: wid });
      // Same TTL, but traffic: still alive.
      expect((await get('/eph/ttl/talker')).value).toEqual(Buffer.from('t'));
      expect(await talker.call({ op: 'set', path: '/eph/ttl/talker2', value: bytes('t2') })).toHaveProperty('rev');
    } finally {
      clearInterval(pinger);
    }
    // End the talker now, so its expiry cannot take a revision during a later test.
    await talker.call({ op: 'close' });
    // The server closed the expired session's socket, and the session cannot be resumed.
    expect(await silent.closed()).toEqual({ code: CloseCode.POLICY, reason: 'session expired' });
    const d = await RawClient.open(server.url);
    clients.push(d);
    expect((await d.callError({ op: 'hello', version: 1, session: hello.session })).code).toBe(ErrorCode.SESSION_EXPIRED);
  });
});

describe('exactly-once writes', () => {
  it('returns the remembered result for a repeated seq and applies it once', async () => {
    const { client: a, hello } = await connect();
    const first = await a.call<{ rev: number }>({ op: 'set', path: '/once/x', value: bytes('1'), seq: 1, seqFloor: 1 });
    const head = await rev();
    expect(head).toBe(first.rev);
    const again = await a.call<{ rev: number }>({ op: 'set', path: '/once/x', value: bytes('1'), seq: 1, seqFloor: 1 });
    expect(again).toEqual(first);
    // The seq names the write: different content under the same seq still gets the first result.
    const other = await a.call<{ rev: number }>({ op: 'set', path: '/once/x', value: bytes('2'), seq: 1 });
    expect(other).toEqual(first);
    expect(await rev()).toBe(head);
    expect(await get('/once/x')).toEqual({ value: Buffer.from('1'), rev: first.rev, at: head });
    // An error outcome that took a log entry is remembered too (an ISDIR refusal: the leader
    // answers only REV_MISMATCH as a read, and that one, having changed nothing, is not
    // remembered: a retry of it is evaluated afresh).
    await obs.call({ op: 'set', path: '/once/d/f', value: bytes('f') });
    const e1 = await a.callError({ op: 'set', path: '/once/d', value: bytes('3'), seq: 2, seqFloor: 1 });
    expect(e1.code).toBe(ErrorCode.ISDIR);
    await obs.call({ op: 'del', path: '/once/d/f' });
    const e2 = await a.callError({ op: 'set', path: '/once/d', value: bytes('3'), seq: 2, seqFloor: 1 });
    expect(e2.code).toBe(ErrorCode.ISDIR);
    expect((await get('/once/d')).value).toBeNull();
    // A retry on a new socket, after resuming the session, gets the same answer.
    const setY = await a.call<{ rev: number; deleted: boolean }>({ op: 'set', path: '/once/y', value: bytes('y'), seq: 3, seqFloor: 3 });
    await a.terminate();
    const { client: b, hello: h2 } = await connect({ session: hello.session });
    expect(h2.resumed).toBe(true);
    const before = await rev();
    expect(await b.call({ op: 'set', path: '/once/y', value: bytes('y'), seq: 3, seqFloor: 3 })).toEqual(setY);
    expect(await rev()).toBe(before);
    // Below the floor (raised to 3): its outcome is unknown, and it is not applied.
    expect((await b.callError({ op: 'set', path: '/once/z', value: bytes('z'), seq: 1, seqFloor: 1 })).code).toBe(ErrorCode.OUTCOME_UNKNOWN);
    expect((await get('/once/z')).value).toBeNull();
    expect(await rev()).toBe(before);
  });
});

describe('a dropped connection', () => {
  it('does not end the session: it resumes on a new socket with its ephemeral files', async () => {
    const { client: a, hello } = await connect({ ttlMs: 5000 });
    const r = (await a.call<{ rev: number }>({ op: 'set', path: '/drop/e', value: bytes('e'), ephemeral: true })).rev;
    await a.terminate(); // no close handshake, as after a crash or a cut cable
    const { client: b, hello: h2 } = await connect({ session: hello.session });
    expect(h2).toMatchObject({ resumed: true, session: { id: hello.session.id, ttlMs: 5000 } });
    expect(await obs.call<StatResult>({ op: 'stat', path: '/drop/e' })).toMatchObject({ kind: 'file', rev: r, ephemeral: true });
    // Still the owner: closing the session from the new socket deletes the file.
    await b.call({ op: 'close' });
    expect((await get('/drop/e')).value).toBeNull();
  });

  it('of one socket leaves the other sockets of the same session working', async () => {
    const { client: a, hello } = await connect();
    const { client: b } = await connect({ session: hello.session });
    await a.call({ op: 'set', path: '/drop/shared', value: bytes('s'), ephemeral: true });
    await a.terminate();
    expect(await b.call({ op: 'ping' })).toHaveProperty('rev');
    expect(await obs.call<StatResult>({ op: 'stat', path: '/drop/shared' })).toMatchObject({ ephemeral: true });
    await b.call({ op: 'close' });
    expect((await get('/drop/shared')).value).toBeNull();
  });
});
