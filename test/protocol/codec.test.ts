/**
 * The frame codec (protocol/codec.ts): one plain msgpack message per binary frame.
 *
 * Method: (1) round trips of every message shape, and a property round trip of arbitrary plain
 * values; (2) a small msgpack decoder written here from the msgpack spec, which knows no
 * extension types, reads every frame encode() writes — so a client in any language with a
 * standard msgpack library can read the server; (3) frames written by hand as hex bytes, the way
 * another language's library would write them, decode to the expected requests — including the
 * exact hello bytes quoted in protocol/README.md; (4) truncated, trailing and garbage bytes and
 * oversized frames are refused with FrameError (tooBig only for size).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode, encodeWatchPush, FrameError } from '../../protocol/codec.ts';
import { limits } from '../../protocol/limits.ts';
import { parseRequest, requestId } from '../../protocol/validate.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const toHex = (u: Uint8Array) => Buffer.from(u).toString('hex');

/** Replaces every Uint8Array (Buffer or not) by a tagged byte list, for deep comparison. */
function norm(x: unknown): unknown {
  if (x instanceof Uint8Array) return { bin: [...x] };
  if (Array.isArray(x)) return x.map(norm);
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, norm(v)]));
  }
  return x;
}

// ------------------------------------------------------------ a reference decoder (msgpack spec)

/** Decodes exactly one msgpack value filling all of `buf`. Throws on ext types, 0xc1, leftovers. */
function referenceDecode(buf: Uint8Array): unknown {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > buf.byteLength) throw new Error('truncated');
  };
  const u8 = () => (need(1), view.getUint8(pos++));
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4));
  const bytes = (n: number) => (need(n), (pos += n), buf.slice(pos - n, pos));
  const str = (n: number) => Buffer.from(bytes(n)).toString('utf8');
  const arr = (n: number) => Array.from({ length: n }, () => value());
  const map = (n: number) => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = value();
      if (typeof k !== 'string') throw new Error('non-string map key');
      o[k] = value();
    }
    return o;
  };
  const big = (v: bigint) => {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error('unsafe int');
    return Number(v);
  };
  function value(): unknown {
    const b = u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b >= 0x80 && b <= 0x8f) return map(b & 0x0f);
    if (b >= 0x90 && b <= 0x9f) return arr(b & 0x0f);
    if (b >= 0xa0 && b <= 0xbf) return str(b & 0x1f);
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bytes(u8());
      case 0xc5: return bytes(u16());
      case 0xc6: return bytes(u32());
      case 0xca: need(4); pos += 4; return view.getFloat32(pos - 4);
      case 0xcb: need(8); pos += 8; return view.getFloat64(pos - 8);
      case 0xcc: return u8();
      case 0xcd: return u16();
      case 0xce: return u32();
      case 0xcf: need(8); pos += 8; return big(view.getBigUint64(pos - 8));
      case 0xd0: need(1); pos += 1; return view.getInt8(pos - 1);
      case 0xd1: need(2); pos += 2; return view.getInt16(pos - 2);
      case 0xd2: need(4); pos += 4; return view.getInt32(pos - 4);
      case 0xd3: need(8); pos += 8; return big(view.getBigInt64(pos - 8));
      case 0xd9: return str(u8());
      case 0xda: return str(u16());
      case 0xdb: return str(u32());
      case 0xdc: return arr(u16());
      case 0xdd: return arr(u32());
      case 0xde: return map(u16());
      case 0xdf: return map(u32());
      default: throw new Error(`byte 0x${b.toString(16)} is an extension or unused type`);
    }
  }
  const v = value();
  if (pos !== buf.byteLength) throw new Error('bytes left over');
  return v;
}

// ------------------------------------------------------------ sample messages

