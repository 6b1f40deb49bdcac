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
  /** Bytes of paths and values in the kept events (what `historyBytes` bounds). */
  private keptBytes = 0;

  constructor(firstRev: number) {
    this.first = firstRev;
  }

  /** The oldest revision whose events are kept. */
  get firstRev(): number {
    return this.first;
  }

  get bytes(): number {
    return this.keptBytes;
  }

  /** The revision after the newest kept one. */
  get endRev(): number {
    return this.first + this.events.length - this.head;
  }

  append(rev: number, events: Event[]): void {
    assert(rev === this.endRev, `history append at ${rev}, expected ${this.endRev}`);
    assert(events.length > 0, `history append at ${rev} with no events`);
    this.events.push(events);
    this.keptBytes += eventBytes(events);
  }

  /**
   * The smallest revision R ≤ `highest` such that dropping every revision up to R leaves at most
   * `maxBytes` kept (or `highest` if even that is not enough); the caller drops below R + 1.
   */
  lastToDropFor(maxBytes: number, highest: number): number {
    let bytes = this.keptBytes;
    let rev = this.first - 1;
    while (bytes > maxBytes && rev < highest && rev + 1 < this.endRev) {
      rev++;
      bytes -= eventBytes(this.at(rev));
    }
    return rev;
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
      const dropped = this.events[this.head]!;
      this.keptBytes -= eventBytes(dropped);
      for (const e of dropped) onDropped(e);
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

/** What a revision's events cost in history: their paths and values. */
function eventBytes(events: Event[]): number {
  let n = 0;
  for (const e of events) n += e.path.length + (e.value?.byteLength ?? 0);
  return n;
}
