/**
 * NOSPACE mode: what the driver does when the disk is full (storage/no-space.ts tells a full
 * disk from other failures, which stay fatal), like etcd's NOSPACE alarm.
 * - Client writes (`txn`) are refused at once with NOSPACE and an operator-readable message.
 *   Still written (`admittedWhenFull`): session commands (open, close, expire: a few hundred
 *   bytes each, so new clients can connect and dead sessions and their locks expire), and a
 *   retry (same session and seq) of a write already applied or in flight, which writes no data
 *   and must get its real result, not a NOSPACE that would say it was not written. Reads, WAITs
 *   and WATCHes are not the driver's business and go on.
 * - The disk reserve (storage/disk-reserve.ts) is spent on entering, which gives LevelDB room to
 *   reopen and the session commands room to go on.
 * - A batch whose write failed may or may not be on disk (the write can land and its sync fail).
 *   LevelDB refuses every later write until it is reopened, so the driver stops writing, and
 *   `settle` (the driver's) reopens the storage and rebuilds the Raft core from what is durable,
 *   as a restart would: what reached the disk stays (its entries commit and are applied, their
 *   proposers get their real outcome), what did not is gone (a single node answers its client
 *   writes NOSPACE, which is then true, and proposes its session commands and admitted retries
 *   again). Proposals the mode admits while this is pending wait, and go after them.
 * - If the reopen itself fails for want of space, everything waits (a client may time out and
 *   retry with its seq) and the reopen is tried again every `diskCheckIntervalMs`. A write that
 *   fails again right after a reopen also waits for the next check instead of spinning.
 * - Every `diskCheckIntervalMs` the free space is measured; once the reserve can be put back with
 *   its headroom, the mode is left and writes resume, with no restart.
 * - Storage opened on a disk too full for the reserve (`openedFull`) starts in the mode.
 * - Snapshots are not taken while in the mode; one that cannot be written for want of space is
 *   given up (snapshots.ts).
 * `onDiskState` hears of each entry into and exit from the mode, for the operator's log.
 */
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import type { RaftStorage } from '../storage/raft-storage.ts';
import type { Command } from '../store/commands.ts';
import type { Store } from '../store/store.ts';
import type { Scheduler } from './env.ts';

/** While the disk is full: how often the storage reopen is retried and free space measured. */
export const DISK_CHECK_INTERVAL_MS = 1000;

/** `ok`: writes are taken. `nospace`: the disk is full and client writes are refused. */
export type DiskState = 'ok' | 'nospace';

export interface DiskFullOptions {
  /** Default DISK_CHECK_INTERVAL_MS. */
  diskCheckIntervalMs?: number;
  /** Told, with a sentence for the operator, when NOSPACE mode is entered and when it is left. */
  onDiskState?(state: DiskState, detail: string): void;
}

export interface DiskFullHooks {
  /**
   * Reopens the storage and rebuilds the driver from what is durable; false if the disk is still
   * too full to reopen (tried again at the next check).
   */
  settle(): Promise<boolean>;
  die(err: unknown): void;
}

/** What NOSPACE mode still writes: session commands, and retries of writes already known. */
export function admittedWhenFull(cmd: Command, store: Store, inFlight: (sid: string, seq: number) => boolean): boolean {
  if (cmd.t === 'open' || cmd.t === 'close' || cmd.t === 'expire') return true;
  if (cmd.t !== 'txn' || cmd.sid === undefined || cmd.seq === undefined) return false;
  const s = store.session(cmd.sid);
  if (s !== undefined && (s.results.has(cmd.seq) || cmd.seq < s.floor)) return true;
  return inFlight(cmd.sid, cmd.seq);
}

export class DiskFull {
  private state: DiskState = 'ok';
  /** Free bytes last measured on the data directory's disk, for NOSPACE messages. */
  private freeBytes = NaN;
  /** A write failed and is not settled yet: nothing is written meanwhile. */
  private unsettled = false;
  /** Set when a failed write was settled, cleared by the next successful write. */
  private settledSinceWrite = false;
  private settling: Promise<void> | null = null;
  private cancelCheck: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly storage: RaftStorage,
    private readonly scheduler: Scheduler,
    private readonly options: DiskFullOptions,
    private readonly hooks: DiskFullHooks,
  ) {}

  get diskState(): DiskState {
    return this.state;
  }

  get noSpace(): boolean {
    return this.state === 'nospace';
  }

  /** A write failed and the storage has not been reopened since: hold everything. */
  get pending(): boolean {
    return this.unsettled;
  }

  error(): CoordError {
    return new CoordError(ErrorCode.NOSPACE, this.message());
  }

  private message(): string {
    const free = Number.isFinite(this.freeBytes) ? `${this.freeBytes} bytes free` : 'free space unknown';
    return `the disk holding ${this.storage.dir} is full (${free}); free space and writes resume by ` +
      `themselves (once ${this.storage.reserve.resumeFreeBytes} bytes are free)`;
  }

  async enter(reason: string): Promise<void> {
    this.state = 'nospace';
    await this.storage.reserve.release();
    this.freeBytes = await this.storage.reserve.freeBytes().catch(() => NaN);
    this.options.onDiskState?.('nospace', `${this.message()}: ${reason}`);
    this.scheduleCheck();
  }

  /** A write failed for want of space: enter the mode, and settle it (now, or at the next check). */
  async writeFailed(err: unknown): Promise<void> {
    this.unsettled = true;
    if (!this.noSpace) await this.enter(`a write failed: ${(err as Error).message}`);
    if (this.settledSinceWrite) this.scheduleCheck();
    else this.settle();
  }

  /** A write succeeded. */
  wrote(): void {
    this.settledSinceWrite = false;
  }

  private settle(): void {
    if (this.settling !== null || this.stopped) return;
    this.settling = (async () => {
      // Idempotent, and needed: the reserve may have been put back while this write was failing.
      await this.storage.reserve.release();
      if (await this.hooks.settle()) {
        this.unsettled = false;
        this.settledSinceWrite = true;
      }
      this.scheduleCheck();
    })().catch((err) => this.hooks.die(err)).finally(() => {
      this.settling = null;
    });
  }

  private scheduleCheck(): void {
    if (this.cancelCheck !== null || this.stopped) return;
    this.cancelCheck = this.scheduler.after(this.options.diskCheckIntervalMs ?? DISK_CHECK_INTERVAL_MS, () => {
      this.cancelCheck = null;
      this.check().catch((err) => this.hooks.die(err));
    });
  }

  /** While the disk is full: retries a pending reopen, or leaves NOSPACE mode once there is room. */
  private async check(): Promise<void> {
    if (this.stopped) return;
    if (this.unsettled) {
      // settle() schedules the next check itself.
      if (this.settling === null) this.settle();
      return;
    }
    this.freeBytes = await this.storage.reserve.freeBytes();
    // A write may fail while the reserve is being put back: then the mode stays.
    if (this.noSpace && await this.storage.reserve.restore() && !this.unsettled) {
      this.freeBytes = await this.storage.reserve.freeBytes();
      this.state = 'ok';
      this.options.onDiskState?.('ok', `the disk holding ${this.storage.dir} has room again ` +
        `(${this.freeBytes} bytes free besides the reserve, which is back); writes resume`);
      return;
    }
    if (this.noSpace) this.scheduleCheck();
  }

  /** Waits for a settle in progress, and checks no more. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelCheck?.();
    this.cancelCheck = null;
    if (this.settling !== null) await this.settling;
  }
}
