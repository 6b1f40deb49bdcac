/**
 * Method: Doozer's black-box test cases (shared/reference/doozer.md §4), translated one by one
 * into example tests against coord's Store, named after the Go test they come from. Where coord
 * deliberately differs from Doozer the test checks coord's behaviour and says so in a
 * "coord differs" comment:
 *   - a refused write consumes no revision and writes nothing (Doozer wrote /ctl/err at a seqn);
 *   - a NOP consumes no revision and emits no event;
 *   - DEL of a missing file succeeds without a revision or an event;
 *   - DEL /a/b when /a is a file is NOTDIR (Doozer deleted /a);
 *   - a delete event's rev is the revision of the delete (Doozer: 0);
 *   - GET of a directory is ISDIR (Doozer returned the listing); GETDIR pages with after/limit;
 *   - invalid paths are rejected with BAD_PATH at the edge (Doozer: they looked missing), `_` is
 *     allowed and `.`/`..` components are not.
 * Cases about the network, access control, membership and slot allocation (peer, server,
 * member, manager tests) are not store behaviour and are left to the API and cluster suites.
 */
import { describe, expect, it } from 'vitest';
import { CoordError, ErrorCode } from '../../../protocol/errors.ts';
import { checkPath, compileGlob, isValidPath } from '../../../protocol/path.ts';
import type { Command, WriteOutcome } from '../../../server/store/commands.ts';
import { Store } from '../../../server/store/store.ts';

const te = new TextEncoder();
const td = new TextDecoder();

function store(historyRevisions = 1000): Store {
  return new Store({ historyRevisions });
}

function set(s: Store, path: string, value: string, rev = -1, origin: Partial<Extract<Command, { t: 'txn' }>> = {}): WriteOutcome {
  return s.apply({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: te.encode(value), rev }], ...origin });
}

function del(s: Store, path: string, rev = -1): WriteOutcome {
  return s.apply({ t: 'txn', conds: [], ops: [{ op: 'del', path, rev }] });
}

/** The new revision of a write that must succeed. */
function ok(o: WriteOutcome): number {
  if (!o.ok) throw new Error(`expected success, got ${o.error.code}: ${o.error.message}`);
  return o.rev;
}

function refusal(o: WriteOutcome): { code: string; details?: Record<string, unknown> } {
  if (o.ok) throw new Error(`expected a refusal, got ok at rev ${o.rev}`);
  return o.error.details === undefined ? { code: o.error.code } : { code: o.error.code, details: o.error.details };
}

function thrown(f: () => unknown): { code: string; details?: Record<string, unknown> } {
  try {
    f();
  } catch (e) {
    if (e instanceof CoordError) return e.details === undefined ? { code: e.code } : { code: e.code, details: e.details };
    throw e;
  }
  throw new Error('expected a CoordError');
}

function text(v: Uint8Array | null | undefined): string | null {
  return v === null || v === undefined ? null : td.decode(v);
}

function getText(s: Store, path: string, rev?: number): { value: string | null; rev: number } {
  const r = s.get(path, rev);
  return { value: text(r.value), rev: r.rev };
}

const wait = (s: Store, glob: string, from: number) => s.firstEvent(compileGlob(glob), from);

