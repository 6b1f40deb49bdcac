/**
 * Method: example tests for what coord adds to Doozer's model (doozer-cases.test.ts has
 * Doozer's own cases): transactions, sessions and ephemeral files, exactly-once retries, the
 * history window, paging limits, snapshots and the observer. Each test sets up a store by
 * applying commands, then checks outcomes and reads against values worked out by hand from the
 * spec. The model-based property test (store-model.property.test.ts) covers the same ground at
 * random; these pin the cases a reader would look for first, plus the ones too big for it
 * (thousands of revisions, the dedupe table's size limit, the page byte limit).
 */
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { CoordError, ErrorCode } from '../../../protocol/errors.ts';
import { limits } from '../../../protocol/limits.ts';
import type { Event, TxnCondition, TxnOp } from '../../../protocol/messages.ts';
import { compileGlob } from '../../../protocol/path.ts';
import type { Command, WriteOutcome } from '../../../server/store/commands.ts';
import { Store, type StoreSnapshot } from '../../../server/store/store.ts';

const te = new TextEncoder();
const td = new TextDecoder();
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

const setOp = (path: string, value: string, extra: { rev?: number; ephemeral?: boolean } = {}): TxnOp =>
  ({ op: 'set', path, value: te.encode(value), ...extra });
const delOp = (path: string, rev?: number): TxnOp => (rev === undefined ? { op: 'del', path } : { op: 'del', path, rev });

function txn(s: Store, ops: TxnOp[], conds: TxnCondition[] = [], origin: { sid?: string; seq?: number; seqFloor?: number } = {}): WriteOutcome {
  return s.apply({ t: 'txn', conds, ops, ...origin });
}

function open(s: Store, sid: string): void {
  expect(s.apply({ t: 'open', sid, secret: `secret-${sid}`, ttlMs: 5000 }).ok).toBe(true);
}

function ok(o: WriteOutcome): number {
  if (!o.ok) throw new Error(`expected success, got ${o.error.code}: ${o.error.message}`);
  return o.rev;
}

function code(o: WriteOutcome): string {
  if (o.ok) throw new Error(`expected a refusal, got ok at rev ${o.rev}`);
  return o.error.code;
}

function thrown(f: () => unknown): CoordError {
  try {
    f();
  } catch (e) {
    if (e instanceof CoordError) return e;
    throw e;
  }
  throw new Error('expected a CoordError');
}

const value = (s: Store, path: string, rev?: number): string | null => {
  const v = s.get(path, rev).value;
  return v === null ? null : td.decode(v);
};
const paths = (s: Store, glob = '/**', rev?: number): string[] => s.walk(glob, rev).files.map((f) => f.path);
/** A walk with values as text: a restored store's values are Buffers, which toEqual tells apart. */
const files = (s: Store, rev?: number) => s.walk('/**', rev).files.map((f) => [f.path, f.rev, td.decode(f.value)]);
const eventsText = (e: Event | undefined) => e && { ...e, value: e.value && td.decode(e.value) };

function restore(s: Store, historyRevisions = 1000): Store {
  return Store.fromSnapshot(packr.unpack(packr.pack(s.toSnapshot())) as StoreSnapshot, { historyRevisions });
}

