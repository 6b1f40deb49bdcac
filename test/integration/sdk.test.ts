// Method: the SDK (client/index.ts) against real servers: a server is stopped and a new one
// started on the same port and data directory while an SDK watch is open, and the events the
// watch yields are compared with the writes made (none missing, none repeated); a TCP proxy
// (test/helpers/raw-proxy.ts) loses the answers to requests the server has received, then cuts
// the connection, and the test checks that the SDK resumes its session and retries them, with
// the write applied exactly once. Conditions are polled with deadlines, never timed.
// With COORD_TEST_CLUSTER=3 the "server" is a three-node cluster (test/helpers/test-coord.ts):
// each client and raw connection lands on a different node, and a restart restarts every node.
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type CoordClient, type Event } from '../../client/index.ts';
import { RawClient, bytes, eventually } from '../helpers/raw-client.ts';
import { RawProxy } from '../helpers/raw-proxy.ts';
import { TestCoord } from '../helpers/test-coord.ts';
const cleanups: (() => Promise<void> | void)[] = [];

afterAll(async () => {
  for (const f of cleanups.reverse()) await f();
});

async function server(): Promise<TestCoord> {
  const s = await TestCoord.start();
  cleanups.push(() => s.stop());
  return s;
}

async function sdk(url: string): Promise<CoordClient> {
  const c = await connect({ urls: url, backoffMs: [0, 20, 50, 100] });
  cleanups.push(() => c.close());
  return c;
}

