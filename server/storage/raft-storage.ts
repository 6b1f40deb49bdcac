/**
 * The storage contract the Raft driver and core rely on: the log, the hard state and the latest
 * snapshot. LevelStorage (level-storage.ts) is the production implementation; the simulator's
 * SimStorage (test/sim/sim-storage.ts) runs the same log code (log-storage.ts) over a simulated
 * disk; test/storage/conformance.ts holds both to this contract.
 *
 * The log. Entries have consecutive indexes from `firstIndex()` to `lastIndex()`; everything
 * before was compacted (it is in the snapshot). `append(entries)` replaces the log from
 * `entries[0].index` on (a follower overwriting a conflicting suffix), atomically with the hard
 * state it carries.
 *
 * Ordering and durability. Writes (append, saveSnapshot's record, compact) are applied in the
 * order they are called and may overlap: a caller need not wait for one to call the next. Each
 * write's promise resolves only once it and every write called before it are written (and, for
 * a `sync` write, durable: a crash after keeps them). So the disk always holds a prefix of the
 * calls; a crash loses a suffix of the unsynced ones, and never keeps a later write without an
 * earlier one (writes are issued one batch at a time, the next after the previous completed).
 *
 * What the synchronous reads see. `firstIndex()`, `lastIndex()` and `term()` answer from memory,
 * for the log as every write called so far leaves it, written or not: the entries of an append
 * in flight are readable at once (a leader may send them while its own fsync runs). Which ones
 * are durable is what the write promises say. `entries()` reads the same log (the recent tail
 * from memory, older entries from disk).
 *
 * Errors.
 * - A caller bug (appending with a gap or over compacted entries, compacting beyond the
 *   snapshot, calling a method before `load()`) throws or rejects with an AssertionError,
 *   changing nothing.
 * - Reading before `firstIndex()` throws LogCompactedError, after `lastIndex()` LogUnavailableError.
 * - Damage found on disk (a checksum, a hole, a term out of place) is a StorageError naming the
 *   data directory and the record: the server stops rather than start over the data.
 * - A write that fails because the disk is full rejects with an error `isNoSpaceError`
 *   (no-space.ts) recognises, and the driver rides it out; any other error is fatal to the
 *   process. After a failed write every later write is refused with the same cause, and the
 *   synchronous reads throw, until `reopen()`: the failed batch may or may not be on disk, and
 *   only reading it back says which (`durableState()`).
 */
import type { Entry, HardState } from './log-types.ts';

export type { Entry, HardState } from './log-types.ts';
export { EntryType } from './log-types.ts';

export interface SnapshotRecord {
  /** Index and term of the last log entry the snapshot includes. */
  index: number;
  term: number;
  /** The encoded store snapshot. */
  data: Uint8Array;
  /** crc32 of `data` (computed by the caller, a piece at a time, so no one turn pays for it). */
  crc: number;
}

export interface LoadedState {
  hardState: HardState;
  snapshot: SnapshotRecord | null;
  /** Every log entry after the snapshot, in order. */
  entries: Entry[];
}

/** What is on disk now, read back after a failed write to learn how much of it landed. */
export interface DurableState {
  /** Index and term of the last log entry on disk (the compaction point's, if the log is empty). */
  last: { index: number; term: number };
  hardState: HardState | null;
}

/** The disk reserve, as the driver uses it (disk-reserve.ts). */
export interface DiskReserveControl {
  /** Free bytes, with the reserve spent, before writes may resume. */
  readonly resumeFreeBytes: number;
  freeBytes(): Promise<number>;
  /** Spends the reserve (deletes it). */
  release(): Promise<boolean>;
  /** Puts the reserve back if there is room for it and the headroom; true once it is in place. */
  restore(): Promise<boolean>;
}

/** The entry asked for was compacted away: it is in the snapshot (etcd's ErrCompacted). */
export class LogCompactedError extends Error {
  constructor(readonly index: number, readonly firstIndex: number) {
    super(`log entry ${index} is compacted (the log starts at ${firstIndex})`);
    this.name = 'LogCompactedError';
  }
}

