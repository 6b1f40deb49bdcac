/**
 * Request validation at the edge (protocol/validate.ts).
 *
 * Method: for every op, a well-formed request is parsed and the typed result checked field by
 * field (optional arguments absent or nil are left out); then each argument is broken one way at
 * a time (missing, wrong type, out of range, over its named limit) and the exact error code is
 * checked. Requests are built as the decoder would hand them over: plain objects, binary values
 * as Uint8Array. A last group checks requestId(), which the connection uses to decide whether a
 * frame can be answered at all.
 */
import { describe, expect, it } from 'vitest';
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import { limits, PROTOCOL_VERSION } from '../../protocol/limits.ts';
import { ops } from '../../protocol/messages.ts';
import { parseRequest, requestId } from '../../protocol/validate.ts';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));
/** What a string value becomes: its UTF-8 bytes (a Buffer, which is a Uint8Array). */
const utf8 = (s: string) => Buffer.from(s, 'utf8');

/** The code parseRequest refuses `msg` with, or null if it accepts it. */
function refusal(msg: unknown): string | null {
  try {
    parseRequest(msg);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(CoordError);
    expect((err as CoordError).message.length).toBeGreaterThan(0);
    return (err as CoordError).code;
  }
}

const { BAD_REQUEST, BAD_PATH, BAD_GLOB, TOO_LARGE, UNKNOWN_OP, BAD_VERSION } = ErrorCode;

describe('every request', () => {
  it('must be a map with a non-negative integer id and a known string op', () => {
    for (const notMap of [null, 1, 'x', [1, 2], bytes('x'), true]) expect(refusal(notMap)).toBe(BAD_REQUEST);
    expect(refusal({ op: 'rev' })).toBe(BAD_REQUEST);
    expect(refusal({ id: -1, op: 'rev' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1.5, op: 'rev' })).toBe(BAD_REQUEST);
    expect(refusal({ id: '1', op: 'rev' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 2 ** 53, op: 'rev' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 7 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'GET', path: '/a' })).toBe(UNKNOWN_OP);
    expect(refusal({ id: 1, op: 'nop' })).toBe(UNKNOWN_OP);
    expect(refusal({ id: 1, op: '' })).toBe(UNKNOWN_OP);
    expect(parseRequest({ id: 0, op: 'rev' })).toEqual({ id: 0, op: 'rev' });
    expect(parseRequest({ id: 2 ** 53 - 1, op: 'rev' })).toEqual({ id: 2 ** 53 - 1, op: 'rev' });
  });

  it('loses unknown fields (they are ignored, not refused)', () => {
    expect(parseRequest({ id: 3, op: 'ping', extra: 'x', path: 5 })).toEqual({ id: 3, op: 'ping' });
    expect(parseRequest({ id: 3, op: 'close', extra: 1 })).toEqual({ id: 3, op: 'close' });
    expect(parseRequest({ id: 3, op: 'get', path: '/a', foo: 1 })).toEqual({ id: 3, op: 'get', path: '/a' });
  });

  it('treats an optional argument sent as nil as absent', () => {
    expect(parseRequest({ id: 1, op: 'get', path: '/a', rev: null })).toEqual({ id: 1, op: 'get', path: '/a' });
    expect(parseRequest({ id: 1, op: 'set', path: '/a', value: '', rev: null, ephemeral: null, seq: null }))
      .toEqual({ id: 1, op: 'set', path: '/a', value: utf8('') });
  });

  it('every op in the op list is parsed by some case (none falls through)', () => {
    const minimal: Record<string, Record<string, unknown>> = {
      hello: { version: PROTOCOL_VERSION }, get: { path: '/a' }, set: { path: '/a', value: '' },
      del: { path: '/a' }, rev: {}, stat: { path: '/a' }, getdir: { path: '/' }, walk: { glob: '/**' },
      wait: { glob: '/a' }, watch: { glob: '/a' }, cancel: { target: 1 }, txn: { ops: [] },
      ping: {}, close: {}, progress: { target: 1 }, acl: { action: 'whoami' },
    };
    expect(Object.keys(minimal).sort()).toEqual([...ops].sort());
    for (const op of ops) expect(parseRequest({ id: 1, op, ...minimal[op] })).toMatchObject({ id: 1, op });
  });
});

