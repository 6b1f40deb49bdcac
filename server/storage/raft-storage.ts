/**
 * The storage contract the Raft driver relies on. LevelStorage (level-storage.ts) is the one
 * production implementation; tests wrap it to inject faults.
 *
 * Errors: a method that fails because the disk is full throws an error `isNoSpaceError`
 * (no-space.ts) recognises, and the driver rides it out; any other error is fatal to the process.
 * After a failed write the database may refuse every later write (LevelDB keeps its first
 * background error) until `reopen()`.
 */
import type { Entry, HardState } from '../consensus/raft.ts';
import type { LoadedState, SnapshotRecord } from './level-storage.ts';

/** What is on disk now, read back after a failed write to learn how much of it landed. */
export interface DurableState {
  /** Index and term of the last log entry on disk (the snapshot's, if the log is empty). */
  last: { index: number; term: number };
  hardState: HardState | null;
}

/** The disk reserve, as the driver uses it (disk-reserve.ts). */
export interface DiskReserveControl {
  /** Free bytes, with the reserve spent, before writes may resume. */
  readonly resumeFreeBytes: number;
  freeBytes(): Promise<number>;
  /** Spends the reserve (deletes it). */
  release(): Promise<boolean>;
  /** Puts the reserve back if there is room for it and the headroom; true once it is in place. */
  restore(): Promise<boolean>;
}

export interface RaftStorage {
  /** The data directory, for messages. */
  readonly dir: string;
  /** True if the disk was full when the storage was opened: the server starts refusing writes. */
  readonly openedFull: boolean;
  readonly reserve: DiskReserveControl;
  load(): Promise<LoadedState>;
  /** Appends entries and the hard state in one atomic batch; `sync` makes it durable first. */
  append(entries: Entry[], hardState: HardState | null, sync: boolean): Promise<void>;
  saveSnapshot(snapshot: SnapshotRecord): Promise<void>;
  /**
   * Closes and opens the database again, which clears a failed write's sticky error and makes
   * what the failed write left in the write-ahead log either durable or gone. Throws as open does
   * (a full disk: try again later). Until it succeeds, the storage is closed.
   */
  reopen(): Promise<void>;
  durableState(): Promise<DurableState>;
  close(): Promise<void>;
}
