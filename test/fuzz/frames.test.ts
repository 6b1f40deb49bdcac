// Method: seeded fast-check fuzzing of the wire edge. `coord server` runs as a child process (a
// crash is an exit, not a dead test worker). Each burst throws generated frames at it from four
// raw connections that said hello plus fresh connections that did not: valid requests of every
// op, the same with one field replaced by junk of the wrong type (huge and non-integer numbers,
// long and non-ASCII strings, bin, nested maps and arrays) or removed, valid frames with bytes
// flipped, cut, inserted or appended, random bytes, text frames (valid and invalid UTF-8), very
// deeply nested frames and frames over frameBytesMax. A frame is sent once the previous one on
// its connection has been answered or has closed the connection, so every outcome is tied to
// its frame. Oracle, frame by frame: a frame the server cannot answer (not msgpack, not a map,
// no valid id, text, too big) closes the connection with its CloseCode; any other is answered
// under its id with a result of the op's shape or an error whose code is in the catalog (never
// INTERNAL). After each burst: the process is alive and logged no error; a fresh SDK client can
// set and get; every revision the burst made is explained by a frame it sent (path and value
// appear in that frame) and every answered SET is in the history at its rev; data written
// before the fuzzing (including an ephemeral file of a live session) is intact.
//
// Frames of every kind are sent, including undecodable ones quoting non-ASCII text (their close
// reason once overflowed ws's 123-byte limit and crashed the server) and arguments nested
// thousands of levels deep (once answered INTERNAL); whole frames nested 20 000+ levels deep
// fail to decode, which closes the connection with 1002.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type CoordClient } from '../../client/index.ts';
import { decode, encode, FrameError } from '../../protocol/codec.ts';
import { CloseCode, ErrorCode, errorCodes } from '../../protocol/errors.ts';
import { limits } from '../../protocol/limits.ts';
import type { Event } from '../../protocol/messages.ts';
import { RawClient, type RawMessage } from '../helpers/raw-client.ts';
import { removeDir, spawnServer, tempDir, type ChildServer } from '../helpers/server.ts';

const SEED = Number(process.env.COORD_FUZZ_SEED ?? 20261122);
const BURSTS = 12;
const FRAMES_PER_BURST = { minLength: 60, maxLength: 90 };
const MAIN_CONNECTIONS = 4;
/** A frame that needs no wait for a future revision must be answered within this. */
const ANSWER_DEADLINE_MS = 5000;
/** How long a frame that may legitimately wait (WAIT, read at a future rev) is given. */
const PENDING_GRACE_MS = 40;

// ------------------------------------------------------------------ generators

type Body = Record<string, unknown>;
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 3 });
const name = fc.stringMatching(/^[a-z0-9_-]{1,6}$/);
const path = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('/fz/a', '/fz/b', '/fz/d/e', '/fz/d', '/fz/e/f/g', '/fz/c') },
  { weight: 3, arbitrary: name.map((n) => `/fz/${n}`) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('/', '/fz', 'fz', '/fz/', '/fz//a', '/fz/..', '/fz/é', '', '/fz/a b'), fc.string({ maxLength: 12, unit: 'binary' })) },
);
const glob = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('/fz/**', '/fz/*', '/**', '/fz/?', '/fz/d/*', '/nomatch/**', '/fz/a', '/fz/*/**') },
  { weight: 1, arbitrary: fc.constantFrom('fz', '/fz//x', '/fz/', '/fz/[a]', '', '/' + 'a'.repeat(1100)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);
const value = fc.oneof(fc.uint8Array({ maxLength: 24 }), fc.string({ maxLength: 12, unit: 'grapheme' }));
const readRev = fc.oneof(fc.integer({ min: 0, max: 60 }), fc.constantFrom(-1, 10 ** 9));
const writeRev = fc.oneof(fc.constantFrom(-1, 0, -2, 10 ** 12), fc.integer({ min: 0, max: 400 }));
/** Mostly no seq or a well-formed (seq, seqFloor); sometimes anything. */
const seqs: fc.Arbitrary<Body> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({}) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 10_000 }).chain((seq) => fc.record({ seq: fc.constant(seq), seqFloor: fc.integer({ min: 0, max: seq }) }, { requiredKeys: ['seq'] })) },
  { weight: 1, arbitrary: fc.record({ seq: fc.integer({ min: 0, max: 30 }), seqFloor: fc.integer({ min: 0, max: 30 }) }, { requiredKeys: [] }) },
);
const withSeqs = (arb: fc.Arbitrary<Body>): fc.Arbitrary<Body> => fc.tuple(arb, seqs).map(([b, q]) => ({ ...b, ...q }));
const txnOp = fc.oneof(
  fc.record({ op: fc.constant('set'), path, value, rev: opt(writeRev), ephemeral: opt(fc.boolean()) }, { requiredKeys: ['op', 'path', 'value'] }),
  fc.record({ op: fc.constant('del'), path, rev: opt(writeRev) }, { requiredKeys: ['op', 'path'] }),
);
const rec = (model: Record<string, fc.Arbitrary<unknown>>, required: string[]) =>
  fc.record(model, { requiredKeys: required }) as fc.Arbitrary<Body>;

