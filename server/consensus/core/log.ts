/**
 * The Raft log as the core sees it: the durable part through the storage view (stable-log.ts),
 * the part not yet durable in memory (unstable.ts), the commit index, and how far committed
 * entries have been handed out to apply.
 *
 * Two indexes bound what may be applied: an entry is applied only once it is committed (a
 * quorum holds it) and durable here (a node never applies what it could lose in a crash and
 * then replace, having told nobody).
 */
import { assert } from '../../assert.ts';
import { limitBytes, type StableLog } from './stable-log.ts';
import type { Entry, SnapshotMeta } from './types.ts';
import { Unstable } from './unstable.ts';

export class RaftLog {
  readonly unstable: Unstable;
  /** The highest index known committed (held by a quorum, in a term's leader's log). */
  committed: number;
  /** The highest index handed out to apply (or installed from a snapshot). */
  applied: number;
  /** The stable view did not have the next entry to apply in memory: wait for a retry. */
  private applyStalled = false;

  constructor(readonly stable: StableLog, committed: number, applied: number) {
    this.unstable = new Unstable(stable.lastIndex() + 1);
    const snap = stable.snapshot();
    this.committed = Math.max(committed, snap.index);
    this.applied = Math.max(applied, snap.index);
    assert(this.committed <= this.lastIndex(), `commit ${this.committed} beyond the log's end ${this.lastIndex()}`);
    assert(this.applied <= this.committed, `applied ${this.applied} beyond commit ${this.committed}`);
  }

  /** The latest snapshot: a pending one received from the leader, else the durable one. */
  snapshot(): SnapshotMeta {
    return this.unstable.snapshot ?? this.stable.snapshot();
  }

  /** The first entry the log still holds (entries before it are only in the snapshot). */
  firstIndex(): number {
    return this.unstable.snapshot !== null ? this.unstable.snapshot.index + 1 : this.stable.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.unstable.offset - 1;
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** The term of entry i, or undefined if it is compacted away or beyond the end. */
  term(i: number): number | undefined {
    const t = this.unstable.term(i);
    if (t !== undefined) return t;
    if (this.unstable.snapshot !== null || i >= this.unstable.offset) return undefined;
    if (i < this.stable.firstIndex() - 1) return undefined;
    return this.stable.term(i);
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** Raft §5.4.1: a log ending at (lastIndex, lastTerm) is at least as up to date as this one. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries [lo, hi) within maxBytes (at least one), lo not compacted. Fewer, or none, if the
   * stable view does not hold them in memory now (stable-log.ts): the caller tries again later.
   */
  entries(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, `entries [${lo}, ${hi}) outside the log`);
    if (lo >= hi) return [];
    const off = this.unstable.offset;
    const fromStable = lo < off ? this.stable.entries(lo, Math.min(hi, off), maxBytes) : [];
    if (hi <= off || fromStable.length < Math.min(hi, off) - lo) return fromStable;
    const fromMemory = this.unstable.entries.slice(Math.max(lo, off) - off, hi - off);
    return limitBytes(fromStable.concat(fromMemory), maxBytes);
  }

  /**
   * A follower's side of an append: if the log holds (index, logTerm), makes it agree with the
   * leader's through index + entries.length (dropping a conflicting suffix, never a committed
   * entry), commits up to the leader's commit as far as the agreement goes, and returns the last
   * index now known to match. Returns null if (index, logTerm) is not in the log.
   */
  maybeAppend(index: number, logTerm: number, commit: number, entries: Entry[]): { lastNew: number; appendedFrom: number | null } | null {
    if (!this.matchTerm(index, logTerm)) return null;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    let appendedFrom: number | null = null;
    if (conflict !== 0) {
      assert(conflict > this.committed, `entry ${conflict} conflicts with the committed log (commit ${this.committed})`);
      this.append(entries.slice(conflict - index - 1));
      appendedFrom = conflict;
    }
    this.commitTo(Math.min(commit, lastNew));
    return { lastNew, appendedFrom };
  }

  /**
   * The first of `entries` that this log lacks or holds with another term (0 if it holds them
   * all). Log matching makes everything before it agree.
   */
  findConflict(entries: Entry[]): number {
    for (const e of entries) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * The largest index at most `index` whose term is at most `term`, with its term: where two logs
   * may still agree, given that the other holds `term` at `index`. Every entry skipped has a term
   * the other log does not have there. Term 0 if the search ran into the compacted log.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Appends entries (dropping any suffix from entries[0].index on); returns the new last index. */
  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    assert(entries[0]!.index > this.committed, `append at ${entries[0]!.index} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} beyond the log's end ${this.lastIndex()}`);
    this.committed = index;
  }

  /** The last index durable on this node (none beyond a snapshot still being installed). */
  persistedIndex(): number {
    return this.unstable.snapshot !== null ? this.applied : this.unstable.offset - 1;
  }

  /**
   * Committed and durable entries not handed out to apply yet (false while the stable view
   * could not give the next one: see retryReads()).
   */
  hasNextCommitted(): boolean {
    return !this.applyStalled && this.applyLimit() > this.applied;
  }

  /** Hands out the committed, durable entries after `applied`, in order. */
  nextCommitted(maxBytes = Infinity): Entry[] {
    const limit = this.applyLimit();
    if (this.applyStalled || limit <= this.applied) return [];
    const out = this.entries(this.applied + 1, limit + 1, maxBytes);
    if (out.length === 0) {
      this.applyStalled = true;
      return out;
    }
    this.applied = out[out.length - 1]!.index;
    return out;
  }

  /** Lets the apply path ask the stable view again for entries it did not have in memory. */
  retryReads(): void {
    this.applyStalled = false;
  }

  private applyLimit(): number {
    return Math.min(this.committed, this.persistedIndex());
  }

  /** Replaces the log with a snapshot received from the leader (not durable until persisted). */
  restore(snapshot: SnapshotMeta): void {
    assert(snapshot.index > this.committed, `snapshot at ${snapshot.index} is not past commit ${this.committed}`);
    this.unstable.restore(snapshot);
    this.committed = snapshot.index;
  }

  /** Write `seq` is durable: the log through (index, term) as of its hand-out. */
  persisted(seq: number, index: number, term: number): void {
    const installed = this.unstable.persisted(seq, index, term);
    if (installed !== null) this.applied = Math.max(this.applied, installed.index);
  }
}