describe('transactions', () => {
  it('apply every op in one revision, with the events sorted by path', () => {
    const s = new Store({ historyRevisions: 100 });
    ok(txn(s, [setOp('/a', '1')]));
    const events: Event[][] = [];
    s.observer = { revision: (_rev, evs) => events.push(evs) };
    expect(txn(s, [setOp('/c', '3'), delOp('/a'), setOp('/b/x', '2')])).toEqual({ ok: true, rev: 2, changed: 3 });
    expect(s.eventsAt(2).map((e) => [e.path, e.kind, e.rev])).toEqual([
      ['/a', 'delete', 2], ['/b/x', 'set', 2], ['/c', 'set', 2],
    ]);
    expect(events).toEqual([s.eventsAt(2)]);
    expect(paths(s)).toEqual(['/b/x', '/c']);
  });

  it('apply nothing when any op is refused (no partial writes, no revision)', () => {
    const s = new Store({ historyRevisions: 100 });
    ok(txn(s, [setOp('/file', 'x')]));
    expect(code(txn(s, [setOp('/a', '1'), setOp('/file/child', '2')]))).toBe(ErrorCode.NOTDIR);
    expect(code(txn(s, [setOp('/a', '1'), setOp('/file', '2', { rev: 0 })]))).toBe(ErrorCode.REV_MISMATCH);
    expect(code(txn(s, [delOp('/file'), setOp('/', '2')]))).toBe(ErrorCode.ISDIR);
    expect(s.rev).toBe(1);
    expect(paths(s)).toEqual(['/file']);
    expect(value(s, '/file')).toBe('x');
  });

  it('check conditions against the state before the ops; a failed one refuses the whole txn', () => {
    const s = new Store({ historyRevisions: 100 });
    const r = ok(txn(s, [setOp('/lock', 'me')]));
    const cond = (rev: number) => [{ path: '/lock', rev }];
    const refused = txn(s, [setOp('/work', 'w')], cond(0));
    expect(refused).toMatchObject({ ok: false, error: { code: ErrorCode.REV_MISMATCH, details: { path: '/lock', rev: r } } });
    expect(ok(txn(s, [setOp('/work', 'w')], cond(r)))).toBe(2);
    expect(ok(txn(s, [setOp('/work', 'w2')], cond(-1)))).toBe(3);
    // A condition on a missing path with rev 0 means "does not exist".
    expect(ok(txn(s, [setOp('/x', '1')], [{ path: '/nobody', rev: 0 }]))).toBe(4);
    // Conditions see the state before the txn's own ops: create-if-missing and compare-and-set
    // on the paths the txn writes.
    expect(ok(txn(s, [setOp('/new', '1')], [{ path: '/new', rev: 0 }]))).toBe(5);
    expect(ok(txn(s, [setOp('/new', '2'), delOp('/x')], [{ path: '/new', rev: 5 }, { path: '/x', rev: 4 }]))).toBe(6);
    expect(code(txn(s, [setOp('/new', '3')], [{ path: '/new', rev: 5 }]))).toBe(ErrorCode.REV_MISMATCH);
  });

  it('let later ops see earlier ones: a file may be replaced by a directory in one txn, and back', () => {
    const s = new Store({ historyRevisions: 100 });
    ok(txn(s, [setOp('/a', 'file')]));
    expect(ok(txn(s, [delOp('/a'), setOp('/a/x', 'child')]))).toBe(2);
    expect(s.stat('/a')).toMatchObject({ kind: 'dir', children: 1 });
    expect(code(txn(s, [setOp('/a/y', '1'), setOp('/a', 'file')]))).toBe(ErrorCode.ISDIR);
    expect(ok(txn(s, [delOp('/a/x'), setOp('/a', 'file again')]))).toBe(3);
    expect(value(s, '/a')).toBe('file again');
    expect(s.stat('/a', 2)).toMatchObject({ kind: 'dir' });
    expect(s.stat('/a', 1)).toMatchObject({ kind: 'file' });
  });

  it('refuse a txn naming one path twice with BAD_REQUEST, leaving the store untouched (regression: it asserted mid-apply)', () => {
    const s = new Store({ historyRevisions: 100 });
    ok(txn(s, [setOp('/b', '0')]));
    expect(txn(s, [setOp('/a', '1'), delOp('/a')])).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_REQUEST, details: { path: '/a' } } });
    expect(code(txn(s, [setOp('/a', '1'), setOp('/a', '2')]))).toBe(ErrorCode.BAD_REQUEST);
    expect(code(txn(s, [delOp('/b'), setOp('/c', '1'), delOp('/b')]))).toBe(ErrorCode.BAD_REQUEST);
    expect(s.rev).toBe(1);
    expect(paths(s)).toEqual(['/b']);
    // The store still works: the next write gets the next revision.
    expect(ok(txn(s, [setOp('/a', '1')]))).toBe(2);
  });

  it('take no revision when nothing changes (no ops, or only deletes of missing files)', () => {
    const s = new Store({ historyRevisions: 100 });
    expect(txn(s, [])).toEqual({ ok: true, rev: 0, changed: 0 });
    expect(txn(s, [delOp('/a'), delOp('/b', 0)])).toEqual({ ok: true, rev: 0, changed: 0 });
    expect(txn(s, [delOp('/a'), setOp('/b', '1')])).toEqual({ ok: true, rev: 1, changed: 1 });
    expect(s.eventsAt(1).map((e) => e.path)).toEqual(['/b']);
  });
});

