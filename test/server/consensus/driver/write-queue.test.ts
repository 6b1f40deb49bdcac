/**
 * The driver's write queue over a storage whose writes complete when the test says: writes are
 * handed to storage at once, overlapping (the second before the first is durable), in order;
 * completion is reported in order whatever order storage finishes in; a commit-only write costs
 * no storage call; writes after an install wait for it; the first failure stops everything.
 */
import { describe, expect, it } from 'vitest';
import type { WriteMark } from '../../../../server/consensus/core/index.ts';
import { WriteQueue, type Install, type Write } from '../../../../server/consensus/write-queue.ts';
import { EntryType, type Entry, type HardState } from '../../../../server/storage/log-types.ts';
import type { RaftStorage } from '../../../../server/storage/raft-storage.ts';

interface Call {
  what: string;
  resolve(): void;
  reject(err: unknown): void;
}

function fakeStorage(): { storage: RaftStorage; calls: Call[] } {
  const calls: Call[] = [];
  const pending = (what: string) => new Promise<void>((resolve, reject) => calls.push({ what, resolve, reject }));
  const storage = {
    append: (entries: Entry[], hs: HardState | null, sync: boolean) =>
      pending(`append ${entries.map((e) => e.index).join(',')}${hs !== null ? ` hs${hs.term}/${hs.commit}` : ''}${sync ? ' sync' : ''}`),
    saveSnapshot: (r: { index: number }) => pending(`snapshot ${r.index}`),
  } as unknown as RaftStorage;
  return { storage, calls };
}

const e = (index: number): Entry => ({ index, term: 1, type: EntryType.Command, data: new Uint8Array([1]) });
let seq = 0;
function write(entries: Entry[], opts: Partial<Write> = {}): Write {
  const mark: WriteMark = { seq: ++seq, index: entries.at(-1)?.index ?? 0, term: 1, hardState: { term: 1, vote: null, commit: 0 } };
  return { mark, install: null, entries, hardState: null, sync: entries.length > 0, afterWrite: [], ...opts };
}
const flush = () => new Promise((r) => setTimeout(r, 0));

function setup() {
  const { storage, calls } = fakeStorage();
  const done: number[] = [];
  const failures: unknown[] = [];
  const q = new WriteQueue(storage, {
    install: (i: Install) => storage.saveSnapshot(i.record),
    done: (w) => done.push(w.mark.seq),
    failed: (err) => failures.push(err),
  });
  return { q, calls, done, failures };
}

describe('the driver’s write queue', () => {
  it('hands two writes to storage at once, then one append for what came meanwhile; reports in order', async () => {
    seq = 0;
    const { q, calls, done } = setup();
    q.push(write([e(1), e(2)]));
    q.push(write([e(3)], { hardState: { term: 1, vote: 'n1', commit: 2 } }));
    // Two are with storage (one syncing, one queued behind it): the next ones wait, together.
    q.push(write([e(4)]));
    q.push(write([e(5), e(6)], { hardState: { term: 1, vote: 'n1', commit: 3 } }));
    expect(calls.map((c) => c.what)).toEqual(['append 1,2 sync', 'append 3 hs1/2 sync']);
    // Storage finishing out of order (it does not, but the queue must not depend on it).
    calls[1]!.resolve();
    await flush();
    expect(done).toEqual([]);
    expect(calls.map((c) => c.what)).toEqual(['append 1,2 sync', 'append 3 hs1/2 sync', 'append 4,5,6 hs1/3 sync']);
    calls[0]!.resolve();
    await flush();
    expect(done).toEqual([1, 2]);
    calls[2]!.resolve();
    await flush();
    expect(done).toEqual([1, 2, 3, 4]);
    expect(q.size).toBe(0);
  });

  it('a later write that replaces entries of an earlier one waiting with it: one append of the result', async () => {
    seq = 0;
    const { q, calls } = setup();
    q.push(write([e(1)]));
    q.push(write([e(2)]));
    q.push(write([e(3), e(4), e(5)]));
    q.push(write([e(4)].map((x) => ({ ...x, term: 2 }))));
    calls[0]!.resolve();
    await flush();
    expect(calls.map((c) => c.what)).toEqual(['append 1 sync', 'append 2 sync', 'append 3,4 sync']);
  });

  it('does not write a commit-only change, but reports it after the writes before it', async () => {
    seq = 0;
    const { q, calls, done } = setup();
    q.push(write([e(1)]));
    q.push(write([], { hardState: { term: 1, vote: null, commit: 1 }, sync: false }));
    expect(calls.map((c) => c.what)).toEqual(['append 1 sync']);
    await flush();
    expect(done).toEqual([]);
    calls[0]!.resolve();
    await flush();
    expect(done).toEqual([1, 2]);
  });

  it('writes a term or vote change even with no entries', () => {
    seq = 0;
    const { q, calls } = setup();
    q.push(write([], { hardState: { term: 2, vote: 'n1', commit: 0 }, sync: true }));
    expect(calls.map((c) => c.what)).toEqual(['append  hs2/0 sync']);
  });

  it('issues the writes after an install only once it is saved', async () => {
    seq = 0;
    const { q, calls, done } = setup();
    q.push(write([e(1)]));
    const install: Install = { meta: { index: 9, term: 2, membership: { voters: ['a'], learners: [] } }, record: { index: 9, term: 2, data: new Uint8Array(1), crc: 0 } };
    q.push(write([e(10)], { install }));
    q.push(write([e(11)]));
    await flush();
    expect(calls.map((c) => c.what)).toEqual(['append 1 sync', 'snapshot 9']);
    calls[1]!.resolve();
    await flush();
    expect(calls.map((c) => c.what)).toEqual(['append 1 sync', 'snapshot 9', 'append 10 sync']);
    calls[2]!.resolve();
    await flush();
    expect(calls.map((c) => c.what)).toEqual(['append 1 sync', 'snapshot 9', 'append 10 sync', 'append 11 sync']);
    calls[0]!.resolve();
    calls[3]!.resolve();
    await flush();
    expect(done).toEqual([1, 2, 3]);
  });

  it('stops at the first failure: nothing more completes or is issued, until reset()', async () => {
    seq = 0;
    const { q, calls, done, failures } = setup();
    q.push(write([e(1)]));
    q.push(write([e(2)]));
    calls[0]!.reject(new Error('disk full'));
    calls[1]!.reject(new Error('refused, after the first'));
    await flush();
    expect(failures.map((f) => (f as Error).message)).toEqual(['disk full']);
    expect(q.failed).toBe(true);
    await q.drained(); // does not hang
    q.push(write([e(3)]));
    expect(calls).toHaveLength(2);
    expect(done).toEqual([]);
    q.reset();
    expect(q.failed).toBe(false);
    q.push(write([e(2)]));
    calls[2]!.resolve();
    await flush();
    expect(done).toEqual([4]);
  });
});
