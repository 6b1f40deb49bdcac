// Method: a real server on an ephemeral port over a temp LevelDB; raw WebSocket clients send
// exact hello frames and the test checks each answer and whether the socket stays open or is
// closed with the documented close code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode } from '../../protocol/errors.ts';
import { limits, PROTOCOL_VERSION } from '../../protocol/limits.ts';
import type { HelloResult } from '../../protocol/messages.ts';
import { RawClient, RawError, bytes } from '../helpers/raw-client.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

let server: Awaited<ReturnType<typeof startTestServer>>;
const clients: RawClient[] = [];

async function open(): Promise<RawClient> {
  const c = await RawClient.open(server.url);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await server.close();
  removeDir(server.dataDir);
});

describe('hello', () => {
  it('opens a new session with the default TTL and reports the store revision', async () => {
    const c = await open();
    const h = await c.call<HelloResult>({ op: 'hello', version: PROTOCOL_VERSION });
    expect(h.version).toBe(PROTOCOL_VERSION);
    expect(h.resumed).toBe(false);
    expect(h.session.id).toMatch(/^[0-9a-f]+$/);
    expect(h.session.secret.length).toBeGreaterThanOrEqual(16);
    expect(h.session.ttlMs).toBe(limits.sessionTtlMsDefault);
    await c.call({ op: 'set', path: '/hello/a', value: bytes('x') });
    const other = await open();
    const h2 = await other.call<HelloResult>({ op: 'hello', version: PROTOCOL_VERSION, ttlMs: 4321 });
    expect(h2.session.ttlMs).toBe(4321);
    expect(h2.session.id).not.toBe(h.session.id);
    expect(h2.rev).toBe((await c.call<{ rev: number }>({ op: 'rev' })).rev);
  });

  it('resumes a session by id and secret on another socket, keeping its TTL', async () => {
    const a = await open();
    const h = await a.call<HelloResult>({ op: 'hello', version: PROTOCOL_VERSION, ttlMs: 5000 });
    const b = await open();
    const r = await b.call<HelloResult>({
      op: 'hello', version: PROTOCOL_VERSION, ttlMs: 2000, session: { id: h.session.id, secret: h.session.secret },
    });
    expect(r.resumed).toBe(true);
    expect(r.session).toEqual(h.session);
    // The resumed socket acts for the session: an ephemeral write there is owned by it.
    await b.call({ op: 'set', path: '/hello/resumed', value: bytes('y'), ephemeral: true });
    const st = await a.call<{ kind: string; ephemeral: boolean }>({ op: 'stat', path: '/hello/resumed' });
    expect(st).toMatchObject({ kind: 'file', ephemeral: true });
  });

  it('refuses a wrong secret or an unknown id with SESSION_EXPIRED and lets the socket say hello again', async () => {
    const a = await open();
    const h = await a.call<HelloResult>({ op: 'hello', version: PROTOCOL_VERSION });
    const b = await open();
    const wrong = await b.callError({
      op: 'hello', version: PROTOCOL_VERSION, session: { id: h.session.id, secret: 'f'.repeat(h.session.secret.length) },
    });
    expect(wrong.code).toBe(ErrorCode.SESSION_EXPIRED);
    const shorter = await b.callError({ op: 'hello', version: PROTOCOL_VERSION, session: { id: h.session.id, secret: 'x' } });
    expect(shorter.code).toBe(ErrorCode.SESSION_EXPIRED);
    const unknown = await b.callError({ op: 'hello', version: PROTOCOL_VERSION, session: { id: '00', secret: h.session.secret } });
    expect(unknown.code).toBe(ErrorCode.SESSION_EXPIRED);
    // The client SDK relies on this: after SESSION_EXPIRED it opens a new session on the same socket.
    const fresh = await b.call<HelloResult>({ op: 'hello', version: PROTOCOL_VERSION });
    expect(fresh.resumed).toBe(false);
    expect(fresh.session.id).not.toBe(h.session.id);
  });

  it('answers a request sent before hello with HELLO_REQUIRED and closes with POLICY', async () => {
    const c = await open();
    const res = await c.response(c.request({ op: 'get', path: '/x' }));
    expect(res.error?.code).toBe(ErrorCode.HELLO_REQUIRED);
    const closed = await c.closed();
    expect(closed.code).toBe(CloseCode.POLICY);
  });

  it('answers requests pipelined right behind the hello once the hello is done', async () => {
    const c = await open();
    const helloId = c.request({ op: 'hello', version: PROTOCOL_VERSION });
    const pingId = c.request({ op: 'ping' });
    const setId = c.request({ op: 'set', path: '/hello/pipelined', value: bytes('p') });
    expect((await c.response(helloId)).result).toMatchObject({ resumed: false });
    expect((await c.response(pingId)).result).toHaveProperty('rev');
    expect((await c.response(setId)).result).toHaveProperty('rev');
    expect(c.isOpen).toBe(true);
  });

  it('refuses a second hello on a socket that has a session, and the session goes on', async () => {
    const c = await open();
    const h = await c.call<HelloResult>({ op: 'hello', version: PROTOCOL_VERSION });
    const again = await c.callError({ op: 'hello', version: PROTOCOL_VERSION });
    expect(again.code).toBe(ErrorCode.HELLO_REQUIRED);
    const resume = await c.callError({ op: 'hello', version: PROTOCOL_VERSION, session: h.session });
    expect(resume.code).toBe(ErrorCode.HELLO_REQUIRED);
    await expect(c.call({ op: 'ping' })).resolves.toHaveProperty('rev');
    expect(c.isOpen).toBe(true);
  });

  it('refuses an unknown protocol version with BAD_VERSION and a malformed hello with BAD_REQUEST', async () => {
    const c = await open();
    expect((await c.callError({ op: 'hello', version: PROTOCOL_VERSION + 1 })).code).toBe(ErrorCode.BAD_VERSION);
    expect((await c.callError({ op: 'hello', version: 0 })).code).toBe(ErrorCode.BAD_VERSION);
    const d = await open();
    expect((await d.callError({ op: 'hello' })).code).toBe(ErrorCode.BAD_REQUEST);
    const e = await open();
    expect((await e.callError({ op: 'hello', version: '1' })).code).toBe(ErrorCode.BAD_REQUEST);
    const f = await open();
    expect((await f.callError({ op: 'hello', version: 1, ttlMs: limits.sessionTtlMsMin - 1 })).code).toBe(ErrorCode.BAD_REQUEST);
    const g = await open();
    expect((await g.callError({ op: 'hello', version: 1, ttlMs: limits.sessionTtlMsMax + 1 })).code).toBe(ErrorCode.BAD_REQUEST);
    const h = await open();
    expect((await h.callError({ op: 'hello', version: 1, session: { id: 'abc' } })).code).toBe(ErrorCode.BAD_REQUEST);
  });

  it('rejects writes on a session that was closed, and resuming it', async () => {
    const { client: c, hello: h } = await RawClient.connect(server.url);
    clients.push(c);
    await c.call({ op: 'close' });
    expect((await c.closed()).code).toBe(CloseCode.NORMAL);
    const d = await open();
    const err = await d.callError({ op: 'hello', version: PROTOCOL_VERSION, session: h.session });
    expect(err.code).toBe(ErrorCode.SESSION_EXPIRED);
    await expect(d.call({ op: 'ping' })).rejects.toBeInstanceOf(RawError);
  });
});
