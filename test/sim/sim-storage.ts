/**
 * The storage a simulated node uses: the production log code (server/storage/log-storage.ts,
 * the same segments, truncation, compaction, load-time checks and ordered writes LevelStorage
 * runs) over a simulated disk (sim-disk.ts) instead of LevelDB and the file system. All in
 * memory, no timers, deterministic under the disk's seeded random.
 *
 * A node's life under the simulator:
 *
 *   const disk = new SimDisk({ random, fsync: () => clock.after(fsyncMs) });
 *   let storage = await SimStorage.open(disk);      // a fresh node
 *   const state = await storage.load();             // ... run the driver over it ...
 *   disk.crash();                                   // the node dies: unsynced writes may be lost
 *   storage = await SimStorage.open(disk);          // it restarts over what survived
 *   await storage.load();                           // a torn last write is gone, never half there
 *
 * After `disk.crash()` the old SimStorage is dead: its pending writes and reads never settle (the
 * process that waited on them is gone). Faults (a full disk on a write, a reopen, a snapshot
 * file) are set on `disk.faults`; the disk reserve and free space are `disk.reserveInPlace` and
 * `disk.freeBytes`, as the driver's NOSPACE mode measures them.
 */
import type { LogStorageOptions } from '../../server/storage/log-storage.ts';
import { LogStorage } from '../../server/storage/log-storage.ts';
import type { DiskReserveControl, RaftStorage } from '../../server/storage/raft-storage.ts';
import type { SimDisk } from './sim-disk.ts';

export { SimDisk, type CrashOptions, type SimDiskOptions, type WriteFault } from './sim-disk.ts';

export interface SimStorageOptions extends LogStorageOptions {
  /** Free bytes the reserve needs before writes resume (default 1000). */
  resumeFreeBytes?: number;
}

export class SimStorage extends LogStorage implements RaftStorage {
  readonly dir: string;
  openedFull = false;
  readonly reserve: DiskReserveControl;

  private constructor(readonly disk: SimDisk, options: SimStorageOptions) {
    super(disk.kv(), disk.snapshotFiles(), options);
    this.dir = disk.name;
    const resumeFreeBytes = options.resumeFreeBytes ?? 1000;
    this.reserve = {
      resumeFreeBytes,
      freeBytes: async () => disk.freeBytes,
      release: async () => {
        const had = disk.reserveInPlace;
        disk.reserveInPlace = false;
        return had;
      },
      restore: async () => {
        if (!disk.reserveInPlace && disk.freeBytes < resumeFreeBytes) return false;
        disk.reserveInPlace = true;
        return true;
      },
    };
  }

  /** Opens the disk as a node starting does (recovery already ran at the crash). Call load() next. */
  static async open(disk: SimDisk, options: SimStorageOptions = {}): Promise<SimStorage> {
    const storage = new SimStorage(disk, options);
    await storage.checkFormat(disk.isEmpty);
    storage.openedFull = !(await storage.reserve.restore());
    return storage;
  }

  async reopen(): Promise<void> {
    await this.drain();
    this.disk.reopen();
    this.kv = this.disk.kv();
    await this.reload();
  }

  async close(): Promise<void> {
    await this.drain();
  }
}