describe('acl', () => {
  const acl = (extra: Record<string, unknown>) => ({ id: 3, op: 'acl', ...extra });
  const token = 'a-token-of-16-chars';

  it('takes each action with its arguments', () => {
    expect(parseRequest(acl({ action: 'user-add', user: 'svc', token, roles: ['app'], seq: 2 })))
      .toEqual({ id: 3, op: 'acl', action: 'user-add', user: 'svc', token, roles: ['app'], seq: 2 });
    expect(parseRequest(acl({ action: 'role-grant', role: 'app', prefix: '/app', access: 'read' })))
      .toEqual({ id: 3, op: 'acl', action: 'role-grant', role: 'app', prefix: '/app', access: 'read' });
    for (const action of ['enable', 'disable', 'list', 'whoami']) expect(parseRequest(acl({ action }))).toEqual({ id: 3, op: 'acl', action });
  });

  it('refuses a bad action, name, token, prefix or access, never echoing the token', () => {
    expect(refusal(acl({ action: 'sudo' }))).toBe(BAD_REQUEST);
    expect(refusal(acl({ action: 'user-add', user: 'a b', token }))).toBe(BAD_REQUEST);
    expect(refusal(acl({ action: 'user-add', user: 'x'.repeat(65), token }))).toBe(BAD_REQUEST);
    expect(refusal(acl({ action: 'user-add', user: 'svc' }))).toBe(BAD_REQUEST);
    expect(refusal(acl({ action: 'user-add', user: 'svc', token, roles: 'app' }))).toBe(BAD_REQUEST);
    expect(refusal(acl({ action: 'role-grant', role: 'app', prefix: 'app', access: 'read' }))).toBe('BAD_PATH');
    expect(refusal(acl({ action: 'role-grant', role: 'app', prefix: '/app', access: 'write' }))).toBe(BAD_REQUEST);
    const short = 'short token!';
    let message = '';
    try { parseRequest(acl({ action: 'user-token', user: 'svc', token: short })); } catch (e) { message = (e as Error).message; }
    expect(message).toMatch(/16–256 printable/);
    expect(message).not.toContain(short);
  });
});

describe('hello', () => {
  const hello = (extra: Record<string, unknown> = {}) => ({ id: 0, op: 'hello', version: PROTOCOL_VERSION, ...extra });

  it('opens with an optional ttlMs within the session TTL bounds', () => {
    expect(parseRequest(hello())).toEqual({ id: 0, op: 'hello', version: 1 });
    expect(parseRequest(hello({ ttlMs: limits.sessionTtlMsMin }))).toMatchObject({ ttlMs: limits.sessionTtlMsMin });
    expect(parseRequest(hello({ ttlMs: limits.sessionTtlMsMax }))).toMatchObject({ ttlMs: limits.sessionTtlMsMax });
    expect(refusal(hello({ ttlMs: limits.sessionTtlMsMin - 1 }))).toBe(BAD_REQUEST);
    expect(refusal(hello({ ttlMs: limits.sessionTtlMsMax + 1 }))).toBe(BAD_REQUEST);
    expect(refusal(hello({ ttlMs: 1500.5 }))).toBe(BAD_REQUEST);
    expect(refusal(hello({ ttlMs: '5000' }))).toBe(BAD_REQUEST);
  });

  it('resumes with session {id, secret}', () => {
    expect(parseRequest(hello({ session: { id: 'ab', secret: 'cd' } })))
      .toEqual({ id: 0, op: 'hello', version: 1, session: { id: 'ab', secret: 'cd' } });
    expect(parseRequest(hello({ session: null }))).toEqual({ id: 0, op: 'hello', version: 1 });
    expect(refusal(hello({ session: 'ab' }))).toBe(BAD_REQUEST);
    expect(refusal(hello({ session: ['ab', 'cd'] }))).toBe(BAD_REQUEST);
    expect(refusal(hello({ session: { id: 'ab' } }))).toBe(BAD_REQUEST);
    expect(refusal(hello({ session: { secret: 'cd' } }))).toBe(BAD_REQUEST);
    expect(refusal(hello({ session: { id: 1, secret: 'cd' } }))).toBe(BAD_REQUEST);
  });

  it('needs the version this server speaks', () => {
    expect(refusal({ id: 0, op: 'hello' })).toBe(BAD_REQUEST);
    expect(refusal(hello({ version: 'one' }))).toBe(BAD_REQUEST);
    expect(refusal(hello({ version: -1 }))).toBe(BAD_REQUEST);
    expect(refusal(hello({ version: 0 }))).toBe(BAD_VERSION);
    expect(refusal(hello({ version: PROTOCOL_VERSION + 1 }))).toBe(BAD_VERSION);
  });
});

