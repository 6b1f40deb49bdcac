/**
 * The CRC-32 every log segment and snapshot is checked with: node:zlib's native one where this
 * Node has it, the table-driven one otherwise. They must agree byte for byte, in pieces too, or a
 * data directory written by one Node would read as damaged under another.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32, tableCrc32 } from '../../server/storage/crc32.ts';

describe('crc32', () => {
  it('is the IEEE CRC-32 (the standard check value)', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(tableCrc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('native and table agree on random data, whole and in pieces', () => {
    for (let i = 0; i < 200; i++) {
      const data = randomBytes(i * 37 % 5000);
      const cut = Math.floor(data.length / 3);
      const whole = tableCrc32(data);
      expect(crc32(data)).toBe(whole);
      expect(crc32(data.subarray(cut), crc32(data.subarray(0, cut)))).toBe(whole);
      expect(tableCrc32(data.subarray(cut), tableCrc32(data.subarray(0, cut)))).toBe(whole);
    }
  });
});