const requests: Record<string, fc.Arbitrary<Body>> = {
  hello: rec({
    op: fc.constant('hello'), version: fc.constantFrom(1, 1, 1, 0, 2),
    ttlMs: fc.integer({ min: 500, max: 400_000 }),
    session: fc.record({ id: fc.stringMatching(/^[0-9a-f]{0,16}$/), secret: fc.stringMatching(/^[0-9a-f]{0,32}$/) }),
  }, ['op', 'version']),
  get: rec({ op: fc.constant('get'), path, rev: readRev }, ['op', 'path']),
  stat: rec({ op: fc.constant('stat'), path, rev: readRev }, ['op', 'path']),
  set: withSeqs(rec({ op: fc.constant('set'), path, value, rev: writeRev, ephemeral: fc.boolean() }, ['op', 'path', 'value'])),
  del: withSeqs(rec({ op: fc.constant('del'), path, rev: writeRev }, ['op', 'path'])),
  rev: rec({ op: fc.constant('rev') }, ['op']),
  ping: rec({ op: fc.constant('ping') }, ['op']),
  close: rec({ op: fc.constant('close') }, ['op']),
  getdir: rec({ op: fc.constant('getdir'), path, rev: readRev, after: fc.string({ maxLength: 4 }), limit: fc.integer({ min: 0, max: 20 }) }, ['op', 'path']),
  walk: rec({ op: fc.constant('walk'), glob, rev: readRev, after: path, limit: fc.integer({ min: 0, max: 20 }) }, ['op', 'glob']),
  wait: rec({ op: fc.constant('wait'), glob, rev: readRev }, ['op', 'glob']),
  watch: rec({ op: fc.constant('watch'), glob, fromRev: readRev }, ['op', 'glob']),
  cancel: rec({ op: fc.constant('cancel'), target: fc.integer({ min: 0, max: 100 }) }, ['op', 'target']),
  txn: withSeqs(rec({
    op: fc.constant('txn'), conds: fc.array(fc.record({ path, rev: writeRev }), { maxLength: 3 }),
    ops: fc.array(txnOp, { maxLength: 4 }),
  }, ['op', 'ops'])),
};
const opWeights: Record<string, number> = {
  hello: 2, get: 3, stat: 2, set: 10, del: 3, rev: 1, ping: 1, close: 1, getdir: 2, walk: 2,
  wait: 2, watch: 2, cancel: 2, txn: 5,
};
const anyRequest = fc.oneof(...Object.entries(requests).map(([op, arb]) => ({ weight: opWeights[op]!, arbitrary: arb })));
/** Fields each op reads, as paths into the request (for field mutations). */
const fields: Record<string, string[][]> = {
  hello: [['version'], ['ttlMs'], ['session'], ['session', 'id'], ['session', 'secret']],
  get: [['path'], ['rev']], stat: [['path'], ['rev']],
  set: [['path'], ['value'], ['rev'], ['ephemeral'], ['seq'], ['seqFloor']],
  del: [['path'], ['rev'], ['seq'], ['seqFloor']],
  rev: [], ping: [], close: [],
  getdir: [['path'], ['rev'], ['after'], ['limit']],
  walk: [['glob'], ['rev'], ['after'], ['limit']],
  wait: [['glob'], ['rev']], watch: [['glob'], ['fromRev']], cancel: [['target']],
  txn: [['conds'], ['ops'], ['seq'], ['seqFloor'], ['conds', '0'], ['conds', '0', 'path'], ['conds', '0', 'rev'],
    ['ops', '0'], ['ops', '0', 'op'], ['ops', '0', 'path'], ['ops', '0', 'value'], ['ops', '0', 'rev'], ['ops', '0', 'ephemeral']],
};

