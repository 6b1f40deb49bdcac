/**
 * Durable state on LevelDB (through `level`): the Raft log, the hard state and the latest store
 * snapshot, each under its own sublevel. Writes that must survive a crash use `sync: true`, and
 * one call writes many entries in one batch (one fsync): that is the group commit.
 *
 * The log is kept in segments: each append writes its entries as one record, keyed by the index
 * of its first entry. One LevelDB put per group commit instead of one per entry keeps the cost
 * of a batch nearly flat in the number of entries it carries.
 *
 * Records carry a CRC-32 and a format tag; anything that does not read back exactly stops the
 * server with a message naming the data directory and the record, rather than starting over it.
 *
 * A full disk is not fatal here (see disk-reserve.ts for the whole rule). Open: if LevelDB cannot
 * open for want of space (it writes the recovered write-ahead log out as a table), the reserve
 * file is spent and the open tried once more; a storage opened on a disk too full to put the
 * reserve back says so (`openedFull`) and the server starts refusing writes. After a failed
 * write LevelDB refuses every later one (its background error is sticky) until `reopen()`, which
 * also settles the failed batch: LevelDB's recovery drops a torn last record and writes the rest
 * out as a synced table, so what `durableState()` reads afterwards is on disk for good. A snapshot
 * file that cannot be written is removed again (no half-written temp file eats the space freed).
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { open as openFile, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { Packr } from 'msgpackr';
import type { Entry, HardState } from '../consensus/raft.ts';
import { crc32 } from './crc32.ts';
import { DiskReserve, type DiskReserveOptions } from './disk-reserve.ts';
import { isNoSpaceError } from './no-space.ts';
import type { DurableState, RaftStorage } from './raft-storage.ts';

const FORMAT = 'coord-data-1';
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
  }
}

export interface SnapshotRecord {
  /** Index and term of the last log entry the snapshot includes. */
  index: number;
  term: number;
  /** The encoded store snapshot. */
  data: Uint8Array;
  /** crc32 of `data` (computed by the caller, a piece at a time, so no one turn pays for it). */
  crc: number;
}

export interface LoadedState {
  hardState: HardState;
  snapshot: SnapshotRecord | null;
  /** Every log entry after the snapshot, in order. */
  entries: Entry[];
}

type Bytes = Uint8Array;
const subOptions = { keyEncoding: 'view', valueEncoding: 'view' } as const;
function sublevel(db: Level<Bytes, Bytes>, name: string) {
  return db.sublevel<Bytes, Bytes>(name, subOptions);
}
type Sub = ReturnType<typeof sublevel>;

function indexKey(index: number): Bytes {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(index));
  return b;
}

/** A record is [crc32 of body: 4 bytes BE][body]. */
function seal(body: Bytes): Bytes {
  const out = Buffer.allocUnsafe(4 + body.byteLength);
  out.writeUInt32BE(crc32(body), 0);
  out.set(body, 4);
  return out;
}

export class LevelStorage implements RaftStorage {
  private log: Sub;
  private meta: Sub;
  /** True if the disk was too full, when opened, to keep the reserve: writes start refused. */
  openedFull = false;

  private constructor(
    readonly dir: string,
    private db: Level<Bytes, Bytes>,
    readonly reserve: DiskReserve,
  ) {
    this.log = sublevel(db, 'log');
    this.meta = sublevel(db, 'meta');
  }

  /**
   * Opens (or creates) the data directory. Refuses a non-empty directory that is not a coord
   * data directory, and one whose database cannot be opened or read. On a full disk it spends
   * the reserve to open, and says so in `openedFull`.
   */
  static async open(dir: string, options: DiskReserveOptions = {}): Promise<LevelStorage> {
    const fresh = !existsSync(dir) || readdirSync(dir).length === 0;
    if (!fresh && !existsSync(join(dir, 'CURRENT'))) {
      throw new StorageError(
        `${dir} is not empty and has no ${join(dir, 'CURRENT')}: it is not a coord data directory ` +
          '(refusing to start over existing files)',
      );
    }
    mkdirSync(dir, { recursive: true });
    const reserve = new DiskReserve(dir, options);
    let db: Level<Bytes, Bytes>;
    try {
      db = await openDatabase(dir, fresh);
    } catch (err) {
      if (!isNoSpaceError(err) || !(await reserve.release())) throw await openError(dir, err, reserve);
      try {
        db = await openDatabase(dir, fresh);
      } catch (again) {
        throw await openError(dir, again, reserve);
      }
    }
    const storage = new LevelStorage(dir, db, reserve);
    try {
      await storage.checkFormat(fresh);
      // Full unless the reserve is (or could be put back) in place, with the headroom beside it.
      storage.openedFull = !(await reserve.restore());
    } catch (err) {
      await db.close();
      if (!isNoSpaceError(err) || err instanceof StorageError) throw err;
      throw new StorageError(`${dir}: ${await diskFullText(reserve)}`, { cause: err });
    }
    return storage;
  }

