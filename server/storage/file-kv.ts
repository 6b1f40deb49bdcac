/**
 * The log's own files: the ordered key-value store the log storage needs (kv.ts), kept as an
 * append-only log of batches, each batch one checksummed record. ARCHITECTURE.md lets a
 * purpose-built log file replace LevelDB if it measurably beats it with the same crash
 * guarantees; this is that file. LevelDB, for every synced batch, appends to its write-ahead log,
 * grows the file (so fdatasync must also journal the new size), inserts each key into its
 * memtable from a worker thread, and later compacts tables that hold nothing but log segments
 * written once and deleted a snapshot later. Here a synced batch is one write into space already
 * allocated and one fdatasync.
 *
 * Files: `wal-<16 hex digits>.log`, numbered in order. Each is zero-filled ahead of the writes
 * (EXTEND_BYTES at a time, synced with the batch that needed them), so that a synced write
 * changes no file size and fdatasync has no metadata to journal. Once a file holds FILE_BYTES
 * the next batch starts a new one, which first copies every live `meta` record (a few small
 * ones) so that no old file is kept for them; log segments die in order (truncation and
 * compaction delete them), and a file is deleted once nothing in it is live and every file before
 * it is gone: a deletion record in a later file may be all that stops an older file's put from
 * coming back, so files go strictly oldest first.
 *
 * A record: payload length (u32), CRC-32 of the payload (u32), payload; the payload is the batch's
 * operations, each a kind byte (put or delete, and the space), the key (u16 length) and, for a
 * put, the value (u32 length). Reading back (open): records in file order until a zero length
 * (the zero-filled space) or the end. A record cut short or failing its checksum ends the log if
 * it is at the end of the newest file (a write torn by a crash: it was never acknowledged, since
 * a synced batch resolves after its fdatasync, and every batch is written after the one before
 * it completed) — it is dropped whole and the space zeroed again; anywhere else it is damage,
 * and open refuses with a StorageError naming the file and offset.
 *
 * In memory: each space's keys, sorted, with where each value lies (file, offset, length);
 * values are read from the files when asked for (the page cache holds recent ones).
 */