describe('get and stat', () => {
  it.each(['get', 'stat'])('%s: path required, rev optional and ≥ 0', (op) => {
    expect(parseRequest({ id: 1, op, path: '/a' })).toEqual({ id: 1, op, path: '/a' });
    expect(parseRequest({ id: 1, op, path: '/a', rev: 0 })).toEqual({ id: 1, op, path: '/a', rev: 0 });
    expect(parseRequest({ id: 1, op, path: '/', rev: 9 })).toEqual({ id: 1, op, path: '/', rev: 9 });
    expect(refusal({ id: 1, op })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op, path: null })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op, path: 5 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op, path: 'a' })).toBe(BAD_PATH);
    expect(refusal({ id: 1, op, path: '/a/' })).toBe(BAD_PATH);
    expect(refusal({ id: 1, op, path: '/' + 'a'.repeat(limits.pathBytesMax) })).toBe(TOO_LARGE);
    // Reads take a revision, never the write sentinel -1.
    expect(refusal({ id: 1, op, path: '/a', rev: -1 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op, path: '/a', rev: -2 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op, path: '/a', rev: 1.5 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op, path: '/a', rev: '3' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op, path: '/a', rev: 2 ** 53 })).toBe(BAD_REQUEST);
  });
});

describe('set', () => {
  const set = (extra: Record<string, unknown> = {}) => ({ id: 1, op: 'set', path: '/a', value: bytes('v'), ...extra });

  it('takes path, value, and optional rev, ephemeral, seq, seqFloor', () => {
    expect(parseRequest(set())).toEqual({ id: 1, op: 'set', path: '/a', value: bytes('v') });
    expect(parseRequest(set({ rev: -1, ephemeral: true, seq: 4, seqFloor: 2 }))).toEqual({
      id: 1, op: 'set', path: '/a', value: bytes('v'), rev: -1, ephemeral: true, seq: 4, seqFloor: 2,
    });
    expect(parseRequest(set({ rev: 0 }))).toMatchObject({ rev: 0 });
    expect(parseRequest(set({ rev: 123 }))).toMatchObject({ rev: 123 });
  });

  it('refuses missing or malformed arguments', () => {
    expect(refusal({ id: 1, op: 'set', value: bytes('v') })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'set', path: '/a' })).toBe(BAD_REQUEST);
    expect(refusal(set({ path: '/a b' }))).toBe(BAD_PATH);
    expect(refusal(set({ rev: -2 }))).toBe(BAD_REQUEST);
    expect(refusal(set({ rev: -123 }))).toBe(BAD_REQUEST);
    expect(refusal(set({ rev: 0.5 }))).toBe(BAD_REQUEST);
    expect(refusal(set({ ephemeral: 1 }))).toBe(BAD_REQUEST);
    expect(refusal(set({ ephemeral: 'yes' }))).toBe(BAD_REQUEST);
  });

  it('accepts a value as bin or as a string (stored as its UTF-8 bytes), nothing else', () => {
    expect(parseRequest(set({ value: 'héllo' }))).toMatchObject({ value: utf8('héllo') });
    expect((parseRequest(set({ value: 'x' })) as { value: unknown }).value).toBeInstanceOf(Uint8Array);
    expect(parseRequest(set({ value: new Uint8Array() }))).toMatchObject({ value: new Uint8Array() });
    expect(parseRequest(set({ value: '' }))).toMatchObject({ value: utf8('') });
    for (const v of [42, 0, true, null, undefined, [1, 2], { a: 1 }]) expect(refusal(set({ value: v }))).toBe(BAD_REQUEST);
  });

  it('refuses a value over limits.valueBytesMax with TOO_LARGE', () => {
    expect(refusal(set({ value: new Uint8Array(limits.valueBytesMax) }))).toBeNull();
    expect(refusal(set({ value: new Uint8Array(limits.valueBytesMax + 1) }))).toBe(TOO_LARGE);
    // A string counts in UTF-8 bytes: 2 bytes per é.
    expect(refusal(set({ value: 'é'.repeat(limits.valueBytesMax / 2) }))).toBeNull();
    expect(refusal(set({ value: 'é'.repeat(limits.valueBytesMax / 2) + 'x' }))).toBe(TOO_LARGE);
  });

  it('checks seq and seqFloor', () => {
    expect(refusal(set({ seq: 0 }))).toBe(BAD_REQUEST);
    expect(refusal(set({ seq: -1 }))).toBe(BAD_REQUEST);
    expect(refusal(set({ seq: 1.5 }))).toBe(BAD_REQUEST);
    expect(refusal(set({ seqFloor: 1 }))).toBe(BAD_REQUEST); // a floor needs a seq
    expect(refusal(set({ seq: 3, seqFloor: 4 }))).toBe(BAD_REQUEST);
    expect(refusal(set({ seq: 3, seqFloor: -1 }))).toBe(BAD_REQUEST);
    expect(parseRequest(set({ seq: 3, seqFloor: 3 }))).toMatchObject({ seq: 3, seqFloor: 3 });
    expect(parseRequest(set({ seq: 3, seqFloor: 0 }))).toMatchObject({ seq: 3, seqFloor: 0 });
  });
});

