// Method: real servers on ephemeral ports (one with the default history, one with a tiny
// historyRevisions); raw clients open WAITs and WATCHes while other raw clients write, and the
// test compares every pushed event with the list of writes it made: exactly once, in revision
// order, none missing, from history and then live. Cancellation and TOO_LATE are checked frame
// by frame.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import type { Event } from '../../protocol/messages.ts';
import { RawClient, bytes } from '../helpers/raw-client.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

type Server = Awaited<ReturnType<typeof startTestServer>>;
let server: Server;
let small: Server;
let w: RawClient; // watches
let c: RawClient; // writes
let s: RawClient; // on the small-history server

const rev = async (cl: RawClient): Promise<number> => (await cl.call<{ rev: number }>({ op: 'rev' })).rev;
const setEv = (path: string, r: number, v: string): Event => ({ path, rev: r, kind: 'set', value: Buffer.from(v) });
const delEv = (path: string, r: number): Event => ({ path, rev: r, kind: 'delete' });
/** A WAIT's result: the first matching event, and all matching events of its revision. */
const waitResult = (...events: Event[]) => ({ event: events[0], events });

beforeAll(async () => {
  server = await startTestServer();
  small = await startTestServer({ historyRevisions: 5 });
  w = (await RawClient.connect(server.url)).client;
  c = (await RawClient.connect(server.url)).client;
  s = (await RawClient.connect(small.url)).client;
});

afterAll(async () => {
  for (const cl of [w, c, s]) await cl.close();
  for (const sv of [server, small]) {
    await sv.close();
    removeDir(sv.dataDir);
  }
});

/** Makes writes under `prefix` (and some that do not match) and returns the events expected. */
async function writeSome(prefix: string, n: number, tag: string): Promise<Event[]> {
  const out: Event[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 4;
    if (k === 0) {
      const r = (await c.call<{ rev: number }>({ op: 'set', path: `${prefix}/a`, value: bytes(`${tag}${i}`) })).rev;
      out.push(setEv(`${prefix}/a`, r, `${tag}${i}`));
    } else if (k === 1) {
      await c.call({ op: 'set', path: `/elsewhere${prefix}`, value: bytes('x') });
    } else if (k === 2) {
      // A txn: two matching events at one revision, in path order, plus one that does not match.
      const r = (await c.call<{ rev: number }>({
        op: 'txn', conds: [], ops: [
          { op: 'set', path: `${prefix}/z/deep`, value: bytes(`${tag}${i}z`) },
          { op: 'set', path: `/elsewhere-t${prefix}`, value: bytes('t') },
          { op: 'set', path: `${prefix}/b`, value: bytes(`${tag}${i}b`) },
        ],
      })).rev;
      out.push(setEv(`${prefix}/b`, r, `${tag}${i}b`), setEv(`${prefix}/z/deep`, r, `${tag}${i}z`));
    } else {
      const r = (await c.call<{ rev: number; deleted: boolean }>({ op: 'del', path: `${prefix}/b` })).rev;
      out.push(delEv(`${prefix}/b`, r));
    }
  }
  return out;
}

