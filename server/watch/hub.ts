/**
 * The watch hub: delivers the store's events to every WAIT and WATCH that matches, in revision
 * order, exactly once. A watch has a cursor, `nextRev`. A live watch is at the head and gets each
 * new revision's events as it is applied; a lagging one (its connection's socket is backed up,
 * or it started in the past) reads from the store's history until it reaches the head.
 *
 * Because history already holds every kept event, a slow watcher costs no extra memory: it simply
 * stops being sent to while its socket is congested. It ends with SLOW_CONSUMER (and where to
 * resume) once it is more than limits.watchLagRevisionsMax behind, and with TOO_LATE if its
 * cursor falls out of history.
 *
 * A WAIT is a watch that ends at its first match, so it reads history the same way. Reading
 * history is bounded per turn of the event loop (CATCH_UP_REVISIONS_PER_TURN): a WAIT or WATCH
 * from far back whose glob matches little must not hold every other client up while it scans
 * up to the whole window; it goes on in the next turn, from where it stopped.
 *
 * A watch that has ended (cancelled, or its connection closed) is never registered again, even
 * when the call that would register it was already on its way.
 *
 * Progress: `deliveredThrough(w)` is the revision through which every matching event of a watch
 * has been handed to its sink (a live watch: the head; a lagging one: its cursor − 1), and
 * `whenDelivered(w, rev)` waits until that reaches rev (released as catch-up moves the cursor,
 * rejected with the watch's end if it ends first). A PROGRESS request answers through these.
 */
import { CoordError, ErrorCode, type ErrorBody } from '../../protocol/errors.ts';
import { limits } from '../../protocol/limits.ts';
import type { Event } from '../../protocol/messages.ts';
import { compileGlob, type Glob } from '../../protocol/path.ts';
import type { Store } from '../store/store.ts';

/** Revisions of history one watch reads in one turn before yielding to other work. */
export const CATCH_UP_REVISIONS_PER_TURN = 2000;

/** Runs `fn` on a later turn (setImmediate in production; a simulator may inject its own). */
export type Defer = (fn: () => void) => void;

/** The connection side of a watch. */
export interface WatchSink {
  /** True while the connection's outgoing buffer is over its high mark: hold deliveries. */
  readonly congested: boolean;
  /** Delivers events of one revision to a stream watch. */
  sendEvents(watch: Watch, events: Event[]): void;
  /** Answers a WAIT with the matching events of the first revision that has any. */
  answerWait(watch: Watch, events: Event[]): void;
  /** Ends a watch or WAIT with an error (the hub has already forgotten it). */
  end(watch: Watch, error: ErrorBody): void;
}

export class Watch {
  /** Next revision whose events this watch has not seen. */
  nextRev = 0;
  /** Set once the hub has it (wait() or watch() called). */
  started = false;
  live = false;
  ended = false;
  /** A catch-up continuation is queued for a later turn. */
  continuing = false;
  /** Why it ended, once it has (absent for a connection that closed). */
  endReason: ErrorBody | undefined = undefined;
  /** whenDelivered() callers waiting for the cursor to pass their revision. */
  waiters: { rev: number; resolve(): void; reject(err: CoordError): void }[] | null = null;
  readonly glob: Glob;

  constructor(
    readonly id: number,
    glob: string,
    readonly sink: WatchSink,
    /** A WAIT: ends after its first event. */
    readonly once: boolean,
  ) {
    this.glob = compileGlob(glob);
  }
}

/** Live watches sharing one glob: it is matched once per event for all of them. */
interface GlobGroup {
  glob: Glob;
  watches: Set<Watch>;
}

export class WatchHub {
  /** Live watches on one literal path. */
  private readonly exact = new Map<string, Set<Watch>>();
  /** Live watches with a wildcard, grouped by glob. */
  private readonly wild = new Map<string, GlobGroup>();
  private readonly lagging = new Set<Watch>();

  constructor(
    private readonly store: Store,
    private readonly defer: Defer = (fn) => setImmediate(fn),
  ) {}

  get liveCount(): number {
    let n = 0;
    for (const g of this.wild.values()) n += g.watches.size;
    for (const set of this.exact.values()) n += set.size;
    return n;
  }

  /** Watches ended with SLOW_CONSUMER since the hub was made (for /metrics). */
  slowEnded = 0;

  /** Watches reading history (catching up, or paused by a congested socket). */
  get laggingCount(): number {
    return this.lagging.size;
  }

