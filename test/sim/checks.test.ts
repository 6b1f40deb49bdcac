// The simulator's checker on hand-made observations: each invariant accepts what is right and
// names what is wrong (two leaders in a term, entries that disagree, a changed committed entry,
// replicas that differ, a lost acknowledged write, a store going back, a bad lock grant or
// guarded write, a stale expiry that took effect).
import { describe, expect, it } from 'vitest';
import type { RaftCore } from '../../server/consensus/core/core.ts';
import type { Ready } from '../../server/consensus/core/ready.ts';
import { EntryType, type Entry } from '../../server/consensus/core/types.ts';
import { decodeCommand, encodeCommand, type Command } from '../../server/store/commands.ts';
import { Store } from '../../server/store/store.ts';
import { Checker, type NodeView } from './checks.ts';

const enc = new TextEncoder();

/** A stand-in for a core: what the checker reads of one. */
function core(id: string, term: number, log: Record<number, number> = {}, lastIndex = 0): RaftCore {
  return {
    id,
    currentTerm: term,
    logTerm: (i: number) => log[i],
    status: () => ({ lastIndex }),
  } as unknown as RaftCore;
}

function ready(part: Partial<Ready>): Ready {
  return {
    softState: null, hardState: null, entries: [], snapshot: null, mustSync: false, write: null,
    messages: [], afterWrite: [], committed: [], readStates: [], readsRefused: [], ...part,
  };
}

const cmd = (index: number, term: number, c: Command): Entry => ({ index, term, type: EntryType.Command, data: encodeCommand(c) });
const noop = (index: number, term: number): Entry => ({ index, term, type: EntryType.Noop, data: new Uint8Array(0) });
const set = (path: string, value: string): Command => ({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: enc.encode(value) }] });

function storeWith(...cmds: Command[]): Store {
  const s = new Store({ historyRevisions: 100 });
  for (const c of cmds) s.apply(c);
  return s;
}

const view = (id: string, store: Store, incarnation = 1): NodeView => ({ id, incarnation, up: true, store });

