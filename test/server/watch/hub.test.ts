/**
 * The watch hub on its own, against a real store: history reads are bounded per turn (a WAIT or
 * WATCH from far back does not hold the event loop for the whole window), deliveries stay in
 * order and exactly once across turns, and a watch that ended is never registered again.
 * Deferred work is queued by an injected `defer` and run by the test, so nothing here is timed.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, type ErrorBody } from '../../../protocol/errors.ts';
import { limits } from '../../../protocol/limits.ts';
import type { Event } from '../../../protocol/messages.ts';
import { CATCH_UP_REVISIONS_PER_TURN, Watch, WatchHub, type WatchSink } from '../../../server/watch/hub.ts';
import { Store } from '../../../server/store/store.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

class Sink implements WatchSink {
  congested = false;
  pushes: Event[][] = [];
  answers: Event[][] = [];
  ends: ErrorBody[] = [];
  sendEvents(_w: Watch, events: Event[]): void {
    this.pushes.push(events);
  }
  answerWait(_w: Watch, events: Event[]): void {
    this.answers.push(events);
  }
  end(_w: Watch, error: ErrorBody): void {
    this.ends.push(error);
  }
}

function setup(revisions: number) {
  const store = new Store({ historyRevisions: 100_000 });
  const queued: (() => void)[] = [];
  const hub = new WatchHub(store, (fn) => queued.push(fn));
  store.observer = { revision: (rev, events) => hub.onRevision(rev, events) };
  const set = (path: string, value = 'v') => store.apply({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: bytes(value) }] });
  for (let i = 0; i < revisions; i++) set(`/busy/${i % 50}`);
  // Counts the history revisions read, through the one call the hub reads them with.
  let reads = 0;
  const eventsAt = store.eventsAt.bind(store);
  store.eventsAt = (rev: number, matches?: (path: string) => boolean) => {
    reads++;
    return eventsAt(rev, matches);
  };
  const runQueued = (): number => {
    let turns = 0;
    while (queued.length > 0) {
      queued.shift()!();
      turns++;
    }
    return turns;
  };
  return { store, hub, set, reads: () => reads, queued, runQueued };
}

describe('WatchHub history reads', () => {
  it('a WAIT that matches nothing in a long history reads at most one bounded slice per turn', () => {
    const t = setup(5 * CATCH_UP_REVISIONS_PER_TURN + 7);
    const sink = new Sink();
    const w = new Watch(1, '/quiet/**', sink, true);
    t.hub.wait(w, 1);
    expect(t.reads()).toBeLessThanOrEqual(CATCH_UP_REVISIONS_PER_TURN);
    expect(t.queued.length).toBe(1);
    expect(t.hub.liveCount).toBe(0);
    const turns = t.runQueued();
    expect(turns).toBe(5);
    expect(t.reads()).toBe(5 * CATCH_UP_REVISIONS_PER_TURN + 7);
    // At the head now: live, and answered by the first matching write.
    expect(t.hub.liveCount).toBe(1);
    expect(t.hub.laggingCount).toBe(0);
    t.set('/quiet/x', 'hello');
    expect(sink.answers).toHaveLength(1);
    expect(sink.answers[0]![0]).toMatchObject({ path: '/quiet/x', kind: 'set', rev: t.store.rev });
    expect(t.hub.liveCount).toBe(0);
  });

  it('a WAIT whose match lies deep in history finds the first one, across turns', () => {
    const t = setup(3 * CATCH_UP_REVISIONS_PER_TURN);
    t.set('/deep/a', 'first');
    const target = t.store.rev;
    t.set('/deep/a', 'second');
    const sink = new Sink();
    t.hub.wait(new Watch(1, '/deep/*', sink, true), 1);
    expect(sink.answers).toHaveLength(0);
    t.runQueued();
    expect(sink.answers).toEqual([[{ path: '/deep/a', kind: 'set', rev: target, value: bytes('first') }]]);
    expect(t.hub.liveCount + t.hub.laggingCount).toBe(0);
  });

  it('a WATCH from far back gets every event once, in order, with new revisions arriving between turns', () => {
    const t = setup(0);
    for (let i = 0; i < 4 * CATCH_UP_REVISIONS_PER_TURN; i++) t.set(`/w/${i % 7}`, String(i));
    const sink = new Sink();
    t.hub.watch(new Watch(1, '/w/**', sink, false), 1);
    let more = 0;
    while (t.queued.length > 0) {
      t.set(`/w/new${more++}`, 'n'); // applied while the watch is still catching up
      t.queued.shift()!();
    }
    t.set('/w/last', 'l');
    const revs = sink.pushes.map((p) => p[0]!.rev);
    expect(revs).toEqual(Array.from({ length: t.store.rev }, (_, i) => i + 1));
  });
});

describe('WatchHub and ended watches', () => {
  it('never registers a WAIT or WATCH that ended before its start arrived', () => {
    const t = setup(10);
    for (const once of [true, false]) {
      const w = new Watch(1, '/x/**', new Sink(), once);
      t.hub.remove(w); // its connection closed while the start was on its way
      if (once) t.hub.wait(w, t.store.rev + 1);
      else t.hub.watch(w, 1);
      t.runQueued();
      expect(t.hub.liveCount).toBe(0);
      expect(t.hub.laggingCount).toBe(0);
    }
  });

  it('a catch-up continuation for a watch removed meanwhile does nothing', () => {
    const t = setup(3 * CATCH_UP_REVISIONS_PER_TURN);
    const sink = new Sink();
    const w = new Watch(1, '/busy/**', sink, false);
    t.hub.watch(w, 1);
    const sent = sink.pushes.length;
    t.hub.remove(w);
    t.runQueued();
    expect(sink.pushes.length).toBe(sent);
    expect(t.hub.liveCount + t.hub.laggingCount).toBe(0);
  });

  it('a resume() of an ended watch leaves nothing behind', () => {
    const t = setup(5);
    const w = new Watch(1, '/busy/**', new Sink(), false);
    t.hub.remove(w);
    t.hub.resume(w);
    expect(t.hub.liveCount + t.hub.laggingCount).toBe(0);
  });
});

describe('WatchHub slow consumers', () => {
  it('ends a watch whose congested sink falls watchLagRevisionsMax behind with SLOW_CONSUMER, and counts it (/metrics)', () => {
    const t = setup(0);
    const sink = new Sink();
    t.hub.watch(new Watch(1, '/slow/**', sink, false), t.store.rev + 1);
    t.runQueued();
    sink.congested = true;
    t.set('/slow/a'); // held: the watch leaves the live set and lags
    expect(t.hub.laggingCount).toBe(1);
    for (let i = 0; i < limits.watchLagRevisionsMax && sink.ends.length === 0; i++) t.set('/other');
    expect(sink.ends.map((e) => e.code)).toEqual([ErrorCode.SLOW_CONSUMER]);
    expect(t.hub.slowEnded).toBe(1);
    expect(t.hub.liveCount + t.hub.laggingCount).toBe(0);
  });
});