describe('store_test.go', () => {
  it('TestGet: SET(-1) /x "a" as the first op; GET gives "a" at rev 1', () => {
    const s = store();
    expect(ok(set(s, '/x', 'a'))).toBe(1);
    expect(getText(s, '/x')).toEqual({ value: 'a', rev: 1 });
  });

  it('TestGetMissing: a path never written reads as rev 0 with no value', () => {
    // coord differs only in form: no value is null rather than "".
    expect(store().get('/x')).toEqual({ value: null, rev: 0, at: 0 });
  });

  it('TestGetDeleted: SET then DEL(-1); GET gives rev 0', () => {
    const s = store();
    ok(set(s, '/x', 'a'));
    expect(ok(del(s, '/x'))).toBe(2);
    expect(getText(s, '/x')).toEqual({ value: null, rev: 0 });
  });

  it('TestApplyInOrder: two sets; GET gives the second value at rev 2', () => {
    const s = store();
    ok(set(s, '/x', 'a'));
    ok(set(s, '/x', 'b'));
    expect(getText(s, '/x')).toEqual({ value: 'b', rev: 2 });
  });

  // TestApplyOutOfOrder has no store counterpart: the store takes commands in the order the
  // Raft log commits them (the core's transcripts, test/server/consensus/core/, check that order).

  it('TestApplyIgnoreDuplicate: a write retried with the same (session, seq) is applied once', () => {
    // coord's form of the duplicate: exactly-once by session sequence number, not by seqn.
    const s = store();
    s.apply({ t: 'open', sid: 's', secret: 'k', ttlMs: 5000 });
    const first = set(s, '/x', 'a', -1, { sid: 's', seq: 1 });
    expect(ok(first)).toBe(1);
    const again = set(s, '/x', 'a', -1, { sid: 's', seq: 1 });
    expect(again).toEqual(first);
    expect(s.rev).toBe(1);
    expect(s.firstEvent(compileGlob('/**'), 2)).toBeUndefined();
  });

  it('TestApplyBadThenGood: a refused write does not block the next one', () => {
    const s = store();
    ok(set(s, '/x', 'a'));
    expect(refusal(set(s, '/x', 'b', 0)).code).toBe(ErrorCode.REV_MISMATCH);
    // coord differs: the refused write took no revision, so the good one gets 2, not 3.
    expect(ok(set(s, '/x', 'c'))).toBe(2);
    expect(getText(s, '/x')).toEqual({ value: 'c', rev: 2 });
  });

  it('TestGetWithDir: after /x and /y, / lists x and y and has no rev of its own', () => {
    const s = store();
    ok(set(s, '/x', 'a'));
    ok(set(s, '/y', 'b'));
    // coord differs: GET of a directory is ISDIR; its listing comes from GETDIR.
    expect(thrown(() => s.get('/'))).toEqual({ code: ErrorCode.ISDIR, details: { path: '/' } });
    expect(s.getdir('/')).toEqual({ names: ['x', 'y'], at: 2, more: false });
    expect(s.stat('/')).toEqual({ kind: 'dir', rev: 0, children: 2, at: 2 });
  });

  it('TestStat: a directory gives its entry count, a file its length and rev, a missing path 0', () => {
    const s = store();
    ok(set(s, '/x', '123'));
    ok(set(s, '/y', ''));
    expect(s.stat('/')).toMatchObject({ kind: 'dir', children: 2, rev: 0 });
    expect(s.stat('/x')).toEqual({ kind: 'file', rev: 1, length: 3, ephemeral: false, at: 2 });
    expect(s.stat('/y')).toMatchObject({ kind: 'file', rev: 2, length: 0 });
    expect(s.stat('/z')).toEqual({ kind: 'missing', rev: 0, at: 2 });
    // coord differs: a bad path is BAD_PATH at the edge, not a silent "0, 0".
    expect(thrown(() => checkPath('/x/')).code).toBe(ErrorCode.BAD_PATH);
  });

  it('TestDirParents: SET /x/y/z creates /, /x and /x/y as directories', () => {
    const s = store();
    ok(set(s, '/x/y/z', 'a'));
    for (const [dir, child] of [['/', 'x'], ['/x', 'y'], ['/x/y', 'z']] as const) {
      expect(s.stat(dir)).toMatchObject({ kind: 'dir', children: 1 });
      expect(s.getdir(dir).names).toEqual([child]);
    }
  });

  it('TestDelDirParents: DEL /x/y/z removes /x/y and /x; / remains', () => {
    const s = store();
    ok(set(s, '/x/y/z', 'a'));
    ok(del(s, '/x/y/z'));
    expect(s.stat('/x/y').kind).toBe('missing');
    expect(s.stat('/x').kind).toBe('missing');
    expect(thrown(() => s.getdir('/x')).code).toBe(ErrorCode.NOENT);
    expect(s.stat('/')).toMatchObject({ kind: 'dir', children: 0 });
    expect(s.getdir('/').names).toEqual([]);
    // ...while the history still shows them.
    expect(s.getdir('/x', 1).names).toEqual(['y']);
  });

  it('TestWaitGlobOnPre: a WAIT from 1 asked before the event finds it once it happens', () => {
    // Parking the waiter is the watch hub's job; the store answers "nothing yet", then the event.
    const s = store();
    expect(wait(s, '/x', 1)).toBeUndefined();
    ok(set(s, '/x', 'a'));
    expect(wait(s, '/x', 1)).toEqual({ path: '/x', rev: 1, kind: 'set', value: te.encode('a') });
  });

  it('TestWaitGlobAfterPre: WAIT /x from 1 skips /y at 1 and returns /x at 2', () => {
    const s = store();
    ok(set(s, '/y', 'b'));
    ok(set(s, '/x', 'a'));
    expect(wait(s, '/x', 1)).toMatchObject({ path: '/x', rev: 2, kind: 'set' });
  });

  it('TestWaitGlobOnPost, TestStoreKeepsLog: a WAIT asked after the event still returns it', () => {
    const s = store();
    ok(set(s, '/x', 'a'));
    ok(set(s, '/y', 'b'));
    ok(set(s, '/z', 'c'));
    expect(wait(s, '/x', 1)).toMatchObject({ path: '/x', rev: 1 });
    expect(wait(s, '/**', 0)).toMatchObject({ path: '/x', rev: 1 }); // rev < 1 counts as 1
    expect(wait(s, '/**', 3)).toMatchObject({ path: '/z', rev: 3 });
    expect(wait(s, '/**', 4)).toBeUndefined();
  });

  it('TestStoreNopEvent: a NOP succeeds', () => {
    const s = store();
    expect(s.apply({ t: 'noop' })).toEqual({ ok: true, rev: 0, changed: 0 });
    // coord differs: a NOP takes no revision and makes no event, so /** sees nothing.
    expect(s.rev).toBe(0);
    expect(wait(s, '/**', 1)).toBeUndefined();
  });

  it('TestStoreWaitRevMatchAdd: SET rev 0 on a missing file succeeds', () => {
    expect(ok(set(store(), '/x', 'a', 0))).toBe(1);
  });

  it('TestStoreWaitRevMatchReplace: SET with the file\'s rev succeeds', () => {
    const s = store();
    const r = ok(set(s, '/x', 'a'));
    ok(set(s, '/y', 'b'));
    expect(ok(set(s, '/x', 'c', r))).toBe(3);
  });

  it('TestStoreWaitRevMismatchMissing: SET rev -123 on a missing file is REV_MISMATCH', () => {
    const s = store();
    expect(refusal(set(s, '/x', 'a', -123))).toEqual({ code: ErrorCode.REV_MISMATCH, details: { path: '/x', rev: 0 } });
    expect(s.rev).toBe(0);
  });

  it('TestStoreWaitRevMismatchReplace: SET rev 0 on an existing file is REV_MISMATCH', () => {
    const s = store();
    ok(set(s, '/x', 'a'));
    expect(refusal(set(s, '/x', 'b', 0))).toEqual({ code: ErrorCode.REV_MISMATCH, details: { path: '/x', rev: 1 } });
    expect(getText(s, '/x')).toEqual({ value: 'a', rev: 1 });
  });

  it('the talk demo: a rev above the file\'s rev succeeds, even past the head', () => {
    const s = store();
    for (let i = 0; i < 70; i++) ok(set(s, '/filler', String(i)));
    expect(ok(set(s, '/hello', 'a', 0))).toBe(71);
    expect(refusal(set(s, '/hello', 'b', 0)).code).toBe(ErrorCode.REV_MISMATCH);
    expect(ok(set(s, '/hello', 'c', 999))).toBe(72);
    expect(refusal(set(s, '/hello', 'd', 71)).code).toBe(ErrorCode.REV_MISMATCH);
    expect(ok(del(s, '/hello', 72))).toBe(73);
  });

  it('TestStoreClean: after cleaning past 1, WAIT from 1 is TOO_LATE', () => {
    const s = store(1);
    ok(set(s, '/x', 'a'));
    ok(set(s, '/x', 'b'));
    expect(s.oldestRev).toBe(1);
    expect(thrown(() => wait(s, '/**', 1))).toEqual({ code: ErrorCode.TOO_LATE, details: { oldestRev: 2 } });
    // One meaning for reads and waits alike: the oldest revision both accept.
    expect(thrown(() => s.get('/x', 0))).toEqual({ code: ErrorCode.TOO_LATE, details: { oldestRev: 2 } });
    expect(getText(s, '/x', 1)).toEqual({ value: 'a', rev: 1 });
    expect(wait(s, '/**', 2)).toMatchObject({ rev: 2 });
  });

  it('TestStoreSeqn: the store rev is 0 at start and 1 after the first write', () => {
    const s = store();
    expect(s.rev).toBe(0);
    ok(set(s, '/x', 'a'));
    expect(s.rev).toBe(1);
  });

  // TestStoreClose (closing the store ends pending waits) belongs to the watch hub.

  it('TestCheckGoodPaths, TestCheckBadPaths', () => {
    for (const p of ['/', '/x', '/x/y', '/x/y-z', '/x/y.z', '/x/0']) expect(checkPath(p)).toBe(p);
    for (const p of ['', 'x', '/x=', '/x y', '/x/', '/x//y']) {
      expect(thrown(() => checkPath(p)).code, JSON.stringify(p)).toBe(ErrorCode.BAD_PATH);
    }
    // coord differs: `_` is allowed, `.` and `..` components are not (Doozer took them literally).
    expect(isValidPath('/x_y')).toBe(true);
    expect(isValidPath('/x/.')).toBe(false);
    expect(isValidPath('/../x')).toBe(false);
    expect(isValidPath('/x/..y')).toBe(true);
    expect(thrown(() => checkPath(`/${'a'.repeat(2000)}`)).code).toBe(ErrorCode.TOO_LARGE);
  });

  it('TestEncodeSet, TestDecodeSet: values may hold "=" and spaces (values are bytes)', () => {
    const s = store();
    ok(set(s, '/x', 'a = b c'));
    expect(getText(s, '/x').value).toBe('a = b c');
    const raw = new Uint8Array([0, 255, 61, 32, 10]);
    s.apply({ t: 'txn', conds: [], ops: [{ op: 'set', path: '/bin', value: raw }] });
    expect([...s.get('/bin').value!]).toEqual([...raw]);
  });
});

