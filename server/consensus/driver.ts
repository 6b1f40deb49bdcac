/**
 * The driver: the only code that moves the Raft core's decisions into the world. It loops over
 * ready(): applies the entries already committed, persists the new ones (one synced batch for
 * everything proposed since the last one: group commit), then calls advance(). Proposals wait
 * for their entry to be applied and get the store's outcome.
 *
 * It also takes store snapshots every `snapshotEveryEntries` applied entries and lets the log
 * before them go.
 */
import { ErrorCode, CoordError } from '../../protocol/errors.ts';
import { assert } from '../assert.ts';
import { decodeCommand, encodeCommand, type Command, type WriteOutcome } from '../store/commands.ts';
import { Store, type StoreOptions, type StoreSnapshot } from '../store/store.ts';
import { crc32 } from '../storage/crc32.ts';
import type { LevelStorage } from '../storage/level-storage.ts';
import { Packr } from 'msgpackr';
import { RaftCore, type Entry } from './raft.ts';

const snapshotOptions = { useRecords: false, mapsAsObjects: true, moreTypes: false } as const;
// A Packr keeps the largest buffer it ever packed into for reuse: one per snapshot, so the
// tens of MiB a snapshot takes are garbage once it is written.
const snapshotPacker = () => new Packr(snapshotOptions);
/** Files packed per turn of the event loop while a snapshot is taken. */
const SNAPSHOT_FILES_PER_TURN = 2000;
const CRC_BYTES_PER_TURN = 1 << 20;

export interface DriverOptions extends StoreOptions {
  nodeId: string;
  snapshotEveryEntries: number;
  /** Called when persisting or applying fails: the process must stop, not carry on. */
  onFatal(err: unknown): void;
}

interface Pending {
  resolve(outcome: WriteOutcome): void;
  reject(err: unknown): void;
}

export class RaftDriver {
  private readonly pending = new Map<number, Pending>();
  /**
   * Commands this node proposed, by log index, applied as they are instead of decoded again
   * from the entry (the same command either way: replay decodes what was encoded here).
   */
  private readonly proposed = new Map<number, Command>();
  private readonly appliedWaiters: { index: number; resolve(): void }[] = [];
  private applied: number;
  private appliedTerm: number;
  private snapshotIndex: number;
  /** The snapshot being taken in the background, if any. */
  private snapshotTask: Promise<void> | null = null;
  private loop: Promise<void> | null = null;
  private scheduled = false;
  private stopped = false;

  private constructor(
    private readonly storage: LevelStorage,
    private readonly core: RaftCore,
    readonly store: Store,
    private readonly options: DriverOptions,
    applied: { index: number; term: number },
  ) {
    this.applied = applied.index;
    this.appliedTerm = applied.term;
    this.snapshotIndex = applied.index;
  }

  /** Loads the snapshot and log, and starts the core. Call `caughtUp()` before serving. */
  static async start(storage: LevelStorage, options: DriverOptions): Promise<RaftDriver> {
    const state = await storage.load();
    const snap = state.snapshot;
    const store = snap === null
      ? new Store(options)
      : restoreSnapshot(snap.data, options);
    const last = state.entries[state.entries.length - 1];
    const core = new RaftCore(
      { id: options.nodeId, voters: [options.nodeId] },
      {
        hardState: state.hardState,
        lastIndex: last?.index ?? snap?.index ?? 0,
        lastTerm: last?.term ?? snap?.term ?? 0,
        applied: snap?.index ?? 0,
        unapplied: state.entries,
      },
    );
    const driver = new RaftDriver(storage, core, store, options, {
      index: snap?.index ?? 0, term: snap?.term ?? 0,
    });
    core.tick();
    driver.kick();
    return driver;
  }

  get isLeader(): boolean {
    return this.core.isLeader;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** Resolves once everything in the log when this was called is applied. */
  caughtUp(): Promise<void> {
    return this.waitApplied(this.core.lastLogIndex);
  }

  /**
   * A linearizable read barrier (read-index): resolves once this node has applied every entry
   * committed when it was called, so a read after it sees every acknowledged write.
   */
  readBarrier(): Promise<void> {
    if (!this.core.isLeader) {
      return Promise.reject(new CoordError(ErrorCode.UNAVAILABLE, 'this node has no leader yet'));
    }
    return this.waitApplied(this.core.commitIndex);
  }

  private waitApplied(index: number): Promise<void> {
    if (this.applied >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  /** Proposes a command; resolves with the store's outcome once it is durable and applied. */
  propose(cmd: Command): Promise<WriteOutcome> {
    if (this.stopped) {
      return Promise.reject(new CoordError(ErrorCode.UNAVAILABLE, 'the server is shutting down'));
    }
    if (!this.core.isLeader) {
      return Promise.reject(new CoordError(ErrorCode.UNAVAILABLE, 'this node is not the leader'));
    }
    const index = this.core.propose(encodeCommand(cmd));
    this.proposed.set(index, cmd);
    this.kick();
    return new Promise((resolve, reject) => this.pending.set(index, { resolve, reject }));
  }

  /** Runs the ready loop soon, once: proposals made in the same turn share one batch. */
  private kick(): void {
    if (this.scheduled || this.loop !== null) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.loop === null) this.loop = this.run().finally(() => (this.loop = null));
    });
  }

