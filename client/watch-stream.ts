/**
 * A watch as the application sees it: an AsyncIterable of events that never skips or repeats
 * one. The server pushes each revision's matching events together; the client feeds them here
 * and, after a reconnect, asks again from the revision after the last one delivered.
 *
 * `revisions()` gives the same stream a revision at a time (for consumers that must never see
 * half of a transaction, like config watching).
 */
import type { Event } from '../protocol/messages.ts';

export interface RevisionEvents {
  rev: number;
  events: Event[];
}

export class WatchStream implements AsyncIterable<Event> {
  private readonly queue: RevisionEvents[] = [];
  /** Events of the front revision already handed out one at a time. */
  private taken = 0;
  private waiting: (() => void) | null = null;
  private failure: unknown = null;
  private done = false;
  private lastRev = 0;

  constructor(
    readonly glob: string,
    /** The first revision asked for (set from the server's answer when the caller gave none). */
    public fromRev: number | undefined,
    private readonly onStop: () => void,
  ) {}

  /** Where to ask the server to resume after a reconnect. */
  resumeRev(): number | undefined {
    return this.lastRev > 0 ? this.lastRev + 1 : this.fromRev;
  }

  get finished(): boolean {
    return this.done;
  }

  /** Revisions buffered and not yet fully taken by the application. */
  get buffered(): number {
    return this.queue.length;
  }

  /** One revision's events from the server; a revision already delivered is dropped. */
  push(events: Event[]): void {
    const rev = events[0]?.rev;
    if (this.done || rev === undefined || rev <= this.lastRev) return;
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

  private async ready(): Promise<boolean> {
    while (this.queue.length === 0) {
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
  async nextRevision(): Promise<RevisionEvents | null> {
    if (!(await this.ready())) return null;
    const front = this.queue.shift()!;
    const events = front.events.slice(this.taken);
    this.taken = 0;
    return { rev: front.rev, events };
  }

  /** The stream a revision at a time. */
  async *revisions(): AsyncGenerator<RevisionEvents> {
    try {
      for (;;) {
        const r = await this.nextRevision();
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
