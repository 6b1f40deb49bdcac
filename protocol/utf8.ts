/**
 * UTF-8 without Node's Buffer, so that the protocol code (and the SDK on it) also runs in a
 * browser: one shared TextEncoder and TextDecoder, and a byte count that allocates nothing.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The UTF-8 bytes of `s` (a lone surrogate becomes U+FFFD, as Buffer.from does). */
export function utf8Bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

/** The text of UTF-8 `bytes` (malformed sequences become U+FFFD, as Buffer's toString does). */
export function utf8Text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * How many bytes `s` takes in UTF-8: Buffer.byteLength(s) without Buffer and without encoding
 * (a lone surrogate counts 3, the bytes of the U+FFFD it is encoded as). One pass over the code
 * units; ASCII costs a compare each.
 */
export function utf8Length(s: string): number {
  const units = s.length;
  let bytes = units;
  for (let i = 0; i < units; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < units && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a surrogate pair: two units, four bytes
      i++;
    } else {
      bytes += 2; // three bytes (a lone surrogate too)
    }
  }
  return bytes;
}
