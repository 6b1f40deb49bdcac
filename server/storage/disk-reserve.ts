/**
 * The disk reserve: a file of real bytes in the data directory ("ballast"), kept while the disk
 * has room, and deleted the moment the disk fills up. Deleting it is what lets LevelDB be
 * reopened on a full disk (reopening writes the recovered write-ahead log out as a table, up to
 * LevelDB's 4 MiB write buffer and a batch more), and what leaves room, while client writes are
 * refused with NOSPACE, for the small session commands (open, close, expire) that keep new
 * clients connecting and dead sessions (and their locks) expiring.
 *
 * The rule it keeps is simple: the server takes client writes only while the reserve is in place.
 * It is spent when a write fails for want of space (or when the database cannot be opened
 * without it); it is put back, and writes resume, once the disk has `resumeFreeBytes` free: room
 * for the reserve plus `DISK_HEADROOM_BYTES`. The gap between spending it (the disk is full) and
 * putting it back (the reserve and the headroom are free) is the hysteresis that keeps the server
 * from flapping in and out of NOSPACE as a nearly full disk wobbles.
 *
 * The bytes are written (not a sparse file, which would hold no blocks) but not fsynced: the
 * space is taken when the write returns; after a crash a short file is simply written again.
 */
import { statfs, open as openFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isNoSpaceError } from './no-space.ts';
import { StorageError } from './storage-error.ts';

/** Size of the reserve file: room to reopen LevelDB and for session commands on a full disk. */
export const DISK_RESERVE_BYTES = 8 * 1024 * 1024;
/** Free space, beside the reserve, the disk must have again before writes resume. */
export const DISK_HEADROOM_BYTES = 8 * 1024 * 1024;
/** The reserve's name in the data directory (LevelDB leaves names it does not own alone). */
export const DISK_RESERVE_FILE = 'coord-disk-reserve';

const CHUNK_BYTES = 1024 * 1024;

export interface DiskReserveOptions {
  reserveBytes?: number;
  headroomBytes?: number;
}

export class DiskReserve {
  readonly path: string;
  readonly reserveBytes: number;
  readonly headroomBytes: number;

  constructor(readonly dir: string, options: DiskReserveOptions = {}) {
    this.path = join(dir, DISK_RESERVE_FILE);
    this.reserveBytes = options.reserveBytes ?? DISK_RESERVE_BYTES;
    this.headroomBytes = options.headroomBytes ?? DISK_HEADROOM_BYTES;
  }

  /** Free bytes on the disk, with the reserve spent, before writes resume. */
  get resumeFreeBytes(): number {
    return this.reserveBytes + this.headroomBytes;
  }

  /** Bytes an unprivileged process may still write on the disk holding the data directory. */
  async freeBytes(): Promise<number> {
    const s = await statfs(this.dir);
    return s.bavail * s.bsize;
  }

  /** True if the reserve file is there at its full size. */
  async inPlace(): Promise<boolean> {
    try {
      return (await stat(this.path)).size === this.reserveBytes;
    } catch {
      return false;
    }
  }

  /** Deletes the reserve, giving its space to the database. True if there was one to delete. */
  async release(): Promise<boolean> {
    try {
      await unlink(this.path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /**
   * Puts the reserve back if the disk has `resumeFreeBytes` free (or it is already in place).
   * True once it is in place; false, leaving no partial file, if the space is not there.
   */
  async restore(): Promise<boolean> {
    if (await this.inPlace()) return true;
    // A short one (a crash while it was written) only takes space: count that space free.
    await this.release();
    if (await this.freeBytes() < this.resumeFreeBytes) return false;
    const handle = await openFile(this.path, 'w');
    try {
      const chunk = Buffer.alloc(Math.min(CHUNK_BYTES, this.reserveBytes), 0x52);
      for (let written = 0; written < this.reserveBytes;) {
        const n = Math.min(chunk.byteLength, this.reserveBytes - written);
        await handle.write(chunk, 0, n, written);
        written += n;
      }
    } catch (err) {
      await handle.close();
      await this.release();
      if (isNoSpaceError(err)) return false;
      throw err;
    }
    await handle.close();
    return true;
  }
}

/** What a storage that cannot open or write for want of space says. */
export async function diskFullText(reserve: DiskReserve): Promise<string> {
  const free = await reserve.freeBytes().catch(() => NaN);
  return `the disk is full (${free} bytes free); free space (${reserve.resumeFreeBytes} bytes lets writes resume) and start again`;
}

/** The error for a storage that cannot be opened, saying so plainly when the disk is full. */
export async function storageOpenError(dir: string, err: unknown, reserve: DiskReserve): Promise<StorageError> {
  const cause = (err as { cause?: Error }).cause ?? err;
  const why = isNoSpaceError(err) ? await diskFullText(reserve) : (cause as Error).message;
  return new StorageError(`cannot open the database in ${dir}: ${why}`, { cause: err });
}