/**
 * A value nested `depth` levels deep (one-element arrays and one-key maps in turn). Encoded by
 * hand in build(): msgpackr's own encoder overflows the stack on such values.
 */
class Deep {
  constructor(readonly depth: number, readonly leaf: unknown) {}
}
const oddNumbers = fc.constantFrom<unknown>(
  2 ** 53, 2 ** 53 + 2, 2 ** 64, -(2 ** 63), -1, -2, 1.5, 0.1, NaN, Infinity, -Infinity, -0,
  Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2n ** 64n - 1n, -(2n ** 63n), 1.0,
);
const junkLeaf = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), fc.double(), oddNumbers,
  fc.string({ maxLength: 16, unit: 'binary' }), fc.string({ maxLength: 16 }), fc.uint8Array({ maxLength: 16 }),
  fc.string({ minLength: 1020, maxLength: 1100 }), fc.date({ noInvalidDate: true }),
);
const junk: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: junkLeaf },
  { weight: 3, arbitrary: fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small', withCrossShrink: true },
      junkLeaf, fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), tie('node'), { maxKeys: 3 })),
  })).node },
  // Deep: past the depth at which a recursive error message would once overflow the stack.
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 10, max: 4000 }), junkLeaf).map(([d, leaf]) => new Deep(d, leaf)) },
);
const REMOVE = Symbol('remove');

type ByteMutation =
  | { t: 'flip'; at: number; xor: number }[]
  | { t: 'cut'; at: number }
  | { t: 'append'; bytes: Uint8Array }
  | { t: 'insert'; at: number; bytes: Uint8Array }
  | { t: 'double' };
const at = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.array(fc.record({ t: fc.constant('flip' as const), at, xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 }),
  fc.record({ t: fc.constant('cut' as const), at }),
  fc.record({ t: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ t: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.constant({ t: 'double' as const }),
);

type Spec =
  | { t: 'request'; body: Body; bytes?: ByteMutation }
  | { t: 'bytes'; bytes: Uint8Array }
  | { t: 'text'; data: string | Uint8Array }
  | { t: 'deep'; depth: number }
  | { t: 'oversize'; extra: number }
  | { t: 'bigvalue' };
interface FrameSpec { spec: Spec; fresh: boolean; conn: number }

const fieldMutation: fc.Arbitrary<Spec> = fc.constantFrom(...Object.keys(requests)).chain((op) =>
  fc.tuple(requests[op]!, fc.constantFrom(...fields[op]!, ['id'], ['op']), fc.oneof({ weight: 4, arbitrary: junk }, { weight: 1, arbitrary: fc.constant(REMOVE) })))
  .map(([body, field, v]) => ({ t: 'request', body: setIn(structuredClone(body), field, v) }));

const spec: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 40, arbitrary: anyRequest.map((body): Spec => ({ t: 'request', body })) },
  { weight: 25, arbitrary: fieldMutation },
  { weight: 22, arbitrary: fc.tuple(anyRequest, byteMutation).map(([body, bytes]): Spec => ({ t: 'request', body, bytes })) },
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes): Spec => ({ t: 'bytes', bytes })) },
  // Random bytes behind a map header and a valid id: gets deeper into the decoder.
  { weight: 5, arbitrary: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.uint8Array({ maxLength: 60 }))
    .map(([n, rest]): Spec => ({ t: 'bytes', bytes: Buffer.concat([Buffer.from([0x80 + n, 0xa2, 0x69, 0x64, 0x01]), rest]) })) },
  { weight: 4, arbitrary: fc.string({ maxLength: 40, unit: 'grapheme' }).map((data): Spec => ({ t: 'text', data })) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b): Spec => ({ t: 'text', data: Buffer.concat([Buffer.from([0xc3, 0x28]), b]) })) },
  { weight: 1, arbitrary: fc.integer({ min: 20_000, max: 200_000 }).map((depth): Spec => ({ t: 'deep', depth })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 1000 }).map((extra): Spec => ({ t: 'oversize', extra })) },
  { weight: 1, arbitrary: fc.constant<Spec>({ t: 'bigvalue' }) },
);
const frameSpec: fc.Arbitrary<FrameSpec> = fc.record({
  spec, fresh: fc.integer({ min: 0, max: 99 }).map((n) => n < 15), conn: fc.integer({ min: 0, max: MAIN_CONNECTIONS - 1 }),
});

