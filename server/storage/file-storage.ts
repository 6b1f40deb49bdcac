/**
 * The production storage for new data directories: the log, the hard state and the snapshot
 * record in the log's own files (file-kv.ts), snapshot files beside them. The log's logic
 * (segments, truncation, compaction, the checks on load, ordered writes) is log-storage.ts, as
 * for LevelStorage, which goes on serving data directories LevelDB holds (open-storage.ts picks).
 *
 * A full disk (see disk-reserve.ts for the whole rule): appends go into space allocated ahead,
 * so only allocating more can fail for want of space; the failed batch is then not indexed and
 * the log storage refuses every later write until `reopen()`, which reads the files back (a
 * record half written is at the end of the newest file, and dropped) so that what
 * `durableState()` reads is what is on disk. If the files cannot even be opened for want of
 * space, the reserve is spent and the open tried once more.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { DirFiles } from './dir-files.ts';
import { DiskReserve, diskFullText, storageOpenError, type DiskReserveOptions } from './disk-reserve.ts';
import { FileKv, type FileKvOptions } from './file-kv.ts';
import { LogStorage, type LogStorageOptions } from './log-storage.ts';
import { isNoSpaceError } from './no-space.ts';
import type { RaftStorage } from './raft-storage.ts';
import { StorageError } from './storage-error.ts';

export type FileStorageOptions = DiskReserveOptions & LogStorageOptions & FileKvOptions;

export class FileStorage extends LogStorage implements RaftStorage {
  /** True if the disk was too full, when opened, to keep the reserve: writes start refused. */
  openedFull = false;

  private constructor(
    readonly dir: string,
    private fileKv: FileKv,
    readonly reserve: DiskReserve,
    private readonly fileOptions: FileStorageOptions,
  ) {
    super(fileKv, new DirFiles(dir), fileOptions);
  }

  /**
   * Opens (or creates) the data directory. Refuses a non-empty directory without the log's
   * files, and files that cannot be read back whole (StorageError). Reads nothing of the log
   * into the log storage: `load()` does.
   */
  static async open(dir: string, options: FileStorageOptions = {}): Promise<FileStorage> {
    const fresh = !existsSync(dir) || readdirSync(dir).length === 0;
    if (!fresh && !FileKv.holdsFiles(dir)) {
      throw new StorageError(
        `${dir} is not empty and holds no coord log files (wal-*.log): it is not a coord data directory ` +
          '(refusing to start over existing files)',
      );
    }
    mkdirSync(dir, { recursive: true });
    const reserve = new DiskReserve(dir, options);
    let kv: FileKv;
    try {
      kv = FileKv.open(dir, options);
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if (!isNoSpaceError(err) || !(await reserve.release())) throw await storageOpenError(dir, err, reserve);
      try {
        kv = FileKv.open(dir, options);
      } catch (again) {
        if (again instanceof StorageError) throw again;
        throw await storageOpenError(dir, again, reserve);
      }
    }
    const storage = new FileStorage(dir, kv, reserve, options);
    try {
      await storage.checkFormat(fresh);
      storage.openedFull = !(await reserve.restore());
    } catch (err) {
      kv.close();
      if (!isNoSpaceError(err) || err instanceof StorageError) throw err;
      throw new StorageError(`${dir}: ${await diskFullText(reserve)}`, { cause: err });
    }
    return storage;
  }

  /** Closes the files and reads them back: see the header. */
  async reopen(): Promise<void> {
    await this.drain();
    this.fileKv.close();
    this.fileKv = FileKv.open(this.dir, this.fileOptions);
    this.kv = this.fileKv;
    await this.reload();
  }

  async close(): Promise<void> {
    await this.drain();
    this.fileKv.close();
  }

  /** The log files in use (for tests). */
  fileStats(): ReturnType<FileKv['fileStats']> {
    return this.fileKv.fileStats();
  }
}
