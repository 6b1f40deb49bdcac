import { utf8Length } from './utf8.ts';

/**
 * A short, safe description of a value a client sent, for error messages: never longer than a
 * line, never recursing into what could be deeply nested, never repeating megabytes back.
 */
export function describe(v: unknown, max = 60): string {
  if (typeof v === 'string') return JSON.stringify(v.length > max ? `${v.slice(0, max)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null || v === undefined) return 'nil';
  if (v instanceof Uint8Array) return `binary (${v.byteLength} bytes)`;
  if (Array.isArray(v)) return `an array (${v.length} items)`;
  return `a ${typeof v === 'object' ? 'map' : typeof v}`;
}

/** `s` cut to at most `maxBytes` bytes of UTF-8, on a character boundary. */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (utf8Length(s) <= maxBytes) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = utf8Length(ch);
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}
