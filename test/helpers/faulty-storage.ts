/**
 * A RaftStorage over a real LevelStorage that fails the way a full disk does, on cue: an append
 * can fail after its batch reached the database (the write landed, its sync did not) or before
 * (nothing landed); a reopen can fail; a snapshot can fail; and the free space the driver sees is
 * whatever the test says. Errors look like LevelDB's (code LEVEL_IO_ERROR, "No space left on
 * device" in the message), so the driver's classification is exercised too.
 */
import type { LevelStorage } from '../../server/storage/level-storage.ts';
import type {
  DiskReserveControl, DurableState, Entry, HardState, LoadedState, RaftStorage, SnapshotRecord,
} from '../../server/storage/raft-storage.ts';

export function noSpaceError(file = '000042.log'): Error {
  return Object.assign(new Error(`IO error: /fake/${file}: No space left on device`), { code: 'LEVEL_IO_ERROR' });
}

export type AppendFault = 'none' | 'after-write' | 'before-write' | 'eio';

export class FaultyStorage implements RaftStorage {
  /** How the next appends fail. `after-write` fails once, then becomes `before-write`. */
  appendFault: AppendFault = 'none';
  /** Reopens that fail (for want of space) before one succeeds. */
  reopenFailures = 0;
  /** Snapshots that fail for want of space. */
  snapshotFailures = 0;
  /** The free space the driver measures. */
  freeBytes = 1 << 30;
  reserveInPlace = true;
  openedFull = false;
  appends = 0;
  reopens = 0;
  /** If set, an append waits for it before doing anything (so a test can act meanwhile). */
  gate: Promise<void> | null = null;
  /** Resolved when an append reaches the gate. */
  private onAppendStarted: (() => void) | null = null;

  readonly reserve: DiskReserveControl = {
    resumeFreeBytes: 1000,
    freeBytes: async () => this.freeBytes,
    release: async () => {
      const had = this.reserveInPlace;
      this.reserveInPlace = false;
      return had;
    },
    restore: async () => {
      if (!this.reserveInPlace && this.freeBytes < 1000) return false;
      this.reserveInPlace = true;
      return true;
    },
  };

  constructor(readonly inner: LevelStorage) {}

  get dir(): string {
    return this.inner.dir;
  }

  /** Resolves when the next append starts (and waits at the gate, if one is set). */
  appendStarted(): Promise<void> {
    return new Promise((resolve) => (this.onAppendStarted = resolve));
  }

  load(): Promise<LoadedState> {
    return this.inner.load();
  }

  async append(entries: Entry[], hardState: HardState | null, sync: boolean): Promise<void> {
    this.appends++;
    this.onAppendStarted?.();
    this.onAppendStarted = null;
    if (this.gate !== null) await this.gate;
    switch (this.appendFault) {
      case 'before-write':
        throw noSpaceError();
      case 'eio':
        throw Object.assign(new Error('IO error: /fake/000042.log: Input/output error'), { code: 'LEVEL_IO_ERROR' });
      case 'after-write':
        // The disk is full for every write after this one, including those already waiting.
        this.appendFault = 'before-write';
        await this.inner.append(entries, hardState, sync);
        throw noSpaceError();
      case 'none':
        return this.inner.append(entries, hardState, sync);
    }
  }

  async saveSnapshot(snapshot: SnapshotRecord, compactThrough?: number): Promise<void> {
    if (this.snapshotFailures > 0) {
      this.snapshotFailures--;
      throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC' });
    }
    return this.inner.saveSnapshot(snapshot, compactThrough);
  }

  compact(throughIndex: number): Promise<void> {
    return this.inner.compact(throughIndex);
  }

  entries(lo: number, hi: number, maxBytes?: number): Promise<Entry[]> {
    return this.inner.entries(lo, hi, maxBytes);
  }

  cachedEntries(lo: number, hi: number, maxBytes?: number): Entry[] | null {
    return this.inner.cachedEntries(lo, hi, maxBytes);
  }

  term(index: number): number {
    return this.inner.term(index);
  }

  firstIndex(): number {
    return this.inner.firstIndex();
  }

  lastIndex(): number {
    return this.inner.lastIndex();
  }

  async reopen(): Promise<void> {
    this.reopens++;
    if (this.reopenFailures > 0) {
      this.reopenFailures--;
      throw Object.assign(new Error('Database failed to open'), { code: 'LEVEL_DATABASE_NOT_OPEN', cause: noSpaceError('000043.ldb') });
    }
    return this.inner.reopen();
  }

  durableState(): Promise<DurableState> {
    return this.inner.durableState();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