describe('WATCH', () => {
  it('replays history from fromRev, then follows live revisions, each event exactly once, in order', async () => {
    const from = (await rev(c)) + 1;
    const history = await writeSome('/wh', 20, 'h');
    const id = w.request({ op: 'watch', glob: '/wh/**', fromRev: from });
    // Writes race with the watch's catch-up: they are sent before its response arrives.
    const liveP = writeSome('/wh', 20, 'l');
    const res = await w.response(id);
    expect(res.result).toEqual({ fromRev: from });
    const live = await liveP;
    const expected = [...history, ...live];
    const got = await w.eventsUntil(id, expected[expected.length - 1]!.rev);
    expect(got).toEqual(expected);
    // One push per revision, holding all of that revision's matching events, revisions rising.
    const pushRevs = w.messages.filter((m) => m.watch === id).map((m) => {
      const revs = new Set((m.events as Event[]).map((e) => e.rev));
      expect(revs.size).toBe(1);
      return [...revs][0]!;
    });
    expect(pushRevs).toEqual([...new Set(expected.map((e) => e.rev))]);
    // The response came before the first push.
    const firstPush = w.messages.findIndex((m) => m.watch === id);
    expect(w.messages.findIndex((m) => m.id === id)).toBeLessThan(firstPush);
    // Nothing more for this watch: a later matching write is the next event, not a repeat.
    const r = (await c.call<{ rev: number }>({ op: 'set', path: '/wh/after', value: bytes('after') })).rev;
    expect(await w.push(id)).toEqual({ watch: id, events: [setEv('/wh/after', r, 'after')] });
    expect(await w.call({ op: 'cancel', target: id })).toEqual({ cancelled: true });
  });

  it('starts at the next revision by default and sees only new events', async () => {
    await c.call({ op: 'set', path: '/wd/old', value: bytes('old') });
    const head = await rev(c);
    const id = w.request({ op: 'watch', glob: '/wd/*' });
    expect((await w.response(id)).result).toEqual({ fromRev: head + 1 });
    const r = (await c.call<{ rev: number }>({ op: 'set', path: '/wd/new', value: bytes('new') })).rev;
    expect(await w.push(id)).toEqual({ watch: id, events: [setEv('/wd/new', r, 'new')] });
    await w.call({ op: 'cancel', target: id });
  });

  it('ends a cancelled WATCH with a CANCELLED push before the cancel response, and sends nothing after', async () => {
    const id = w.request({ op: 'watch', glob: '/wc/**' });
    await w.response(id);
    const cancelId = w.request({ op: 'cancel', target: id });
    expect((await w.response(cancelId)).result).toEqual({ cancelled: true });
    const end = await w.push(id);
    expect(end.end?.code).toBe(ErrorCode.CANCELLED);
    expect(w.messages.indexOf(end as never)).toBeLessThan(w.messages.findIndex((m) => m.id === cancelId));
    await c.call({ op: 'set', path: '/wc/x', value: bytes('x') });
    await w.call({ op: 'ping' }); // a round trip after the write: any push for it would be here by now
    expect(w.untaken((m) => m.watch === id)).toEqual([]);
    // Cancelling again, or something never sent, reports false.
    expect(await w.call({ op: 'cancel', target: id })).toEqual({ cancelled: false });
    expect(await w.call({ op: 'cancel', target: 987654 })).toEqual({ cancelled: false });
  });

  it('rejects a bad glob as the response, not as a push', async () => {
    const id = w.request({ op: 'watch', glob: '/bad//glob' });
    expect((await w.response(id)).error?.code).toBe(ErrorCode.BAD_GLOB);
  });
});

describe('WAIT', () => {
  it('answers from history with the first matching event at or after rev', async () => {
    const r1 = (await c.call<{ rev: number }>({ op: 'set', path: '/wait/h/a', value: bytes('1') })).rev;
    await c.call({ op: 'set', path: '/wait/other', value: bytes('x') });
    const r3 = (await c.call<{ rev: number }>({ op: 'set', path: '/wait/h/b', value: bytes('2') })).rev;
    expect(await w.call({ op: 'wait', glob: '/wait/h/*', rev: r1 })).toEqual(waitResult(setEv('/wait/h/a', r1, '1')));
    expect(await w.call({ op: 'wait', glob: '/wait/h/*', rev: r1 + 1 })).toEqual(waitResult(setEv('/wait/h/b', r3, '2')));
  });

  it('waits for the next matching event when none has happened yet', async () => {
    const head = await rev(c);
    const id = w.request({ op: 'wait', glob: '/wait/live/**', rev: head + 1 });
    await c.call({ op: 'set', path: '/wait/unrelated', value: bytes('u') });
    const r = (await c.call<{ rev: number }>({ op: 'set', path: '/wait/live/x/y', value: bytes('y') })).rev;
    expect((await w.response(id)).result).toEqual(waitResult(setEv('/wait/live/x/y', r, 'y')));
  });

  it('answers with every matching event of the revision, and defaults to the next revision', async () => {
    const old = (await c.call<{ rev: number }>({ op: 'set', path: '/wait/txn/old', value: bytes('o') })).rev;
    const id = w.request({ op: 'wait', glob: '/wait/txn/*' });
    await w.call({ op: 'rev' }); // the WAIT has started: it saw the head before the txn below
    const r = (await c.call<{ rev: number }>({
      op: 'txn', conds: [], ops: [
        { op: 'set', path: '/wait/txn/b', value: bytes('b') },
        { op: 'set', path: '/wait/other', value: bytes('x') },
        { op: 'set', path: '/wait/txn/a', value: bytes('a') },
      ],
    })).rev;
    expect(r).toBeGreaterThan(old);
    expect((await w.response(id)).result).toEqual(waitResult(setEv('/wait/txn/a', r, 'a'), setEv('/wait/txn/b', r, 'b')));
  });

  it('answers a cancelled WAIT with CANCELLED', async () => {
    const head = await rev(c);
    const id = w.request({ op: 'wait', glob: '/wait/never', rev: head + 1 });
    await w.call({ op: 'rev' }); // the WAIT is registered once a read barrier after it has passed
    const cancelId = w.request({ op: 'cancel', target: id });
    const answer = await w.response(id);
    expect(answer.error?.code).toBe(ErrorCode.CANCELLED);
    expect((await w.response(cancelId)).result).toEqual({ cancelled: true });
    await c.call({ op: 'set', path: '/wait/never', value: bytes('n') });
    await w.call({ op: 'ping' });
    expect(w.untaken((m) => m.id === id)).toEqual([]);
  });

  // Regression: a CANCEL processed before its WAIT had started (ws hands over every frame of one
  // TCP read in the same tick) used to find nothing, and the WAIT stayed pending.
  it('cancels a WAIT whose cancel is pipelined right behind it', async () => {
    const head = await rev(c);
    const id = w.request({ op: 'wait', glob: '/wait/pipelined-cancel', rev: head + 1 });
    const cancelId = w.request({ op: 'cancel', target: id });
    expect((await w.response(cancelId)).result).toEqual({ cancelled: true });
    expect((await w.response(id, 2000)).error?.code).toBe(ErrorCode.CANCELLED);
  });

  // Regression: a WAIT at rev > head + 1 used to be answered by the first matching event at
  // head + 1 (server/watch/hub.ts ignored fromRev once live).
  it('a WAIT ahead of the head is not answered by an event before its rev', async () => {
    const head = await rev(c);
    const id = w.request({ op: 'wait', glob: '/wait/ahead', rev: head + 3 });
    await c.call({ op: 'set', path: '/wait/ahead', value: bytes('too early') });
    await c.call({ op: 'set', path: '/wait/ahead', value: bytes('still too early') });
    const r = (await c.call<{ rev: number }>({ op: 'set', path: '/wait/ahead', value: bytes('this one') })).rev;
    expect(r).toBe(head + 3);
    expect((await w.response(id)).result).toEqual(waitResult(setEv('/wait/ahead', head + 3, 'this one')));
  });
});

