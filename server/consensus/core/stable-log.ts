/**
 * The core's read-only view of what storage holds durably: the latest snapshot's metadata and
 * the log entries after it. It is the minimal interface the core needs; the storage layer
 * (server/storage/) implements it over level, the transcript harness over arrays.
 *
 * Contract:
 * - The core only reads. The driver writes (entries, hard state, snapshots, compaction) and
 *   updates what the view returns before it reports the write done with `persisted()`.
 * - The core reads an index only below the first index it holds in memory as not yet durable,
 *   so a view may already show (or not yet show) a write still in flight: either is fine.
 * - Compaction (dropping entries up to a snapshot the driver took) may happen between any two
 *   calls into the core, never past the index the core last handed out to apply, and not while
 *   a snapshot the core handed out is being installed. It may keep some entries before the
 *   snapshot's index (for followers a little behind).
 * - Reads are synchronous. `term()`, `firstIndex()` and `lastIndex()` always answer (from
 *   memory). `entries()` may not have old entries in memory: it then returns an empty array
 *   (and may start loading them), and the core tries again later: a leader when the member
 *   next answers a heartbeat, the apply path on the next tick().
 * - An index outside [firstIndex() - 1, lastIndex()] is the core's bug: implementations may throw.
 */
import type { Entry, SnapshotMeta } from './types.ts';

export interface StableLog {
  /**
   * The latest snapshot: the log through its index is in it. A founding member starts from
   * {1, 1, the initial membership}, a joining one from {0, 0, no members} (core.ts says why).
   */
  snapshot(): SnapshotMeta;
  /** The first entry still held: at most snapshot().index + 1. */
  firstIndex(): number;
  /** The last durable entry's index, or snapshot().index when there is none after it. */
  lastIndex(): number;
  /** The term of entry i, for firstIndex() - 1 <= i <= lastIndex() (the snapshot's at its index). */
  term(i: number): number;
  /**
   * Entries [lo, hi), firstIndex() <= lo <= hi <= lastIndex() + 1, in order. Stops early once
   * their data passes `maxBytes` (but returns at least one entry if lo < hi), or where the
   * entries in memory end; empty if entry lo is not in memory now. The caller does not modify
   * the array or the entries.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
}

/** The size an entry counts for against byte limits: its payload. */
export function entryBytes(e: Entry): number {
  return e.data.byteLength;
}

/** The longest prefix of `entries` within `maxBytes` of data, but at least one entry. */
export function limitBytes(entries: Entry[], maxBytes: number): Entry[] {
  let bytes = 0;
  for (let i = 0; i < entries.length; i++) {
    bytes += entryBytes(entries[i]!);
    if (bytes > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}