describe('SDK', () => {
  it('runs every operation against a real server, paging GETDIR and WALK past the default page', async () => {
    const s = await server();
    const c = await sdk(s.nextUrl());
    for (let t = 0; t < 9; t++) {
      await c.txn({ ops: Array.from({ length: 125 }, (_, i) => ({ op: 'set' as const, path: `/many/f${String(t * 125 + i).padStart(4, '0')}`, value: 'v' })) });
    }
    const head = await c.rev();
    expect(head).toBe(9);
    const names = Array.from({ length: 1125 }, (_, i) => `f${String(i).padStart(4, '0')}`);
    expect(await c.getdir('/many')).toEqual({ names, at: head });
    const walked = await c.walk('/many/**');
    expect(walked.at).toBe(head);
    expect(walked.files.map((f) => f.path)).toEqual(names.map((n) => `/many/${n}`));
    const r = await c.set('/sdk/a', 'x', { rev: 0 });
    await expect(c.set('/sdk/a', 'y', { rev: 0 })).rejects.toMatchObject({ code: 'REV_MISMATCH', details: { path: '/sdk/a', rev: r } });
    expect(await c.get('/sdk/a')).toEqual({ value: Buffer.from('x'), rev: r, at: r });
    expect(await c.stat('/sdk/a')).toMatchObject({ kind: 'file', rev: r });
    const waited = c.wait('/sdk/*', { rev: r + 1 });
    const r2 = await c.set('/sdk/b', 'b');
    expect(await waited).toEqual({ path: '/sdk/b', rev: r2, kind: 'set', value: Buffer.from('b') });
    expect(await c.del('/sdk/a')).toEqual({ rev: r2 + 1, deleted: true });
  });

  it('keeps a watch across a server restart on the same port: no event missed or repeated', async () => {
    const s = await server();
    const c = await sdk(s.nextUrl());
    const sessionId = c.sessionId;
    const stream = c.watch('/rs/**');
    const seen: Event[] = [];
    const consumer = (async () => {
      for await (const e of stream) seen.push(e);
    })();
    const expected: Event[] = [];
    const ev = (path: string, rev: number, v: string): Event => ({ path, rev, kind: 'set', value: Buffer.from(v) });
    for (let i = 0; i < 10; i++) expected.push(ev(`/rs/${i % 3}`, await c.set(`/rs/${i % 3}`, `before${i}`), `before${i}`));
    // The watch has delivered the first part before the restart (so the resume point is mid-stream).
    await eventually(() => (seen.length >= 5 ? true : undefined), 'the first events');

    await s.shutdown();
    // A write issued while no server is up waits in the SDK and is sent after it reconnects.
    const during = c.set('/rs/during', 'during');
    await s.resume();
    // Writes from another client race with the SDK's reconnect and resume.
    const { client: raw } = await RawClient.connect(s.nextUrl());
    cleanups.push(() => raw.close());
    const rawWrites: Event[] = [];
    for (let i = 0; i < 5; i++) {
      const r = (await raw.call<{ rev: number }>({ op: 'set', path: `/rs/raw${i}`, value: bytes(`raw${i}`) })).rev;
      rawWrites.push(ev(`/rs/raw${i}`, r, `raw${i}`));
    }
    const duringRev = await during;
    const after: Event[] = [];
    for (let i = 0; i < 5; i++) after.push(ev(`/rs/${i}`, await c.set(`/rs/${i}`, `after${i}`), `after${i}`));
    const all = [...expected, ...rawWrites, ev('/rs/during', duringRev, 'during'), ...after].sort((a, b) => a.rev - b.rev);
    expect(new Set(all.map((e) => e.rev)).size).toBe(all.length);
    await eventually(() => (seen.length >= all.length ? true : undefined), `${all.length} events (have ${seen.length})`);
    // One more write and round trip: if anything had been repeated, it would show up before it.
    const last = await c.set('/rs/last', 'last');
    await eventually(() => (seen.some((e) => e.rev === last) ? true : undefined), 'the last event');
    expect(seen).toEqual([...all, ev('/rs/last', last, 'last')]);
    expect(c.sessionId).toBe(sessionId);
    expect(c.state).toBe('connected');
    stream.cancel();
    await consumer;
  });

  it('resumes its session and retries writes and reads whose answers were lost, applying each write once', async () => {
    const s = await server();
    const proxy = await RawProxy.start(s.nextUrl());
    cleanups.push(() => proxy.close());
    const c = await sdk(proxy.url);
    const sessionId = c.sessionId;
    await c.set('/retry/warm', 'w');
    const { client: obs } = await RawClient.connect(s.nextUrl());
    cleanups.push(() => obs.close());
    const head = (await obs.call<{ rev: number }>({ op: 'rev' })).rev;

    proxy.holdReplies();
    const write = c.set('/retry/x', 'once');
    const futureRead = c.get('/retry/y', { rev: head + 2 });
    const states: string[] = [];
    c.onState((st) => states.push(st));
    // The server applied the write; its answer is lost.
    await eventually(async () => {
      const g = await obs.call<{ value: Uint8Array | null }>({ op: 'get', path: '/retry/x' });
      return g.value !== null ? true : undefined;
    }, 'the write to reach the server');
    const accepted = proxy.accepted;
    proxy.cutAll();

    expect(await write).toBe(head + 1);
    expect(proxy.accepted).toBeGreaterThan(accepted);
    expect(states).toContain('suspended');
    expect(c.state).toBe('connected');
    expect(c.sessionId).toBe(sessionId);
    expect((await obs.call<{ rev: number }>({ op: 'rev' })).rev).toBe(head + 1);
    // The read at a future revision was re-sent too, and is answered when that revision comes.
    await obs.call({ op: 'set', path: '/retry/y', value: bytes('y') });
    expect(await futureRead).toEqual({ value: Buffer.from('y'), rev: head + 2, at: head + 2 });
    expect(await c.get('/retry/x')).toEqual({ value: Buffer.from('once'), rev: head + 1, at: head + 2 });
  });

  // Regression: an aborted wait() sends CANCEL right behind its WAIT; the server used to miss a
  // CANCEL that arrived before the WAIT had started, and the WAIT stayed pending, counted against
  // requestsInflightPerConnectionMax until the connection was wedged with LIMIT.
  it('leaves no WAIT pending on the server after wait() is aborted', async () => {
    const s = await server();
    const c = await sdk(s.nextUrl());
    const head = await c.rev();
    for (let i = 0; i < 100; i++) {
      const ac = new AbortController();
      const p = c.wait('/leak/never', { rev: head + 1, signal: ac.signal });
      ac.abort();
      await expect(p).rejects.toBeDefined();
    }
    await c.rev();
    await eventually(() => (s.servers.every((x) => x.node.hub.liveCount === 0) ? true : undefined), 'every aborted WAIT to be cancelled', 3000);
  });
});
