/**
 * The driver: the only code that moves the Raft core's decisions into the world. It loops over
 * ready(): applies the entries already committed, persists the new ones (one synced batch for
 * everything proposed since the last one: group commit), then calls advance(). Proposals wait
 * for their entry to be applied and get the store's outcome.
 *
 * It also takes store snapshots every `snapshotEveryEntries` applied entries and lets the log
 * before them go.
 *
 * A full disk (storage/no-space.ts tells it from other failures, which stay fatal) puts the
 * driver in NOSPACE mode, like etcd's NOSPACE alarm:
 * - Client writes (`txn`) are refused at once with NOSPACE and an operator-readable message.
 *   Still written: session commands (open, close, expire: a few hundred bytes each, so new
 *   clients can connect and dead sessions and their locks expire), and a retry (same session and
 *   seq) of a write already applied or in flight, which writes no data and must get its real
 *   result, not a NOSPACE that would say it was not written. Reads, WAITs and WATCHes are not the
 *   driver's business and go on.
 * - The disk reserve (storage/disk-reserve.ts) is spent on entering, which gives LevelDB room to
 *   reopen and the session commands room to go on.
 * - A batch whose write failed may or may not be on disk (the write can land and its sync fail).
 *   LevelDB refuses every later write until it is reopened, so the loop stops, the storage is
 *   reopened and the log end read back: the batch is atomic, so either all of it is there (its
 *   entries commit and are applied, and their proposers get their real outcome) or none (the
 *   core drops them, with every entry proposed after them, for good: session commands and
 *   admitted retries are proposed again, client writes are answered NOSPACE, which is then
 *   true). Proposals the mode admits while this is pending wait, and go after them.
 * - If the reopen itself fails for want of space, everything waits (a client may time out and
 *   retry with its seq) and the reopen is tried again every `diskCheckIntervalMs`. A write that
 *   fails again right after a reopen also waits for the next check instead of spinning.
 * - Every `diskCheckIntervalMs` the free space is measured; once the reserve can be put back with
 *   its headroom, the mode is left and writes resume, with no restart.
 * - Storage opened on a disk too full for the reserve (`openedFull`) starts in the mode.
 * - A snapshot that cannot be written for want of space is given up (the log it would have
 *   replaced stays) and not tried again for `SNAPSHOT_RETRY_AFTER_NOSPACE_MS`; none is tried
 *   while in the mode. Either way the loop goes on.
 * `onDiskState` hears of each entry into and exit from the mode, `onSnapshotDeferred` of each
 * snapshot given up, for the operator's log.
 */
import { ErrorCode, CoordError } from '../../protocol/errors.ts';
import { assert } from '../assert.ts';
import { decodeCommand, encodeCommand, type Command, type WriteOutcome } from '../store/commands.ts';
import { Store, type StoreOptions, type StoreSnapshot } from '../store/store.ts';
import { crc32 } from '../storage/crc32.ts';
import { isNoSpaceError } from '../storage/no-space.ts';
import type { RaftStorage } from '../storage/raft-storage.ts';
import { Packr } from 'msgpackr';
import { EntryType, RaftCore, type Entry, type HardState, type Ready } from './raft.ts';

const snapshotOptions = { useRecords: false, mapsAsObjects: true, moreTypes: false } as const;
// A Packr keeps the largest buffer it ever packed into for reuse: one per snapshot, so the
// tens of MiB a snapshot takes are garbage once it is written.
const snapshotPacker = () => new Packr(snapshotOptions);
/** Files packed per turn of the event loop while a snapshot is taken. */
const SNAPSHOT_FILES_PER_TURN = 2000;
const CRC_BYTES_PER_TURN = 1 << 20;
/** While the disk is full: how often the storage reopen is retried and free space measured. */
export const DISK_CHECK_INTERVAL_MS = 1000;
/** After a snapshot failed for want of space, how long before another is tried. */
export const SNAPSHOT_RETRY_AFTER_NOSPACE_MS = 30_000;