function setIn(body: Body, fieldPath: string[], v: unknown): Body {
  let target: Record<string, unknown> = body;
  for (const key of fieldPath.slice(0, -1)) {
    const next = target[key];
    if (typeof next !== 'object' || next === null) return body; // the optional container is absent
    target = next as Record<string, unknown>;
  }
  const last = fieldPath[fieldPath.length - 1]!;
  if (v === REMOVE) delete target[last];
  else target[last] = v;
  return body;
}

// ------------------------------------------------------------------ turning a spec into bytes

interface Frame {
  text: boolean;
  data: Uint8Array;
  /** The decoded message, as the server decodes it (binary frames that decode). */
  decoded?: unknown;
  decodeError?: FrameError;
}

function applyBytes(b: Uint8Array, m: ByteMutation): Uint8Array {
  const buf = Buffer.from(b);
  const pos = (x: number) => Math.floor(x * buf.length);
  if (Array.isArray(m)) {
    for (const f of m) buf[pos(f.at)] = buf[pos(f.at)]! ^ f.xor;
    return buf;
  }
  switch (m.t) {
    case 'cut': return buf.subarray(0, pos(m.at));
    case 'append': return Buffer.concat([buf, m.bytes]);
    case 'insert': return Buffer.concat([buf.subarray(0, pos(m.at)), m.bytes, buf.subarray(pos(m.at))]);
    case 'double': return Buffer.concat([buf, buf]);
  }
}

/** msgpack of `body`, with each Deep value written out by hand. */
function encodeWithDeep(body: Body): Uint8Array {
  const deep: Deep[] = [];
  const token = (i: number) => `zz-deep-value-${i}-zz`;
  const swap = (x: unknown, depth: number): unknown => {
    if (x instanceof Deep) return token(deep.push(x) - 1);
    if (depth > 4 || typeof x !== 'object' || x === null || x instanceof Uint8Array || x instanceof Date) return x;
    if (Array.isArray(x)) return x.map((y) => swap(y, depth + 1));
    return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, swap(y, depth + 1)]));
  };
  let bytes = Buffer.from(encode(swap(body, 0)));
  deep.forEach((d, i) => {
    const placeholder = Buffer.from(encode(token(i)));
    const at = bytes.indexOf(placeholder);
    const levels: Buffer[] = [];
    for (let l = 0; l < d.depth; l++) levels.push(Buffer.from(l % 2 === 0 ? [0x91] : [0x81, 0xa1, 0x6b]));
    bytes = Buffer.concat([bytes.subarray(0, at), ...levels, encode(d.leaf), bytes.subarray(at + placeholder.length)]);
  });
  return bytes;
}

function build(s: Spec, nextId: () => number): Frame {
  let data: Uint8Array;
  switch (s.t) {
    case 'text':
      return { text: true, data: typeof s.data === 'string' ? Buffer.from(s.data) : s.data };
    case 'request': {
      const body = Object.hasOwn(s.body, 'id') ? s.body : { id: nextId(), ...s.body };
      data = encodeWithDeep(body);
      if (s.bytes !== undefined) data = applyBytes(data, s.bytes);
      break;
    }
    case 'bytes': data = s.bytes; break;
    case 'deep': data = Buffer.concat([Buffer.alloc(s.depth, 0x91), Buffer.from([0x00])]); break;
    case 'oversize': data = Buffer.alloc(limits.frameBytesMax + s.extra, 0x20); break;
    case 'bigvalue': data = encode({ id: nextId(), op: 'set', path: '/fz/big', value: new Uint8Array(limits.valueBytesMax + 1) }); break;
  }
  try {
    return { text: false, data, decoded: decode(data) };
  } catch (err) {
    return { text: false, data, decodeError: err as FrameError };
  }
}

const isMap = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isUtf8 = (b: Uint8Array): boolean => {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
};

