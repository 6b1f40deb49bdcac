/**
 * Flag parsers shared by the server's command lines (`coord server`, `coord snapshot restore`):
 * a bad value is a usage error naming what was expected, before anything starts.
 */
import { InvalidArgumentError } from 'commander';
import { NODE_ID, parsePeers, PEER_URL } from './peers/wire.ts';

export function intArg(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected an integer ≥ ${min}, got "${v}"`);
    }
    return n;
  };
}

export function idArg(v: string): string {
  if (!NODE_ID.test(v)) throw new InvalidArgumentError(`"${v}": letters, digits, '_', '.', '-' only (at most 64)`);
  return v;
}

export function urlArg(v: string): string {
  if (!PEER_URL.test(v)) throw new InvalidArgumentError(`"${v}": expected ws://host:port (wss://host:port with TLS)`);
  return v;
}

export function peersArg(v: string): Record<string, string> {
  try {
    return parsePeers(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