/** `ok`: writes are taken. `nospace`: the disk is full and client writes are refused. */
export type DiskState = 'ok' | 'nospace';

export interface DriverOptions extends StoreOptions {
  nodeId: string;
  snapshotEveryEntries: number;
  /** Called when persisting or applying fails (a full disk aside): the process must stop. */
  onFatal(err: unknown): void;
  /** Told, with a sentence for the operator, when NOSPACE mode is entered and when it is left. */
  onDiskState?(state: DiskState, detail: string): void;
  /** Told, with a sentence for the operator, when a snapshot is given up for want of space. */
  onSnapshotDeferred?(detail: string): void;
  /** Default DISK_CHECK_INTERVAL_MS. */
  diskCheckIntervalMs?: number;
}

interface Pending {
  resolve(outcome: WriteOutcome): void;
  reject(err: unknown): void;
}

interface Held extends Pending {
  cmd: Command;
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
  /** Set once onFatal was called: the loop runs no more. */
  private dead = false;
  private disk: DiskState = 'ok';
  /** Free bytes last measured on the data directory's disk, for NOSPACE messages. */
  private freeBytes = NaN;
  /** A batch whose write failed for want of space, until the storage is reopened and it settled. */
  private failed: Ready | null = null;
  /** Proposals admitted while `failed` is set: proposed once it is settled. */
  private held: Held[] = [];
  /** Set when a failed batch was settled, cleared by the next successful write. */
  private settledSinceWrite = false;
  private diskTimer: NodeJS.Timeout | null = null;
  private snapshotRetry: NodeJS.Timeout | null = null;