  /**
   * Starts a WAIT from `fromRev`: answered by the first matching revision in history, or else by
   * the first new one (TOO_LATE thrown if history no longer reaches fromRev).
   */
  wait(w: Watch, fromRev: number): void {
    if (w.ended) return;
    w.started = true;
    w.nextRev = this.store.checkEventsFrom(fromRev);
    this.catchUp(w);
  }

  /** Starts a WATCH from `fromRev` (TOO_LATE thrown if history no longer reaches it). */
  watch(w: Watch, fromRev: number): void {
    if (w.ended) return;
    w.started = true;
    w.nextRev = this.store.checkEventsFrom(fromRev);
    this.catchUp(w);
  }

  /**
   * Forgets a watch (cancelled, ended, or its connection closed). Sends nothing; progress waiters
   * are rejected with `reason` (CANCELLED when none is given).
   */
  remove(w: Watch, reason?: ErrorBody): void {
    if (!w.ended) w.endReason = reason;
    w.ended = true;
    this.leaveLive(w);
    this.lagging.delete(w);
    const waiters = w.waiters;
    w.waiters = null;
    for (const waiter of waiters ?? []) waiter.reject(endedError(w));
  }

  /** The revision through which every matching event of `w` has been handed to its sink. */
  deliveredThrough(w: Watch): number {
    return w.live ? Math.max(this.store.rev, w.nextRev - 1) : w.nextRev - 1;
  }

  /**
   * Resolves once every matching event of `w` at or below `rev` has been handed to its sink
   * (at once if that is already so); rejects with the watch's end if it ends first.
   */
  whenDelivered(w: Watch, rev: number): Promise<void> {
    if (w.ended) return Promise.reject(endedError(w));
    if (w.started && this.deliveredThrough(w) >= rev) return Promise.resolve();
    return new Promise((resolve, reject) => (w.waiters ??= []).push({ rev, resolve, reject }));
  }

  /** Releases the progress waiters the watch's cursor has passed. */
  private releaseWaiters(w: Watch): void {
    if (w.waiters === null || w.ended) return;
    const through = this.deliveredThrough(w);
    const still = w.waiters.filter((waiter) => waiter.rev > through);
    if (still.length === w.waiters.length) return;
    const done = w.waiters.filter((waiter) => waiter.rev <= through);
    w.waiters = still.length > 0 ? still : null;
    for (const waiter of done) waiter.resolve();
  }

  /**
   * The store's state was replaced by a snapshot (a follower installing its leader's), its head
   * jumping from `fromRev` without events in between: every watch reads history again from
   * where it was, and one whose next revision is no longer kept ends with TOO_LATE.
   */
  restored(fromRev: number): void {
    const all = [...this.lagging];
    for (const set of this.exact.values()) all.push(...set);
    for (const g of this.wild.values()) all.push(...g.watches);
    for (const w of all) {
      if (w.live) {
        this.leaveLive(w);
        // A live watch has seen everything up to the old head.
        w.nextRev = Math.max(w.nextRev, fromRev + 1);
      }
      this.catchUp(w);
    }
  }

  /** The sink drained: lagging watches on it may continue. */
  resume(w: Watch): void {
    if (!w.ended && !w.live) this.catchUp(w);
  }

  /**
   * Reads history from the watch's cursor towards the head, at most CATCH_UP_REVISIONS_PER_TURN
   * revisions now (the rest in later turns); at the head, the watch goes live.
   */
  private catchUp(w: Watch): void {
    this.readHistory(w);
    this.releaseWaiters(w);
  }

  private readHistory(w: Watch): void {
    if (w.ended) return;
    this.lagging.add(w);
    let budget = CATCH_UP_REVISIONS_PER_TURN;
    const matches = (path: string): boolean => w.glob.matches(path);
    while (!w.ended && w.nextRev <= this.store.rev) {
      if (w.nextRev <= this.store.oldestRev) return this.endTooLate(w);
      if (w.sink.congested) {
        if (this.store.rev - w.nextRev >= limits.watchLagRevisionsMax) this.endSlow(w);
        return;
      }
      if (budget-- === 0) return this.continueLater(w);
      const rev = w.nextRev;
      const matched = this.store.eventsAt(rev, matches);
      w.nextRev++;
      if (matched.length === 0) continue;
      if (w.once) {
        this.remove(w);
        w.sink.answerWait(w, matched);
        return;
      }
      w.sink.sendEvents(w, matched);
    }
    if (!w.ended) {
      this.lagging.delete(w);
      this.goLive(w);
    }
  }