describe('sessions and ephemeral files', () => {
  it('an ephemeral set needs a session: BAD_REQUEST without one, SESSION_EXPIRED once it ended', () => {
    const s = new Store({ historyRevisions: 100 });
    expect(code(txn(s, [setOp('/e', '1', { ephemeral: true })]))).toBe(ErrorCode.BAD_REQUEST);
    expect(code(txn(s, [setOp('/e', '1', { ephemeral: true })], [], { sid: 'gone' }))).toBe(ErrorCode.SESSION_EXPIRED);
    open(s, 'gone');
    s.apply({ t: 'close', sid: 'gone' });
    // Any write naming an ended session is refused, ephemeral or not.
    expect(code(txn(s, [setOp('/p', '1')], [], { sid: 'gone' }))).toBe(ErrorCode.SESSION_EXPIRED);
    expect(s.rev).toBe(0);
  });

  it('closing a session deletes all its ephemeral files in one revision', () => {
    const s = new Store({ historyRevisions: 100 });
    open(s, 's1');
    open(s, 's2');
    ok(txn(s, [setOp('/m/b', 'x', { ephemeral: true }), setOp('/m/a', 'x', { ephemeral: true })], [], { sid: 's1' }));
    ok(txn(s, [setOp('/m/c', 'x', { ephemeral: true })], [], { sid: 's2' }));
    ok(txn(s, [setOp('/keep', 'x')], [], { sid: 's1' }));
    expect([...s.session('s1')!.ephemerals].sort()).toEqual(['/m/a', '/m/b']);
    expect(s.stat('/m/a')).toMatchObject({ kind: 'file', ephemeral: true });
    expect(s.stat('/keep')).toMatchObject({ kind: 'file', ephemeral: false });
    const ended: string[] = [];
    s.observer = { sessionEnded: (st, reason, removed, rev) => ended.push(`${st.id}:${reason}:${removed.join(',')}@${rev}`) };
    expect(s.apply({ t: 'close', sid: 's1' })).toEqual({ ok: true, rev: 4, changed: 2 });
    expect(s.eventsAt(4)).toEqual([
      { path: '/m/a', rev: 4, kind: 'delete' }, { path: '/m/b', rev: 4, kind: 'delete' },
    ]);
    expect(paths(s)).toEqual(['/keep', '/m/c']);
    expect(s.session('s1')).toBeUndefined();
    expect(s.apply({ t: 'expire', sid: 's2' })).toEqual({ ok: true, rev: 5, changed: 1 });
    expect(ended).toEqual(['s1:close:/m/a,/m/b@4', 's2:expire:/m/c@5']);
    // Ending a session that owns nothing, or one that does not exist, takes no revision.
    open(s, 's3');
    expect(s.apply({ t: 'expire', sid: 's3' })).toEqual({ ok: true, rev: 5, changed: 0 });
    expect(s.apply({ t: 'close', sid: 'nobody' })).toEqual({ ok: true, rev: 5, changed: 0 });
  });

  it('a plain SET by anyone takes an ephemeral file away from its session; an ephemeral SET moves it', () => {
    const s = new Store({ historyRevisions: 100 });
    open(s, 'a');
    open(s, 'b');
    ok(txn(s, [setOp('/x', 'a', { ephemeral: true }), setOp('/y', 'a', { ephemeral: true })], [], { sid: 'a' }));
    ok(txn(s, [setOp('/x', 'plain')], [], { sid: 'b' }));
    ok(txn(s, [setOp('/y', 'b', { ephemeral: true })], [], { sid: 'b' }));
    expect([...s.session('a')!.ephemerals]).toEqual([]);
    expect([...s.session('b')!.ephemerals]).toEqual(['/y']);
    expect(s.apply({ t: 'close', sid: 'a' })).toEqual({ ok: true, rev: 3, changed: 0 });
    expect(paths(s)).toEqual(['/x', '/y']);
    expect(s.apply({ t: 'close', sid: 'b' })).toMatchObject({ rev: 4, changed: 1 });
    expect(paths(s)).toEqual(['/x']);
  });

  it('a deleted ephemeral file is no longer the session\'s', () => {
    const s = new Store({ historyRevisions: 100 });
    open(s, 'a');
    ok(txn(s, [setOp('/x', '1', { ephemeral: true })], [], { sid: 'a' }));
    ok(txn(s, [delOp('/x')]));
    ok(txn(s, [setOp('/x', 'other')]));
    expect(s.apply({ t: 'expire', sid: 'a' })).toMatchObject({ changed: 0 });
    expect(value(s, '/x')).toBe('other');
  });

  it('opening an existing session changes nothing; sessionOpened fires once', () => {
    const s = new Store({ historyRevisions: 100 });
    const opened: string[] = [];
    s.observer = { sessionOpened: (st) => opened.push(`${st.id}:${st.secret}:${st.ttlMs}`) };
    s.apply({ t: 'open', sid: 's', secret: 'one', ttlMs: 1000 });
    s.apply({ t: 'open', sid: 's', secret: 'two', ttlMs: 2000 });
    expect(opened).toEqual(['s:one:1000']);
    expect(s.session('s')).toMatchObject({ secret: 'one', ttlMs: 1000 });
    expect(s.sessionIds()).toEqual(['s']);
    expect(s.rev).toBe(0);
  });
});