/** The entry asked for is after the end of the log (etcd's ErrUnavailable). */
export class LogUnavailableError extends Error {
  constructor(readonly index: number, readonly lastIndex: number) {
    super(`log entry ${index} is not in the log (it ends at ${lastIndex})`);
    this.name = 'LogUnavailableError';
  }
}

export interface RaftStorage {
  /** The data directory, for messages. */
  readonly dir: string;
  /** True if the disk was full when the storage was opened: the server starts refusing writes. */
  readonly openedFull: boolean;
  readonly reserve: DiskReserveControl;

  /**
   * Reads everything needed to restart: hard state (zeros if none was written), the latest
   * snapshot, the log after it; and primes the synchronous reads. Call it once after opening,
   * before anything else, with no write in flight. Throws StorageError for damaged data.
   */
  load(): Promise<LoadedState>;

  /**
   * Replaces the log from `entries[0].index` on by `entries` and writes `hardState` (if not
   * null), as one atomic batch; `sync` resolves only once it is durable. `entries` must be
   * consecutive, start at most at lastIndex() + 1 and after the snapshot, and not lower the term;
   * otherwise it rejects with an AssertionError and changes nothing. The entries are kept by
   * reference: do not change them afterwards.
   */
  append(entries: Entry[], hardState: HardState | null, sync: boolean): Promise<void>;

  /**
   * Saves a snapshot durably, then drops the log it covers through `compactThrough` (default:
   * the snapshot's index; lower keeps entries for followers a little behind). If the log does not
   * hold the snapshot's last entry with its term (a snapshot sent by a leader to a follower
   * whose log diverged or is behind), the whole log goes instead, and the log continues from the
   * snapshot (Raft §7). The snapshot's index must be above the previous snapshot's; one at a
   * time. The file is written first, while other writes go on; then the snapshot record and the
   * log's change take their place among the writes, in one batch, as of that moment: the log
   * (term(), lastIndex(), what append() accepts) changes then, not at the call. So to install a
   * leader's snapshot and the entries after it, await saveSnapshot, then append.
   */
  saveSnapshot(snapshot: SnapshotRecord, compactThrough?: number): Promise<void>;

  /**
   * Drops the log through `throughIndex` (at most the snapshot's index): firstIndex() becomes
   * throughIndex + 1 at once, term(throughIndex) stays answerable. Not synced by itself: a crash
   * may bring the entries back, which is harmless (they are the snapshot's, and go next time).
   */
  compact(throughIndex: number): Promise<void>;

  /**
   * Entries [lo, hi), for a follower that is behind: at least one (if lo < hi), then as many as
   * keep their data within `maxBytes` (payload bytes, as the core counts them). Recent entries
   * come from memory, older ones from disk. Rejects with LogCompactedError if lo < firstIndex(),
   * LogUnavailableError if hi > lastIndex() + 1. The entries are shared: do not change them.
   */
  entries(lo: number, hi: number, maxBytes?: number): Promise<Entry[]>;

  /**
   * The same from memory only, synchronously: null if entry `lo` is older than the tail kept in
   * memory (then ask `entries()`). The tail always reaches lastIndex(), so a range that starts
   * in memory is there whole. Throws as `entries()` rejects.
   */
  cachedEntries(lo: number, hi: number, maxBytes?: number): Entry[] | null;

  /**
   * Term of entry `index`, from memory: for firstIndex() - 1 (the compaction point, the snapshot
   * after a snapshot; 0 for index 0) through lastIndex(). Throws LogCompactedError or
   * LogUnavailableError outside that range.
   */
  term(index: number): number;
  /** Index of the first entry in the log (compaction point + 1). From memory. */
  firstIndex(): number;
  /** Index of the last entry (firstIndex() - 1 if the log is empty). From memory. */
  lastIndex(): number;

  /**
   * Closes and opens the database again, which clears a failed write's sticky error and makes
   * what the failed write left either durable or gone, then reads the log again. Throws as open
   * does (a full disk: try again later). Until it succeeds, the storage is closed.
   */
  reopen(): Promise<void>;
  /** Reads the last log position and the hard state from disk (after a reopen, see above). */
  durableState(): Promise<DurableState>;
  /** Waits for the writes in flight, then closes. */
  close(): Promise<void>;
}
