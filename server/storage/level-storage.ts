/**
 * The storage of data directories LevelDB holds (every one written before the log had its own
 * files, file-storage.ts; open-storage.ts picks): the log, the hard state and the snapshot record
 * in LevelDB (through `level`), each under its own sublevel, and snapshot files beside it. The
 * log's logic (segments, truncation, compaction, the checks on load, ordered writes) is
 * log-storage.ts; this file opens the engine, handles a full disk, and lays snapshots out as
 * files.
 *
 * A full disk is not fatal here (see disk-reserve.ts for the whole rule). Open: if LevelDB cannot
 * open for want of space (it writes the recovered write-ahead log out as a table), the reserve
 * file is spent and the open tried once more; a storage opened on a disk too full to put the
 * reserve back says so (`openedFull`) and the server starts refusing writes. After a failed
 * write LevelDB refuses every later one (its background error is sticky; the write queue in
 * log-storage.ts refuses them too) until `reopen()`, which also settles the failed batch:
 * recovery replays what the write-ahead log holds and writes it out as a synced table, so what
 * `durableState()` reads afterwards is on disk for good. A snapshot file that cannot be written
 * is removed again (no half-written temp file eats the space freed).
 *
 * Torn writes, and what LevelDB does with them (classic-level 3 bundles LevelDB 1.20; read in
 * its db/log_reader.cc and db/db_impl.cc RecoverLogFile). Each batch is one record of the
 * write-ahead log, cut into fragments at 32 KiB block boundaries, each fragment with a CRC;
 * `sync: true` fsyncs the log before the write returns. On open the log is replayed:
 * - A record cut short at the end of the file (the writer died mid-write: a partial header, a
 *   length past the end, a first fragment without its last) is taken for end of file and
 *   dropped without a word. A zero-filled tail (a file system extending the file after a crash)
 *   is skipped the same way.
 * - A fragment anywhere else whose checksum fails or whose length is impossible is dropped
 *   together with the rest of its 32 KiB block; a logical record missing a fragment is dropped
 *   whole ("error in middle of record"). classic-level leaves paranoid_checks off and does not
 *   expose it, so this is only written to LevelDB's LOG file ("(ignoring error) ... dropping N
 *   bytes; checksum mismatch") and the replay goes on: batches after the damaged one come back
 *   without it.
 * So a batch is never applied in part: a torn last write vanishes whole, as if the crash came
 * before it. A damaged record before the last, which a crash can cause only for a write that was
 * not synced before the next one was written (sync: false, or a disk that lies about flushes),
 * silently loses that batch and keeps the later ones. The log's own checks catch that (a lost
 * append leaves a hole or a segment whose previous term does not match: load() refuses to start,
 * naming the entry). Every append the driver makes is synced, and batches are issued one after
 * another, so in normal operation only the last batch can be torn. LevelDB does not check the
 * CRCs of table blocks it reads (verify_checksums is off): the seal on every record does.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import { DirFiles } from './dir-files.ts';
import { DiskReserve, diskFullText, storageOpenError, type DiskReserveOptions } from './disk-reserve.ts';
import type { Bytes, KvOp, KvRange, OrderedKv, Space } from './kv.ts';
import { LogStorage, type LogStorageOptions } from './log-storage.ts';
import { isNoSpaceError } from './no-space.ts';
import type { RaftStorage } from './raft-storage.ts';
import { META, pack, seal } from './records.ts';
import { StorageError } from './storage-error.ts';

export { StorageError } from './storage-error.ts';
export type { LoadedState, SnapshotRecord } from './raft-storage.ts';

const subOptions = { keyEncoding: 'view', valueEncoding: 'view' } as const;
function sublevel(db: Level<Bytes, Bytes>, name: string) {
  return db.sublevel<Bytes, Bytes>(name, subOptions);
}
type Sub = ReturnType<typeof sublevel>;

/** The key-value store on LevelDB: one sublevel per space. */
class LevelKv implements OrderedKv {
  private readonly subs: Record<Space, Sub>;

  constructor(readonly db: Level<Bytes, Bytes>) {
    this.subs = { log: sublevel(db, 'log'), meta: sublevel(db, 'meta') };
  }

  get(space: Space, key: Bytes): Promise<Bytes | undefined> {
    return this.subs[space].get(key);
  }

  /** The iterator is created now, on LevelDB's implicit snapshot of this moment. */
  iterate(space: Space, range: KvRange = {}): AsyncIterable<[Bytes, Bytes]> {
    const options: { gte?: Bytes; lte?: Bytes; reverse?: boolean; limit?: number } = {};
    if (range.gte !== undefined) options.gte = range.gte;
    if (range.lte !== undefined) options.lte = range.lte;
    if (range.reverse !== undefined) options.reverse = range.reverse;
    if (range.limit !== undefined) options.limit = range.limit;
    return this.subs[space].iterator(options);
  }

  write(ops: KvOp[], sync: boolean): Promise<void> {
    if (ops.length === 0) {
      if (!sync) return Promise.resolve();
      // A sync with nothing to write still has to reach the write-ahead log.
      ops = [{ type: 'put', space: 'meta', key: META.sync, value: seal(pack(0)) }];
    }
    const batch = this.db.batch();
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value, { sublevel: this.subs[op.space] });
      else batch.del(op.key, { sublevel: this.subs[op.space] });
    }
    return batch.write({ sync });
  }
}

export type LevelStorageOptions = DiskReserveOptions & LogStorageOptions;

export class LevelStorage extends LogStorage implements RaftStorage {
  /** True if the disk was too full, when opened, to keep the reserve: writes start refused. */
  openedFull = false;

  private constructor(
    readonly dir: string,
    private levelKv: LevelKv,
    readonly reserve: DiskReserve,
    options: LogStorageOptions,
  ) {
    super(levelKv, new DirFiles(dir), options);
  }

  /**
   * Opens (or creates) the data directory. Refuses a non-empty directory that is not a coord
   * data directory, one in a format this code does not read, and one whose database cannot be
   * opened or read. On a full disk it spends the reserve to open, and says so in `openedFull`.
   * Reads nothing of the log: `load()` does.
   */
  static async open(dir: string, options: LevelStorageOptions = {}): Promise<LevelStorage> {
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
      if (!isNoSpaceError(err) || !(await reserve.release())) throw await storageOpenError(dir, err, reserve);
      try {
        db = await openDatabase(dir, fresh);
      } catch (again) {
        throw await storageOpenError(dir, again, reserve);
      }
    }
    const storage = new LevelStorage(dir, new LevelKv(db), reserve, options);
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

  /** Closes the database and opens it again, then reads the log again: see the header. */
  async reopen(): Promise<void> {
    await this.drain();
    if (this.levelKv.db.status !== 'closed') await this.levelKv.db.close();
    this.levelKv = new LevelKv(await openDatabase(this.dir, false));
    this.kv = this.levelKv;
    await this.reload();
  }

  async close(): Promise<void> {
    await this.drain();
    if (this.levelKv.db.status !== 'closed') await this.levelKv.db.close();
  }
}

async function openDatabase(dir: string, fresh: boolean): Promise<Level<Bytes, Bytes>> {
  const db = new Level<Bytes, Bytes>(dir, {
    keyEncoding: 'view', valueEncoding: 'view', createIfMissing: fresh,
  });
  await db.open();
  return db;
}