describe('exactly-once writes', () => {
  it('a retry gets the stored answer, success or refusal, and applies nothing', () => {
    const s = new Store({ historyRevisions: 100 });
    open(s, 's');
    const first = txn(s, [setOp('/x', '1')], [], { sid: 's', seq: 1 });
    const refused = txn(s, [setOp('/x', '2', { rev: 0 })], [], { sid: 's', seq: 2 });
    ok(txn(s, [setOp('/x', '3')]));
    expect(txn(s, [setOp('/x', '1')], [], { sid: 's', seq: 1 })).toEqual(first);
    // The retry would now succeed if applied (rev 0 still mismatches, but a new value would not).
    expect(txn(s, [setOp('/x', '2', { rev: 0 })], [], { sid: 's', seq: 2 })).toEqual(refused);
    expect(s.rev).toBe(2);
    expect(value(s, '/x')).toBe('3');
  });

  it('seqFloor forgets answers below it; a retry of a forgotten seq is OUTCOME_UNKNOWN, not a second apply', () => {
    const s = new Store({ historyRevisions: 100 });
    open(s, 's');
    ok(txn(s, [setOp('/x', '1')], [], { sid: 's', seq: 1 }));
    ok(txn(s, [setOp('/y', '1')], [], { sid: 's', seq: 2, seqFloor: 2 }));
    expect(s.session('s')!.floor).toBe(2);
    expect([...s.session('s')!.results.keys()]).toEqual([2]);
    expect(code(txn(s, [setOp('/x', '1')], [], { sid: 's', seq: 1 }))).toBe(ErrorCode.OUTCOME_UNKNOWN);
    expect(txn(s, [setOp('/y', '1')], [], { sid: 's', seq: 2 })).toEqual({ ok: true, rev: 2, changed: 1 });
    expect(s.rev).toBe(2);
  });

  it(`keeps at most ${limits.dedupeResultsPerSessionMax} answers per session, raising the floor past those it drops`, () => {
    const s = new Store({ historyRevisions: 100 });
    open(s, 's');
    const n = limits.dedupeResultsPerSessionMax + 10;
    for (let seq = 1; seq <= n; seq++) ok(txn(s, [setOp('/x', String(seq))], [], { sid: 's', seq }));
    const st = s.session('s')!;
    expect(st.results.size).toBe(limits.dedupeResultsPerSessionMax);
    expect(st.floor).toBe(11);
    expect(code(txn(s, [setOp('/x', '10')], [], { sid: 's', seq: 10 }))).toBe(ErrorCode.OUTCOME_UNKNOWN);
    expect(txn(s, [setOp('/x', '11')], [], { sid: 's', seq: 11 })).toEqual({ ok: true, rev: 11, changed: 1 });
    expect(s.rev).toBe(n);
  });

  it('survives a snapshot: a restored store answers a retry the same way', () => {
    const s = new Store({ historyRevisions: 100 });
    open(s, 's');
    const first = txn(s, [setOp('/x', '1', { rev: 0 })], [], { sid: 's', seq: 7, seqFloor: 5 });
    const refused = txn(s, [setOp('/x', '2', { rev: 0 })], [], { sid: 's', seq: 8 });
    const copy = restore(s);
    expect(txn(copy, [setOp('/x', '1', { rev: 0 })], [], { sid: 's', seq: 7 })).toEqual(first);
    expect(txn(copy, [setOp('/x', '2', { rev: 0 })], [], { sid: 's', seq: 8 })).toEqual(refused);
    expect(code(txn(copy, [setOp('/x', '1')], [], { sid: 's', seq: 4 }))).toBe(ErrorCode.OUTCOME_UNKNOWN);
    expect(copy.rev).toBe(1);
  });
});