describe('Checker', () => {
  it('accepts one leader per term, and names a second', () => {
    const c = new Checker(() => 0);
    c.coreReady(core('n1', 2), ready({ softState: { role: 'leader', leader: 'n1' } }));
    c.coreReady(core('n2', 3), ready({ softState: { role: 'leader', leader: 'n2' } }));
    expect(c.violation).toBeNull();
    c.coreReady(core('n3', 3), ready({ softState: { role: 'leader', leader: 'n3' } }));
    expect(c.violation?.check).toBe('election-safety');
  });

  it('checks log matching: one entry per (index, term), with one entry before it', () => {
    const c = new Checker(() => 0);
    c.coreReady(core('n1', 2, { 1: 1 }), ready({ entries: [cmd(2, 2, set('/a', 'x'))] }));
    c.coreReady(core('n2', 2, { 1: 1 }), ready({ entries: [cmd(2, 2, set('/a', 'x'))] }));
    expect(c.violation).toBeNull();
    c.coreReady(core('n3', 2, { 1: 1 }), ready({ entries: [cmd(2, 2, set('/a', 'y'))] }));
    expect(c.violation?.check).toBe('log-matching');
    const d = new Checker(() => 0);
    d.coreReady(core('n1', 3, { 2: 2 }), ready({ entries: [cmd(3, 3, set('/a', 'x'))] }));
    d.coreReady(core('n2', 3, { 2: 1 }), ready({ entries: [cmd(3, 3, set('/a', 'x'))] }));
    expect(d.violation?.check).toBe('log-matching');
  });

  it('names a committed entry that changed, an apply out of order, and a leader missing a committed entry', () => {
    const c = new Checker(() => 0);
    c.coreReady(core('n1', 2), ready({ committed: [noop(2, 2), cmd(3, 2, set('/a', 'x'))] }));
    c.coreReady(core('n2', 2), ready({ committed: [noop(2, 2)] }));
    expect(c.violation).toBeNull();
    c.coreReady(core('n2', 2), ready({ committed: [cmd(3, 3, set('/a', 'x'))] }));
    expect(c.violation?.check).toBe('committed-changed');

    const d = new Checker(() => 0);
    d.coreReady(core('n1', 2), ready({ committed: [noop(2, 2)] }));
    d.coreReady(core('n1', 2), ready({ committed: [noop(4, 2)] }));
    expect(d.violation?.check).toBe('apply-order');

    const e = new Checker(() => 0);
    e.coreReady(core('n1', 2), ready({ committed: [noop(2, 2), cmd(3, 2, set('/a', 'x'))] }));
    e.coreReady(core('n2', 3, { 1: 1, 2: 2, 3: 2 }, 3), ready({ softState: { role: 'leader', leader: 'n2' } }));
    // A leader of the term the entries were committed in, or older, heard of late: not bound.
    e.coreReady(core('n4', 2, { 1: 1 }, 1), ready({ softState: { role: 'leader', leader: 'n4' } }));
    expect(e.violation).toBeNull();
    e.coreReady(core('n3', 4, { 1: 1, 2: 2 }, 2), ready({ softState: { role: 'leader', leader: 'n3' } }));
    expect(e.violation?.check).toBe('leader-completeness');
  });

  it('compares every replica revision by revision, and the acknowledged writes', () => {
    const c = new Checker(() => 0);
    const a = storeWith(set('/a', 'x'), set('/b', 'y'));
    const b = storeWith(set('/a', 'x'));
    c.acked('c1', 2, '/b', enc.encode('y'));
    c.poll([view('n1', a), view('n2', b)]);
    expect(c.violation).toBeNull();
    b.apply(set('/b', 'z'));
    c.poll([view('n1', a), view('n2', b)]);
    expect(c.violation?.check).toBe('replicas-agree');

    const d = new Checker(() => 0);
    d.poll([view('n1', a)]);
    d.acked('c1', 1, '/a', enc.encode('nope'));
    expect(d.violation?.check).toBe('acked-write-lost');

    const e = new Checker(() => 0);
    e.acked('c1', 5, '/a', enc.encode('x'));
    e.poll([view('n1', a)]);
    e.finish();
    expect(e.violation?.check).toBe('acked-write-lost');
  });

  it('names an answer older than a revision some client was told before the call', () => {
    const c = new Checker(() => 0);
    c.revisionOrder('c1', 'read /a', 5, 5);
    c.revisionOrder('c1', 'read /a', 5, 9);
    expect(c.violation).toBeNull();
    c.revisionOrder('c2', 'read /b', 7, 6);
    expect(c.violation?.check).toBe('real-time-order');
  });

  it('names a store going back while it runs, and counts (without failing) one that restarts lower', () => {
    const c = new Checker(() => 0);
    c.poll([view('n1', storeWith(set('/a', 'x'), set('/a', 'y')))]);
    c.poll([view('n1', storeWith(set('/a', 'x')), 1)]);
    expect(c.violation?.check).toBe('revision-backwards');
    const d = new Checker(() => 0);
    d.poll([view('n1', storeWith(set('/a', 'x'), set('/a', 'y')))]);
    d.crashed('n1');
    d.poll([view('n1', storeWith(set('/a', 'x')), 2)]);
    expect(d.violation).toBeNull();
    expect(d.restartRegressions).toBe(1);
  });

  it('replays the lock: grants and guarded writes only for the holder, tokens never falling', () => {
    const sid = 's1';
    const open: Command = { t: 'open', sid, secret: 'x', ttlMs: 1000 };
    const contend = (path: string): Command => ({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: enc.encode('c'), ephemeral: true }], sid });
    const guarded = (token: number): Command => set('/lockres', `c1:${token}:1`);
    const store = storeWith(open, contend('/lock/a'), contend('/lock/b'), guarded(1));
    const c = new Checker(() => 0);
    c.lockHeld('c1', 1, 2);
    c.poll([view('n1', store)]);
    expect(c.violation).toBeNull();
    c.lockHeld('c2', 2, 3);
    expect(c.violation?.check).toBe('lock-holder');

    const d = new Checker(() => 0);
    d.poll([view('n1', storeWith(open, contend('/lock/a'), contend('/lock/b'), guarded(2)))]);
    expect(d.violation?.check).toBe('lock-fencing');
  });

  it('replays the committed log in its own store and names an expiry from a stale term that took effect', () => {
    const make = () => new Checker(() => 0, {
      oracle: {
        store: new Store({ historyRevisions: 100 }),
        applied: 1,
        apply: (s, e) => {
          if (e.type === EntryType.Noop) s.apply({ t: 'noop', term: e.term });
          else if (e.type === EntryType.Command) s.apply(decodeCommand(e.data));
        },
      },
    });
    const jcmd = cmd;
    const eph: Command = { t: 'txn', conds: [], ops: [{ op: 'set', path: '/e', value: enc.encode('v'), ephemeral: true }], sid: 's' };
    const entries = [
      noop(2, 2),
      jcmd(3, 2, { t: 'open', sid: 's', secret: 'x', ttlMs: 1000 }),
      jcmd(4, 2, eph),
      noop(5, 3),
      jcmd(6, 2, { t: 'expire', sid: 's', term: 2 }),
    ];
    const ok = make();
    ok.coreReady(core('n1', 3), ready({ committed: entries }));
    expect(ok.violation).toBeNull();
    expect(ok.summary['staleExpiriesIgnored']).toBe(1);

    // The same log, through a store that ignores the expire's term: the checker sees it.
    const bad = make();
    const unstamped = entries.map((e) => (e.index === 6 ? jcmd(6, 2, { t: 'expire', sid: 's' }) : e));
    bad.coreReady(core('n1', 3), ready({ committed: unstamped }));
    expect(bad.violation?.check).toBe('stale-expiry');
  });
});
