/**
 * What the store keeps for a cluster: the term of the last leader no-op it applied, which makes
 * an `expire` decided by a deposed leader (an older term) do nothing, deterministically, on
 * every replica and after a restart from a snapshot; and a snapshot installed in place (a
 * follower taking its leader's), which the observer hears of.
 */
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Store, type StoreSnapshot } from '../../../server/store/store.ts';

const te = new TextEncoder();
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
const options = { historyRevisions: 100 };

function withLock(): Store {
  const s = new Store(options);
  s.apply({ t: 'noop', term: 1 });
  s.apply({ t: 'open', sid: 's1', secret: 'x', ttlMs: 1000 });
  s.apply({ t: 'txn', conds: [], ops: [{ op: 'set', path: '/lock', value: te.encode('me'), ephemeral: true }], sid: 's1' });
  return s;
}

describe('the store in a cluster', () => {
  it('ignores an expire from a term older than the last leader no-op; applies a current one', () => {
    const s = withLock();
    s.apply({ t: 'noop', term: 3 });
    expect(s.noopTerm).toBe(3);
    expect(s.apply({ t: 'expire', sid: 's1', term: 2 })).toEqual({ ok: true, rev: 1, changed: 0 });
    expect(s.session('s1')).toBeDefined();
    expect(s.get('/lock').value).not.toBeNull();
    expect(s.apply({ t: 'expire', sid: 's1', term: 3 })).toEqual({ ok: true, rev: 2, changed: 1 });
    expect(s.session('s1')).toBeUndefined();
    expect(s.get('/lock').value).toBeNull();
  });

  it('applies an expire without a term (a log from before clusters) as before', () => {
    const s = withLock();
    s.apply({ t: 'noop', term: 9 });
    expect(s.apply({ t: 'expire', sid: 's1' })).toMatchObject({ ok: true, changed: 1 });
  });

  it('keeps the no-op term in snapshots, whole and captured, so a restarted replica decides the same', () => {
    const s = withLock();
    s.apply({ t: 'noop', term: 4 });
    const whole = Store.fromSnapshot(packr.unpack(packr.pack(s.toSnapshot())) as StoreSnapshot, options);
    expect(whole.noopTerm).toBe(4);
    expect(whole.apply({ t: 'expire', sid: 's1', term: 3 })).toMatchObject({ changed: 0 });
    const cap = s.captureSnapshot();
    expect(cap.noopTerm).toBe(4);
    cap.finish();
    // A snapshot from before clusters has no term: 0.
    const old = s.toSnapshot();
    delete old.noopTerm;
    expect(Store.fromSnapshot(old, options).noopTerm).toBe(0);
  });

  it('restores a snapshot in place, and tells the observer from which revision it jumped', () => {
    const leader = withLock();
    leader.apply({ t: 'txn', conds: [], ops: [{ op: 'set', path: '/a', value: te.encode('1') }] });
    leader.apply({ t: 'noop', term: 2 });
    const follower = new Store(options);
    const heard: number[] = [];
    follower.observer = { restored: (from) => heard.push(from) };
    follower.restore(leader.toSnapshot());
    expect(heard).toEqual([0]);
    expect(follower.rev).toBe(leader.rev);
    expect(follower.noopTerm).toBe(2);
    expect(follower.session('s1')?.ephemerals.has('/lock')).toBe(true);
    expect(follower.eventsAt(2)).toEqual(leader.eventsAt(2));
  });
});