  private continueLater(w: Watch): void {
    if (w.continuing) return;
    w.continuing = true;
    this.defer(() => {
      w.continuing = false;
      this.resume(w);
    });
  }

  private goLive(w: Watch): void {
    if (w.ended) return;
    w.live = true;
    const source = w.glob.source;
    if (w.glob.isLiteral) {
      let set = this.exact.get(source);
      if (set === undefined) this.exact.set(source, (set = new Set()));
      set.add(w);
    } else {
      let group = this.wild.get(source);
      if (group === undefined) this.wild.set(source, (group = { glob: w.glob, watches: new Set() }));
      group.watches.add(w);
    }
  }

  private leaveLive(w: Watch): void {
    if (!w.live) return;
    w.live = false;
    const source = w.glob.source;
    if (w.glob.isLiteral) {
      const set = this.exact.get(source);
      set?.delete(w);
      if (set?.size === 0) this.exact.delete(source);
    } else {
      const group = this.wild.get(source);
      group?.watches.delete(w);
      if (group?.watches.size === 0) this.wild.delete(source);
    }
  }

  /** A revision was applied: deliver its events to the live watches they match. */
  onRevision(rev: number, events: Event[]): void {
    if (events.length === 1) {
      // The common case: every matching watch gets the same list, so the connection layer can
      // encode it once for all of them.
      const path = events[0]!.path;
      const exact = this.exact.get(path);
      if (exact !== undefined) for (const w of [...exact]) this.deliverLive(w, rev, events);
      for (const group of [...this.wild.values()]) {
        if (group.glob.matches(path)) for (const w of [...group.watches]) this.deliverLive(w, rev, events);
      }
    } else {
      this.deliverEach(rev, events);
    }
    if (this.lagging.size > 0) this.checkLagging(rev);
  }

  /** A revision with several events: each watch gets the subset it matches, in path order. */
  private deliverEach(rev: number, events: Event[]): void {
    const matched = new Map<Watch, Event[]>();
    const add = (ws: Iterable<Watch>, e: Event): void => {
      for (const w of ws) {
        const list = matched.get(w);
        if (list === undefined) matched.set(w, [e]);
        else list.push(e);
      }
    };
    for (const e of events) {
      const set = this.exact.get(e.path);
      if (set !== undefined) add(set, e);
      for (const group of this.wild.values()) if (group.glob.matches(e.path)) add(group.watches, e);
    }
    for (const [w, list] of matched) this.deliverLive(w, rev, list);
  }

  private deliverLive(w: Watch, rev: number, events: Event[]): void {
    // A live watch's cursor only matters while it is ahead of the head (it asked for a future
    // revision); behind that, every revision it is offered is new to it.
    if (rev < w.nextRev) return;
    if (w.once) {
      this.remove(w);
      w.sink.answerWait(w, events);
    } else if (w.sink.congested) {
      // Hold this revision and everything after it until the socket drains.
      this.leaveLive(w);
      w.nextRev = rev;
      this.lagging.add(w);
    } else {
      w.sink.sendEvents(w, events);
    }
  }

  private checkLagging(head: number): void {
    for (const w of this.lagging) {
      if (w.nextRev <= this.store.oldestRev) this.endTooLate(w);
      else if (head - w.nextRev >= limits.watchLagRevisionsMax) this.endSlow(w);
    }
  }

  private endSlow(w: Watch): void {
    this.slowEnded++;
    this.endWith(w, {
      code: ErrorCode.SLOW_CONSUMER,
      message: `watch fell over ${limits.watchLagRevisionsMax} revisions behind; resume from ${w.nextRev}`,
      details: { resumeRev: w.nextRev },
    });
  }

  private endTooLate(w: Watch): void {
    this.endWith(w, {
      code: ErrorCode.TOO_LATE,
      message: `revision ${w.nextRev} left the history before this watch read it`,
      details: { oldestRev: this.store.oldestKeptRev, resumeRev: w.nextRev },
    });
  }

  private endWith(w: Watch, error: ErrorBody): void {
    this.remove(w, error);
    w.sink.end(w, error);
  }
}

/** What a progress waiter of an ended watch is told: the watch's own end, or CANCELLED. */
function endedError(w: Watch): CoordError {
  const reason = w.endReason ?? { code: ErrorCode.CANCELLED, message: 'the watch was cancelled' };
  return new CoordError(reason.code, `watch ${w.id} ended before its progress was known: ${reason.message}`, reason.details);
}
