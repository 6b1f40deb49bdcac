/**
 * The hub's side of watch progress (the PROGRESS request): `deliveredThrough` and
 * `whenDelivered`, against a real store, with deferred catch-up turns run by the test so nothing
 * is timed.
 *
 * Method: each waiter records, when it resolves, how many events the sink had been handed by
 * then; the check is that every event at or below the waited revision was handed over first
 * (the promise resolves in a microtask, after the synchronous sends of the turn that released
 * it). A lagging watch (catching up across turns, or paused by a congested sink) must not release
 * a waiter early; an ended one rejects it with its end.
 */
import { describe, expect, it } from 'vitest';
import type { ErrorBody } from '../../../protocol/errors.ts';
import type { Event } from '../../../protocol/messages.ts';
import { CATCH_UP_REVISIONS_PER_TURN, Watch, WatchHub, type WatchSink } from '../../../server/watch/hub.ts';
import { Store } from '../../../server/store/store.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

class Sink implements WatchSink {
  congested = false;
  pushes: Event[][] = [];
  ends: ErrorBody[] = [];
  sendEvents(_w: Watch, events: Event[]): void {
    this.pushes.push(events);
  }
  answerWait(): void {}
  end(_w: Watch, error: ErrorBody): void {
    this.ends.push(error);
  }
  maxRev(): number {
    return this.pushes.reduce((m, p) => Math.max(m, p[0]!.rev), 0);
  }
}

function setup(historyRevisions = 100_000) {
  const store = new Store({ historyRevisions });
  const queued: (() => void)[] = [];
  const hub = new WatchHub(store, (fn) => queued.push(fn));
  store.observer = { revision: (rev, events) => hub.onRevision(rev, events) };
  const set = (path: string) => store.apply({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: bytes('v') }] });
  return { store, hub, set, queued };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

/** Waits for `rev` on `w`, recording the state of the sink when (if) it resolves. */
function track(hub: WatchHub, w: Watch, sink: Sink, rev: number) {
  const state: { settled: boolean; error?: unknown; maxRevAtResolve?: number } = { settled: false };
  hub.whenDelivered(w, rev).then(
    () => Object.assign(state, { settled: true, maxRevAtResolve: sink.maxRev() }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

describe('WatchHub.whenDelivered', () => {
  it('a live watch has delivered through the head: resolves at once', async () => {
    const t = setup();
    const sink = new Sink();
    const w = new Watch(1, '/a/**', sink, false);
    t.hub.watch(w, 1);
    t.set('/a/x');
    t.set('/b/y');
    expect(t.hub.deliveredThrough(w)).toBe(2);
    const s = track(t.hub, w, sink, t.store.rev);
    await flush();
    expect(s).toMatchObject({ settled: true, maxRevAtResolve: 1 });
  });

  it('a watch catching up over several turns is not done until its cursor passes the revision', async () => {
    const t = setup();
    const n = 3 * CATCH_UP_REVISIONS_PER_TURN + 5;
    for (let i = 0; i < n; i++) t.set(`/w/${i % 3}`);
    const sink = new Sink();
    const w = new Watch(1, '/w/**', sink, false);
    t.hub.watch(w, 1);
    expect(t.hub.deliveredThrough(w)).toBe(CATCH_UP_REVISIONS_PER_TURN);
    const s = track(t.hub, w, sink, n);
    const early = track(t.hub, w, sink, CATCH_UP_REVISIONS_PER_TURN + 1);
    await flush();
    expect(s.settled).toBe(false);
    expect(early.settled).toBe(false);
    t.queued.shift()!();
    await flush();
    expect(early).toMatchObject({ settled: true });
    expect(early.maxRevAtResolve).toBeGreaterThanOrEqual(CATCH_UP_REVISIONS_PER_TURN + 1);
    expect(s.settled).toBe(false);
    while (t.queued.length > 0) t.queued.shift()!();
    await flush();
    expect(s).toMatchObject({ settled: true, maxRevAtResolve: n });
  });

  it('a watch paused by a congested sink waits until it has caught up after the drain', async () => {
    const t = setup();
    const sink = new Sink();
    const w = new Watch(1, '/c/**', sink, false);
    t.hub.watch(w, 1);
    sink.congested = true;
    t.set('/c/1');
    t.set('/c/2');
    expect(w.live).toBe(false);
    expect(t.hub.deliveredThrough(w)).toBe(0);
    const s = track(t.hub, w, sink, 2);
    await flush();
    expect(s.settled).toBe(false);
    sink.congested = false;
    t.hub.resume(w);
    await flush();
    expect(s).toMatchObject({ settled: true, maxRevAtResolve: 2 });
  });

  it('a watch not started yet waits for its start', async () => {
    const t = setup();
    t.set('/s/1');
    const sink = new Sink();
    const w = new Watch(1, '/s/**', sink, false);
    const s = track(t.hub, w, sink, 1);
    await flush();
    expect(s.settled).toBe(false);
    t.hub.watch(w, 1);
    await flush();
    expect(s).toMatchObject({ settled: true, maxRevAtResolve: 1 });
  });

  it('rejects with the end when the watch ends first: cancelled, TOO_LATE, or already over', async () => {
    const t = setup(10);
    const sink = new Sink();
    const w = new Watch(7, '/e/**', sink, false);
    t.hub.watch(w, 1);
    sink.congested = true;
    t.set('/e/1');
    const cancelled = track(t.hub, w, sink, 1);
    t.hub.remove(w, { code: 'CANCELLED', message: 'cancelled by the client' });
    await flush();
    expect((cancelled.error as { code: string }).code).toBe('CANCELLED');
    const after = track(t.hub, w, sink, 1);
    await flush();
    expect((after.error as { code: string }).code).toBe('CANCELLED');

    // A paused watch whose next revision leaves the history ends TOO_LATE; its waiter hears so.
    const sink2 = new Sink();
    const w2 = new Watch(8, '/e/**', sink2, false);
    t.hub.watch(w2, t.store.rev + 1);
    sink2.congested = true;
    t.set('/e/2');
    const late = track(t.hub, w2, sink2, t.store.rev);
    for (let i = 0; i < 20; i++) t.set('/other');
    await flush();
    expect(sink2.ends.map((e) => e.code)).toEqual(['TOO_LATE']);
    expect(late.error).toMatchObject({ code: 'TOO_LATE', details: { resumeRev: expect.any(Number) } });
  });
});
