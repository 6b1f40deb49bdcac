/**
 * The driver's storage writes: each Ready's part (a) (core.ts), handed to storage as soon as
 * the Ready is taken, without waiting for the writes before it. Storage applies them in call
 * order and batches those queued behind a sync into the next one (group commit,
 * storage/write-queue.ts), so while one batch syncs the next is already on its way, and a
 * leader sends its entries to followers while its own fsync runs.
 *
 * Completion is reported in order: `done(write)` once it and every write before it are durable,
 * never out of turn, so the driver can call core.persisted(mark) and send the messages that
 * waited for the write.
 *
 * - Group commit: at most APPENDS_IN_FLIGHT_MAX appends are with storage at once (one syncing,
 *   one queued behind it); the writes that come meanwhile wait and then go as one append (the
 *   core allows a later batch that subsumes earlier ones: later entries replace earlier ones
 *   from their first index, the last hard state wins). Each Ready does not cost a log segment.
 * - A write with only a new commit index (not synced, no entries) is not written at all: the
 *   commit index is learnt again after a restart. It completes when the writes before it do.
 * - A leader's snapshot to install is saved first (`install`), and storage wants the appends
 *   after it called only once it is saved: writes behind an install wait for it.
 * - The first failure stops everything: nothing later is issued (storage would refuse it
 *   anyway), nothing more completes, `failed` hears of it once, and the queue holds what comes
 *   until `reset()` throws it all away (the driver rebuilds its core from what is durable).
 */
import type { Entry, HardState, Message, SnapshotMeta, WriteMark } from './core/index.ts';
import type { RaftStorage, SnapshotRecord } from '../storage/raft-storage.ts';

/** A leader's snapshot a follower installs: where it ends, and its bytes. */
export interface Install {
  meta: SnapshotMeta;
  record: SnapshotRecord;
}

export interface Write {
  mark: WriteMark;
  install: Install | null;
  entries: Entry[];
  hardState: HardState | null;
  sync: boolean;
  /** Messages to send once the write is durable (Ready part (c)). */
  afterWrite: Message[];
}

export interface WriteQueueHooks {
  /** Saves a snapshot to install, durably, and updates the log view; the write waits for it. */
  install(install: Install): Promise<void>;
  /** Called in order, once per write, when it and every write before it are durable. */
  done(write: Write): void;
  /** Called after one or more `done` calls in a row (the writes that became durable together). */
  afterDone?(): void;
  /** The first write that failed, with its error. */
  failed(err: unknown): void;
}

interface Slot {
  write: Write;
  durable: boolean;
}

const nothing = (): void => {};

/**
 * Appends handed to storage and not yet done, at most: one syncing and one queued behind it, so
 * storage never waits for the driver; what comes meanwhile goes as one append once one is done.
 */
export const APPENDS_IN_FLIGHT_MAX = 2;

export class WriteQueue {
  private slots: Slot[] = [];
  /** Writes waiting for an append slot: they go together, as one append. */
  private held: Slot[] = [];
  private inFlight = 0;
  /** Set while an install is being saved: the writes after it wait (storage's rule). */
  private barrier: Promise<void> | null = null;
  private failure: unknown = null;
  private hasFailed = false;
  /** Bumped by reset(): callbacks of writes issued before it are ignored. */
  private generation = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly storage: RaftStorage, private readonly hooks: WriteQueueHooks) {}

  /** Writes handed out and not yet reported done. */
  get size(): number {
    return this.slots.length;
  }

  /** A write failed, and nothing more is written until reset(). */
  get failed(): boolean {
    return this.hasFailed;
  }

  get error(): unknown {
    return this.failure;
  }

  push(write: Write): void {
    const slot: Slot = { write, durable: false };
    this.slots.push(slot);
    if (this.hasFailed) return;
    if (write.install !== null) {
      // What came before the install goes first, whatever is in flight.
      this.issueHeld();
      this.issueInstall(slot);
    } else if (!writesStorage(write)) {
      // Durable once the writes before it are (complete() reports in order).
      const gen = this.generation;
      void Promise.resolve().then(() => {
        if (gen !== this.generation) return;
        slot.durable = true;
        this.complete();
      });
    } else {
      this.held.push(slot);
      this.pump();
    }
  }

  private pump(): void {
    if (this.held.length > 0 && this.inFlight < APPENDS_IN_FLIGHT_MAX && this.barrier === null && !this.hasFailed) {
      this.issueHeld();
    }
  }

  /** The held writes, as one append: later entries replace earlier ones from their first index. */
  private issueHeld(): void {
    if (this.held.length === 0) return;
    const group = this.held;
    this.held = [];
    let entries: Entry[] = [];
    let hardState: HardState | null = null;
    let sync = false;
    for (const { write: w } of group) {
      if (w.entries.length > 0) {
        const first = w.entries[0]!.index;
        if (entries.length === 0) entries = w.entries;
        else entries = entries.slice(0, Math.max(0, first - entries[0]!.index)).concat(w.entries);
      }
      if (w.hardState !== null) hardState = w.hardState;
      sync ||= w.sync;
    }
    this.inFlight++;
    const gen = this.generation;
    this.storage.append(entries, hardState, sync).then(() => {
      if (gen !== this.generation) return;
      this.inFlight--;
      for (const s of group) s.durable = true;
      this.pump();
      this.complete();
    }, (err: unknown) => {
      if (gen === this.generation) this.fail(err);
    });
  }

  /** Saves the snapshot (after the writes before it), then the entries and hard state with it. */
  private issueInstall(slot: Slot): void {
    const w = slot.write;
    const install = w.install!;
    const gen = this.generation;
    const written = (this.barrier ?? Promise.resolve()).then(() => this.hooks.install(install)).then(() => {
      if (writesStorage(w)) return this.storage.append(w.entries, w.hardState, w.sync);
    });
    const b = written.then(nothing, nothing);
    this.barrier = b;
    void b.then(() => {
      if (this.barrier !== b) return;
      this.barrier = null;
      this.pump();
    });
    written.then(() => {
      if (gen !== this.generation) return;
      slot.durable = true;
      this.complete();
    }, (err: unknown) => {
      if (gen === this.generation) this.fail(err);
    });
  }

  private complete(): void {
    let n = 0;
    while (!this.hasFailed && this.slots.length > 0 && this.slots[0]!.durable) {
      this.hooks.done(this.slots.shift()!.write);
      n++;
    }
    if (n > 0) this.hooks.afterDone?.();
    if (this.slots.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private fail(err: unknown): void {
    if (this.hasFailed) return;
    this.hasFailed = true;
    this.failure = err;
    // Nothing more will complete: whoever waits for the queue to drain stops waiting.
    for (const w of this.idleWaiters.splice(0)) w();
    this.hooks.failed(err);
  }

  /** Resolves once every write pushed so far is done, or one failed. */
  drained(): Promise<void> {
    if (this.slots.length === 0 || this.hasFailed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Forgets every write not done (the driver rebuilt its core from what is durable). */
  reset(): void {
    this.generation++;
    this.slots = [];
    this.held = [];
    this.inFlight = 0;
    this.barrier = null;
    this.failure = null;
    this.hasFailed = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

/** Whether a write has anything storage must hold: entries, or a term or vote (synced). */
function writesStorage(w: Write): boolean {
  return w.entries.length > 0 || (w.hardState !== null && w.sync);
}
