/**
 * Method: the log (log.ts, unstable.ts) against the Raft paper's log rules, by example: the
 * log matching property and conflict truncation (§5.3), the up-to-date comparison (§5.4.1),
 * the conflict hint that lets a leader skip a term per round trip, and the durability
 * bookkeeping that lets writes overlap (including etcd-io/raft's "ABA" race).
 */
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../../server/assert.ts';
import { RaftLog } from '../../../../server/consensus/core/log.ts';
import { EntryType, type Entry } from '../../../../server/consensus/core/types.ts';
import { MemStorage } from './harness/mem-storage.ts';

const membership = { voters: ['1'], learners: [] };
const e = (index: number, term: number): Entry => ({ index, term, type: EntryType.Command, data: new Uint8Array(1) });
/** Entries with the given terms, from index `from`. */
const run = (from: number, terms: number[]): Entry[] => terms.map((t, i) => e(from + i, t));
const terms = (log: RaftLog) => log.entries(log.firstIndex(), log.lastIndex() + 1).map((x) => x.term);

/** A log whose durable part holds `stable` (terms, from index 1). */
function logWith(stable: number[], committed = 0): RaftLog {
  const s = new MemStorage({ index: 0, term: 0, membership });
  s.write({ snapshot: null, entries: run(1, stable), hardState: null });
  return new RaftLog(s, committed, 0);
}

describe('log matching (§5.3)', () => {
  it('an append is accepted only if the log holds the entry just before it, with its term', () => {
    const log = logWith([1, 1, 2]);
    expect(log.maybeAppend(3, 1, 0, [e(4, 2)])).toBeNull();
    expect(log.maybeAppend(4, 2, 0, [e(5, 2)])).toBeNull();
    expect(log.maybeAppend(3, 2, 0, [e(4, 2)])).toEqual({ lastNew: 4, appendedFrom: 4 });
    expect(terms(log)).toEqual([1, 1, 2, 2]);
  });

  it('a conflicting entry and everything after it are replaced by the leader\'s', () => {
    const log = logWith([1, 1, 1, 1, 1]);
    expect(log.maybeAppend(2, 1, 0, [e(3, 2), e(4, 2)])).toEqual({ lastNew: 4, appendedFrom: 3 });
    expect(terms(log)).toEqual([1, 1, 2, 2]);
  });

  it('entries the log already holds are not rewritten, and nothing after them is dropped', () => {
    const log = logWith([1, 1, 1, 1]);
    expect(log.maybeAppend(1, 1, 0, [e(2, 1)])).toEqual({ lastNew: 2, appendedFrom: null });
    expect(log.lastIndex()).toBe(4);
    expect(log.unstable.entries).toEqual([]);
  });

  it('commit follows the leader only as far as the append proves the logs agree', () => {
    const log = logWith([1, 1, 1, 1, 1]);
    log.maybeAppend(1, 1, 5, [e(2, 1)]);
    expect(log.committed).toBe(2);
  });

  it('a committed entry is never truncated', () => {
    const log = logWith([1, 1, 1], 3);
    expect(() => log.maybeAppend(1, 1, 0, [e(2, 2)])).toThrow(AssertionError);
  });

  it('§5.4.1: up to date means a later last term, or the same last term and at least as long', () => {
    const log = logWith([1, 2, 2]);
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
    expect(log.isUpToDate(1, 3)).toBe(true);
    expect(log.isUpToDate(9, 1)).toBe(false);
  });
});