describe('del', () => {
  it('takes path and optional rev, seq, seqFloor', () => {
    expect(parseRequest({ id: 1, op: 'del', path: '/a' })).toEqual({ id: 1, op: 'del', path: '/a' });
    expect(parseRequest({ id: 1, op: 'del', path: '/a', rev: 7, seq: 2, seqFloor: 1 }))
      .toEqual({ id: 1, op: 'del', path: '/a', rev: 7, seq: 2, seqFloor: 1 });
    expect(refusal({ id: 1, op: 'del' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'del', path: '//' })).toBe(BAD_PATH);
    expect(refusal({ id: 1, op: 'del', path: '/a', rev: -2 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'del', path: '/a', seq: 2, seqFloor: 3 })).toBe(BAD_REQUEST);
  });
});

describe('getdir and walk', () => {
  it('getdir: path, optional rev, after (a name), limit 1..pageEntriesMax', () => {
    expect(parseRequest({ id: 1, op: 'getdir', path: '/d', rev: 3, after: 'b', limit: 2 }))
      .toEqual({ id: 1, op: 'getdir', path: '/d', rev: 3, after: 'b', limit: 2 });
    expect(parseRequest({ id: 1, op: 'getdir', path: '/', limit: limits.pageEntriesMax })).toMatchObject({ limit: limits.pageEntriesMax });
    expect(refusal({ id: 1, op: 'getdir' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'getdir', path: '/d', limit: 0 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'getdir', path: '/d', limit: -5 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'getdir', path: '/d', limit: limits.pageEntriesMax + 1 })).toBe(TOO_LARGE);
    expect(refusal({ id: 1, op: 'getdir', path: '/d', after: 3 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'getdir', path: '/d', rev: -1 })).toBe(BAD_REQUEST);
  });

  it('walk: glob, optional rev, after (a path), limit', () => {
    expect(parseRequest({ id: 1, op: 'walk', glob: '/d/**', after: '/d/b', limit: 10 }))
      .toEqual({ id: 1, op: 'walk', glob: '/d/**', after: '/d/b', limit: 10 });
    expect(refusal({ id: 1, op: 'walk' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'walk', path: '/d' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'walk', glob: '/d[' })).toBe(BAD_GLOB);
    expect(refusal({ id: 1, op: 'walk', glob: '/' + '*'.repeat(limits.pathBytesMax) })).toBe(TOO_LARGE);
    expect(refusal({ id: 1, op: 'walk', glob: '/**', limit: limits.pageEntriesMax + 1 })).toBe(TOO_LARGE);
  });
});

