/**
 * The core's StableLog view (core/stable-log.ts) over the storage (storage/raft-storage.ts):
 * positions and terms from the storage's memory, entries from its tail cache, and for older
 * entries a copy kept from load() or an asynchronous read.
 *
 * - `snapshot()` is the latest snapshot's metadata. Storage keeps no membership: the driver
 *   tells this view (`setSnapshot`) when a snapshot is durable, before it reports that write to
 *   the core, and before the log it covers is compacted (local snapshots compact in a second
 *   step, see snapshots.ts), so `firstIndex()` never runs ahead of `snapshot()`.
 * - `firstIndex()` never says 1 once there is a snapshot: entry 1 is then the snapshot's (a
 *   founder's bootstrap at 1@1, or a single-node log from before clusters, whose entry 1 is
 *   taken as its snapshot), and a blank joiner must get the snapshot, with the membership, rather
 *   than entries from 1 without it (core.ts explains why).
 * - `entries()` answers from the storage's tail cache; below it, from the entries load() read
 *   (kept until the store has applied past them); below that, it starts a read from disk and
 *   answers empty, and the core asks again later (on a tick, or a member's next answer). What it
 *   keeps of either is dropped from the first index of every new append (a follower
 *   overwriting a suffix makes them stale).
 */
import type { Entry, SnapshotMeta } from './core/index.ts';
import { limitBytes, type StableLog } from './core/stable-log.ts';
import type { RaftStorage } from '../storage/raft-storage.ts';

export class StorageLog implements StableLog {
  private meta: SnapshotMeta;
  /** Entries load() returned, in order; cleared once applied past (or overwritten). */
  private loaded: Entry[];
  /** The last range read from disk for a caller whose entries were not in memory. */
  private fetched: Entry[] = [];
  private fetching = false;

  constructor(
    private readonly storage: RaftStorage,
    snapshot: SnapshotMeta,
    loaded: Entry[],
    /** Told when a read from disk failed (a storage failure the driver must act on). */
    private readonly onReadError: (err: unknown) => void,
  ) {
    this.meta = snapshot;
    this.loaded = loaded;
  }

  snapshot(): SnapshotMeta {
    return this.meta;
  }

  /**
   * A snapshot at a later index is durable: taken here (the log after it stays), or installed
   * from the leader (`replacesLog`: the log was replaced by the snapshot).
   */
  setSnapshot(meta: SnapshotMeta, replacesLog: boolean): void {
    this.meta = meta;
    if (replacesLog) this.dropFrom(0);
  }

  firstIndex(): number {
    return Math.max(this.storage.firstIndex(), this.meta.index >= 1 ? 2 : 1);
  }

  lastIndex(): number {
    return this.storage.lastIndex();
  }

  term(i: number): number {
    return i === this.meta.index ? this.meta.term : this.storage.term(i);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const cached = this.storage.cachedEntries(lo, hi, maxBytes);
    if (cached !== null) return cached;
    const kept = slice(this.loaded, lo, hi) ?? slice(this.fetched, lo, hi);
    if (kept !== null) return limitBytes(kept, maxBytes);
    this.fetch(lo, hi, maxBytes);
    return [];
  }

  private fetch(lo: number, hi: number, maxBytes: number): void {
    if (this.fetching) return;
    this.fetching = true;
    this.storage.entries(lo, hi, maxBytes).then((es) => {
      this.fetched = es;
    }, (err: unknown) => {
      this.fetched = [];
      this.onReadError(err);
    }).finally(() => {
      this.fetching = false;
    });
  }

  /** An append from `index` on was handed to storage: copies of the old entries there are stale. */
  appending(index: number): void {
    this.dropFrom(index);
  }

  /** The store has applied through `index`: the entries kept from load() are needed no more. */
  appliedTo(index: number): void {
    if (this.loaded.length > 0 && this.loaded[this.loaded.length - 1]!.index <= index) this.loaded = [];
  }

  private dropFrom(index: number): void {
    this.loaded = truncate(this.loaded, index);
    this.fetched = truncate(this.fetched, index);
  }
}

/** entries[lo, hi) of a consecutive run, or null if the run does not start at or before lo. */
function slice(run: Entry[], lo: number, hi: number): Entry[] | null {
  if (run.length === 0) return null;
  const first = run[0]!.index;
  const last = run[run.length - 1]!.index;
  if (lo < first || lo > last) return null;
  return run.slice(lo - first, Math.min(hi, last + 1) - first);
}

function truncate(run: Entry[], index: number): Entry[] {
  if (run.length === 0 || run[run.length - 1]!.index < index) return run;
  return index <= run[0]!.index ? [] : run.slice(0, index - run[0]!.index);
}
