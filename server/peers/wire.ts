/**
 * Peer messages on the wire: one msgpack value per message (cut into frames by frames.ts), on a
 * path of their own (PEER_PATH) beside the clients'. Peers are other coord servers of the same cluster, so a
 * frame that does not decode to a known kind is a bug or a stranger: the connection is closed
 * with the reason (ARCHITECTURE rule 9), the node goes on.
 */
import type { PeerMessage } from '../consensus/env.ts';
import { msgpack as packr } from '../../protocol/msgpack.ts';

/** The versioned path peers connect to. A version that changes the messages gets a new path. */
export const PEER_PATH = '/coord/peer/v1';
/** The header a connecting peer names itself in. */
export const PEER_ID_HEADER = 'x-coord-node';
/** The header a connecting peer says where it listens in (ws://host:port, or wss://). */
export const PEER_URL_HEADER = 'x-coord-url';

/** A node id: letters, digits, '_', '.', '-', at most 64 (it goes in headers, logs and urls). */
export const NODE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
/** Where a node listens, as peers and the membership name it. */
export const PEER_URL = /^wss?:\/\/[^/\s]+$/;


const KINDS: ReadonlySet<string> = new Set(['raft', 'snap-chunk', 'snap-ack', 'keepalive', 'forward', 'forward-reply']);

export function encodePeerMessage(m: PeerMessage): Uint8Array {
  return packr.pack(m);
}

/** Decodes a frame; throws a TypeError saying what is wrong with it. */
export function decodePeerMessage(frame: Uint8Array): PeerMessage {
  let v: unknown;
  try {
    v = packr.unpack(frame);
  } catch (err) {
    throw new TypeError(`a peer frame is not msgpack (${(err as Error).message})`);
  }
  const kind = (v as { kind?: unknown } | null)?.kind;
  if (typeof v !== 'object' || v === null || typeof kind !== 'string' || !KINDS.has(kind)) {
    throw new TypeError(`a peer frame is not a peer message (kind ${JSON.stringify(kind)})`);
  }
  if (kind === 'raft') {
    const msg = (v as { msg?: { type?: unknown; from?: unknown; to?: unknown; term?: unknown } }).msg;
    if (typeof msg !== 'object' || msg === null || typeof msg.type !== 'string' || typeof msg.from !== 'string' ||
      typeof msg.to !== 'string' || typeof msg.term !== 'number') {
      throw new TypeError('a raft peer message lacks type, from, to or term');
    }
  }
  return v as PeerMessage;
}

/** Parses `--peers n1=ws://host:port,n2=...`; throws an Error naming what is wrong. */
export function parsePeers(spec: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of spec.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`"${part}" is not ID=URL (e.g. n1=ws://10.0.0.1:7070)`);
    const id = part.slice(0, eq);
    const url = part.slice(eq + 1).replace(/\/+$/, '');
    if (!NODE_ID.test(id)) throw new Error(`node id "${id}": letters, digits, '_', '.', '-' only (at most 64)`);
    if (!PEER_URL.test(url)) throw new Error(`url of ${id}, "${url}": expected ws://host:port (wss://host:port with TLS)`);
    if (out[id] !== undefined) throw new Error(`${id} is named twice`);
    out[id] = url;
  }
  if (Object.keys(out).length === 0) throw new Error('no peers given');
  return out;
}
