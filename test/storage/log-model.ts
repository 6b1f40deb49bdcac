/**
 * The dumb model the log storage is checked against: arrays, no segments, no disk. Plus a
 * generator of storage operations a correct Raft node could issue (so the model and the
 * storage can be driven by the same script), and the comparison of a storage with a model state.
 *
 * Operations are Raft-valid: terms never go down; an append that overwrites a suffix brings a
 * term higher than any in the log (a new leader's); nothing at or below the commit index or the
 * snapshot is overwritten; a local snapshot is taken at or below the commit index with the
 * log's term there; a leader's snapshot (`foreign`) lands above the commit index, with a term the
 * log may not agree with. The hard state carries every term used before entries of that term.
 */
import { crc32 } from '../../server/storage/crc32.ts';
import { EntryType, type Entry, type HardState } from '../../server/storage/log-types.ts';
import type { LoadedState, RaftStorage, SnapshotRecord } from '../../server/storage/raft-storage.ts';

export type StepOp =
  | { t: 'append'; entries: Entry[]; hardState: HardState | null; sync: boolean }
  | { t: 'snapshot'; snapshot: SnapshotRecord; compactThrough: number }
  | { t: 'compact'; through: number };

export interface ModelState {
  hardState: HardState;
  snapshot: SnapshotRecord | null;
  compacted: { index: number; term: number };
  /** The log after `compacted`, consecutive. */
  entries: Entry[];
}

export function emptyState(): ModelState {
  return { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, compacted: { index: 0, term: 0 }, entries: [] };
}

export function cloneState(s: ModelState): ModelState {
  return { ...s, hardState: { ...s.hardState }, compacted: { ...s.compacted }, entries: [...s.entries] };
}

export const lastIndex = (s: ModelState) => s.compacted.index + s.entries.length;
export const lastTerm = (s: ModelState) => (s.entries.length > 0 ? s.entries[s.entries.length - 1]!.term : s.compacted.term);

export function termAt(s: ModelState, index: number): number | undefined {
  if (index === s.compacted.index) return s.compacted.term;
  return s.entries[index - s.compacted.index - 1]?.term;
}

/** The state after `op` (the model's semantics of the storage contract). */
export function applyOp(s: ModelState, op: StepOp): ModelState {
  const n = cloneState(s);
  switch (op.t) {
    case 'append': {
      if (op.entries.length > 0) {
        const first = op.entries[0]!.index;
        n.entries = [...n.entries.slice(0, first - n.compacted.index - 1), ...op.entries];
      }
      if (op.hardState !== null) n.hardState = { ...op.hardState };
      return n;
    }
    case 'snapshot': {
      const { index, term } = op.snapshot;
      n.snapshot = op.snapshot;
      if (index <= lastIndex(n) && termAt(n, index) === term) {
        const through = Math.max(op.compactThrough, n.compacted.index);
        n.entries = n.entries.slice(through - n.compacted.index);
        n.compacted = { index: through, term: termAt(s, through)! };
      } else {
        n.entries = [];
        n.compacted = { index, term };
      }
      return n;
    }
    case 'compact': {
      if (op.through <= n.compacted.index) return n;
      n.entries = n.entries.slice(op.through - n.compacted.index);
      n.compacted = { index: op.through, term: termAt(s, op.through)! };
      return n;
    }
  }
}

/** Whether a crash right after `op` may lose it (it was not synced). */
export const opSynced = (op: StepOp) => op.t === 'snapshot' || (op.t === 'append' && op.sync);

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GenOptions {
  /** Probability an append is synced (default 1). */
  syncRate?: number;
  /** Largest entry payload in bytes (default 40). */
  maxData?: number;
  /** Most entries per append (default 6). */
  maxEntries?: number;
}

/**
 * Makes Raft-valid operations one at a time from a state, drawing from `random`. `curTerm` is
 * the highest term used so far (kept across calls).
 */
export class OpGenerator {
  private curTerm = 0;
  private seq = 0;

  constructor(private readonly random: () => number, private readonly options: GenOptions = {}) {}

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  private data(index: number, term: number, type: EntryType): Uint8Array {
    if (type === EntryType.Noop) return new Uint8Array(0);
    const max = this.options.maxData ?? 40;
    const len = this.int(0, max);
    const head = Buffer.from(`${index}/${term}/${this.seq++}/${type}:`);
    const out = new Uint8Array(head.byteLength + len);
    out.set(head);
    for (let i = 0; i < len; i++) out[head.byteLength + i] = this.int(0, 255);
    return out;
  }