const v = (s: string) => new Uint8Array(Buffer.from(s));
const samples: unknown[] = [
  { id: 0, op: 'hello', version: 1 },
  { id: 1, op: 'hello', version: 1, session: { id: '0123456789abcdef', secret: 'ff'.repeat(16) }, ttlMs: 30_000 },
  { id: 2, op: 'set', path: '/a/b', value: v('hi'), rev: -1, ephemeral: true, seq: 1, seqFloor: 1 },
  { id: 3, op: 'txn', conds: [{ path: '/c', rev: 0 }], ops: [{ op: 'set', path: '/d', value: v('') }, { op: 'del', path: '/e', rev: 17 }] },
  { id: 4, op: 'watch', glob: '/svc/**', fromRev: 12 },
  { id: 2 ** 53 - 1, op: 'cancel', target: 4 },
  { id: 0, result: { version: 1, session: { id: 'a', secret: 'b', ttlMs: 10_000 }, resumed: false, rev: 0 } },
  { id: 5, result: { value: v('x'), rev: 3, at: 9 } },
  { id: 5, result: { value: null, rev: 0, at: 9 } },
  { id: 6, result: { kind: 'file', rev: 3, length: 1, ephemeral: false, at: 9 } },
  { id: 7, result: { files: [{ path: '/a', rev: 2, value: v('1') }], at: 9, more: true } },
  { id: 8, error: { code: 'REV_MISMATCH', message: '/a is at rev 8, newer than 0', details: { path: '/a', rev: 8 } } },
  { watch: 4, events: [{ path: '/svc/x', rev: 13, kind: 'set', value: v('up') }] },
  { watch: 4, events: [{ path: '/svc/x', rev: 14, kind: 'delete' }, { path: '/svc/y', rev: 14, kind: 'set', value: v('') }] },
  { watch: 4, end: { code: 'SLOW_CONSUMER', message: 'behind', details: { resumeRev: 15 } } },
];

describe('round trip', () => {
  it.each(samples.map((s) => [s]))('%j', (msg) => {
    const frame = encode(msg);
    expect(frame).toBeInstanceOf(Uint8Array);
    expect(norm(decode(frame))).toEqual(norm(msg));
  });

  it('values decode as Uint8Array (bin), strings stay strings', () => {
    const out = decode(encode({ value: v('abc'), path: '/abc', empty: new Uint8Array() })) as Record<string, unknown>;
    expect(out.value).toBeInstanceOf(Uint8Array);
    expect([...(out.value as Uint8Array)]).toEqual([97, 98, 99]);
    expect(out.empty).toBeInstanceOf(Uint8Array);
    expect((out.empty as Uint8Array).byteLength).toBe(0);
    expect(out.path).toBe('/abc');
  });

  const plainKey = fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__');
  const plainValue = fc.letrec((tie) => ({
    any: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null), fc.boolean(), fc.string({ maxLength: 20 }),
      fc.maxSafeInteger(), fc.integer({ min: -1, max: 300 }),
      fc.double({ noNaN: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
      fc.uint8Array({ maxLength: 40 }),
      fc.array(tie('any'), { maxLength: 4 }),
      fc.dictionary(plainKey, tie('any'), { maxKeys: 4 }),
    ),
  })).any;

  it('any plain value round-trips, and encode() writes only plain msgpack (property)', () => {
    fc.assert(fc.property(plainValue, (x) => {
      const frame = encode(x);
      expect(norm(decode(frame))).toEqual(norm(x));
      expect(norm(referenceDecode(frame))).toEqual(norm(x));
    }), { numRuns: 1500 });
  });

  it('encodeWatchPush builds the same message as encode, readable by a spec-only decoder', () => {
    const events = [
      { path: '/a', rev: 9, kind: 'delete' },
      { path: '/b', rev: 9, kind: 'set', value: v('x'.repeat(300)) },
    ];
    for (const id of [0, 17, 255, 70_000, 2 ** 53 - 1]) {
      const frame = encodeWatchPush(id, encode(events));
      const expected = norm({ watch: id, events });
      expect(norm(decode(frame))).toEqual(expected);
      expect(norm(referenceDecode(frame))).toEqual(expected);
    }
  });

  it.each(samples.map((s) => [s]))('a spec-only decoder reads encode(%j)', (msg) => {
    expect(norm(referenceDecode(encode(msg)))).toEqual(norm(msg));
  });
});

