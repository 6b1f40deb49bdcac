/**
 * Watch progress on the wire (etcd's progress notifications): the PROGRESS op and WATCH's
 * `progressMs` pushes, against a real server over real WebSockets.
 *
 * Method: raw clients record every frame in arrival order, so "every event at or below rev came
 * before the answer" is checked by position in that record. The lagging cases are real: a WATCH
 * from far back over more history than one catch-up turn reads (so the PROGRESS sent with it is
 * ready while the watch is still reading history; answering it at once fails this test), and a
 * WATCH whose client stops reading until its socket is congested. Periodic pushes are checked for being sent only when
 * asked, only while idle, and never ahead of an event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limits } from '../../protocol/limits.ts';
import type { Event } from '../../protocol/messages.ts';
import { CATCH_UP_REVISIONS_PER_TURN } from '../../server/watch/hub.ts';
import { RawClient, bytes, type RawMessage } from '../helpers/raw-client.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

type Server = Awaited<ReturnType<typeof startTestServer>>;
let server: Server;
let c: RawClient; // writes

beforeAll(async () => {
  server = await startTestServer();
  c = (await RawClient.connect(server.url)).client;
});

afterAll(async () => {
  await c.close();
  await server.close();
  removeDir(server.dataDir);
});

const setRev = async (path: string, value: Uint8Array | string = 'v'): Promise<number> =>
  (await c.call<{ rev: number }>({ op: 'set', path, value: typeof value === 'string' ? bytes(value) : value })).rev;

/** Index in `cl.messages` of the response to `id`. */
const responseAt = (cl: RawClient, id: number) => cl.messages.findIndex((m) => m.id === id && m.watch === undefined);

/** The revisions of watch `watchId`'s event pushes among `messages[0..end)`. */
function pushedRevs(messages: RawMessage[], watchId: number, end = messages.length): number[] {
  return messages.slice(0, end).filter((m) => m.watch === watchId && Array.isArray(m.events))
    .map((m) => (m.events as Event[])[0]!.rev);
}

describe('PROGRESS on request', () => {
  it('on an idle live watch: rev ≥ every write acknowledged before it, no events owed', async () => {
    const { client: w } = await RawClient.connect(server.url);
    const watchId = w.request({ op: 'watch', glob: '/idle/**' });
    await w.response(watchId);
    let last = 0;
    for (let i = 0; i < 5; i++) last = await setRev(`/busy/${i}`);
    const { rev } = await w.call<{ rev: number }>({ op: 'progress', target: watchId });
    expect(rev).toBeGreaterThanOrEqual(last);
    expect(w.untaken((m) => m.watch === watchId)).toEqual([]);
    await w.close();
  });

  it('answers after every event at or below its rev on a live watch', async () => {
    const { client: w } = await RawClient.connect(server.url);
    const watchId = w.request({ op: 'watch', glob: '/live/**' });
    await w.response(watchId);
    const revs: number[] = [];
    for (let i = 0; i < 20; i++) revs.push(await setRev(`/live/${i % 3}`, String(i)));
    const id = w.request({ op: 'progress', target: watchId });
    const res = await w.response(id);
    const rev = (res.result as { rev: number }).rev;
    expect(rev).toBeGreaterThanOrEqual(revs.at(-1)!);
    expect(pushedRevs(w.messages, watchId, responseAt(w, id))).toEqual(revs);
    await w.close();
  });

  it(`waits for a watch catching up over more than ${CATCH_UP_REVISIONS_PER_TURN} revisions of history, and answers after its pushes`, async () => {
    const n = 2 * CATCH_UP_REVISIONS_PER_TURN + 500;
    const from = (await c.call<{ rev: number }>({ op: 'rev' })).rev + 1;
    // Pipelined, in batches under the in-flight limit: a few thousand matching revisions quickly.
    const written: number[] = [];
    for (let done = 0; done < n; done += 1000) {
      const start = c.messages.length;
      const k = Math.min(1000, n - done);
      for (let i = 0; i < k; i++) c.request({ op: 'set', path: `/lag/${i % 5}`, value: bytes(String(done + i)) });
      // One waiter for the whole batch (a waiter per request would rescan every frame).
      await c.until(() => (c.messages.length - start >= k ? true : undefined), 'a batch of writes', 60_000);
      for (const m of c.messages.slice(start)) written.push((m.result as { rev: number }).rev);
    }
    const { client: w } = await RawClient.connect(server.url);
    // The PROGRESS goes in the same breath as the WATCH: the watch is still reading history
    // (a slice per turn) when the progress is ready to answer.
    const watchId = w.request({ op: 'watch', glob: '/lag/**', fromRev: from });
    const id = w.request({ op: 'progress', target: watchId });
    const res = await w.response(id, 30_000);
    const rev = (res.result as { rev: number }).rev;
    expect(rev).toBeGreaterThanOrEqual(Math.max(...written));
    const before = pushedRevs(w.messages, watchId, responseAt(w, id));
    expect(before).toEqual([...written].sort((a, b) => a - b));
    await w.close();
  });

  // A congested connection's requests are not read until it drains, so the PROGRESS is usually
  // read once the watch has nearly caught up; this shows the whole path works under congestion
  // (every paused event, in order, before the answer). The wait itself on a paused watch is
  // pinned by the hub's unit test (test/server/watch/hub-progress.test.ts).
  it('on a watch paused by a congested socket: answers after all its pushes once the client reads again', async () => {
    const big = new Uint8Array(256 * 1024).fill(1);
    const count = Math.ceil((3 * limits.socketBufferedBytesHigh) / big.byteLength);
    const { client: w } = await RawClient.connect(server.url);
    const watchId = w.request({ op: 'watch', glob: '/congest/**' });
    await w.response(watchId);
    w.ws.pause(); // reads nothing: the server's buffer for this socket fills and the watch pauses
    const written: number[] = [];
    for (let i = 0; i < count; i++) written.push(await setRev(`/congest/${i % 2}`, big));
    const id = w.request({ op: 'progress', target: watchId });
    w.ws.resume();
    const res = await w.response(id, 30_000);
    const rev = (res.result as { rev: number }).rev;
    expect(rev).toBeGreaterThanOrEqual(written.at(-1)!);
    expect(pushedRevs(w.messages, watchId, responseAt(w, id))).toEqual(written);
    await w.close();
  });

  it('serializable: this server\'s applied revision', async () => {
    const { client: w } = await RawClient.connect(server.url);
    const watchId = w.request({ op: 'watch', glob: '/ser/**' });
    await w.response(watchId);
    const last = await setRev('/elsewhere/ser');
    const { rev } = await w.call<{ rev: number }>({ op: 'progress', target: watchId, serializable: true });
    expect(rev).toBeGreaterThanOrEqual(last);
    await w.close();
  });

  it('refuses a target that is no open WATCH: unknown, a WAIT, cancelled', async () => {
    const { client: w } = await RawClient.connect(server.url);
    const unknown = await w.callError({ op: 'progress', target: 999 });
    expect(unknown).toMatchObject({ code: 'BAD_REQUEST', message: 'no open WATCH with id 999 on this connection' });
    const waitId = w.request({ op: 'wait', glob: '/never/**' });
    const onWait = await w.callError({ op: 'progress', target: waitId });
    expect(onWait).toMatchObject({ code: 'BAD_REQUEST', message: `request ${waitId} is a WAIT; progress is for a WATCH` });
    const watchId = w.request({ op: 'watch', glob: '/never/**' });
    await w.response(watchId);
    await w.call({ op: 'cancel', target: watchId });
    expect((await w.callError({ op: 'progress', target: watchId })).code).toBe('BAD_REQUEST');
    // The connection goes on.
    expect(await w.call({ op: 'ping' })).toHaveProperty('rev');
    await w.close();
  });
});

