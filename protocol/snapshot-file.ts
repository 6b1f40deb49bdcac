/**
 * The backup file `coord snapshot save` writes and `coord snapshot inspect|restore` read, shared
 * by the server (which produces its bytes, GET /snapshot) and the CLI. No I/O here.
 *
 *   MAGIC           "coord snapshot v1\n" (18 bytes: `head -1 FILE` says what it is)
 *   payload         the store's snapshot exactly as Raft snapshots hold it (server/consensus/
 *                   snapshots.ts: a msgpack map {format: 2, rev, oldest, sessions, noopTerm,
 *                   settings, fileChunks}), so restore reads it with the same code a node uses
 *                   to install its leader's snapshot
 *   summary         JSON (SnapshotSummary): revision, live files, value bytes, sessions, …
 *   summary length  u32 big-endian
 *   sha256          32 bytes: the SHA-256 of everything before it
 *
 * The summary and the checksum come last so the server can stream the payload as it packs it,
 * a slice of files at a time, without holding the whole file. A file cut short or changed
 * anywhere fails the checksum, and is refused before anything is read from it.
 */
import { createHash } from 'node:crypto';

export const SNAPSHOT_FILE_MAGIC = new TextEncoder().encode('coord snapshot v1\n');
export const SNAPSHOT_FILE_CHECKSUM_BYTES = 32;
/** The HTTP path a server streams a snapshot file from (token-guarded like /status). */
export const SNAPSHOT_HTTP_PATH = '/snapshot';
/** The response header that carries the snapshot's revision (before the body is read). */
export const SNAPSHOT_REV_HEADER = 'x-coord-rev';

export interface SnapshotSummary {
  /** The store revision the snapshot holds the tree at. */
  rev: number;
  /** The oldest revision readable in it (history kept from oldest + 1). */
  oldest: number;
  /** Files alive at `rev`. */
  files: number;
  /** Bytes of their values. */
  valueBytes: number;
  /** Sessions open at `rev` (restored with them; see the README). */
  sessions: number;
  /** Bytes of the payload. */
  payloadBytes: number;
  /** The node that produced it, and when (ms since the epoch, its clock). */
  node: string;
  createdAtMs: number;
}

export class SnapshotFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotFileError';
  }
}

/** The bytes that follow the payload: the summary, its length, the checksum of all before. */
export function snapshotFileTrailer(summary: SnapshotSummary, hashSoFar: ReturnType<typeof createHash>): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(summary));
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, json.byteLength);
  hashSoFar.update(json);
  hashSoFar.update(len);
  const sum = hashSoFar.digest();
  const out = new Uint8Array(json.byteLength + 4 + SNAPSHOT_FILE_CHECKSUM_BYTES);
  out.set(json, 0);
  out.set(len, json.byteLength);
  out.set(sum, json.byteLength + 4);
  return out;
}

export function newSnapshotHash(): ReturnType<typeof createHash> {
  return createHash('sha256');
}

/**
 * Checks a whole file and splits it: its summary, its payload (a view into `bytes`) and its
 * checksum (hex). Throws SnapshotFileError saying what is wrong.
 */
export function readSnapshotFile(bytes: Uint8Array, name = 'the file'): { summary: SnapshotSummary; payload: Uint8Array; sha256: string } {
  const magic = SNAPSHOT_FILE_MAGIC;
  if (bytes.byteLength < magic.byteLength || !magic.every((b, i) => bytes[i] === b)) {
    throw new SnapshotFileError(`${name} is not a coord snapshot (it does not start with "coord snapshot v1")`);
  }
  const min = magic.byteLength + 4 + SNAPSHOT_FILE_CHECKSUM_BYTES;
  if (bytes.byteLength < min) throw new SnapshotFileError(`${name} is truncated (${bytes.byteLength} bytes)`);
  const end = bytes.byteLength - SNAPSHOT_FILE_CHECKSUM_BYTES;
  const want = Buffer.from(bytes.subarray(end)).toString('hex');
  const got = createHash('sha256').update(bytes.subarray(0, end)).digest('hex');
  if (got !== want) {
    throw new SnapshotFileError(`${name} is damaged or truncated: its SHA-256 checksum does not match (${bytes.byteLength} bytes)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = view.getUint32(end - 4);
  const summaryAt = end - 4 - len;
  if (summaryAt < magic.byteLength) throw new SnapshotFileError(`${name}: its summary length is out of range`);
  let summary: SnapshotSummary;
  try {
    summary = JSON.parse(new TextDecoder().decode(bytes.subarray(summaryAt, end - 4))) as SnapshotSummary;
  } catch (err) {
    throw new SnapshotFileError(`${name}: its summary is not JSON (${(err as Error).message})`);
  }
  if (typeof summary.rev !== 'number' || typeof summary.files !== 'number') throw new SnapshotFileError(`${name}: its summary lacks rev or files`);
  const payload = bytes.subarray(magic.byteLength, summaryAt);
  if (payload.byteLength !== summary.payloadBytes) throw new SnapshotFileError(`${name}: payload is ${payload.byteLength} bytes, its summary says ${summary.payloadBytes}`);
  return { summary, payload, sha256: want };
}