describe('fast back-off: the conflict hint', () => {
  it('names the last entry whose term is at most the one asked about', () => {
    const log = logWith([1, 1, 3, 3, 3, 5]);
    expect(log.findConflictByTerm(6, 4)).toEqual({ index: 5, term: 3 });
    expect(log.findConflictByTerm(6, 2)).toEqual({ index: 2, term: 1 });
    expect(log.findConflictByTerm(6, 5)).toEqual({ index: 6, term: 5 });
    expect(log.findConflictByTerm(6, 0)).toEqual({ index: 0, term: 0 });
  });

  it('stops at the compacted log with term 0', () => {
    const s = new MemStorage({ index: 4, term: 3, membership });
    s.write({ snapshot: null, entries: run(5, [4, 4]), hardState: null });
    const log = new RaftLog(s, 4, 4);
    expect(log.findConflictByTerm(6, 3)).toEqual({ index: 4, term: 3 });
    expect(log.findConflictByTerm(6, 2)).toEqual({ index: 3, term: 0 });
  });
});

describe('durability: what may be applied, and overlapping writes', () => {
  it('only entries both committed and durable are handed out to apply', () => {
    const s = new MemStorage({ index: 0, term: 0, membership });
    s.write({ snapshot: null, entries: run(1, [1, 1]), hardState: null });
    const log = new RaftLog(s, 0, 0);
    log.maybeAppend(2, 1, 4, [e(3, 1), e(4, 1)]);
    expect(log.committed).toBe(4);
    expect(log.nextCommitted().map((x) => x.index)).toEqual([1, 2]);
    const out = log.unstable.handOut(1);
    expect(out.entries.map((x) => x.index)).toEqual([3, 4]);
    expect(log.nextCommitted()).toEqual([]);
    s.write({ snapshot: null, entries: out.entries, hardState: null });
    log.persisted(1, 4, 1);
    expect(log.nextCommitted().map((x) => x.index)).toEqual([3, 4]);
  });

  it('a write reported durable after a later truncation of its entries marks nothing past the truncation', () => {
    // Write 1 carries 3@1..4@1; before it lands, a new leader's append replaces 4 (write 2),
    // then another puts 4@1 back (write 3). Write 1 landing proves nothing about index 4: on
    // disk, write 2 may still overwrite it.
    const log = logWith([1, 1]);
    log.append([e(3, 1), e(4, 1)]);
    log.unstable.handOut(1);
    log.append([e(4, 2)]);
    log.unstable.handOut(2);
    log.append([e(4, 1)]);
    log.unstable.handOut(3);
    log.persisted(1, 4, 1);
    expect(log.persistedIndex()).toBe(3);
    log.persisted(2, 4, 2);
    expect(log.persistedIndex()).toBe(3);
    log.persisted(3, 4, 1);
    expect(log.persistedIndex()).toBe(4);
  });

  it('a snapshot received from the leader is durable only with the write that carries it', () => {
    const log = logWith([1, 1]);
    log.append([e(3, 1)]);
    log.unstable.handOut(1);
    log.restore({ index: 10, term: 2, membership });
    expect(log.lastIndex()).toBe(10);
    expect(log.term(10)).toBe(2);
    expect(log.term(3)).toBeUndefined();
    log.persisted(1, 3, 1);
    expect(log.persistedIndex()).toBe(0);
    const out = log.unstable.handOut(2);
    expect(out.snapshot?.index).toBe(10);
    log.persisted(2, 10, 2);
    expect(log.applied).toBe(10);
    expect(log.persistedIndex()).toBe(10);
  });

  it('entries the stable view cannot read now stall the apply path until a retry', () => {
    const s = new MemStorage({ index: 0, term: 0, membership });
    s.write({ snapshot: null, entries: run(1, [1, 1]), hardState: null });
    let cold = true;
    const view = Object.assign(Object.create(s) as MemStorage, {
      entries: (lo: number, hi: number, max: number) => (cold ? [] : s.entries(lo, hi, max)),
    });
    const log = new RaftLog(view, 2, 0);
    expect(log.hasNextCommitted()).toBe(true);
    expect(log.nextCommitted()).toEqual([]);
    expect(log.hasNextCommitted()).toBe(false);
    cold = false;
    log.retryReads();
    expect(log.nextCommitted().map((x) => x.index)).toEqual([1, 2]);
  });
});