describe('periodic progress (WATCH progressMs)', () => {
  it('pushes {watch, progress: rev} on an idle watch that asked, and nothing on one that did not', async () => {
    const { client: w } = await RawClient.connect(server.url);
    const asked = w.request({ op: 'watch', glob: '/quiet/a/**', progressMs: limits.watchProgressMsMin });
    const silent = w.request({ op: 'watch', glob: '/quiet/b/**' });
    await w.response(asked);
    await w.response(silent);
    const last = await setRev('/quiet/elsewhere');
    const p1 = await w.push(asked);
    const p2 = await w.push(asked);
    expect(Object.keys(p1).sort()).toEqual(['progress', 'watch']);
    expect((p2 as unknown as { progress: number }).progress).toBeGreaterThanOrEqual(last);
    expect((p1 as unknown as { progress: number }).progress).toBeLessThanOrEqual((p2 as unknown as { progress: number }).progress);
    expect(w.untaken((m) => m.watch === silent)).toEqual([]);
    await w.close();
  });

  it('sends none while events keep the watch busy, one once it goes idle, and never ahead of an event', async () => {
    const { client: w } = await RawClient.connect(server.url);
    const progressMs = 2000;
    const watchId = w.request({ op: 'watch', glob: '/busy2/**', progressMs });
    await w.response(watchId);
    const busyUntil = Date.now() + 1.5 * progressMs;
    let last = 0;
    let i = 0;
    while (Date.now() < busyUntil) {
      last = await setRev(`/busy2/${i++ % 3}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(w.untaken((m) => m.watch === watchId && 'progress' in m)).toEqual([]);
    // Idle now: a progress push comes, at or after the last event.
    const progress = await w.until(() => w.messages.findIndex((m) => m.watch === watchId && 'progress' in m) + 1 || undefined, 'a progress push', 3 * progressMs) - 1;
    const rev = w.messages[progress]!.progress as number;
    expect(rev).toBeGreaterThanOrEqual(last);
    // Every event at or below it came before it.
    expect(pushedRevs(w.messages, watchId).filter((r) => r <= rev)).toEqual(pushedRevs(w.messages, watchId, progress));
    expect(pushedRevs(w.messages, watchId).at(-1)).toBe(last);
    await w.close();
  });

  it('refuses a progressMs out of bounds as the WATCH response, with the bounds in the message', async () => {
    const { client: w } = await RawClient.connect(server.url);
    for (const progressMs of [limits.watchProgressMsMin - 1, limits.watchProgressMsMax + 1, 1.5, 'often']) {
      const err = await w.callError({ op: 'watch', glob: '/x/**', progressMs });
      expect(err.code).toBe('BAD_REQUEST');
      expect(err.message).toContain(`progressMs must be an integer from ${limits.watchProgressMsMin} to ${limits.watchProgressMsMax}`);
    }
    await w.close();
  });
});