  /** Closes the database and opens it again: see the header. Throws as `open` does. */
  async reopen(): Promise<void> {
    if (this.db.status !== 'closed') await this.db.close();
    const db = await openDatabase(this.dir, false);
    this.db = db;
    this.log = sublevel(db, 'log');
    this.meta = sublevel(db, 'meta');
  }

  /** The last log position and the hard state on disk now (see RaftStorage). */
  async durableState(): Promise<DurableState> {
    try {
      const hsRecord = await this.meta.get(Buffer.from('hardstate'));
      const hardState = hsRecord === undefined ? null : this.decode<HardState>('meta/hardstate', hsRecord);
      for await (const [key, value] of this.log.iterator({ reverse: true, limit: 1 })) {
        const first = Number(Buffer.from(key).readBigUInt64BE());
        const segment = this.decode<[number, Bytes][]>(`log segment at entry ${first}`, value);
        if (segment.length === 0) throw new StorageError(`${this.dir}: log segment at entry ${first} is empty`);
        return { last: { index: first + segment.length - 1, term: segment[segment.length - 1]![0] }, hardState };
      }
      const header = await this.meta.get(Buffer.from('snapshot'));
      if (header === undefined) return { last: { index: 0, term: 0 }, hardState };
      const { index, term } = this.decode<{ index: number; term: number }>('meta/snapshot', header);
      return { last: { index, term }, hardState };
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw new StorageError(`${this.dir}: cannot read the database: ${(err as Error).message}`, { cause: err });
    }
  }

  private async checkFormat(fresh: boolean): Promise<void> {
    const key = Buffer.from('format');
    const format = await this.meta.get(key);
    if (format === undefined) {
      if (!fresh) throw new StorageError(`${this.dir}: database has no coord format record (meta/format)`);
      const batch = this.db.batch();
      batch.put(key, Buffer.from(FORMAT), { sublevel: this.meta });
      await batch.write({ sync: true });
      return;
    }
    if (Buffer.from(format).toString() !== FORMAT) {
      throw new StorageError(`${this.dir}: unknown data format ${Buffer.from(format).toString()}`);
    }
  }

  private unseal(what: string, record: Bytes): Bytes {
    if (record.byteLength < 4) throw new StorageError(`${this.dir}: ${what} is truncated`);
    const body = record.subarray(4);
    const want = Buffer.from(record.buffer, record.byteOffset, 4).readUInt32BE(0);
    if (crc32(body) !== want) throw new StorageError(`${this.dir}: ${what} fails its checksum (corrupt)`);
    return body;
  }

  private decode<T>(what: string, record: Bytes): T {
    const body = this.unseal(what, record);
    try {
      return packr.unpack(body) as T;
    } catch (err) {
      throw new StorageError(`${this.dir}: ${what} cannot be decoded`, { cause: err });
    }
  }