describe('history window', () => {
  it('keeps historyRevisions revisions: state from oldestRev, events after it; TOO_LATE says where history starts', () => {
    const s = new Store({ historyRevisions: 3 });
    for (let i = 1; i <= 5; i++) ok(txn(s, [setOp('/x', String(i))]));
    expect(s.oldestRev).toBe(2);
    expect(value(s, '/x', 2)).toBe('2');
    const tooLate = thrown(() => s.get('/x', 1));
    expect(tooLate.code).toBe(ErrorCode.TOO_LATE);
    // oldestRev is the oldest revision every request accepts: a read at it and a WAIT from it.
    expect(tooLate.details).toEqual({ oldestRev: 3 });
    for (const read of [() => s.stat('/x', 1), () => s.getdir('/', 1), () => s.walk('/**', 1)]) {
      expect(thrown(read).details).toEqual({ oldestRev: 3 });
    }
    expect(value(s, '/x', 3)).toBe('3');
    expect(thrown(() => s.checkEventsFrom(2)).details).toEqual({ oldestRev: 3 });
    expect(s.checkEventsFrom(3)).toBe(3);
    expect(thrown(() => s.firstEvent(compileGlob('/x'), 0)).code).toBe(ErrorCode.TOO_LATE);
    expect(s.firstEvent(compileGlob('/x'), 3)).toMatchObject({ rev: 3 });
  });

  it('stays exact over many thousands of revisions (the event log compacts its array)', () => {
    const keep = 10;
    const s = new Store({ historyRevisions: keep });
    const names = ['/a', '/b/c', '/b/d', '/e'];
    const n = 12_000;
    const now = new Map<string, { value: string; rev: number }>();
    let atOldest = new Map(now);
    for (let r = 1; r <= n; r++) {
      const p = names[r % names.length]!;
      // Every fifth revision deletes instead, so tombstones are compacted away too.
      if (r % 5 === 0 && now.has(p)) {
        ok(txn(s, [delOp(p)]));
        now.delete(p);
      } else {
        ok(txn(s, [setOp(p, String(r))]));
        now.set(p, { value: String(r), rev: r });
      }
      if (r === n - keep) atOldest = new Map(now);
    }
    expect(s.rev).toBe(n);
    expect(s.oldestRev).toBe(n - keep);
    for (let r = n - keep + 1; r <= n; r++) {
      expect(s.eventsAt(r)).toHaveLength(1);
      expect(s.eventsAt(r)[0]!.rev).toBe(r);
    }
    expect(s.firstEvent(compileGlob('/**'), n - keep + 1)!.rev).toBe(n - keep + 1);
    expect(thrown(() => s.get('/a', n - keep - 1)).code).toBe(ErrorCode.TOO_LATE);
    // The state at oldestRev and now is whole: every path holds its last write.
    for (const p of names) {
      expect([value(s, p, n - keep), s.get(p, n - keep).rev]).toEqual([atOldest.get(p)?.value ?? null, atOldest.get(p)?.rev ?? 0]);
      expect([value(s, p), s.get(p).rev]).toEqual([now.get(p)?.value ?? null, now.get(p)?.rev ?? 0]);
    }
    const copy = restore(s, keep);
    for (let r = n - keep; r <= n; r++) expect(files(copy, r)).toEqual(files(s, r));
  });

  it('a settings command with a smaller window compacts at once; a snapshot carries the window, whatever the options of the store it is restored into', () => {
    const s = new Store({ historyRevisions: 100 });
    for (let i = 1; i <= 20; i++) ok(txn(s, [setOp(`/k${i % 3}`, String(i))]));
    const copy = restore(s, 3);
    expect(copy.settings?.historyRevisions).toBe(100);
    ok(txn(copy, [setOp('/k0', 'new')]));
    expect(copy.oldestRev).toBe(0);
    const before = copy.rev;
    expect(copy.apply({ t: 'settings', settings: { historyRevisions: 3 } })).toEqual({ ok: true, rev: before, changed: 0 });
    expect(copy.rev).toBe(before);
    expect(copy.oldestRev).toBe(18);
    expect(thrown(() => copy.get('/k0', 17)).code).toBe(ErrorCode.TOO_LATE);
    for (let r = 18; r <= 20; r++) expect(files(copy, r)).toEqual(files(s, r));
    expect(eventsText(copy.firstEvent(compileGlob('/**'), 19))).toEqual(eventsText(s.firstEvent(compileGlob('/**'), 19)));
    expect(restore(copy, 1000).settings?.historyRevisions).toBe(3);
  });

  it('refuses bad settings whole, changing nothing', () => {
    const s = new Store({ historyRevisions: 100 });
    ok(txn(s, [setOp('/a', '1')]));
    const o = s.apply({ t: 'settings', settings: { historyRevisions: 5, historyBytes: 0 } });
    expect(code(o)).toBe(ErrorCode.BAD_REQUEST);
    expect(s.settings?.historyRevisions).toBe(100);
  });

  it("a new cluster's store keeps everything until its first settings: history and every retry's result", () => {
    const s = Store.founding({ historyRevisions: 2 });
    expect(s.settings).toBeNull();
    open(s, 'S');
    for (let i = 1; i <= 10; i++) ok(txn(s, [setOp('/a', String(i))], [], { sid: 'S', seq: i }));
    expect(s.oldestRev).toBe(0);
    expect(restore(s).settings).toBeNull();
    s.apply({ t: 'settings', settings: { historyRevisions: 4, historyBytes: 1 << 20, dedupeResultsPerSession: 3 } });
    expect(s.settings).toEqual({ historyRevisions: 4, historyBytes: 1 << 20, dedupeResultsPerSession: 3 });
    expect(s.oldestRev).toBe(s.rev - 4);
    ok(txn(s, [setOp('/a', 'x')], [], { sid: 'S', seq: 11 }));
    // Three results remembered: a retry of seq 8 is older than what the session remembers.
    expect(s.session('S')!.results.size).toBe(3);
  });
});

