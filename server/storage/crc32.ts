/**
 * CRC-32 (IEEE), to check every log segment and snapshot read back from disk. LevelDB checks its
 * own blocks, but this catches a value damaged anywhere between our encode and our decode.
 * node:zlib's native crc32 when this Node has it (20.15 on); else slicing-by-4 in JavaScript:
 * four table lookups per four bytes, about three times the byte-at-a-time loop.
 */
import * as zlib from 'node:zlib';

const TABLES = (() => {
  const t = Array.from({ length: 4 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 4; k++) t[k]![n] = (t[0]![t[k - 1]![n]! & 0xff]! ^ (t[k - 1]![n]! >>> 8)) >>> 0;
  }
  return t as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
})();

/** node:zlib's crc32 (native: Node ≥ 20.15 and ≥ 22.2), when this Node has it. */
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** The CRC of `bytes`; pass the CRC of what came before to go on from it (in pieces). */
export function crc32(bytes: Uint8Array, previous = 0): number {
  return nativeCrc32 !== undefined ? nativeCrc32(bytes, previous) : tableCrc32(bytes, previous);
}

/** The same, in JavaScript: for a Node without zlib.crc32 (and to check the native one against). */
export function tableCrc32(bytes: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3] = TABLES;
  let c = (previous ^ 0xffffffff) >>> 0;
  let i = 0;
  const end4 = bytes.length - (bytes.length % 4);
  for (; i < end4; i += 4) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    c = t3[c & 0xff]! ^ t2[(c >>> 8) & 0xff]! ^ t1[(c >>> 16) & 0xff]! ^ t0[c >>> 24]!;
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
