/**
 * How the CLI prints an `info` (a member's registration, a leader's published info) inside a
 * JSON line: a JSON object or array is embedded as it is, so `jq .info.addr` works; anything
 * else is a string (so "8080" stays "8080"); bytes that are not UTF-8 go in `infoBase64`.
 */
import { jsonValue } from '../output.ts';

export function infoJson(info: Uint8Array | string): Record<string, unknown> {
  const text = typeof info === 'string' ? info : jsonValue(info).value;
  if (text === undefined || text === null) return { infoBase64: Buffer.from(info).toString('base64') };
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return { info: JSON.parse(text) as unknown };
    } catch {
      // not JSON after all: text
    }
  }
  return { info: text };
}
