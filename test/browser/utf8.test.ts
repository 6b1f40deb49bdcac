/**
 * protocol/utf8.ts, which replaced Buffer in the SDK and the protocol code so that they run in
 * a browser: the same bytes, lengths and text as Buffer for any string (lone surrogates too),
 * and truncateUtf8 still cutting on a character boundary.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { truncateUtf8 } from '../../protocol/describe.ts';
import { utf8Bytes, utf8Length, utf8Text } from '../../protocol/utf8.ts';

const anyString = fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.string({ unit: 'binary-ascii' }), fc.string());

describe('utf8 without Buffer', () => {
  it('utf8Length and utf8Bytes agree with Buffer for any string, lone surrogates included', () => {
    fc.assert(fc.property(anyString, (s) => {
      expect(utf8Length(s)).toBe(Buffer.byteLength(s));
      expect(Buffer.from(utf8Bytes(s)).equals(Buffer.from(s, 'utf8'))).toBe(true);
    }), { numRuns: 2000 });
    for (const s of ['', 'a', '\u007f', '\u0080', '\u07ff', '\u0800', '\uffff', '😀', '\ud800', '\udc00', 'x\ud83dy', '\ud83d\ude00\ud83d']) {
      expect(utf8Length(s), JSON.stringify(s)).toBe(Buffer.byteLength(s));
    }
  });

  it('utf8Text decodes as Buffer does, malformed bytes included', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      expect(utf8Text(b)).toBe(Buffer.from(b).toString('utf8'));
    }), { numRuns: 2000 });
  });

  it('truncateUtf8 keeps at most maxBytes, whole characters, and the longest such prefix', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), fc.nat(64), (s, max) => {
      const cut = truncateUtf8(s, max);
      expect(s.startsWith(cut)).toBe(true);
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(max);
      const next = [...s.slice(cut.length)][0];
      if (next !== undefined) expect(Buffer.byteLength(cut + next)).toBeGreaterThan(max);
    }));
  });
});
