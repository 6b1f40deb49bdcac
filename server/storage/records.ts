/**
 * How the log storage lays its records out in the key-value store.
 *
 * Every value is sealed: [crc32 of the body: 4 bytes BE][msgpack body]. LevelDB checks its own
 * write-ahead log records, but not, by default, the table blocks it reads back (verify_checksums
 * is off); the seal catches a value damaged anywhere between our encode and our decode.
 *
 * Keys: in `log`, a segment is keyed by the index of its first entry, 8 bytes big-endian, so key
 * order is index order. In `meta`, records are named: `format`, `hardstate`, `snapshot` (the
 * snapshot file's header), `compacted` (index and term of the last entry compaction removed).
 *
 * A segment is the entries one append wrote, as one record (one put per group commit keeps the
 * cost of a batch nearly flat in its entry count). Format 2 (coord-data-2):
 *   { i: first index, p: term of the entry before it when it was written, e: [entry, ...] }
 * with each entry [term, data] or [term, data, type]: the type is left out when it is what the
 * data implies (non-empty data: a command; empty data: the leader's no-op), so every type and
 * payload round-trips and the common command costs nothing extra. `i` guards against a record
 * under the wrong key; `p` is Raft's log-matching check, run on load, that a write between this
 * segment and the one before it was not lost.
 * Format 1 (coord-data-1, written before the log could be truncated) is a bare array of
 * [term, data] pairs, read the same way (no `i`, no `p`); a directory in format 1 is marked 2 by
 * its first write, after which binaries that know only format 1 refuse it.
 */
import { crc32 } from './crc32.ts';
import type { Bytes } from './kv.ts';
import { EntryType, type Entry, type HardState } from './log-types.ts';
import { StorageError } from './storage-error.ts';
import { msgpack as packr } from '../../protocol/msgpack.ts';

/** The format this code writes. */
export const FORMAT = 'coord-data-2';
/** Every format this code reads. */
export const FORMATS_READ: readonly string[] = ['coord-data-1', FORMAT];


export const META = {
  format: Buffer.from('format'),
  hardState: Buffer.from('hardstate'),
  snapshot: Buffer.from('snapshot'),
  compacted: Buffer.from('compacted'),
  /** Written only to make an otherwise empty batch carry a sync. */
  sync: Buffer.from('sync'),
} as const;

export function indexKey(index: number): Bytes {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(index));
  return b;
}

export function keyIndex(key: Bytes): number {
  return Number(Buffer.from(key.buffer, key.byteOffset, key.byteLength).readBigUInt64BE(0));
}

export function seal(body: Bytes): Bytes {
  const out = Buffer.allocUnsafe(4 + body.byteLength);
  out.writeUInt32BE(crc32(body), 0);
  out.set(body, 4);
  return out;
}

export function pack(value: unknown): Bytes {
  return packr.pack(value);
}

/** Checks the seal and decodes the body; `where` names the directory, `what` the record. */
export function unseal<T>(where: string, what: string, record: Bytes): T {
  if (record.byteLength < 4) throw new StorageError(`${where}: ${what} is truncated`);
  const body = record.subarray(4);
  const want = Buffer.from(record.buffer, record.byteOffset, 4).readUInt32BE(0);
  if (crc32(body) !== want) throw new StorageError(`${where}: ${what} fails its checksum (corrupt)`);
  try {
    return packr.unpack(body) as T;
  } catch (err) {
    throw new StorageError(`${where}: ${what} cannot be decoded`, { cause: err });
  }
}

type StoredEntry = [number, Bytes] | [number, Bytes, number];

function impliedType(data: Bytes): EntryType {
  return data.byteLength === 0 ? EntryType.Noop : EntryType.Command;
}

/** A segment record holding `entries` (consecutive), written after an entry of term `prevTerm`. */
export function encodeSegment(entries: readonly Entry[], prevTerm: number): Bytes {
  const e: StoredEntry[] = entries.map((x) => (x.type === impliedType(x.data) ? [x.term, x.data] : [x.term, x.data, x.type]));
  return seal(pack({ i: entries[0]!.index, p: prevTerm, e }));
}

export interface DecodedSegment {
  first: number;
  /** Term of the entry before `first` when the segment was written; undefined in format 1. */
  prevTerm: number | undefined;
  entries: Entry[];
}

const TYPES = new Set<number>(Object.values(EntryType));

/** Decodes the segment stored under `first`; throws StorageError if it is damaged. */
export function decodeSegment(where: string, first: number, record: Bytes): DecodedSegment {
  const what = `log segment at entry ${first}`;
  const body = unseal<unknown>(where, what, record);
  let stored: unknown;
  let prevTerm: number | undefined;
  if (Array.isArray(body)) {
    stored = body;
  } else if (typeof body === 'object' && body !== null) {
    const { i, p, e } = body as { i?: unknown; p?: unknown; e?: unknown };
    if (i !== first) throw new StorageError(`${where}: ${what} says it starts at entry ${String(i)}`);
    if (typeof p !== 'number') throw new StorageError(`${where}: ${what} has no previous term`);
    prevTerm = p;
    stored = e;
  }
  if (!Array.isArray(stored)) throw new StorageError(`${where}: ${what} is not a list of entries`);
  if (stored.length === 0) throw new StorageError(`${where}: ${what} is empty`);
  const entries: Entry[] = [];
  for (let k = 0; k < stored.length; k++) {
    const s = stored[k] as unknown;
    if (!Array.isArray(s) || typeof s[0] !== 'number' || !(s[1] instanceof Uint8Array)) {
      throw new StorageError(`${where}: ${what} holds a malformed entry (${first + k})`);
    }
    const data = s[1] as Bytes;
    const type = s.length > 2 ? s[2] : impliedType(data);
    if (!TYPES.has(type as number)) throw new StorageError(`${where}: log entry ${first + k} has unknown type ${String(type)}`);
    entries.push({ index: first + k, term: s[0] as number, type: type as EntryType, data });
  }
  return { first, prevTerm, entries };
}

export function encodeHardState(hs: HardState): Bytes {
  return seal(pack({ term: hs.term, vote: hs.vote, commit: hs.commit }));
}

export interface SnapshotHeader {
  index: number;
  term: number;
  crc: number;
  length: number;
}

export interface LogPosition {
  index: number;
  term: number;
}
