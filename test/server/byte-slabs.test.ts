import { describe, expect, it } from 'vitest';
import { ByteSlabs } from '../../server/byte-slabs.ts';

describe('ByteSlabs', () => {
  it('copies small byte strings side by side into one slab, independent of their source', () => {
    const slabs = new ByteSlabs(1024, 256);
    const frame = new Uint8Array(300).fill(7);
    const a = slabs.copy(frame.subarray(10, 110));
    const b = slabs.copy(Uint8Array.of(1, 2, 3));
    frame.fill(0);
    expect([...a]).toEqual(Array(100).fill(7));
    expect([...b]).toEqual([1, 2, 3]);
    expect(a.buffer).toBe(b.buffer);
    expect(a.buffer).not.toBe(frame.buffer);
    expect(b.byteOffset).toBe(100);
    expect(slabs.holds(a) && slabs.holds(b)).toBe(true);
    expect(slabs.holds(frame)).toBe(false);
  });

  it('starts a new slab when one is full, and gives large byte strings a buffer of their own', () => {
    const slabs = new ByteSlabs(1024, 256);
    const first = slabs.copy(new Uint8Array(200));
    const views = Array.from({ length: 5 }, () => slabs.copy(new Uint8Array(200)));
    expect(views[3]!.buffer).toBe(first.buffer);
    expect(views[4]!.buffer).not.toBe(first.buffer);
    expect(views[4]!.byteOffset).toBe(0);
    const big = slabs.copy(new Uint8Array(256).fill(9));
    expect(big.buffer.byteLength).toBe(256);
    expect(slabs.holds(big)).toBe(false);
    expect(slabs.ownsBufferFor(big)).toBe(true);
    expect(slabs.copy(new Uint8Array(0)).byteLength).toBe(0);
  });
});