/** What the server must do with a frame: close with one of the codes in `close`, or answer `id`. */
function expectation(f: Frame): { close: number[] } | { id: number; op: unknown } {
  if (f.text) return { close: [isUtf8(f.data) ? CloseCode.PROTOCOL_ERROR : 1007] };
  if (f.data.byteLength > limits.frameBytesMax) return { close: [CloseCode.TOO_BIG] };
  if (f.decodeError !== undefined) return { close: [CloseCode.PROTOCOL_ERROR] };
  if (!isMap(f.decoded) || !isId(f.decoded.id)) return { close: [CloseCode.PROTOCOL_ERROR] };
  return { id: f.decoded.id, op: f.decoded.op };
}

// ------------------------------------------------------------------ checking what came back

const problems: string[] = [];
function check(ok: boolean, what: () => string): void {
  if (!ok && problems.length < 50) problems.push(what());
}
const show = (x: unknown): string => {
  try {
    return JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `bin(${v.length})` : v)).slice(0, 300);
  } catch {
    return String(x);
  }
};

function checkErrorBody(e: unknown, where: string): void {
  check(isMap(e) && typeof e.code === 'string' && (errorCodes as readonly string[]).includes(e.code), () => `${where}: error not from the catalog: ${show(e)}`);
  if (!isMap(e)) return;
  check(e.code !== ErrorCode.INTERNAL, () => `${where}: INTERNAL error: ${show(e)}`);
  check(typeof e.message === 'string', () => `${where}: error without a message: ${show(e)}`);
  check(e.details === undefined || isMap(e.details), () => `${where}: details not a map: ${show(e)}`);
}

function isEvent(e: unknown): boolean {
  return isMap(e) && typeof e.path === 'string' && Number.isSafeInteger(e.rev) && (e.rev as number) > 0 &&
    ((e.kind === 'set' && e.value instanceof Uint8Array) || (e.kind === 'delete' && e.value === undefined));
}

const isInt = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
const resultShape: Record<string, (r: Record<string, unknown>) => boolean> = {
  hello: (r) => r.version === 1 && isMap(r.session) && typeof r.session.id === 'string' && typeof r.resumed === 'boolean' && isInt(r.rev),
  get: (r) => (r.value === null || r.value instanceof Uint8Array) && isInt(r.rev) && isInt(r.at),
  stat: (r) => ['file', 'dir', 'missing'].includes(r.kind as string) && isInt(r.rev) && isInt(r.at),
  set: (r) => isInt(r.rev), txn: (r) => isInt(r.rev), rev: (r) => isInt(r.rev), ping: (r) => isInt(r.rev), close: (r) => isInt(r.rev),
  del: (r) => isInt(r.rev) && typeof r.deleted === 'boolean',
  getdir: (r) => Array.isArray(r.names) && r.names.every((n) => typeof n === 'string') && isInt(r.at) && typeof r.more === 'boolean',
  walk: (r) => Array.isArray(r.files) && r.files.every((f) => isMap(f) && typeof f.path === 'string' && f.value instanceof Uint8Array) && isInt(r.at) && typeof r.more === 'boolean',
  wait: (r) => isEvent(r.event) && Array.isArray(r.events) && r.events.length > 0 && r.events.every(isEvent), watch: (r) => isInt(r.fromRev), cancel: (r) => typeof r.cancelled === 'boolean',
};

/** Every message a connection received is a well-formed response or push for something it sent. */
function checkMessages(c: RawClient, sentIds: Map<number, number>, watchIds: Set<number>, where: string): void {
  check(c.malformed.length === 0, () => `${where}: undecodable frames from the server: ${show(c.malformed)}`);
  for (const m of c.messages) {
    if (m.watch !== undefined) {
      check(isId(m.watch) && watchIds.has(m.watch as number), () => `${where}: push for a watch never sent: ${show(m)}`);
      if (m.end !== undefined) checkErrorBody(m.end, `${where} watch end`);
      else {
        check(Array.isArray(m.events) && m.events.length > 0 && m.events.every(isEvent) &&
          new Set((m.events as Event[]).map((e) => e.rev)).size === 1, () => `${where}: bad push ${show(m)}`);
      }
    } else {
      check(isId(m.id) && sentIds.has(m.id as number), () => `${where}: response to an id never sent: ${show(m)}`);
      check((m.result === undefined) !== (m.error === undefined), () => `${where}: response needs exactly one of result/error: ${show(m)}`);
      if (m.error !== undefined) checkErrorBody(m.error, `${where} response ${String(m.id)}`);
      else check(isMap(m.result), () => `${where}: result is not a map: ${show(m)}`);
    }
  }
}

