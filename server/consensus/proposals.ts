/**
 * Clients waiting on their writes, matched to log entries by (index, term): the core said where
 * each proposal went; the entry applied at that index answers it only if it has that term. An
 * entry of another term there means a later leader replaced ours (it was never committed): the
 * client gets "outcome unknown, retry" (UNAVAILABLE with details.outcome 'unknown'), never the
 * result of someone else's write. Retrying is safe: a write with (session, seq) is applied at
 * most once (the store answers a duplicate with the first result).
 *
 * The same answer goes to a proposal whose entry is overwritten in this node's log (a new
 * leader's entries replace a suffix: seen in the entries the node appends), or jumped over by a
 * snapshot installed from the leader.
 */
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import type { Command, WriteOutcome } from '../store/commands.ts';
import type { Entry } from './core/index.ts';

export interface Proposal {
  index: number;
  term: number;
  cmd: Command;
  resolve(outcome: WriteOutcome): void;
  reject(err: unknown): void;
}

/** The error a client gets when its write may or may not have been applied, and may be retried. */
export function outcomeUnknown(why: string): CoordError {
  return new CoordError(ErrorCode.UNAVAILABLE, `the outcome of this write is unknown (${why}); retry it`, {
    outcome: 'unknown',
  });
}

export class Proposals {
  private readonly byIndex = new Map<number, Proposal>();

  get size(): number {
    return this.byIndex.size;
  }

  /** Waits for the entry the core put at (index, term). */
  add(index: number, term: number, cmd: Command): Promise<WriteOutcome> {
    return new Promise((resolve, reject) => {
      // A proposal still waiting at this index had its entry replaced already.
      this.byIndex.get(index)?.reject(outcomeUnknown(`entry ${index} was replaced by a later leader`));
      this.byIndex.set(index, { index, term, cmd, resolve, reject });
    });
  }

  /**
   * The command this node proposed at (index, term), if that is what it proposed there. An entry
   * with that index and term is the one it appended (Raft's Log Matching), whose bytes were
   * encoded from this very command: applying it spares decoding them again.
   */
  commandAt(index: number, term: number): Command | undefined {
    const p = this.byIndex.get(index);
    return p !== undefined && p.term === term ? p.cmd : undefined;
  }

  /** Entry `e` was applied with `outcome`: the proposal at its index gets it, if it is its entry. */
  applied(e: Entry, outcome: WriteOutcome): void {
    const p = this.byIndex.get(e.index);
    if (p === undefined) return;
    this.byIndex.delete(e.index);
    if (p.term === e.term) p.resolve(outcome);
    else p.reject(outcomeUnknown(`another leader's entry took its place at index ${e.index}`));
  }

  /** The node is appending `entries`: proposals whose entries they replace will never commit. */
  appending(entries: Entry[]): void {
    if (this.byIndex.size === 0) return;
    for (const e of entries) {
      const p = this.byIndex.get(e.index);
      if (p !== undefined && p.term !== e.term) {
        this.byIndex.delete(e.index);
        p.reject(outcomeUnknown(`a new leader replaced entry ${e.index}`));
      }
    }
  }

  /** A snapshot through `index` replaced the log: what was waiting there cannot be told apart. */
  installed(index: number): void {
    for (const p of this.takeWhere((q) => q.index <= index)) {
      p.reject(outcomeUnknown(`the node caught up from a snapshot through ${index}`));
    }
  }

  /** Removes and returns the proposals at `index` or later, in index order. */
  takeFrom(index: number): Proposal[] {
    return this.takeWhere((p) => p.index >= index);
  }

  /** Whether a txn from (sid, seq) is waiting (a retry of it is the same write). */
  hasWrite(sid: string, seq: number): boolean {
    for (const p of this.byIndex.values()) if (p.cmd.t === 'txn' && p.cmd.sid === sid && p.cmd.seq === seq) return true;
    return false;
  }

  rejectAll(err: unknown): void {
    for (const p of this.takeWhere(() => true)) p.reject(err);
  }

  private takeWhere(pred: (p: Proposal) => boolean): Proposal[] {
    const out: Proposal[] = [];
    for (const p of this.byIndex.values()) if (pred(p)) out.push(p);
    for (const p of out) this.byIndex.delete(p.index);
    return out.sort((a, b) => a.index - b.index);
  }
}
