/**
 * Clients waiting on writes, matched by (index, term): a client gets its own entry's outcome or
 * "outcome unknown, retry", never the outcome of another client's entry that took its index.
 */
import { describe, expect, it } from 'vitest';
import { CoordError, ErrorCode } from '../../../../protocol/errors.ts';
import { outcomeUnknown, Proposals } from '../../../../server/consensus/proposals.ts';
import { EntryType, type Entry } from '../../../../server/storage/log-types.ts';
import type { Command, WriteOutcome } from '../../../../server/store/commands.ts';

const cmd = (path: string, sid?: string, seq?: number): Command =>
  ({ t: 'txn', conds: [], ops: [{ op: 'del', path }], ...(sid !== undefined ? { sid, seq } : {}) });
const entry = (index: number, term: number): Entry => ({ index, term, type: EntryType.Command, data: new Uint8Array([index]) });
const ok = (rev: number): WriteOutcome => ({ ok: true, rev, changed: 1 });

/** What a proposal settled with: its outcome, or its error's code and details. */
function watch(p: Promise<WriteOutcome>): { get: () => unknown } {
  let result: unknown = 'pending';
  p.then((o) => (result = o), (e: CoordError) => (result = { code: e.code, details: e.details }));
  return { get: () => result };
}
const tick = () => new Promise((r) => setTimeout(r, 0));
const UNKNOWN = { code: ErrorCode.UNAVAILABLE, details: { outcome: 'unknown' } };

describe('Proposals', () => {
  it('answers the proposal at an index with its entry’s outcome when the term matches', async () => {
    const ps = new Proposals();
    const a = watch(ps.add(5, 2, cmd('/a')));
    ps.applied(entry(5, 2), ok(9));
    await tick();
    expect(a.get()).toEqual(ok(9));
    expect(ps.size).toBe(0);
  });

  it('an entry of another term at that index: outcome unknown, not that entry’s outcome', async () => {
    const ps = new Proposals();
    const mine = watch(ps.add(5, 2, cmd('/mine')));
    ps.applied(entry(5, 3), ok(9)); // someone else's write, from the next leader
    await tick();
    expect(mine.get()).toEqual(UNKNOWN);
  });

  it('an overwritten entry is known at once from the entries the node appends', async () => {
    const ps = new Proposals();
    const a = watch(ps.add(5, 2, cmd('/a')));
    const b = watch(ps.add(6, 2, cmd('/b')));
    const c = watch(ps.add(7, 2, cmd('/c')));
    ps.appending([entry(6, 2), entry(7, 4)]); // 6 kept (same term), 7 replaced
    await tick();
    expect(a.get()).toBe('pending');
    expect(b.get()).toBe('pending');
    expect(c.get()).toEqual(UNKNOWN);
    ps.applied(entry(5, 2), ok(1));
    ps.applied(entry(6, 2), ok(2));
    await tick();
    expect([a.get(), b.get()]).toEqual([ok(1), ok(2)]);
  });

  it('a new proposal at an index still waited on (a new leader term here) ends the old one', async () => {
    const ps = new Proposals();
    const old = watch(ps.add(5, 2, cmd('/old')));
    const now = watch(ps.add(5, 3, cmd('/new')));
    ps.applied(entry(5, 3), ok(4));
    await tick();
    expect(old.get()).toEqual(UNKNOWN);
    expect(now.get()).toEqual(ok(4));
  });

  it('a snapshot jumping over waiting entries: outcome unknown for those it covers', async () => {
    const ps = new Proposals();
    const a = watch(ps.add(5, 2, cmd('/a')));
    const b = watch(ps.add(9, 2, cmd('/b')));
    ps.installed(8);
    await tick();
    expect(a.get()).toEqual(UNKNOWN);
    expect(b.get()).toBe('pending');
  });

  it('takes the proposals from an index on, in order, and knows the (sid, seq) in flight', () => {
    const ps = new Proposals();
    void ps.add(7, 1, cmd('/7', 's', 3)).catch(() => {});
    void ps.add(5, 1, cmd('/5')).catch(() => {});
    void ps.add(6, 1, cmd('/6', 's', 2)).catch(() => {});
    expect(ps.hasWrite('s', 2)).toBe(true);
    expect(ps.hasWrite('s', 9)).toBe(false);
    expect(ps.takeFrom(6).map((p) => p.index)).toEqual([6, 7]);
    expect(ps.size).toBe(1);
    ps.rejectAll(new Error('x'));
    expect(ps.size).toBe(0);
  });

  it('the unknown-outcome error is a retryable UNAVAILABLE that says so', () => {
    const e = outcomeUnknown('a reason');
    expect(e).toBeInstanceOf(CoordError);
    expect(e.code).toBe(ErrorCode.UNAVAILABLE);
    expect(e.message).toMatch(/outcome of this write is unknown \(a reason\); retry it/);
  });
});