// ------------------------------------------------------------------ the server and its clients

let server: ChildServer;
let dir: string;
let stdout = '';
let keeper: RawClient;
let keep: [string, number, string][] = [];
let keepEphemeralRev = 0;
const stats = {
  frames: 0, fresh: 0, closes: 0, answers: 0, pending: 0, writesApplied: 0,
  outcomes: {} as Record<string, number>,
};
const count = (k: string) => (stats.outcomes[k] = (stats.outcomes[k] ?? 0) + 1);

beforeAll(async () => {
  dir = tempDir('coord-fuzz-');
  server = await spawnServer(dir, ['--log-level', 'info']);
  server.proc.stdout!.on('data', (d) => (stdout += d));
  const c = await connect({ urls: server.url });
  for (let i = 0; i < 20; i++) await c.set(`/keep/k${i % 7}/v${i}`, `value ${i}`);
  await c.del('/keep/k0/v7');
  await c.txn({ ops: [{ op: 'set', path: '/keep/txn/a', value: 'A' }, { op: 'set', path: '/keep/txn/b', value: 'B' }] });
  keep = (await c.walk('/keep/**')).files.map((f) => [f.path, f.rev, Buffer.from(f.value).toString()]);
  await c.close();
  keeper = (await RawClient.connect(server.url)).client;
  keepEphemeralRev = (await keeper.call<{ rev: number }>({ op: 'set', path: '/keep-eph', value: Buffer.from('mine'), ephemeral: true })).rev;
});

afterAll(async () => {
  await keeper?.close();
  if (server !== undefined && server.proc.exitCode === null && server.proc.signalCode === null) {
    server.proc.kill('SIGKILL');
    await server.exited;
  }
  removeDir(dir);
});

/**
 * Error and fatal lines in the server's log, except those @fastify/websocket's default error
 * handler writes for a client breaking RFC 6455 (a text frame that is not UTF-8, a frame over
 * maxPayload): those are the client's fault, logged at error level by that library.
 */
function errorLogLines(): string[] {
  return stdout.split('\n').filter((l) => /"level":(5\d|6\d)/.test(l)).filter((l) => {
    const entry = JSON.parse(l) as { err?: { message?: string } };
    return !/^(Invalid WebSocket frame|Max payload size exceeded)/.test(entry.err?.message ?? '');
  }).map((l) => l.slice(0, 400));
}

interface Conn {
  client: RawClient;
  nextId: number;
  sentIds: Map<number, number>;
  watchIds: Set<number>;
  helloDone: boolean;
  where: string;
}

/** Fails with the server's exit status and stderr if it is gone: a crash is the finding. */
function assertServerAlive(what: string): void {
  if (server.proc.exitCode !== null || server.proc.signalCode !== null) {
    throw new Error(`${what}: the server process exited (${server.proc.exitCode ?? server.proc.signalCode}); stderr:\n${server.stderr().slice(0, 2000)}`);
  }
}

async function openConn(where: string, hello: boolean): Promise<Conn> {
  const client = await (hello ? RawClient.connect(server.url).then((r) => r.client) : RawClient.open(server.url))
    .catch(async (err: Error) => {
      await new Promise((r) => setTimeout(r, 100)); // let an exit be noticed
      assertServerAlive(`${where}: cannot connect (${err.message})`);
      throw err;
    });
  // RawClient.connect said hello with id 1.
  return { client, nextId: 1000, sentIds: new Map(hello ? [[1, 1]] : []), watchIds: new Set(), helloDone: hello, where };
}

/** Strings and byte strings anywhere in a decoded message: what a write in it could have written. */
function mentions(x: unknown, strings: Set<string>, values: Set<string>, depth = 0): void {
  if (depth > 64) return;
  if (typeof x === 'string') {
    strings.add(x);
    values.add(Buffer.from(x, 'utf8').toString('hex'));
  } else if (x instanceof Uint8Array) values.add(Buffer.from(x).toString('hex'));
  else if (Array.isArray(x)) for (const y of x) mentions(y, strings, values, depth + 1);
  else if (isMap(x)) for (const y of Object.values(x)) mentions(y, strings, values, depth + 1);
}

interface AnsweredSet { path: string; value: string; rev: number }

