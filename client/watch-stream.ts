/**
 * A watch as the application sees it: an AsyncIterable of events that never skips or repeats
 * one. The client feeds it events from the server and, after a reconnect, asks the server again
 * from `resumeRev()`, skipping the events of that revision it already delivered (a revision can
 * hold several events, one per path).
 */
import type { Event } from '../protocol/messages.ts';

export class WatchStream implements AsyncIterable<Event> {
  private readonly queue: Event[] = [];
  private waiting: { resolve(r: IteratorResult<Event>): void; reject(e: unknown): void } | null = null;
  private failure: unknown = null;
  private done = false;
  /** The last revision delivered into the queue, and the paths of that revision seen so far. */
  private lastRev = 0;
  private seenAtLastRev = new Set<string>();

  constructor(
    readonly glob: string,
    /** The first revision asked for (set from the server's answer when the caller gave none). */
    public fromRev: number | undefined,
    private readonly onStop: () => void,
  ) {}

  /** Where to ask the server to resume after a reconnect. */
  resumeRev(): number | undefined {
    return this.lastRev > 0 ? this.lastRev : this.fromRev;
  }

  get finished(): boolean {
    return this.done;
  }

  /** An event from the server; duplicates after a resume are dropped here. */
  push(event: Event): void {
    if (this.done) return;
    if (event.rev < this.lastRev) return;
    if (event.rev === this.lastRev) {
      if (this.seenAtLastRev.has(event.path)) return;
    } else {
      this.lastRev = event.rev;
      this.seenAtLastRev = new Set();
    }
    this.seenAtLastRev.add(event.path);
    if (this.waiting !== null) {
      const w = this.waiting;
      this.waiting = null;
      w.resolve({ value: event, done: false });
    } else {
      this.queue.push(event);
    }
  }

  /** Events buffered and not yet taken by the application. */
  get buffered(): number {
    return this.queue.length;
  }

  /** Ends the stream with an error, after the events already queued. */
  fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = err;
    if (this.waiting !== null && this.queue.length === 0) {
      const w = this.waiting;
      this.waiting = null;
      w.reject(err);
    }
  }

  /** Ends the stream normally (cancelled by the application). */
  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.waiting !== null) {
      const w = this.waiting;
      this.waiting = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<Event>> {
    const e = this.queue.shift();
    if (e !== undefined) return Promise.resolve({ value: e, done: false });
    if (this.done) {
      return this.failure !== null ? Promise.reject(this.failure) : Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** Stops the watch (also what `break` in a for-await loop does). */
  cancel(): void {
    if (!this.done) this.onStop();
    this.finish();
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