describe('wait, watch and cancel', () => {
  it('wait: glob and optional rev ≥ 0', () => {
    expect(parseRequest({ id: 1, op: 'wait', glob: '/a/*' })).toEqual({ id: 1, op: 'wait', glob: '/a/*' });
    expect(parseRequest({ id: 1, op: 'wait', glob: '/a/*', rev: 5 })).toMatchObject({ rev: 5 });
    expect(refusal({ id: 1, op: 'wait' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'wait', glob: 'a' })).toBe(BAD_GLOB);
    expect(refusal({ id: 1, op: 'wait', glob: '/a', rev: -1 })).toBe(BAD_REQUEST);
  });

  it('watch: glob and optional fromRev ≥ 0', () => {
    expect(parseRequest({ id: 1, op: 'watch', glob: '/**', fromRev: 0 })).toEqual({ id: 1, op: 'watch', glob: '/**', fromRev: 0 });
    expect(refusal({ id: 1, op: 'watch', glob: '/**', fromRev: -2 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'watch', glob: '/a/' })).toBe(BAD_GLOB);
  });

  it('watch: optional progressMs, an integer from watchProgressMsMin to watchProgressMsMax', () => {
    const { watchProgressMsMin: min, watchProgressMsMax: max } = limits;
    expect(parseRequest({ id: 1, op: 'watch', glob: '/a', progressMs: min })).toEqual({ id: 1, op: 'watch', glob: '/a', progressMs: min });
    expect(parseRequest({ id: 1, op: 'watch', glob: '/a', progressMs: max })).toMatchObject({ progressMs: max });
    expect(parseRequest({ id: 1, op: 'watch', glob: '/a', progressMs: null })).toEqual({ id: 1, op: 'watch', glob: '/a' });
    for (const progressMs of [min - 1, max + 1, 0, -5, 150.5, '1000', true, [1000]]) {
      expect(refusal({ id: 1, op: 'watch', glob: '/a', progressMs })).toBe(BAD_REQUEST);
    }
    try {
      parseRequest({ id: 1, op: 'watch', glob: '/a', progressMs: 5 });
    } catch (err) {
      expect((err as CoordError).message).toBe(`progressMs must be an integer from ${min} to ${max} (milliseconds), got 5`);
    }
  });

  it('progress: target required (an integer ≥ 0), optional serializable', () => {
    expect(parseRequest({ id: 2, op: 'progress', target: 1 })).toEqual({ id: 2, op: 'progress', target: 1 });
    expect(parseRequest({ id: 2, op: 'progress', target: 0, serializable: true })).toEqual({ id: 2, op: 'progress', target: 0, serializable: true });
    expect(refusal({ id: 2, op: 'progress' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 2, op: 'progress', target: -1 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 2, op: 'progress', target: '1' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 2, op: 'progress', target: 1, serializable: 'yes' })).toBe(BAD_REQUEST);
  });

  it('a glob of the wrong type is a malformed request, not a bad glob', () => {
    for (const op of ['wait', 'watch', 'walk']) {
      expect(refusal({ id: 1, op, glob: 5 })).toBe(BAD_REQUEST);
      expect(refusal({ id: 1, op, glob: null })).toBe(BAD_REQUEST);
      expect(refusal({ id: 1, op, glob: bytes('/a') })).toBe(BAD_REQUEST);
    }
  });

  it('cancel: target required, an integer ≥ 0', () => {
    expect(parseRequest({ id: 2, op: 'cancel', target: 1 })).toEqual({ id: 2, op: 'cancel', target: 1 });
    expect(refusal({ id: 2, op: 'cancel' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 2, op: 'cancel', target: -1 })).toBe(BAD_REQUEST);
    expect(refusal({ id: 2, op: 'cancel', target: '1' })).toBe(BAD_REQUEST);
  });
});