/** Sends one frame on `conn` and checks what the server does with it. Returns false once the connection is closed. */
async function sendOne(conn: Conn, s: Spec, headRev: number, seen: { strings: Set<string>; values: Set<string> }, answered: AnsweredSet[]): Promise<boolean> {
  const frame = build(s, () => conn.nextId++);
  stats.frames++;
  const exp = expectation(frame);
  const label = () => `${conn.where} frame ${show(frame.decoded ?? (frame.text ? 'text' : `${frame.data.byteLength} bytes`))}`;
  if (frame.decoded !== undefined) mentions(frame.decoded, seen.strings, seen.values);
  if ('id' in exp) {
    conn.sentIds.set(exp.id, (conn.sentIds.get(exp.id) ?? 0) + 1);
    if (exp.op === 'watch') conn.watchIds.add(exp.id);
  }
  if (frame.text) conn.client.sendText(frame.data);
  else conn.client.sendBytes(frame.data);

  if ('close' in exp) {
    const closed = await conn.client.closed(ANSWER_DEADLINE_MS).catch(() => null);
    count(`close:${closed?.code}`);
    check(closed !== null && exp.close.includes(closed.code), () => `${label()}: expected close ${exp.close.join(' or ')}, got ${show(closed)}`);
    stats.closes++;
    return false;
  }
  const msg = frame.decoded as Record<string, unknown>;
  const mayWait = msg.op === 'wait' ||
    (['get', 'stat', 'getdir', 'walk'].includes(msg.op as string) && typeof msg.rev === 'number' && msg.rev > headRev);
  const unambiguous = conn.sentIds.get(exp.id) === 1;
  const res = await conn.client.response(exp.id, mayWait ? PENDING_GRACE_MS : ANSWER_DEADLINE_MS).catch((err: Error) => err);
  if (res instanceof Error) {
    if (conn.client.closeInfo !== null) {
      // Only a request before the hello (1008, after its HELLO_REQUIRED answer) or one reusing
      // an id that may still be in flight (1002) may close the connection.
      const code = conn.client.closeInfo.code;
      check((!conn.helloDone && code === CloseCode.POLICY) || (!unambiguous && code === CloseCode.PROTOCOL_ERROR),
        () => `${label()}: connection closed unexpectedly: ${show(conn.client.closeInfo)}`);
      return false;
    }
    check(mayWait, () => `${label()}: no answer within ${ANSWER_DEADLINE_MS} ms`);
    stats.pending++;
    return true;
  }
  stats.answers++;
  count(`${typeof msg.op === 'string' && Object.hasOwn(requests, msg.op) ? msg.op : '(junk op)'}:${res.error?.code ?? 'ok'}`);
  if (res.error !== undefined) {
    if (res.error.code === ErrorCode.HELLO_REQUIRED && !conn.helloDone) {
      const closed = await conn.client.closed(ANSWER_DEADLINE_MS).catch(() => null);
      check(closed?.code === CloseCode.POLICY, () => `${label()}: HELLO_REQUIRED before hello must close with 1008, got ${show(closed)}`);
      return false;
    }
    return true;
  }
  const op = msg.op as string;
  if (unambiguous && resultShape[op] !== undefined) {
    check(resultShape[op](res.result as Record<string, unknown>), () => `${label()}: result of the wrong shape: ${show(res)}`);
  }
  if (op === 'hello') conn.helloDone = true;
  if (unambiguous && op === 'set' && msg.seq === undefined && typeof msg.path === 'string') {
    const v = typeof msg.value === 'string' ? Buffer.from(msg.value) : Buffer.from(msg.value as Uint8Array);
    answered.push({ path: msg.path, value: v.toString('hex'), rev: (res.result as { rev: number }).rev });
  }
  if (op === 'close') {
    const closed = await conn.client.closed(ANSWER_DEADLINE_MS).catch(() => null);
    check(closed?.code === CloseCode.NORMAL, () => `${label()}: close must end with 1000, got ${show(closed)}`);
    return false;
  }
  return true;
}