describe('frames written by hand, as another language would send them', () => {
  // fixmap(3) "id" 0 "op" "hello" "version" 1 — the bytes quoted in protocol/README.md.
  const helloHex = '83 a2 69 64 00 a2 6f 70 a5 68 65 6c 6c 6f a7 76 65 72 73 69 6f 6e 01';

  it('the hello', () => {
    const msg = decode(hex(helloHex));
    expect(msg).toEqual({ id: 0, op: 'hello', version: 1 });
    expect(parseRequest(msg)).toEqual({ id: 0, op: 'hello', version: 1 });
    expect(toHex(encode({ id: 0, op: 'hello', version: 1 })))
      .toBe('de0003' + hex(helloHex).subarray(1).toString('hex')); // the server writes map16 headers
  });

  it('a set with a bin value, and the same with a str value', () => {
    // fixmap(4) "id" 1 "op" "set" "path" "/a" "value" bin8(2) 68 69
    const bin = decode(hex('84 a2 69 64 01 a2 6f 70 a3 73 65 74 a4 70 61 74 68 a2 2f 61 a5 76 61 6c 75 65 c4 02 68 69'));
    const parsed = parseRequest(bin) as { value: Uint8Array };
    expect(parsed).toMatchObject({ id: 1, op: 'set', path: '/a' });
    expect(parsed.value).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(parsed.value).toString()).toBe('hi');
    // ... "value" fixstr(2) "hi": accepted, stored as the same bytes
    const str = decode(hex('84 a2 69 64 01 a2 6f 70 a3 73 65 74 a4 70 61 74 68 a2 2f 61 a5 76 61 6c 75 65 a2 68 69'));
    expect(Buffer.from((parseRequest(str) as { value: Uint8Array }).value).toString()).toBe('hi');
  });

  it('integer widths: uint16 id, int8 -1 rev, uint32 rev', () => {
    // fixmap(4) "id" uint16(300) "op" "set" ... with rev as int8 -1
    const m = decode(hex('85 a2 69 64 cd 01 2c a2 6f 70 a3 73 65 74 a4 70 61 74 68 a2 2f 61 a5 76 61 6c 75 65 c4 00 a3 72 65 76 d0 ff'));
    expect(parseRequest(m)).toMatchObject({ id: 300, op: 'set', rev: -1 });
    // fixmap(3) "id" 7 "op" "get" "path" "/a" + "rev" uint32(70000)
    const g = decode(hex('84 a2 69 64 07 a2 6f 70 a3 67 65 74 a4 70 61 74 68 a2 2f 61 a3 72 65 76 ce 00 01 11 70'));
    expect(parseRequest(g)).toEqual({ id: 7, op: 'get', path: '/a', rev: 70_000 });
    // an id sent as float64 1.0 is the integer 1
    expect(requestId(decode(hex('81 a2 69 64 cb 3f f0 00 00 00 00 00 00')))).toBe(1);
  });

  it('integers past 2^53 decode as (unsafe) numbers, never BigInt, and are refused', () => {
    const m = decode(hex('82 a2 69 64 cf 00 20 00 00 00 00 00 01 a2 6f 70 a3 72 65 76'));
    expect(typeof (m as { id: unknown }).id).toBe('number');
    expect(requestId(m)).toBeNull();
  });

  const readme = readFileSync(new URL('../../protocol/README.md', import.meta.url), 'utf8');

  /** The bytes of an annotated hex block: on each line, the leading two-digit hex tokens. */
  function annotatedBytes(block: string): string {
    return block.split('\n').map((line) => {
      const out: string[] = [];
      for (const tok of line.trim().split(/\s+/)) {
        if (!/^[0-9a-f]{2}$/.test(tok)) break;
        out.push(tok);
      }
      return out.join('');
    }).join('');
  }

  function codeBlock(containing: string): string {
    const block = readme.split('```').find((b, i) => i % 2 === 1 && b.includes(containing));
    expect(block, `README has no code block with ${containing}`).toBeDefined();
    return block!;
  }

  it('the hello bytes are the ones protocol/README.md quotes', () => {
    expect(readme.replace(/\s+/g, ' ')).toContain(helloHex);
    expect(annotatedBytes(codeBlock('fixmap, 3 entries'))).toBe(hex(helloHex).toString('hex'));
  });

  it('the hello response bytes in protocol/README.md are what the server encodes', () => {
    const response = {
      id: 0,
      result: {
        version: 1,
        session: { id: '0123456789abcdef', secret: '0123456789abcdef0123456789abcdef', ttlMs: 10_000 },
        resumed: false,
        rev: 0,
      },
    };
    const quoted = annotatedBytes(codeBlock('map16, 2 entries'));
    expect(quoted).toBe(toHex(encode(response)));
    expect(referenceDecode(hex(quoted))).toEqual(response);
  });

  it('the set bytes in protocol/README.md decode to the set they describe', () => {
    const setHex = '84 a2 69 64 01 a2 6f 70 a3 73 65 74 a4 70 61 74 68 a2 2f 61 a5 76 61 6c 75 65 c4 02 68 69';
    expect(readme.replace(/\s+/g, ' ')).toContain(setHex);
    expect(norm(referenceDecode(hex(setHex)))).toEqual(norm({ id: 1, op: 'set', path: '/a', value: v('hi') }));
  });
});

