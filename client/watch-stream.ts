/**
 * A watch as the application sees it: an AsyncIterable of events that never skips or repeats
 * one. The server pushes each revision's matching events together; the client feeds them here
 * and, after a reconnect, asks again from the revision after the last one delivered.
 *
 * `revisions()` gives the same stream a revision at a time (for consumers that must never see
 * half of a transaction, like config watching).
 *
 * Progress (etcd's progress notifications): `progressRev` is the revision through which the
 * stream is known complete — every matching event at or below it has been queued here — from
 * its events, from `progress()` answers and from the periodic pushes a watch opened with
 * `progressMs` gets while idle. A reconnect resumes after it, so an idle watch does not ask for
 * history from its last (perhaps long trimmed) event. `revisions({ progress: true })` yields
 * `{ rev, events: [], progress: true }` in order among the revisions: a cache that has applied
 * everything before it knows it is current through `rev`.
 */
import type { Event } from '../protocol/messages.ts';
import { fromErrorBody } from './errors.ts';

export interface RevisionEvents {
  rev: number;
  events: Event[];
  /** Set on a progress marker (only from `revisions({ progress: true })`): no events, complete through rev. */
  progress?: true;
}

export interface ProgressOptions {
  /**
   * Answer with the connected server's applied revision, without the read barrier (cheaper; it
   * may be behind writes acknowledged elsewhere). Default: linearizable.
   */
  serializable?: boolean;
  signal?: AbortSignal;
  /** Overrides the client's requestTimeoutMs; 0 means no limit. */
  timeoutMs?: number;
}

export class WatchStream implements AsyncIterable<Event> {
  private readonly queue: RevisionEvents[] = [];
  /** Events of the front revision already handed out one at a time. */
  private taken = 0;
  private waiting: (() => void) | null = null;
  private failure: unknown = null;
  private done = false;
  private lastRev = 0;
  /** The newest revision a progress answer or push said the stream is complete through. */
  private progressSeen = 0;
  /** Progress markers in the queue (entries with no events). */
  private markers = 0;

  constructor(
    readonly glob: string,
    /** The first revision asked for (set from the server's answer when the caller gave none). */
    public fromRev: number | undefined,
    private readonly onStop: () => void,
    private readonly ask: (options: ProgressOptions) => Promise<number> = () => Promise.reject(new Error('progress is not supported here')),
  ) {}

  /** Where to ask the server to resume after a reconnect: after everything known complete. */
  resumeRev(): number | undefined {
    const known = this.progressRev;
    if (known === 0) return this.fromRev;
    return Math.max(known + 1, this.fromRev ?? 0);
  }

  /**
   * The revision through which this stream is known complete: every matching event at or below
   * it has been queued (the newest of the last event's revision and the last progress seen).
   */
  get progressRev(): number {
    return Math.max(this.lastRev, this.progressSeen);
  }

  /**
   * Asks the server how far this watch is complete. Resolves with a revision R once every
   * matching event at or below R is in this stream's queue; R is at least the revision of every
   * write acknowledged before the call (unless `serializable`). Rejects if the watch ends first.
   */
  async progress(options: ProgressOptions = {}): Promise<number> {
    if (this.done) {
      if (this.failure !== null) throw this.failure;
      throw fromErrorBody({ code: 'CANCELLED', message: 'the watch has ended' });
    }
    return this.ask(options);
  }

  /** The server says every matching event at or below `rev` has been pushed. */
  noteProgress(rev: number): void {
    if (this.done || rev <= this.progressRev) return;
    this.progressSeen = rev;
    this.queue.push({ rev, events: [] });
    this.markers++;
    this.wake();
  }

  get finished(): boolean {
    return this.done;
  }

  /** Revisions buffered and not yet fully taken by the application (progress markers aside). */
  get buffered(): number {
    return this.queue.length - this.markers;
  }

  /** One revision's events from the server; a revision already delivered is dropped. */
  push(events: Event[]): void {
    const rev = events[0]?.rev;
    if (this.done || rev === undefined || rev <= this.progressRev) return;
    this.lastRev = rev;
    this.queue.push({ rev, events });
    this.wake();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }

  /** Ends the stream with an error, after what is already queued. */
  fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = err;
    this.wake();
  }

  /** Ends the stream normally. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.wake();
  }

  /** Stops the watch (also what `break` in a for-await loop does). */
  cancel(): void {
    if (!this.done) this.onStop();
    this.finish();
  }

  /** Waits for a queued entry; progress markers at the front are dropped unless `markers`. */
  private async ready(markers = false): Promise<boolean> {
    for (;;) {
      while (!markers && this.queue.length > 0 && this.queue[0]!.events.length === 0) {
        this.queue.shift();
        this.markers--;
      }
      if (this.queue.length > 0) break;
      if (this.done) {
        if (this.failure !== null) throw this.failure;
        return false;
      }
      await new Promise<void>((r) => (this.waiting = r));
    }
    return true;
  }

  /** The next event. */
  async next(): Promise<IteratorResult<Event>> {
    if (!(await this.ready())) return { value: undefined, done: true };
    const front = this.queue[0]!;
    const event = front.events[this.taken++]!;
    if (this.taken === front.events.length) {
      this.queue.shift();
      this.taken = 0;
    }
    return { value: event, done: false };
  }

  /** The rest of the next revision's events, together. */
  async nextRevision(options: { progress?: boolean } = {}): Promise<RevisionEvents | null> {
    if (!(await this.ready(options.progress === true))) return null;
    const front = this.queue.shift()!;
    if (front.events.length === 0) {
      this.markers--;
      return { rev: front.rev, events: [], progress: true };
    }
    const events = front.events.slice(this.taken);
    this.taken = 0;
    return { rev: front.rev, events };
  }

  /**
   * The stream a revision at a time. With `progress: true`, progress markers
   * `{ rev, events: [], progress: true }` come too, in order: everything before one is complete
   * through its rev.
   */
  async *revisions(options: { progress?: boolean } = {}): AsyncGenerator<RevisionEvents> {
    try {
      for (;;) {
        const r = await this.nextRevision(options);
        if (r === null) return;
        yield r;
      }
    } finally {
      this.cancel();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Event> {
    return {
      next: () => this.next(),
      return: () => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