  private constructor(
    private readonly storage: RaftStorage,
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
  static async start(storage: RaftStorage, options: DriverOptions): Promise<RaftDriver> {
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
    if (storage.openedFull) await driver.enterNoSpace('it was full when the server started');
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

  /** Whether writes are taken (`ok`) or refused because the disk is full (`nospace`). */
  get diskState(): DiskState {
    return this.disk;
  }

  get noSpace(): boolean {
    return this.disk === 'nospace';
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
    if (this.noSpace && !this.admittedWhenFull(cmd)) return Promise.reject(this.noSpaceError());
    return new Promise((resolve, reject) => this.enqueue(cmd, { resolve, reject }));
  }

  private enqueue(cmd: Command, p: Pending): void {
    if (this.failed !== null) {
      this.held.push({ cmd, resolve: p.resolve, reject: p.reject });
      return;
    }
    const index = this.core.propose(encodeCommand(cmd));
    this.proposed.set(index, cmd);
    this.pending.set(index, { resolve: p.resolve, reject: p.reject });
    this.kick();
  }

  /** What NOSPACE mode still writes (see the header): session commands, retries of known writes. */
  private admittedWhenFull(cmd: Command): boolean {
    if (cmd.t === 'open' || cmd.t === 'close' || cmd.t === 'expire') return true;
    if (cmd.t !== 'txn' || cmd.sid === undefined || cmd.seq === undefined) return false;
    const s = this.store.session(cmd.sid);
    if (s !== undefined && (s.results.has(cmd.seq) || cmd.seq < s.floor)) return true;
    for (const c of this.proposed.values()) {
      if (c.t === 'txn' && c.sid === cmd.sid && c.seq === cmd.seq) return true;
    }
    return false;
  }

  private noSpaceError(): CoordError {
    return new CoordError(ErrorCode.NOSPACE, this.noSpaceMessage());
  }

  private noSpaceMessage(): string {
    const free = Number.isFinite(this.freeBytes) ? `${this.freeBytes} bytes free` : 'free space unknown';
    return `the disk holding ${this.storage.dir} is full (${free}); free space and writes resume by ` +
      `themselves (once ${this.storage.reserve.resumeFreeBytes} bytes are free)`;
  }

  /** Runs the ready loop soon, once: proposals made in the same turn share one batch. */
  private kick(): void {
    if (this.scheduled || this.loop !== null || this.dead) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.loop === null) this.loop = this.run().finally(() => this.loopEnded());
    });
  }

  /** A proposal made after the loop's last look, before it ended, must not wait for the next. */
  private loopEnded(): void {
    this.loop = null;
    if (this.failed === null && this.core.hasReady()) this.kick();
  }

  /** Hands an unrecoverable error to onFatal, once, and runs nothing more. */
  private die(err: unknown): void {
    if (this.dead) return;
    this.dead = true;
    this.options.onFatal(err);
  }

  private async run(): Promise<void> {
    try {
      while (this.failed === null && this.core.hasReady()) {
        const rd = this.core.ready();
        this.applyEntries(rd.committed);
        // The commit index is recomputed on restart, so a commit-only change is not worth a
        // write; term and vote must be durable before anything depends on them.
        const hard = rd.hardState !== null && (rd.hardStateMustSync || rd.entries.length > 0)
          ? rd.hardState : null;
        if (rd.entries.length > 0 || hard !== null) {
          try {
            await this.storage.append(rd.entries, hard, true);
          } catch (err) {
            if (!isNoSpaceError(err)) throw err;
            await this.writeFailed(rd, err);
            continue;
          }
          this.settledSinceWrite = false;
        }
        this.core.advance(rd);
        const due = this.applied - this.snapshotIndex >= this.options.snapshotEveryEntries;
        if (due && this.snapshotTask === null && this.snapshotRetry === null && !this.stopped && !this.noSpace) {
          this.startSnapshot();
        }
      }
    } catch (err) {
      this.die(err);
    }
  }

  /** A batch could not be written for want of space: NOSPACE mode, and settle the batch. */
  private async writeFailed(rd: Ready, err: unknown): Promise<void> {
    this.failed = rd;
    if (!this.noSpace) await this.enterNoSpace(`a write failed: ${(err as Error).message}`);
    if (this.settledSinceWrite) this.scheduleDiskCheck();
    else await this.settle();
  }

  private async enterNoSpace(reason: string): Promise<void> {
    this.disk = 'nospace';
    await this.storage.reserve.release();
    this.freeBytes = await this.storage.reserve.freeBytes().catch(() => NaN);
    this.options.onDiskState?.('nospace', `${this.noSpaceMessage()}: ${reason}`);
    this.scheduleDiskCheck();
  }

  /**
   * Reopens the storage and settles the failed batch by what reached the disk (see the header).
   * On a disk still too full to reopen, leaves it for the next check.
   */
  private async settle(): Promise<void> {
    const rd = this.failed!;
    if (this.snapshotTask !== null) await this.snapshotTask;
    // Idempotent, and needed: the reserve may have been put back while this batch was failing.
    await this.storage.reserve.release();
    try {
      await this.storage.reopen();
    } catch (err) {
      if (!isNoSpaceError(err)) throw err;
      this.scheduleDiskCheck();
      return;
    }
    const disk = await this.storage.durableState();
    const dropped = this.core.persistFailed(rd, disk.last, sameHardState(disk.hardState, rd.hardState));
    this.failed = null;
    this.settledSinceWrite = true;
    this.scheduleDiskCheck();
    const again: Held[] = [];
    for (const e of dropped) {
      const p = this.pending.get(e.index);
      const cmd = this.proposed.get(e.index);
      this.pending.delete(e.index);
      this.proposed.delete(e.index);
      if (p !== undefined && cmd !== undefined) again.push({ cmd, resolve: p.resolve, reject: p.reject });
    }
    again.push(...this.held.splice(0));
    for (const h of again) {
      if (this.noSpace && !this.admittedWhenFull(h.cmd)) h.reject(this.noSpaceError());
      else this.enqueue(h.cmd, h);
    }
  }

  private scheduleDiskCheck(): void {
    if (this.diskTimer !== null || this.stopped) return;
    this.diskTimer = setTimeout(() => {
      this.diskTimer = null;
      this.checkDisk().catch((err) => this.die(err));
    }, this.options.diskCheckIntervalMs ?? DISK_CHECK_INTERVAL_MS);
    // A pending reopen keeps the process alive (a start waiting on it listens on nothing yet).
    if (this.failed === null) this.diskTimer.unref();
  }

  /** While the disk is full: retries a pending reopen, or leaves NOSPACE mode once there is room. */
  private async checkDisk(): Promise<void> {
    if (this.stopped) return;
    if (this.failed !== null && this.loop === null) {
      // settle() schedules the next check itself.
      this.loop = this.settle().catch((err) => this.die(err)).finally(() => this.loopEnded());
      return;
    }
    if (this.failed === null) {
      this.freeBytes = await this.storage.reserve.freeBytes();
      // A write may fail while the reserve is being put back: then the mode stays.
      if (this.noSpace && await this.storage.reserve.restore() && this.failed === null) {
        this.freeBytes = await this.storage.reserve.freeBytes();
        this.disk = 'ok';
        this.options.onDiskState?.('ok', `the disk holding ${this.storage.dir} has room again ` +
          `(${this.freeBytes} bytes free besides the reserve, which is back); writes resume`);
        return;
      }
      if (!this.noSpace) return;
    }
    this.scheduleDiskCheck();
  }

  private applyEntries(entries: Entry[]): void {
    for (const e of entries) {
      assert(e.index === this.applied + 1, `apply ${e.index} after ${this.applied}`);
      const local = this.proposed.get(e.index);
      if (local !== undefined) this.proposed.delete(e.index);
      // Only commands change the store: a leader's no-op (or, once there are clusters, a
      // membership change) consumes no revision.
      const outcome: WriteOutcome = e.type !== EntryType.Command
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
    })().catch((err) => {
      if (!isNoSpaceError(err)) return this.die(err);
      this.options.onSnapshotDeferred?.(
        `the snapshot at entry ${index} was not written (${(err as Error).message}); the log it would ` +
          `have replaced is kept, and another is tried in ${SNAPSHOT_RETRY_AFTER_NOSPACE_MS} ms`,
      );
      this.snapshotRetry = setTimeout(() => (this.snapshotRetry = null), SNAPSHOT_RETRY_AFTER_NOSPACE_MS);
      this.snapshotRetry.unref();
    }).finally(() => {
      this.snapshotTask = null;
    });
  }


  /** Stops taking proposals, finishes the ones in flight, then closes the storage. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (;;) {
      if (this.loop !== null) await this.loop;
      else if (this.scheduled) await new Promise((r) => setImmediate(r));
      // A batch that could not be written (full disk) is left as it is: its outcome unknown.
      else if (this.failed !== null || this.dead) break;
      else if (this.core.hasReady()) this.kick();
      else break;
    }
    if (this.diskTimer !== null) clearTimeout(this.diskTimer);
    if (this.snapshotRetry !== null) clearTimeout(this.snapshotRetry);
    const unavailable = new CoordError(ErrorCode.UNAVAILABLE, 'the server is shutting down');
    for (const p of [...this.pending.values(), ...this.held.splice(0)]) p.reject(unavailable);
    this.pending.clear();
    // A snapshot being packed finishes (or it would be wasted work, not lost data: the log it
    // would have replaced is still there).
    if (this.snapshotTask !== null) await this.snapshotTask;
    await this.storage.close();
  }
}

function sameHardState(a: HardState | null, b: HardState | null): boolean {
  return a !== null && b !== null && a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function restoreSnapshot(data: Uint8Array, options: StoreOptions): Store {
  const packer = snapshotPacker();
  return Store.fromSnapshot(packer.unpack(data) as StoreSnapshot, options, (chunk) => packer.unpack(chunk));
}