describe('paging limits', () => {
  it(`a WALK page ends after the file that crosses ${limits.pageBytesMax} value bytes`, () => {
    const s = new Store({ historyRevisions: 100 });
    const big = 'x'.repeat(300 * 1024);
    for (const n of ['a', 'b', 'c', 'd', 'e']) ok(txn(s, [setOp(`/${n}`, big)]));
    const page = s.walk('/*');
    expect(page.files.map((f) => f.path)).toEqual(['/a', '/b', '/c', '/d']);
    expect(page.more).toBe(true);
    const rest = s.walk('/*', undefined, '/d');
    expect(rest.files.map((f) => f.path)).toEqual(['/e']);
    expect(rest.more).toBe(false);
  });

  it('a GETDIR or WALK page of exactly `limit` entries says more only if more follow', () => {
    const s = new Store({ historyRevisions: 100 });
    for (const n of ['a', 'b']) ok(txn(s, [setOp(`/d/${n}`, n)]));
    expect(s.getdir('/d', undefined, undefined, 2)).toMatchObject({ names: ['a', 'b'], more: false });
    expect(s.walk('/d/*', undefined, undefined, 2)).toMatchObject({ more: false });
    expect(s.walk('/d/*', undefined, undefined, 1)).toMatchObject({ more: true });
  });
});

describe('determinism and snapshots', () => {
  const commands: Command[] = [
    { t: 'open', sid: 's', secret: 'k', ttlMs: 5000 },
    { t: 'txn', conds: [], ops: [setOp('/a/x', '1'), setOp('/b', '2', { ephemeral: true })], sid: 's', seq: 1 },
    { t: 'txn', conds: [{ path: '/b', rev: 1 }], ops: [delOp('/a/x'), setOp('/a', 'f')], sid: 's', seq: 2 },
    { t: 'noop' },
    { t: 'txn', conds: [], ops: [setOp('/c/d/e', '3')] },
    { t: 'expire', sid: 's' },
    { t: 'txn', conds: [], ops: [setOp('/a', 'g', { rev: 0 })] },
  ];

  it('the same commands give the same snapshot, byte for byte', () => {
    const one = new Store({ historyRevisions: 3 });
    const two = new Store({ historyRevisions: 3 });
    const outcomes = commands.map((c) => [one.apply(c), two.apply(c)]);
    for (const [a, b] of outcomes) expect(a).toEqual(b);
    expect(Buffer.from(packr.pack(one.toSnapshot())).equals(Buffer.from(packr.pack(two.toSnapshot())))).toBe(true);
    expect(one.rev).toBe(4);
  });

  it('a restored store takes the same further commands to the same state as the original', () => {
    for (let cut = 0; cut <= commands.length; cut++) {
      const original = new Store({ historyRevisions: 3 });
      for (const c of commands.slice(0, cut)) original.apply(c);
      const copy = restore(original, 3);
      for (const c of commands.slice(cut)) expect(copy.apply(c)).toEqual(original.apply(c));
      expect(copy.rev).toBe(original.rev);
      for (let r = copy.oldestRev; r <= copy.rev; r++) expect(files(copy, r)).toEqual(files(original, r));
      expect(copy.sessionIds()).toEqual(original.sessionIds());
    }
  });
});