describe('txn', () => {
  const setOp = (path: string, extra: Record<string, unknown> = {}) => ({ op: 'set', path, value: 'v', ...extra });
  const many = (n: number, f: (i: number) => unknown) => Array.from({ length: n }, (_, i) => f(i));

  it('takes conds (optional) and ops, each checked like its own op', () => {
    expect(parseRequest({
      id: 1, op: 'txn', seq: 9,
      conds: [{ path: '/c', rev: 0 }, { path: '/c', rev: 4 }],
      ops: [setOp('/a', { rev: 3, ephemeral: true }), { op: 'del', path: '/b', rev: -1 }, { op: 'del', path: '/c' }],
    })).toEqual({
      id: 1, op: 'txn', seq: 9,
      conds: [{ path: '/c', rev: 0 }, { path: '/c', rev: 4 }],
      ops: [
        { op: 'set', path: '/a', value: utf8('v'), rev: 3, ephemeral: true },
        { op: 'del', path: '/b', rev: -1 },
        { op: 'del', path: '/c' },
      ],
    });
    expect(parseRequest({ id: 1, op: 'txn', ops: [] })).toEqual({ id: 1, op: 'txn', conds: [], ops: [] });
  });

  it('refuses malformed conds and ops', () => {
    expect(refusal({ id: 1, op: 'txn' })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: {} })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: [], conds: {} })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: [], conds: ['/a'] })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: [], conds: [{ path: '/a' }] })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: [], conds: [{ path: '/a', rev: -2 }] })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: [], conds: [{ path: 'a', rev: 0 }] })).toBe(BAD_PATH);
    expect(refusal({ id: 1, op: 'txn', ops: ['set'] })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: [{ op: 'get', path: '/a' }] })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: [{ op: 'set', path: '/a' }] })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: [setOp('/a', { value: 1 })] })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: [setOp('/a', { rev: -2 })] })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: [setOp('/a/')] })).toBe(BAD_PATH);
    expect(refusal({ id: 1, op: 'txn', ops: [setOp('/a', { value: new Uint8Array(limits.valueBytesMax + 1) })] })).toBe(TOO_LARGE);
    expect(refusal({ id: 1, op: 'txn', ops: [], seqFloor: 1 })).toBe(BAD_REQUEST);
  });

  it('refuses a path written twice in one txn (conditions may repeat)', () => {
    expect(refusal({ id: 1, op: 'txn', ops: [setOp('/a'), setOp('/b'), { op: 'del', path: '/a' }] })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', ops: [setOp('/a'), setOp('/a')] })).toBe(BAD_REQUEST);
    expect(refusal({ id: 1, op: 'txn', conds: [{ path: '/a', rev: 1 }, { path: '/a', rev: 2 }], ops: [setOp('/a')] })).toBeNull();
  });

  it(`allows ${limits.txnOpsMax} ops and ${limits.txnOpsMax} conds, refuses one more with TOO_LARGE`, () => {
    const ops = many(limits.txnOpsMax, (i) => setOp(`/k${i}`));
    const conds = many(limits.txnOpsMax, (i) => ({ path: `/c${i}`, rev: 0 }));
    expect(refusal({ id: 1, op: 'txn', conds, ops })).toBeNull();
    expect(refusal({ id: 1, op: 'txn', ops: [...ops, setOp('/one-more')] })).toBe(TOO_LARGE);
    expect(refusal({ id: 1, op: 'txn', conds: [...conds, { path: '/x', rev: 0 }], ops: [] })).toBe(TOO_LARGE);
    expect(limits.txnOpsMax + 1).toBe(129);
  });
});

describe('requestId', () => {
  it('is the id of a map with a non-negative safe integer id, else null', () => {
    expect(requestId({ id: 0 })).toBe(0);
    expect(requestId({ id: 41, op: 'nonsense' })).toBe(41);
    expect(requestId({ id: 2 ** 53 - 1 })).toBe(2 ** 53 - 1);
    for (const x of [null, undefined, 0, 'id', [{ id: 1 }], bytes('x'), new Uint8Array([1]), true]) {
      expect(requestId(x)).toBeNull();
    }
    for (const id of [undefined, null, -1, 1.5, '1', 2 ** 53, Number.NaN, Infinity, [1]]) {
      expect(requestId({ id })).toBeNull();
    }
  });
});