describe('node_test.go, event_test.go', () => {
  it('TestNodeApply*: a refused write leaves no trace', () => {
    // coord differs: Doozer spent the seqn on writing the error text to /ctl/err.
    const s = store();
    ok(set(s, '/x', 'a'));
    expect(refusal(set(s, '/x', 'b', 0)).code).toBe(ErrorCode.REV_MISMATCH);
    expect(refusal(set(s, '/x/y', 'b')).code).toBe(ErrorCode.NOTDIR);
    expect(s.rev).toBe(1);
    expect(s.walk('/**').files.map((f) => f.path)).toEqual(['/x']);
    expect(wait(s, '/**', 2)).toBeUndefined();
  });

  it('TestNodeNotADirectory*: SET /x/y or /x/y/z/w when /x is a file is NOTDIR', () => {
    const s = store();
    ok(set(s, '/x', 'a'));
    expect(refusal(set(s, '/x/y', 'b'))).toEqual({ code: ErrorCode.NOTDIR, details: { path: '/x' } });
    expect(refusal(set(s, '/x/y/z/w', 'b'))).toEqual({ code: ErrorCode.NOTDIR, details: { path: '/x' } });
    expect(s.rev).toBe(1);
  });

  it('TestNodeIsADirectory: SET /x when /x/y exists is ISDIR; so are SET / and DEL of a directory', () => {
    const s = store();
    ok(set(s, '/x/y', 'a'));
    expect(refusal(set(s, '/x', 'b'))).toEqual({ code: ErrorCode.ISDIR, details: { path: '/x' } });
    expect(refusal(set(s, '/', 'b')).code).toBe(ErrorCode.ISDIR);
    expect(refusal(del(s, '/x')).code).toBe(ErrorCode.ISDIR);
    expect(refusal(del(s, '/')).code).toBe(ErrorCode.ISDIR);
    expect(s.rev).toBe(1);
  });

  it('the DEL quirk: DEL /a/b when /a is a file', () => {
    // coord differs: Doozer deleted /a; coord refuses with NOTDIR and /a stays.
    const s = store();
    ok(set(s, '/a', 'file'));
    expect(refusal(del(s, '/a/b'))).toEqual({ code: ErrorCode.NOTDIR, details: { path: '/a' } });
    expect(getText(s, '/a')).toEqual({ value: 'file', rev: 1 });
  });

  it('DEL of a missing file succeeds without a revision', () => {
    // coord differs: Doozer spent a seqn and emitted a delete event.
    const s = store();
    ok(set(s, '/y', 'a'));
    expect(del(s, '/x')).toEqual({ ok: true, rev: 1, changed: 0 });
    expect(wait(s, '/**', 2)).toBeUndefined();
  });

  it('TestNodeApplySet, TestNodeApplyDel, TestEventIs*: event kinds and revs', () => {
    const s = store();
    ok(set(s, '/x', 'a'));
    ok(del(s, '/x'));
    expect(wait(s, '/x', 1)).toEqual({ path: '/x', rev: 1, kind: 'set', value: te.encode('a') });
    // coord differs: a delete event carries the revision of the delete (Doozer: 0).
    expect(wait(s, '/x', 2)).toEqual({ path: '/x', rev: 2, kind: 'delete' });
  });
});