  private async run(): Promise<void> {
    try {
      while (this.core.hasReady()) {
        const rd = this.core.ready();
        this.applyEntries(rd.committed);
        // The commit index is recomputed on restart, so a commit-only change is not worth a
        // write; term and vote must be durable before anything depends on them.
        const hard = rd.hardState !== null && (rd.hardStateMustSync || rd.entries.length > 0)
          ? rd.hardState : null;
        if (rd.entries.length > 0 || hard !== null) await this.storage.append(rd.entries, hard, true);
        this.core.advance(rd);
        const due = this.applied - this.snapshotIndex >= this.options.snapshotEveryEntries;
        if (due && this.snapshotTask === null && !this.stopped) {
          this.startSnapshot();
        }
      }
    } catch (err) {
      this.options.onFatal(err);
    }
  }

  private applyEntries(entries: Entry[]): void {
    for (const e of entries) {
      assert(e.index === this.applied + 1, `apply ${e.index} after ${this.applied}`);
      const local = this.proposed.get(e.index);
      if (local !== undefined) this.proposed.delete(e.index);
      const outcome: WriteOutcome = e.data.byteLength === 0
        ? { ok: true, rev: this.store.rev, changed: 0 }
        : this.store.apply(local ?? decodeCommand(e.data));
      this.applied = e.index;
      this.appliedTerm = e.term;
      const p = this.pending.get(e.index);
      if (p !== undefined) {
        this.pending.delete(e.index);
        p.resolve(outcome);
      }
    }
    if (entries.length > 0) this.releaseWaiters();
  }

  private releaseWaiters(): void {
    let kept = 0;
    for (const w of this.appliedWaiters) {
      if (w.index <= this.applied) w.resolve();
      else this.appliedWaiters[kept++] = w;
    }
    this.appliedWaiters.length = kept;
  }

  /**
   * Snapshots the store as of the last applied entry without stopping the loop: the capture is
   * taken at once, its files are packed a slice per turn while entries go on being applied, then
   * the snapshot is saved and the log it covers dropped.
   */
  private startSnapshot(): void {
    const index = this.applied;
    const term = this.appliedTerm;
    const capture = this.store.captureSnapshot();
    this.snapshotTask = (async () => {
      try {
        const packer = snapshotPacker();
        const fileChunks: Uint8Array[] = [];
        for (let from = 0; from < capture.fileCount; from += SNAPSHOT_FILES_PER_TURN) {
          fileChunks.push(new Uint8Array(packer.pack(capture.files(from, from + SNAPSHOT_FILES_PER_TURN))));
          await new Promise((r) => setImmediate(r));
        }
        const snapshot: StoreSnapshot = {
          format: 2, rev: capture.rev, oldest: capture.oldest, sessions: capture.sessions, fileChunks,
        };
        const data = new Uint8Array(snapshotPacker().pack(snapshot));
        let crc = 0;
        for (let at = 0; at < data.byteLength; at += CRC_BYTES_PER_TURN) {
          crc = crc32(data.subarray(at, at + CRC_BYTES_PER_TURN), crc);
          await new Promise((r) => setImmediate(r));
        }
        await this.storage.saveSnapshot({ index, term, data, crc });
        this.snapshotIndex = index;
      } finally {
        capture.finish();
      }
    })().catch((err) => this.options.onFatal(err)).finally(() => {
      this.snapshotTask = null;
    });
  }


  /** Stops taking proposals, finishes the ones in flight, then closes the storage. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (;;) {
      if (this.loop !== null) await this.loop;
      else if (this.scheduled) await new Promise((r) => setImmediate(r));
      else if (this.core.hasReady()) this.kick();
      else break;
    }
    for (const p of this.pending.values()) {
      p.reject(new CoordError(ErrorCode.UNAVAILABLE, 'the server is shutting down'));
    }
    this.pending.clear();
    // A snapshot being packed finishes (or it would be wasted work, not lost data: the log it
    // would have replaced is still there).
    if (this.snapshotTask !== null) await this.snapshotTask;
    await this.storage.close();
  }
}

function restoreSnapshot(data: Uint8Array, options: StoreOptions): Store {
  const packer = snapshotPacker();
  return Store.fromSnapshot(packer.unpack(data) as StoreSnapshot, options, (chunk) => packer.unpack(chunk));
}
