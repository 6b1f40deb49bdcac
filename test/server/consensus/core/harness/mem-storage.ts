/**
 * Durable storage for one simulated node: what survives its crash. Implements the core's
 * StableLog view over arrays, and applies the writes a Ready hands out.
 */
import { assert } from '../../../../../server/assert.ts';
import { limitBytes, type StableLog } from '../../../../../server/consensus/core/stable-log.ts';
import type { Entry, HardState, Membership, SnapshotMeta } from '../../../../../server/consensus/core/types.ts';

export interface Write {
  snapshot: SnapshotMeta | null;
  entries: Entry[];
  hardState: HardState | null;
}

export class MemStorage implements StableLog {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  private snap: SnapshotMeta;
  /** Entries after the snapshot, in order. */
  private ents: Entry[] = [];

  constructor(snapshot: SnapshotMeta) {
    this.snap = snapshot;
    this.hardState.commit = snapshot.index;
  }

  snapshot(): SnapshotMeta {
    return this.snap;
  }

  firstIndex(): number {
    return this.snap.index + 1;
  }

  lastIndex(): number {
    return this.snap.index + this.ents.length;
  }

  term(i: number): number {
    if (i === this.snap.index) return this.snap.term;
    assert(i > this.snap.index && i <= this.lastIndex(), `term(${i}) outside [${this.snap.index}, ${this.lastIndex()}]`);
    return this.ents[i - this.snap.index - 1]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, `entries [${lo}, ${hi}) outside the stored log`);
    return limitBytes(this.ents.slice(lo - this.firstIndex(), hi - this.firstIndex()), maxBytes);
  }

  /** Applies one write: snapshot (replacing the log), then entries (overwriting a suffix), then hard state. */
  write(w: Write): void {
    if (w.snapshot !== null) {
      this.snap = w.snapshot;
      this.ents = [];
    }
    if (w.entries.length > 0) {
      const first = w.entries[0]!.index;
      assert(first > this.snap.index && first <= this.lastIndex() + 1, `append at ${first} to a log ending at ${this.lastIndex()}`);
      this.ents = this.ents.slice(0, first - this.firstIndex()).concat(w.entries);
    }
    if (w.hardState !== null) this.hardState = { ...w.hardState };
  }

  /** Takes a snapshot at `index` (applied) and drops the log before it. */
  compact(index: number, membership: Membership): void {
    assert(index > this.snap.index && index <= this.lastIndex(), `compact to ${index} outside the stored log`);
    const term = this.term(index);
    this.ents = this.ents.slice(index - this.snap.index);
    this.snap = { index, term, membership };
  }

  /** Every stored entry, for printing. */
  all(): Entry[] {
    return this.ents.slice();
  }
}