describe('getter_test.go', () => {
  function tree(): Store {
    const s = store();
    for (const p of ['/d/x', '/d/y', '/d/z/a', '/d/a/z', '/dx', '/e/x', '/d/b/c/d']) ok(set(s, p, p));
    return s;
  }

  it('TestWalk: /d/** gives only the files below /d, in sorted depth-first order', () => {
    expect(tree().walk('/d/**').files.map((f) => f.path))
      .toEqual(['/d/a/z', '/d/b/c/d', '/d/x', '/d/y', '/d/z/a']);
  });

  it('TestWalkOneLevel: /d/*/* gives only the files two levels below /d', () => {
    expect(tree().walk('/d/*/*').files.map((f) => f.path)).toEqual(['/d/a/z', '/d/z/a']);
  });

  it('TestWalkStop: a walk stops at its limit and resumes after the last path', () => {
    const s = tree();
    const first = s.walk('/d/**', undefined, undefined, 2);
    expect(first.files.map((f) => f.path)).toEqual(['/d/a/z', '/d/b/c/d']);
    expect(first.more).toBe(true);
    const rest = s.walk('/d/**', undefined, '/d/b/c/d', 10);
    expect(rest.files.map((f) => f.path)).toEqual(['/d/x', '/d/y', '/d/z/a']);
    expect(rest.more).toBe(false);
    expect(rest.files[0]).toEqual({ path: '/d/x', rev: 1, value: te.encode('/d/x') });
  });
});