// Regression: the same for a WATCH from a revision ahead of the head.
it('a WATCH from a revision ahead of the head delivers nothing before fromRev', async () => {
  const head = await rev(c);
  const id = w.request({ op: 'watch', glob: '/wf/*', fromRev: head + 3 });
  expect((await w.response(id)).result).toEqual({ fromRev: head + 3 });
  for (let i = 1; i <= 3; i++) await c.call({ op: 'set', path: '/wf/x', value: bytes(String(i)) });
  expect(await w.push(id)).toEqual({ watch: id, events: [setEv('/wf/x', head + 3, '3')] });
});

describe('TOO_LATE (historyRevisions: 5)', () => {
  it('reports the oldest revision kept, and that revision works', async () => {
    for (let i = 0; i < 20; i++) await s.call({ op: 'set', path: `/tl/f${i % 3}`, value: bytes(String(i)) });
    const head = await rev(s);
    expect(head).toBe(20);
    // oldestRev has one meaning for every request: the oldest revision a read at it and a WAIT
    // from it both accept (states from head-5 are readable, events from head-4 are kept).
    const getErr = await s.callError({ op: 'get', path: '/tl/f0', rev: 1 });
    expect(getErr.code).toBe(ErrorCode.TOO_LATE);
    const oldest = getErr.details!.oldestRev as number;
    expect(oldest).toBe(head - 4);
    expect((await s.call({ op: 'get', path: '/tl/f0', rev: oldest }))).toMatchObject({ at: oldest });
    expect((await s.call({ op: 'get', path: '/tl/f0', rev: oldest - 1 }))).toMatchObject({ at: oldest - 1 });
    expect((await s.callError({ op: 'get', path: '/tl/f0', rev: oldest - 2 })).code).toBe(ErrorCode.TOO_LATE);
    for (const op of [{ op: 'stat', path: '/tl/f0' }, { op: 'getdir', path: '/tl' }, { op: 'walk', glob: '/tl/*' }]) {
      const e = await s.callError({ ...op, rev: 2 });
      expect(e.code).toBe(ErrorCode.TOO_LATE);
      expect(e.details).toEqual({ oldestRev: oldest });
    }
    const waitErr = await s.callError({ op: 'wait', glob: '/tl/**', rev: 1 });
    expect(waitErr.code).toBe(ErrorCode.TOO_LATE);
    const oldestEv = waitErr.details!.oldestRev as number;
    expect(oldestEv).toBe(oldest);
    expect(await s.call({ op: 'wait', glob: '/tl/**', rev: oldestEv })).toMatchObject({ event: { rev: oldestEv }, events: [{ rev: oldestEv }] });
    // WATCH: a response, then a TOO_LATE end with the same oldestRev.
    const id = s.request({ op: 'watch', glob: '/tl/**', fromRev: 3 });
    expect((await s.response(id)).result).toEqual({ fromRev: 3 });
    const end = await s.push(id);
    expect(end.end?.code).toBe(ErrorCode.TOO_LATE);
    expect(end.end?.details?.oldestRev).toBe(oldestEv);
    // From oldestRev the watch replays what is kept.
    const ok = s.request({ op: 'watch', glob: '/tl/**', fromRev: oldestEv });
    await s.response(ok);
    const events = await s.eventsUntil(ok, head);
    expect(events.map((e) => e.rev)).toEqual([16, 17, 18, 19, 20]);
    await s.call({ op: 'cancel', target: ok });
  });
});