  next(s: ModelState): StepOp {
    this.curTerm = Math.max(this.curTerm, s.hardState.term, lastTerm(s));
    const r = this.random();
    const snapIndex = s.snapshot?.index ?? 0;
    if (r < 0.1 && s.hardState.commit > snapIndex) {
      const index = this.int(snapIndex + 1, s.hardState.commit);
      return { t: 'snapshot', snapshot: this.snapshot(index, termAt(s, index)!), compactThrough: this.int(s.compacted.index, index) };
    }
    if (r < 0.14) {
      // A leader's snapshot: above the commit index; the log agrees with it or not.
      const index = this.int(Math.max(s.hardState.commit, snapIndex) + 1, lastIndex(s) + 3);
      const agree = index <= lastIndex(s) && this.random() < 0.5;
      const term = agree ? termAt(s, index)! : Math.max(this.curTerm, lastTerm(s)) + this.int(0, 1);
      this.curTerm = Math.max(this.curTerm, term);
      return { t: 'snapshot', snapshot: this.snapshot(index, term), compactThrough: index };
    }
    if (r < 0.2 && snapIndex > s.compacted.index) return { t: 'compact', through: this.int(s.compacted.index + 1, snapIndex) };
    if (r < 0.25) {
      const hardState = { term: this.curTerm + this.int(0, 1), vote: this.random() < 0.5 ? 'n1' : null, commit: s.hardState.commit };
      this.curTerm = hardState.term;
      return { t: 'append', entries: [], hardState, sync: this.sync() };
    }
    // An append: continue the log, or overwrite a suffix above the commit index and snapshot.
    const floor = Math.max(s.hardState.commit, snapIndex, s.compacted.index);
    const last = lastIndex(s);
    const overwrite = last > floor && this.random() < 0.35;
    const first = overwrite ? this.int(floor + 1, last) : last + 1;
    if (overwrite || this.random() < 0.1) this.curTerm++;
    const term = this.curTerm;
    const n = this.int(1, this.options.maxEntries ?? 6);
    const entries: Entry[] = [];
    for (let k = 0; k < n; k++) {
      const type = [EntryType.Command, EntryType.Command, EntryType.Config, EntryType.Noop][this.int(0, 3)]!;
      entries.push({ index: first + k, term, type, data: this.data(first + k, term, type) });
    }
    const end = first + n - 1;
    const commit = this.random() < 0.6 ? this.int(s.hardState.commit, end) : s.hardState.commit;
    const withHard = term !== s.hardState.term || commit !== s.hardState.commit || this.random() < 0.3;
    const hardState = withHard ? { term: Math.max(term, s.hardState.term), vote: s.hardState.vote, commit } : null;
    return { t: 'append', entries, hardState, sync: this.sync() };
  }

  private sync(): boolean {
    return this.random() < (this.options.syncRate ?? 1);
  }

  private snapshot(index: number, term: number): SnapshotRecord {
    const data = Buffer.from(`snapshot ${index}/${term}/${this.seq++} `.repeat(this.int(1, 20)));
    return { index, term, data, crc: crc32(data) };
  }
}

/** A deterministic script of `count` operations from `seed`, with the state after each. */
export function script(seed: number, count: number, options?: GenOptions): { ops: StepOp[]; states: ModelState[] } {
  const gen = new OpGenerator(mulberry32(seed), options);
  const states = [emptyState()];
  const ops: StepOp[] = [];
  for (let i = 0; i < count; i++) {
    const op = gen.next(states[i]!);
    ops.push(op);
    states.push(applyOp(states[i]!, op));
  }
  return { ops, states };
}

export function runOp(storage: RaftStorage, op: StepOp): Promise<void> {
  switch (op.t) {
    case 'append':
      return storage.append(op.entries, op.hardState, op.sync);
    case 'snapshot':
      return storage.saveSnapshot(op.snapshot, op.compactThrough);
    case 'compact':
      return storage.compact(op.through);
  }
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
/** An entry as plain data, for comparisons. */
export const show = (e: Entry) => `${e.index}:t${e.term}:${e.type}:${hex(e.data)}`;
export const shows = (es: Entry[]) => es.map(show);

/** What load() must return for `s`. */
export function expectedLoad(s: ModelState) {
  const after = s.snapshot?.index ?? 0;
  return {
    hardState: s.hardState,
    snapshot: s.snapshot === null ? null : { index: s.snapshot.index, term: s.snapshot.term, crc: s.snapshot.crc, data: hex(s.snapshot.data) },
    entries: shows(s.entries.filter((e) => e.index > after)),
  };
}

export function actualLoad(l: LoadedState) {
  return {
    hardState: l.hardState,
    snapshot: l.snapshot === null ? null : { index: l.snapshot.index, term: l.snapshot.term, crc: l.snapshot.crc, data: hex(l.snapshot.data) },
    entries: shows(l.entries),
  };
}

/**
 * The index of the state in `candidates` that a storage which loaded `loaded` and starts its
 * log at `firstIndex` is in, or -1. (load() does not show how far the log is compacted.)
 */
export function matchingState(loaded: LoadedState, firstIndex: number, candidates: ModelState[]): number {
  const got = JSON.stringify(actualLoad(loaded));
  return candidates.findIndex((c) => c.compacted.index + 1 === firstIndex && JSON.stringify(expectedLoad(c)) === got);
}