describe('peer_test.go (a single node, expressed on the store)', () => {
  it('TestDoozerNop: NOP succeeds', () => {
    expect(store().apply({ t: 'noop' }).ok).toBe(true);
  });

  it('TestDoozerGet: SET /x rev 0 "a", then GET gives "a" at the SET\'s rev', () => {
    const s = store();
    const r = ok(set(s, '/x', 'a', 0));
    expect(getText(s, '/x')).toEqual({ value: 'a', rev: r });
    expect(s.stat('/x').kind).toBe('file');
  });

  it('TestDoozerSet: 10 clobber sets succeed, then SET rev 0 is REV_MISMATCH', () => {
    const s = store();
    for (let i = 1; i <= 10; i++) expect(ok(set(s, '/x', String(i)))).toBe(i);
    expect(refusal(set(s, '/x', 'no', 0))).toEqual({ code: ErrorCode.REV_MISMATCH, details: { path: '/x', rev: 10 } });
  });

  it('TestDoozerGetWithRev: GET at an old rev gives the old value; SET with that rev succeeds', () => {
    const s = store();
    const rev1 = ok(set(s, '/x', 'a', 0));
    expect(getText(s, '/x', rev1)).toEqual({ value: 'a', rev: rev1 });
    const rev2 = ok(set(s, '/x', 'b', rev1));
    expect(getText(s, '/x')).toEqual({ value: 'b', rev: rev2 });
    expect(getText(s, '/x', rev1)).toEqual({ value: 'a', rev: rev1 });
    expect(s.get('/x', rev1).at).toBe(rev1);
  });

  it('TestDoozerWait*: WAIT /test/** walks the events one by one, deletes included', () => {
    const s = store();
    ok(set(s, '/other', 'x'));
    const r1 = ok(set(s, '/test/foo', 'bar'));
    const r2 = ok(set(s, '/test/fun', 'house'));
    const r3 = ok(del(s, '/test/foo'));
    expect(wait(s, '/test/**', 1)).toEqual({ path: '/test/foo', rev: r1, kind: 'set', value: te.encode('bar') });
    expect(wait(s, '/test/**', r1 + 1)).toMatchObject({ path: '/test/fun', rev: r2, kind: 'set' });
    expect(wait(s, '/test/**', r2 + 1)).toEqual({ path: '/test/foo', rev: r3, kind: 'delete' });
    expect(wait(s, '/test/**', r3 + 1)).toBeUndefined();
  });

  it('TestDoozerStat: a directory gives its entry count; a file its length and rev', () => {
    const s = store();
    ok(set(s, '/test/foo', 'bar'));
    const r = ok(set(s, '/test/fun', 'house'));
    expect(s.stat('/test')).toMatchObject({ kind: 'dir', rev: 0, children: 2 });
    expect(s.stat('/test/fun')).toMatchObject({ kind: 'file', rev: r, length: 5 });
  });

  it('TestDoozerGetdir*: names in order, pages, NOTDIR on a file, NOENT when missing', () => {
    const s = store();
    for (const n of ['c', 'a', 'b']) ok(set(s, `/test/${n}`, n));
    expect(s.getdir('/test')).toEqual({ names: ['a', 'b', 'c'], at: 3, more: false });
    // coord differs: pages continue after a name instead of an offset; the end is `more: false`.
    expect(s.getdir('/test', undefined, 'c')).toEqual({ names: [], at: 3, more: false });
    expect(s.getdir('/test', undefined, 'a', 2)).toEqual({ names: ['b', 'c'], at: 3, more: false });
    expect(s.getdir('/test', undefined, undefined, 2)).toEqual({ names: ['a', 'b'], at: 3, more: true });
    expect(thrown(() => s.getdir('/test/a'))).toEqual({ code: ErrorCode.NOTDIR, details: { path: '/test/a' } });
    expect(thrown(() => s.getdir('/nope'))).toEqual({ code: ErrorCode.NOENT, details: { path: '/nope' } });
  });

  it('TestPeerLateJoin: a store restored after its history was cleaned serves and accepts writes', () => {
    const s = store(3);
    for (let i = 0; i < 10; i++) ok(set(s, `/k${i % 4}`, String(i)));
    const late = Store.fromSnapshot(structuredClone(s.toSnapshot()), { historyRevisions: 3 });
    expect(late.oldestRev).toBe(7);
    expect(thrown(() => late.get('/k0', 6)).code).toBe(ErrorCode.TOO_LATE);
    expect(getText(late, '/k0', 7)).toEqual(getText(s, '/k0', 7));
    expect(wait(late, '/**', 8)).toEqual(wait(s, '/**', 8));
    expect(ok(set(late, '/k0', 'new'))).toBe(11);
    expect(ok(set(s, '/k0', 'new'))).toBe(11);
    expect(late.walk('/**')).toEqual(s.walk('/**'));
  });
});

