/**
 * The event log: for every kept revision, the events it produced (one for a SET or DEL, several
 * for a transaction or a session expiry), in path order. WAIT and WATCH read it to deliver
 * events from a past revision; compaction drops the oldest revisions.
 */
import type { Event } from '../../protocol/messages.ts';
import { assert } from '../assert.ts';

export class History {
  /** events[i] belongs to revision first + i - head (slots below head are dropped). */
  private events: Event[][] = [];
  private head = 0;
  /** The revision of events[head]. */
  private first: number;

  constructor(firstRev: number) {
    this.first = firstRev;
  }

  /** The oldest revision whose events are kept. */
  get firstRev(): number {
    return this.first;
  }

  /** The revision after the newest kept one. */
  get endRev(): number {
    return this.first + this.events.length - this.head;
  }

  append(rev: number, events: Event[]): void {
    assert(rev === this.endRev, `history append at ${rev}, expected ${this.endRev}`);
    assert(events.length > 0, `history append at ${rev} with no events`);
    this.events.push(events);
  }

  /** The events of `rev`; the caller makes sure firstRev ≤ rev < endRev. */
  at(rev: number): Event[] {
    const slot = this.events[this.head + rev - this.first];
    assert(slot !== undefined, `history has no revision ${rev}`);
    return slot;
  }

  /** Drops every revision below `rev`, returning the dropped events for compaction. */
  dropBefore(rev: number, onDropped: (e: Event) => void): void {
    while (this.first < rev && this.head < this.events.length) {
      for (const e of this.events[this.head]!) onDropped(e);
      this.events[this.head] = undefined as unknown as Event[];
      this.head++;
      this.first++;
    }
    this.first = Math.max(this.first, rev);
    if (this.head > 4096 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
  }
}
