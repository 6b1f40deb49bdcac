/**
 * The log as the storage will have it once every write it was handed lands: which segments hold
 * it (by first index), the term of every entry (as runs of equal terms), where compaction left
 * off, and the most recent entries themselves (the tail cache). Pure and synchronous: it is what
 * lets `term()`, `lastIndex()` and the planning of each write answer without touching the disk.
 *
 * Segments: each append writes its entries as one segment keyed by its first index and deletes
 * every segment that starts at or after it, so a segment's entries reach up to the next
 * segment's first index minus one (the rest of it was overwritten) and the last segment ends
 * the log.
 */
import { assert } from '../assert.ts';
import type { LogPosition } from './records.ts';
import type { Entry } from './log-types.ts';
import { LogCompactedError, LogUnavailableError } from './raft-storage.ts';

/** What an entry costs the tail cache besides its data (the object, index, term, type). */
export const ENTRY_OVERHEAD_BYTES = 24;

/** An entry's weight against the tail cache's budget. */
export function entryBytes(e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

interface Run {
  start: number;
  term: number;
}

export class LogView {
  /** The last entry compaction removed (index 0, term 0 before any): the log starts after it. */
  compacted: LogPosition;
  lastIndex: number;
  /** First index of each segment, ascending. */
  readonly segments: number[];
  /** Terms from `compacted.index` to `lastIndex`: run k covers [start_k, start_k+1). */
  private runs: Run[];
  /** The latest entries, consecutive, ending at lastIndex (or empty). */
  private tail: Entry[];
  private tailBytes = 0;

  /**
   * `entries` are the log after `compacted`, in order; `segments` the first index of every segment
   * on disk (some may start at or before `compacted`).
   */
  constructor(private readonly tailBudgetBytes: number, compacted: LogPosition, segments: number[], entries: Entry[]) {
    this.compacted = compacted;
    this.segments = segments;
    this.lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : compacted.index;
    this.runs = [{ start: compacted.index, term: compacted.term }];
    this.addRuns(entries);
    let from = entries.length;
    for (let bytes = 0; from > 0 && bytes + entryBytes(entries[from - 1]!) <= tailBudgetBytes; from--) {
      bytes += entryBytes(entries[from - 1]!);
    }
    this.tail = entries.slice(from);
    this.tailBytes = this.tail.reduce((n, e) => n + entryBytes(e), 0);
  }

  get firstIndex(): number {
    return this.compacted.index + 1;
  }

  /** Index of the first entry in the tail cache (lastIndex + 1 if it is empty). */
  get tailFirst(): number {
    return this.tail.length > 0 ? this.tail[0]!.index : this.lastIndex + 1;
  }

  term(index: number): number {
    if (index < this.compacted.index) throw new LogCompactedError(index, this.firstIndex);
    if (index > this.lastIndex) throw new LogUnavailableError(index, this.lastIndex);
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runs[mid]!.start <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.runs[lo]!.term;
  }

  /**
   * Takes `entries` into the log, replacing everything from their first index on. Returns the
   * segments the write must delete and the term of the entry before the new ones. Throws an
   * AssertionError, changing nothing, for what no correct caller asks: a gap after the log,
   * entries the log has compacted, entries out of order, terms that go down.
   */
  append(entries: readonly Entry[]): { removed: number[]; prevTerm: number } {
    const first = entries[0]!.index;
    assert(first <= this.lastIndex + 1, `append at ${first} leaves a gap after the last entry ${this.lastIndex}`);
    assert(first > this.compacted.index, `append at ${first} rewrites entries compacted through ${this.compacted.index}`);
    const prevTerm = this.term(first - 1);
    let term = prevTerm;
    entries.forEach((e, k) => {
      assert(e.index === first + k, `appended entries are not consecutive (${e.index} after ${first + k - 1})`);
      assert(e.term >= term, `entry ${e.index} has term ${e.term}, lower than the ${term} before it`);
      term = e.term;
    });
    const removed: number[] = [];
    while (this.segments.length > 0 && this.segments[this.segments.length - 1]! >= first) removed.push(this.segments.pop()!);
    this.segments.push(first);
    while (this.runs[this.runs.length - 1]!.start >= first) this.runs.pop();
    this.addRuns(entries);
    this.lastIndex = entries[entries.length - 1]!.index;
    if (this.tail.length > 0 && first >= this.tail[0]!.index) {
      for (const e of this.tail.splice(first - this.tail[0]!.index)) this.tailBytes -= entryBytes(e);
    } else {
      this.tail = [];
      this.tailBytes = 0;
    }
    for (const e of entries) {
      this.tail.push(e);
      this.tailBytes += entryBytes(e);
    }
    return { removed, prevTerm };
  }

  private addRuns(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (this.runs[this.runs.length - 1]!.term !== e.term) this.runs.push({ start: e.index, term: e.term });
    }
  }

  /** Where segment k's entries end: just before the next segment, or at the end of the log. */
  private segmentEnd(k: number): number {
    return k + 1 < this.segments.length ? this.segments[k + 1]! - 1 : this.lastIndex;
  }

  /** Drops the entries through `through`; returns the segments left holding none of the log. */
  compact(through: number): number[] {
    assert(through <= this.lastIndex, `compaction through ${through} beyond the last entry ${this.lastIndex}`);
    if (through <= this.compacted.index) return [];
    const term = this.term(through);
    let n = 0;
    while (n < this.segments.length && this.segmentEnd(n) <= through) n++;
    const removed = this.segments.splice(0, n);
    this.runs = [{ start: through, term }, ...this.runs.filter((r) => r.start > through)];
    this.compacted = { index: through, term };
    const drop = Math.max(0, Math.min(this.tail.length, through - this.tailFirst + 1));
    for (const e of this.tail.splice(0, drop)) this.tailBytes -= entryBytes(e);
    return removed;
  }

  /** Replaces the whole log by nothing after `at` (a snapshot the log does not agree with). */
  discard(at: LogPosition): number[] {
    const removed = this.segments.splice(0);
    this.compacted = at;
    this.lastIndex = at.index;
    this.runs = [{ start: at.index, term: at.term }];
    this.tail = [];
    this.tailBytes = 0;
    return removed;
  }

  /** The cached entries in [lo, hi) (lo at or after tailFirst), copied. */
  fromTail(lo: number, hi: number): Entry[] {
    const base = this.tailFirst;
    return this.tail.slice(Math.max(0, lo - base), Math.max(0, hi - base));
  }

  /** The segments holding [lo, hi), with the part of the log each holds. */
  segmentsFor(lo: number, hi: number): { first: number; end: number }[] {
    // The last segment starting at or before lo (the first one always does: it starts at or
    // before the first entry).
    let k = 0;
    let hiK = this.segments.length - 1;
    while (k < hiK) {
      const mid = (k + hiK + 1) >> 1;
      if (this.segments[mid]! <= lo) k = mid;
      else hiK = mid - 1;
    }
    const out: { first: number; end: number }[] = [];
    for (; k < this.segments.length && this.segments[k]! < hi; k++) out.push({ first: this.segments[k]!, end: this.segmentEnd(k) });
    return out;
  }

  /** Trims the tail cache to its budget, keeping every entry at or after `keepFrom` (unwritten). */
  evict(keepFrom: number): void {
    if (this.tailBytes <= this.tailBudgetBytes) return;
    // Down to three quarters of the budget, so eviction is not paid on every write.
    const target = (this.tailBudgetBytes * 3) / 4;
    let n = 0;
    let bytes = this.tailBytes;
    while (n < this.tail.length && bytes > target && this.tail[n]!.index < keepFrom) bytes -= entryBytes(this.tail[n++]!);
    if (n > 0) {
      this.tail.splice(0, n);
      this.tailBytes = bytes;
    }
  }
}