import {
  closeSync, fdatasyncSync, fstatSync, fsyncSync, openSync, readdirSync, readSync, unlinkSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { assert } from '../assert.ts';
import { crc32 } from './crc32.ts';
import type { Bytes, KvOp, KvRange, OrderedKv, Space } from './kv.ts';
import { StorageError } from './storage-error.ts';
import { lowerBound, upperBound } from '../sorted-strings.ts';

/** A file takes no batch after this many bytes (a batch larger than this gets a file of its own). */
export const FILE_BYTES = 64 * 1024 * 1024;
/** Zero-filled space allocated ahead of the writes, at a time. */
export const EXTEND_BYTES = 1024 * 1024;
const HEADER_BYTES = 8;
const FILE_NAME = /^wal-([0-9a-f]{16})\.log$/;
const fileName = (seq: number) => `wal-${seq.toString(16).padStart(16, '0')}.log`;

const KIND_PUT = 0;
const KIND_DEL = 1;
const SPACES: Space[] = ['log', 'meta'];

export interface FileKvOptions {
  /** Default FILE_BYTES (tests make it small, to turn over many files). */
  fileBytes?: number;
  /** Default EXTEND_BYTES. */
  extendBytes?: number;
}

class WalFile {
  /** Where the next record goes (the end of the last whole record). */
  size = 0;
  /** Bytes of the file zero-filled (or written) so far. */
  allocated = 0;
  /** Index entries whose value is in this file. */
  live = 0;
  /** Iterators reading from this file: it is not deleted under them. */
  pins = 0;

  constructor(readonly seq: number, readonly path: string, readonly fd: number) {}
}

interface Loc {
  key: Bytes;
  file: WalFile;
  offset: number;
  length: number;
}

/** One space's keys: by name (latin1 of the key bytes, which sorts as the bytes do), and sorted. */
class SpaceIndex {
  readonly map = new Map<string, Loc>();
  private sorted: string[] = [];
  /** Deleted keys still in `sorted`, dropped at the next read of it. */
  private deleted = new Set<string>();

  put(name: string, loc: Loc): Loc | undefined {
    const prior = this.map.get(name);
    this.map.set(name, loc);
    if (prior !== undefined) return prior;
    if (this.deleted.delete(name)) return undefined; // still in `sorted`
    const s = this.sorted;
    if (s.length === 0 || s[s.length - 1]! < name) s.push(name);
    else s.splice(lowerBound(s, name), 0, name);
    return undefined;
  }

  del(name: string): Loc | undefined {
    const prior = this.map.get(name);
    if (prior === undefined) return undefined;
    this.map.delete(name);
    this.deleted.add(name);
    return prior;
  }

  /** The names within `range`, in order. */
  names(range: KvRange): string[] {
    if (this.deleted.size > 0) {
      const gone = this.deleted;
      this.sorted = this.sorted.filter((n) => !gone.has(n));
      this.deleted = new Set();
    }
    const s = this.sorted;
    const from = range.gte === undefined ? 0 : lowerBound(s, latin1(range.gte));
    const to = range.lte === undefined ? s.length : upperBound(s, latin1(range.lte));
    const names = s.slice(from, Math.max(from, to));
    if (range.reverse === true) names.reverse();
    return range.limit !== undefined && range.limit >= 0 ? names.slice(0, range.limit) : names;
  }
}

const latin1 = (b: Bytes) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

export class FileKv implements OrderedKv {
  /** Oldest first; the last is the one written to. */
  private files: WalFile[] = [];
  private readonly spaces: Record<Space, SpaceIndex> = { log: new SpaceIndex(), meta: new SpaceIndex() };
  private closed = false;
  /**
   * A batch was written and not yet synced. No file is deleted meanwhile: the batch may be what
   * made it dead (deleted its segments, carried its meta records into a new file), and a crash
   * that lost the batch must find the file still there.
   */
  private unsynced = false;

  private constructor(readonly dir: string, private readonly options: Required<FileKvOptions>) {}

  /** True if `dir` holds this store's files. */
  static holdsFiles(dir: string): boolean {
    return readdirSync(dir).some((n) => FILE_NAME.test(n));
  }

  /** Opens the files in `dir` (none: a new, empty store) and reads them back (see the header). */
  static open(dir: string, options: FileKvOptions = {}): FileKv {
    const kv = new FileKv(dir, { fileBytes: options.fileBytes ?? FILE_BYTES, extendBytes: options.extendBytes ?? EXTEND_BYTES });
    try {
      const seqs = readdirSync(dir).flatMap((n) => {
        const m = FILE_NAME.exec(n);
        return m === null ? [] : [parseInt(m[1]!, 16)];
      }).sort((a, b) => a - b);
      for (let i = 0; i < seqs.length; i++) kv.replay(seqs[i]!, i === seqs.length - 1);
      if (kv.files.length === 0) kv.startFile(1);
      return kv;
    } catch (err) {
      kv.close();
      throw err;
    }
  }

  /** Reads one file's records into the index; `newest`: a torn last record is dropped. */
  private replay(seq: number, newest: boolean): void {
    const path = join(this.dir, fileName(seq));
    const fd = openSync(path, 'r+');
    const file = new WalFile(seq, path, fd);
    this.files.push(file);
    const length = fstatSync(fd).size;
    const bytes = Buffer.allocUnsafe(length);
    for (let at = 0; at < length;) {
      const n = readSync(fd, bytes, at, length - at, at);
      if (n === 0) throw new StorageError(`${path}: read ${at} of ${length} bytes`);
      at += n;
    }
    let at = 0;
    /** Where the record that ends the log claims to end (a torn one). */
    let claimedEnd = 0;
    for (;;) {
      if (at + HEADER_BYTES > length) break;
      const size = bytes.readUInt32LE(at);
      if (size === 0) {
        // The zero-filled space; or a torn write whose first block never reached the disk while
        // a later one did (its length is unknown then: it ends the log, as LevelDB has it).
        claimedEnd = Infinity;
        break;
      }
      const end = at + HEADER_BYTES + size;
      const payload = end <= length ? bytes.subarray(at + HEADER_BYTES, end) : null;
      if (payload === null || crc32(payload) !== bytes.readUInt32LE(at + 4)) {
        claimedEnd = end;
        break;
      }
      this.applyRecord(file, payload, at + HEADER_BYTES);
      at = end;
    }
    file.size = at;
    file.allocated = length;
    const lastNonZero = lastNonZeroByte(bytes, at);
    if (lastNonZero >= at) {
      // Bytes after the last whole record. A write torn by a crash leaves them only within the
      // record it was writing, and only in the newest file; anything else is damage to records
      // that were written whole (and maybe acknowledged), which is not to be dropped silently.
      if (!newest) throw new StorageError(`${path}: the record at byte ${at} is damaged, and later files follow it`);
      if (lastNonZero >= claimedEnd) {
        throw new StorageError(`${path}: the record at byte ${at} is damaged, and more was written after it`);
      }
      // A torn write: zero it, so that nothing of it can be read as a record later.
      writeAll(fd, Buffer.alloc(lastNonZero + 1 - at), at);
      fdatasyncNow(fd);
    }
  }

  private applyRecord(file: WalFile, payload: Buffer, base: number): void {
    let at = 0;
    while (at < payload.length) {
      const kind = payload[at]!;
      const space = SPACES[kind >> 1]!;
      const keyLength = payload.readUInt16LE(at + 1);
      const key = Buffer.from(payload.subarray(at + 3, at + 3 + keyLength));
      at += 3 + keyLength;
      const index = this.spaces[space];
      const name = latin1(key);
      if ((kind & 1) === KIND_DEL) {
        const prior = index.del(name);
        if (prior !== undefined) prior.file.live--;
        continue;
      }
      const valueLength = payload.readUInt32LE(at);
      at += 4;
      const prior = index.put(name, { key, file, offset: base + at, length: valueLength });
      if (prior !== undefined) prior.file.live--;
      file.live++;
      at += valueLength;
    }
  }

  /** Starts file `seq` (empty) and makes its name durable. */
  private startFile(seq: number): WalFile {
    const path = join(this.dir, fileName(seq));
    const fd = openSync(path, 'wx+');
    const file = new WalFile(seq, path, fd);
    this.files.push(file);
    syncDir(this.dir);
    return file;
  }

  private get current(): WalFile {
    return this.files[this.files.length - 1]!;
  }

  get(space: Space, key: Bytes): Promise<Bytes | undefined> {
    try {
      this.open();
      const loc = this.spaces[space].map.get(latin1(key));
      return Promise.resolve(loc === undefined ? undefined : readValue(loc));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The keys are taken now (the view at this call); values are read as iterated. The files they
   * are in are not deleted until each has been read or the iteration ends.
   */
  iterate(space: Space, range: KvRange = {}): AsyncIterable<[Bytes, Bytes]> {
    this.open();
    const index = this.spaces[space];
    const locs = index.names(range).map((n) => index.map.get(n)!);
    for (const loc of locs) loc.file.pins++;
    let unpinned = 0;
    const unpinThrough = (end: number) => {
      for (; unpinned < end; unpinned++) locs[unpinned]!.file.pins--;
      this.dropDeadFiles();
    };
    return {
      async* [Symbol.asyncIterator]() {
        try {
          for (let i = 0; i < locs.length; i++) {
            const loc = locs[i]!;
            const value = readValue(loc);
            unpinThrough(i + 1);
            yield [loc.key, value] as [Bytes, Bytes];
          }
        } finally {
          unpinThrough(locs.length);
        }
      },
    };
  }

  async write(ops: KvOp[], sync: boolean): Promise<void> {
    this.open();
    if (ops.length > 0) this.append(ops);
    if (!sync) return;
    // Synced on this thread (one fdatasync into space allocated ahead costs less than a
    // thread-pool round trip), but after the work queued for this turn: a leader's messages to
    // its followers, corked until then (protocol/cork.ts), leave before the disk is waited on,
    // so that followers write in parallel with it.
    await new Promise<void>((resolve) => process.nextTick(resolve));
    this.open();
    fdatasyncNow(this.current.fd);
    this.unsynced = false;
    this.dropDeadFiles();
  }

  /** Writes one batch (a file of its own when the current one is full), then indexes it. */
  private append(ops: KvOp[]): void {
    let record = encodeBatch(ops);
    let file = this.current;
    if (file.size > 0 && file.size + record.length > this.options.fileBytes) {
      // What was written unsynced to the old file must be durable before the new file's batch.
      fdatasyncNow(file.fd);
      file = this.startFile(file.seq + 1);
      // The live meta records come along first, in the same record, so no old file is kept
      // for them (a put of the same key in `ops` comes after, and wins).
      const carried: KvOp[] = [...this.spaces.meta.map.values()].map((loc) =>
        ({ type: 'put', space: 'meta', key: loc.key, value: readValue(loc) }));
      if (carried.length > 0) {
        ops = [...carried, ...ops];
        record = encodeBatch(ops);
      }
    }
    const end = file.size + record.length;
    if (end > file.allocated) {
      // Zero-filled ahead: the batch's fdatasync makes the new size durable with it.
      const to = Math.max(end, file.allocated + this.options.extendBytes);
      writeAll(file.fd, Buffer.alloc(to - file.allocated), file.allocated);
      file.allocated = to;
    }
    writeAll(file.fd, record, file.size);
    this.unsynced = true;
    this.applyRecord(file, record.subarray(HEADER_BYTES), file.size + HEADER_BYTES);
    file.size = end;
  }

  /** Deletes the oldest files while nothing in them is live or being read, once all is synced. */
  private dropDeadFiles(): void {
    if (this.unsynced) return;
    while (this.files.length > 1) {
      const oldest = this.files[0]!;
      if (oldest.live > 0 || oldest.pins > 0) break;
      closeSync(oldest.fd);
      unlinkSync(oldest.path);
      this.files.shift();
      // Each deletion durable before the next: a file that came back after a crash without the
      // one after it would bring back puts that only the later file's deletions cancel.
      syncDir(this.dir);
    }
  }

  private open(): void {
    if (this.closed) throw new StorageError(`${this.dir}: the log files are closed`);
  }

  /** Files in use, for tests: their names and live records. */
  fileStats(): { name: string; live: number; size: number }[] {
    return this.files.map((f) => ({ name: fileName(f.seq), live: f.live, size: f.size }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.files) closeSync(f.fd);
    this.files = [];
  }
}

function encodeBatch(ops: KvOp[]): Buffer {
  let size = 0;
  for (const op of ops) {
    assert(op.key.byteLength <= 0xffff, `a key of ${op.key.byteLength} bytes`);
    size += 3 + op.key.byteLength + (op.type === 'put' ? 4 + op.value.byteLength : 0);
  }
  const out = Buffer.allocUnsafe(HEADER_BYTES + size);
  let at = HEADER_BYTES;
  for (const op of ops) {
    out[at] = (SPACES.indexOf(op.space) << 1) | (op.type === 'put' ? KIND_PUT : KIND_DEL);
    out.writeUInt16LE(op.key.byteLength, at + 1);
    out.set(op.key, at + 3);
    at += 3 + op.key.byteLength;
    if (op.type === 'put') {
      out.writeUInt32LE(op.value.byteLength, at);
      out.set(op.value, at + 4);
      at += 4 + op.value.byteLength;
    }
  }
  out.writeUInt32LE(size, 0);
  out.writeUInt32LE(crc32(out.subarray(HEADER_BYTES)), 4);
  return out;
}

function readValue(loc: Loc): Buffer {
  const out = Buffer.allocUnsafe(loc.length);
  for (let at = 0; at < loc.length;) {
    const n = readSync(loc.file.fd, out, at, loc.length - at, loc.offset + at);
    if (n === 0) throw new StorageError(`${loc.file.path}: a value at byte ${loc.offset} is cut short`);
    at += n;
  }
  return out;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let at = 0; at < bytes.byteLength;) at += writeSync(fd, bytes, at, bytes.byteLength - at, position + at);
}

/** Index of the last byte at or after `from` that is not zero (from - 1 if none). */
function lastNonZeroByte(bytes: Buffer, from: number): number {
  const CHUNK = 64 * 1024;
  const zeros = Buffer.alloc(CHUNK);
  let end = bytes.length;
  while (end > from) {
    const start = Math.max(from, end - CHUNK);
    if (!bytes.subarray(start, end).equals(zeros.subarray(0, end - start))) {
      for (let i = end - 1; i >= start; i--) if (bytes[i] !== 0) return i;
    }
    end = start;
  }
  return from - 1;
}

function fdatasyncNow(fd: number): void {
  fdatasyncSync(fd);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
