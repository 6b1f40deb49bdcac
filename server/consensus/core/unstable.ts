/**
 * The tail of the log that is not known durable yet: entries appended in memory (and maybe a
 * snapshot received from the leader) that ready() hands to the driver to write, and that leave
 * this structure once the driver reports the write done.
 *
 * Writes overlap: ready() may hand out a second batch while the first is still being written.
 * The driver completes writes in the order it got them (each write has a sequence number), so
 * "write k done" means the log on disk is the log as it was when batch k was handed out. One
 * hazard remains: a batch handed out before a truncation may complete after it, and the entries
 * it made durable may no longer be ours (a leader change replaced them; a later leader may
 * even send the same index and term back, so comparing terms is not enough: etcd-io/raft's
 * "ABA" race). So each truncation of entries already handed out is remembered with the write
 * that carries it, and until that write completes no earlier write may mark anything at or
 * beyond the truncation point durable.
 */
import { assert } from '../../assert.ts';
import type { Entry, SnapshotMeta } from './types.ts';

interface Truncation {
  /** The write that carries the replacing entries; null until ready() hands them out. */
  seq: number | null;
  /** The first index replaced. */
  index: number;
}

export class Unstable {
  /** A snapshot received from the leader, not durable yet; it replaces the whole log. */
  snapshot: SnapshotMeta | null = null;
  /** The write carrying `snapshot`, once handed out. */
  private snapshotSeq: number | null = null;
  /** Index of entries[0]: every entry below it is durable (in the stable view). */
  offset: number;
  entries: Entry[] = [];
  /** The last index handed out to be written (offset - 1 if none is pending). */
  private handedOutTo: number;
  private truncations: Truncation[] = [];

  constructor(offset: number) {
    this.offset = offset;
    this.handedOutTo = offset - 1;
  }

  /** The last index held here, if any (the snapshot's when it has no entries after it). */
  lastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.index;
  }

  /** The term of entry i if this structure holds it (or the pending snapshot ends at i). */
  term(i: number): number | undefined {
    if (i >= this.offset) return this.entries[i - this.offset]?.term;
    if (this.snapshot !== null && i === this.snapshot.index) return this.snapshot.term;
    return undefined;
  }

  /**
   * Appends `entries`, first dropping every entry at or after entries[0].index: those in memory
   * and, when entries[0] lies below `offset`, durable ones too (the write will overwrite them).
   */
  truncateAndAppend(entries: Entry[]): void {
    const first = entries[0]!.index;
    assert(first <= this.offset + this.entries.length, `append at ${first} leaves a gap after ${this.offset + this.entries.length - 1}`);
    assert(this.snapshot === null || first > this.snapshot.index, `append at ${first} overwrites the pending snapshot`);
    if (first <= this.handedOutTo) {
      this.truncations.push({ seq: null, index: first });
      this.handedOutTo = first - 1;
    }
    if (first <= this.offset) {
      this.offset = first;
      this.entries = entries.slice();
    } else {
      this.entries = this.entries.slice(0, first - this.offset).concat(entries);
    }
  }

  /** Replaces everything with `snapshot` (the log restarts after it). */
  restore(snapshot: SnapshotMeta): void {
    this.snapshot = snapshot;
    this.snapshotSeq = null;
    this.offset = snapshot.index + 1;
    this.entries = [];
    this.handedOutTo = snapshot.index;
    // Writes in flight before the snapshot's cannot make anything durable any more (see
    // persisted()), so what they truncated no longer matters.
    this.truncations = [];
  }

  /** True if something is waiting to be handed out to a write. */
  hasPending(): boolean {
    return (this.snapshot !== null && this.snapshotSeq === null) || this.handedOutTo < this.offset + this.entries.length - 1;
  }

  /** Hands out what no write carries yet, to write `seq`. */
  handOut(seq: number): { snapshot: SnapshotMeta | null; entries: Entry[] } {
    let snapshot: SnapshotMeta | null = null;
    if (this.snapshot !== null && this.snapshotSeq === null) {
      snapshot = this.snapshot;
      this.snapshotSeq = seq;
    }
    const entries = this.entries.slice(this.handedOutTo + 1 - this.offset);
    this.handedOutTo = this.offset + this.entries.length - 1;
    for (const t of this.truncations) if (t.seq === null) t.seq = seq;
    return { snapshot, entries };
  }

  /**
   * Write `seq` completed: the log was durable through (index, term) as of its hand-out.
   * Returns the snapshot it installed, if it carried the pending one.
   */
  persisted(seq: number, index: number, term: number): SnapshotMeta | null {
    this.truncations = this.truncations.filter((t) => t.seq === null || t.seq > seq);
    let installed: SnapshotMeta | null = null;
    if (this.snapshot !== null) {
      // Entries after a pending snapshot are written after it, so none is durable before it.
      if (this.snapshotSeq === null || this.snapshotSeq > seq) return null;
      installed = this.snapshot;
      this.snapshot = null;
      this.snapshotSeq = null;
    }
    let through = index;
    for (const t of this.truncations) through = Math.min(through, t.index - 1);
    if (through < this.offset) return installed;
    assert(through <= this.handedOutTo, `write ${seq} reports ${through} durable, beyond what was handed out (${this.handedOutTo})`);
    assert(through < index || this.term(index) === term,
      `write ${seq} reports ${index}/${term} durable, the log holds ${index}/${this.term(index)}`);
    this.entries = this.entries.slice(through + 1 - this.offset);
    this.offset = through + 1;
    return installed;
  }
}