describe('refused frames', () => {
  it('every strict prefix of a message is refused (property)', () => {
    fc.assert(fc.property(fc.constantFrom(...samples), fc.nat(), (msg, cut) => {
      const frame = encode(msg);
      const prefix = frame.subarray(0, cut % frame.byteLength);
      expect(() => decode(prefix)).toThrow(FrameError);
      try {
        decode(prefix);
      } catch (err) {
        expect((err as FrameError).tooBig).toBe(false);
      }
    }), { numRuns: 500 });
  });

  it.each([
    ['empty frame', ''],
    ['map header without entries', '81'],
    ['str header without bytes', 'a5 68 65'],
    ['bin8 without length', 'c4'],
    ['bin8 shorter than its length', 'c4 05 68 69'],
    ['two messages in one frame', '80 c0'],
    ['trailing bytes after a map', '81 a2 69 64 01 00'],
    ['unknown extension type', 'd4 01 00'],
    ['truncated ext8', 'c7 01 00'],
  ])('%s → FrameError', (_name, bytes) => {
    expect(() => decode(hex(bytes))).toThrow(FrameError);
  });

  it('valid msgpack that is not a request map has no request id (the server closes the connection)', () => {
    for (const bytes of ['01', 'c0', '90', 'a2 69 64', 'c4 01 00', '91 81 a2 69 64 01', '80']) {
      expect(requestId(decode(hex(bytes)))).toBeNull();
    }
    // 0xc1 is "never used" in msgpack; msgpackr does not throw on it, but it is never a request.
    let c1: unknown;
    try {
      c1 = decode(hex('c1'));
    } catch (err) {
      expect(err).toBeInstanceOf(FrameError);
    }
    expect(requestId(c1)).toBeNull();
  });

  it('a frame over limits.frameBytesMax is refused with tooBig; one at the limit is read', () => {
    const over = new Uint8Array(limits.frameBytesMax + 1);
    let caught: unknown;
    try {
      decode(over);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FrameError);
    expect((caught as FrameError).tooBig).toBe(true);
    expect((caught as FrameError).name).toBe('FrameError');

    // bin32 header (5 bytes) + payload = exactly frameBytesMax bytes
    const atLimit = new Uint8Array(limits.frameBytesMax);
    atLimit[0] = 0xc6;
    new DataView(atLimit.buffer).setUint32(1, limits.frameBytesMax - 5);
    const value = decode(atLimit) as Uint8Array;
    expect(value.byteLength).toBe(limits.frameBytesMax - 5);
  });

  it('bad bytes are not tooBig', () => {
    try {
      decode(hex('81'));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(FrameError);
      expect((err as FrameError).tooBig).toBe(false);
      expect((err as FrameError).message).toMatch(/not valid msgpack/);
    }
  });
});