describe('history bounded in bytes', () => {
  const kib = (n: number, fill = 'x') => fill.repeat(n * 1024);

  it('drops the oldest revisions once their paths and values pass historyBytes; TOO_LATE as for revisions', () => {
    const s = new Store({ historyRevisions: 100_000, historyBytes: 10 * 1024 });
    for (let i = 1; i <= 40; i++) ok(txn(s, [setOp(`/big/${i % 3}`, kib(1, String(i % 10)))]));
    // 10 KiB holds 9 revisions of 1 KiB values plus their paths, not 10.
    expect(s.rev).toBe(40);
    expect(s.oldestKeptRev).toBe(32);
    expect(thrown(() => s.get('/big/1', 20))).toMatchObject({ code: ErrorCode.TOO_LATE, details: { oldestRev: 32 } });
    expect(thrown(() => s.checkEventsFrom(31)).code).toBe(ErrorCode.TOO_LATE);
    expect(s.eventsAt(32)[0]).toMatchObject({ path: '/big/2', rev: 32 });
    expect(value(s, '/big/1', 31)).toBe(kib(1, '1'));
    // Current state is never trimmed: every file reads back.
    for (const k of [0, 1, 2]) expect(value(s, `/big/${k}`)).toBe(kib(1, String([39, 40, 38].find((r) => r % 3 === k)! % 10)));
  });

  it('always keeps the newest revision, even when it alone is over the bound', () => {
    const s = new Store({ historyRevisions: 100_000, historyBytes: 1024 });
    ok(txn(s, [setOp('/a', 'small')]));
    ok(txn(s, [setOp('/b', kib(4))]));
    expect(s.oldestKeptRev).toBe(2);
    expect(s.eventsAt(2)).toHaveLength(1);
    ok(txn(s, [setOp('/c', kib(4))]));
    expect(s.oldestKeptRev).toBe(3);
  });

  it('a snapshot round trip keeps the same window, and the same trimming after it', () => {
    const s = new Store({ historyRevisions: 100_000, historyBytes: 8 * 1024 });
    for (let i = 1; i <= 30; i++) ok(txn(s, [setOp(`/k${i % 5}`, kib(1))]));
    const copy = Store.fromSnapshot(structuredClone(s.toSnapshot()), { historyRevisions: 100_000, historyBytes: 8 * 1024 });
    expect(copy.oldestRev).toBe(s.oldestRev);
    ok(txn(s, [setOp('/k9', kib(2))]));
    ok(txn(copy, [setOp('/k9', kib(2))]));
    expect(copy.oldestRev).toBe(s.oldestRev);
  });
});

describe('where values are kept', () => {
  it('copies a value out of the command that brought it, and moves it once its revision leaves history', () => {
    const s = new Store({ historyRevisions: 3 });
    const frame = te.encode('..config-v1..');
    ok(txn(s, [{ op: 'set', path: '/config', value: frame.subarray(2, 11) }]));
    frame.fill(0);
    const young = s.get('/config').value!;
    expect(td.decode(young)).toBe('config-v1');
    expect(young.buffer).not.toBe(frame.buffer);
    // A counter churns in the same slab; /config outlives the window of 3 revisions.
    for (let i = 0; i < 10; i++) ok(txn(s, [setOp('/counter', `n${i}`)]));
    const settled = s.get('/config').value!;
    expect(td.decode(settled)).toBe('config-v1');
    expect(settled.buffer).not.toBe(young.buffer);
    expect(s.get('/counter').value!.buffer).toBe(young.buffer);
    // Reads at a kept revision, history and snapshots see the same bytes.
    expect(td.decode(restore(s).get('/config').value!)).toBe('config-v1');
    expect(s.eventsAt(s.rev)[0]!.path).toBe('/counter');
  });
});