  /** Reads everything needed to restart: hard state, latest snapshot, the log after it. */
  async load(): Promise<LoadedState> {
    try {
      const hsRecord = await this.meta.get(Buffer.from('hardstate'));
      const hardState: HardState = hsRecord === undefined
        ? { term: 0, vote: null, commit: 0 }
        : this.decode<HardState>('meta/hardstate', hsRecord);
      const snapshot = await this.loadSnapshot();
      const entries: Entry[] = [];
      let expected = (snapshot?.index ?? 0) + 1;
      for await (const [key, value] of this.log.iterator()) {
        const first = Number(Buffer.from(key).readBigUInt64BE());
        const segment = this.decode<[number, Bytes][]>(`log segment at entry ${first}`, value);
        for (let i = 0; i < segment.length; i++) {
          const index = first + i;
          // Entries a snapshot covers (their segment is kept until wholly covered) are skipped.
          if (index < expected) continue;
          if (index !== expected) {
            throw new StorageError(`${this.dir}: log entry ${expected} is missing (found ${index})`);
          }
          const [term, data] = segment[i]!;
          entries.push({ index, term, data });
          expected++;
        }
      }
      return { hardState, snapshot, entries };
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw new StorageError(`${this.dir}: cannot read the database: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Appends entries and the hard state in one batch; `sync` makes it durable before resolving. */
  async append(entries: Entry[], hardState: HardState | null, sync: boolean): Promise<void> {
    const batch = this.db.batch();
    if (entries.length > 0) {
      const segment = entries.map((e) => [e.term, e.data]);
      batch.put(indexKey(entries[0]!.index), seal(packr.pack(segment)), { sublevel: this.log });
    }
    if (hardState !== null) {
      batch.put(Buffer.from('hardstate'), seal(packr.pack(hardState)), { sublevel: this.meta });
    }
    await batch.write({ sync });
  }

  /**
   * A snapshot is a file `snapshot-<index>` beside the database, named by a small checksummed
   * header record in it (index, term, crc and length of the file). Tens of MiB written into
   * LevelDB would fill its memtable and stall the log appends behind it; a file does not.
   */
  private async loadSnapshot(): Promise<SnapshotRecord | null> {
    const header = await this.meta.get(Buffer.from('snapshot'));
    if (header === undefined) return null;
    const { index, term, crc, length } = this.decode<Omit<SnapshotRecord, 'data'> & { length: number }>('meta/snapshot', header);
    const file = join(this.dir, `snapshot-${index}`);
    let data: Uint8Array;
    try {
      data = await readFile(file);
    } catch (err) {
      throw new StorageError(`${file} cannot be read: ${(err as Error).message}`, { cause: err });
    }
    if (data.byteLength !== length) throw new StorageError(`${file} is truncated (${data.byteLength} of ${length} bytes)`);
    if (crc32(data) !== crc) throw new StorageError(`${file} fails its checksum (corrupt)`);
    await this.removeSnapshotFiles(index);
    return { index, term, crc, data };
  }

  /** Removes snapshot files other than `keep`'s (older ones, or one a crash left unnamed). */
  private async removeSnapshotFiles(keep: number): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (/^snapshot-\d+(\.tmp)?$/.test(name) && name !== `snapshot-${keep}`) await unlink(join(this.dir, name));
    }
  }

  /** Writes `data` to `path` durably: a temp file, fsync, rename, fsync of the directory. */
  private async writeFileDurably(path: string, data: Uint8Array): Promise<void> {
    const tmp = `${path}.tmp`;
    const handle = await openFile(tmp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } catch (err) {
      await handle.close();
      // A full disk is survived: give back what the half-written file took.
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await handle.close();
    await rename(tmp, path);
    const dir = await openFile(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Saves a snapshot and drops the log entries it covers, durably. */
  async saveSnapshot(snapshot: SnapshotRecord): Promise<void> {
    const { index, term, crc, data } = snapshot;
    await this.writeFileDurably(join(this.dir, `snapshot-${index}`), data);
    const batch = this.db.batch();
    batch.put(Buffer.from('snapshot'), seal(packr.pack({ index, term, crc, length: data.byteLength })), { sublevel: this.meta });
    await batch.write({ sync: true });
    await this.removeSnapshotFiles(index);
    // The entries are now redundant. Deleting them in a second step keeps the snapshot batch
    // small; a crash between the two leaves entries that load() skips. The last segment that
    // starts at or before the snapshot may run past it, so it stays.
    const covered: Bytes[] = [];
    for await (const key of this.log.keys({ lte: indexKey(snapshot.index) })) covered.push(key);
    covered.pop();
    if (covered.length > 0) await this.log.batch(covered.map((key) => ({ type: 'del' as const, key })));
  }

  async close(): Promise<void> {
    if (this.db.status !== 'closed') await this.db.close();
  }
}

async function openDatabase(dir: string, fresh: boolean): Promise<Level<Bytes, Bytes>> {
  const db = new Level<Bytes, Bytes>(dir, {
    keyEncoding: 'view', valueEncoding: 'view', createIfMissing: fresh,
  });
  await db.open();
  return db;
}

async function diskFullText(reserve: DiskReserve): Promise<string> {
  const free = await reserve.freeBytes().catch(() => NaN);
  return `the disk is full (${free} bytes free); free space (${reserve.resumeFreeBytes} bytes lets writes resume) and start again`;
}

async function openError(dir: string, err: unknown, reserve: DiskReserve): Promise<StorageError> {
  const cause = (err as { cause?: Error }).cause ?? err;
  const why = isNoSpaceError(err) ? await diskFullText(reserve) : (cause as Error).message;
  return new StorageError(`cannot open the database in ${dir}: ${why}`, { cause: err });
}