describe('gc, session and historical tests', () => {
  it('clean_test.go: with hist 3 and 4 revs, WAIT from 1 is TOO_LATE', () => {
    const s = store(3);
    for (let i = 0; i < 4; i++) ok(set(s, '/x', String(i)));
    expect(thrown(() => wait(s, '/**', 1))).toEqual({ code: ErrorCode.TOO_LATE, details: { oldestRev: 2 } });
    expect(wait(s, '/**', 2)).toMatchObject({ rev: 2 });
  });

  it('doozer_test.go@e7080cc^: WALK at rev R sees only the files that existed at R', () => {
    const s = store();
    ok(set(s, '/a', '1'));
    ok(set(s, '/b', '2'));
    ok(del(s, '/a'));
    ok(set(s, '/c', '3'));
    expect(s.walk('/**', 2).files.map((f) => f.path)).toEqual(['/a', '/b']);
    expect(s.walk('/**', 3).files.map((f) => f.path)).toEqual(['/b']);
    expect(s.walk('/**').files.map((f) => f.path)).toEqual(['/b', '/c']);
  });

  it('doozer_test.go@e7080cc^: WALK with offset 1, limit 2 over a..d gives b, c', () => {
    const s = store();
    for (const n of ['a', 'b', 'c', 'd']) ok(set(s, `/${n}`, n));
    const page = s.walk('/*', undefined, '/a', 2);
    expect(page.files.map((f) => f.path)).toEqual(['/b', '/c']);
    expect(page.more).toBe(true);
  });

  it('session_test.go@b21e079^: an expired session\'s file is deleted', () => {
    const s = store();
    s.apply({ t: 'open', sid: 's', secret: 'k', ttlMs: 5000 });
    ok(set(s, '/session/s', 'alive', 0, { sid: 's' }));
    ok(s.apply({ t: 'txn', conds: [], ops: [{ op: 'set', path: '/lock', value: te.encode('s'), ephemeral: true }], sid: 's' }));
    expect(s.apply({ t: 'expire', sid: 's' })).toEqual({ ok: true, rev: 3, changed: 1 });
    expect(s.get('/lock').rev).toBe(0);
    expect(wait(s, '/lock', 3)).toEqual({ path: '/lock', rev: 3, kind: 'delete' });
    // A file the session wrote without `ephemeral` outlives it.
    expect(getText(s, '/session/s').value).toBe('alive');
  });
});
