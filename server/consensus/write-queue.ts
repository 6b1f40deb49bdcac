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

export class WriteQueue {
  private slots: Slot[] = [];
  /** Settles once the last install (and the writes chained behind it) was issued and done. */
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
    if (!this.hasFailed) this.issue(slot);
  }

  private issue(slot: Slot): void {
    const w = slot.write;
    const gen = this.generation;
    let written: Promise<void>;
    if (w.install !== null) {
      const install = w.install;
      written = (this.barrier ?? Promise.resolve()).then(() => this.hooks.install(install)).then(() => this.append(w));
      this.chain(written);
    } else if (this.barrier !== null) {
      written = this.barrier.then(() => this.append(w));
      this.chain(written);
    } else {
      written = this.append(w);
    }
    written.then(() => {
      if (gen !== this.generation) return;
      slot.durable = true;
      this.complete();
    }, (err: unknown) => {
      if (gen === this.generation) this.fail(err);
    });
  }

  /** Writes issued after `written` must be called after it completes (an install is ahead). */
  private chain(written: Promise<void>): void {
    const b = written.then(nothing, nothing);
    this.barrier = b;
    void b.then(() => {
      if (this.barrier === b) this.barrier = null;
    });
  }

  private append(w: Write): Promise<void> {
    if (w.entries.length === 0 && (w.hardState === null || !w.sync)) return Promise.resolve();
    return this.storage.append(w.entries, w.hardState, w.sync);
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
    this.barrier = null;
    this.failure = null;
    this.hasFailed = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