async function runBurst(frames: FrameSpec[], burst: number): Promise<void> {
  assertServerAlive(`before burst ${burst}`);
  const sdk: CoordClient = await connect({ urls: server.url });
  const before = await sdk.rev();
  const seen = { strings: new Set<string>(), values: new Set<string>() };
  const answered: AnsweredSet[] = [];
  const all: Conn[] = [];
  const lanes: FrameSpec[][] = Array.from({ length: MAIN_CONNECTIONS }, () => []);
  for (const f of frames) lanes[f.conn]!.push(f);
  await Promise.all(lanes.map(async (lane, n) => {
    let conn: Conn | null = null;
    for (const f of lane) {
      if (f.fresh) {
        stats.fresh++;
        const fresh = await openConn(`burst ${burst} fresh`, false);
        all.push(fresh);
        await sendOne(fresh, f.spec, before, seen, answered);
        continue;
      }
      if (conn === null) {
        conn = await openConn(`burst ${burst} lane ${n}`, true);
        all.push(conn);
      }
      if (!(await sendOne(conn, f.spec, before, seen, answered))) conn = null;
    }
  }));
  for (const c of all) await c.client.close();
  assertServerAlive(`after burst ${burst}`);
  for (const c of all) checkMessages(c.client, c.sentIds, c.watchIds, c.where);
  // (b) Every answer, push and close was well-formed.
  expect(problems).toEqual([]);

  // (a) The process serves, logged no error, and a fresh SDK client reads its own write.
  expect(errorLogLines()).toEqual([]);
  const audit = (await RawClient.connect(server.url)).client;
  const wid = audit.request({ op: 'watch', glob: '/**', fromRev: before + 1 });
  await audit.response(wid);
  const checkRev = await sdk.set(`/check/${burst}`, `burst ${burst}`);
  expect(await sdk.get(`/check/${burst}`)).toMatchObject({ value: Buffer.from(`burst ${burst}`), rev: checkRev });
  // Every revision since `before` is explained by a frame of this burst, and none is missing.
  const events = await audit.eventsUntil(wid, checkRev);
  await audit.close();
  const revs = [...new Set(events.map((e) => e.rev))];
  expect(revs).toEqual(Array.from({ length: checkRev - before }, (_, i) => before + 1 + i));
  for (const e of events.filter((x) => x.rev < checkRev)) {
    check(seen.strings.has(e.path), () => `burst ${burst}: event at a path no frame named: ${show(e)}`);
    if (e.kind === 'set') {
      check(seen.values.has(Buffer.from(e.value!).toString('hex')), () => `burst ${burst}: event with a value no frame carried: ${show(e)}`);
    }
  }
  stats.writesApplied += checkRev - before - 1;
  for (const a of answered) {
    check(events.some((e) => e.rev === a.rev && e.path === a.path && e.kind === 'set' && Buffer.from(e.value!).toString('hex') === a.value),
      () => `burst ${burst}: answered SET ${show(a)} is not in the history`);
  }
  // (c) What was written before the fuzzing is intact.
  expect((await sdk.walk('/keep/**')).files.map((f) => [f.path, f.rev, Buffer.from(f.value).toString()])).toEqual(keep);
  expect(await sdk.stat('/keep-eph')).toMatchObject({ kind: 'file', rev: keepEphemeralRev, ephemeral: true });
  await sdk.close();
  expect(problems).toEqual([]);
}

describe('fuzzing the frame edge', () => {
  it(`survives ${BURSTS} bursts of generated frames (seed ${SEED})`, async () => {
    let burst = 0;
    // fc.check, not fc.assert: a counterexample holds values nested too deep for fast-check to
    // print, so the failure is reported from the error itself. No shrinking: each run changes
    // the server's state, and the first failure's message names the frame and the burst.
    const details = await fc.check(
      fc.asyncProperty(fc.array(frameSpec, FRAMES_PER_BURST), async (frames) => {
        await runBurst(frames, burst++);
      }),
      { seed: SEED, numRuns: BURSTS, endOnFailure: true },
    );
    if (details.failed) {
      const err = details.errorInstance as Error;
      err.message = `seed ${SEED}, burst ${burst - 1}: ${err.message}`;
      throw err;
    }
    console.log(`fuzz: ${JSON.stringify(stats)}`);
    expect(stats.frames).toBeGreaterThanOrEqual(BURSTS * FRAMES_PER_BURST.minLength * 0.9);
    expect(stats.closes).toBeGreaterThan(0);
    expect(stats.answers).toBeGreaterThan(stats.frames / 3);
    expect(stats.writesApplied).toBeGreaterThan(0);
  });

  it('then shuts down cleanly on SIGTERM', async () => {
    expect(server.proc.exitCode).toBeNull();
    server.proc.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(errorLogLines()).toEqual([]);
  });
});
