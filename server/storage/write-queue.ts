/**
 * The log storage's writes, in call order, one batch at a time: while a batch is being written
 * (and synced), the writes called meanwhile queue up, and go together as the next batch (group
 * commit, as LevelDB's own writer queue does). A write resolves once its batch is written, so
 * every write before it is written too; nothing later is issued before something earlier
 * completed, which is what keeps the disk a prefix of the calls after a crash.
 *
 * The first failure is sticky: it fails its batch and everything queued behind it, and every
 * write after, until `reset()` (the storage's reopen). A batch after a failed one could
 * otherwise land without it.
 */
import { assert } from '../assert.ts';
import type { KvOp } from './kv.ts';

interface Intent {
  ops: KvOp[];
  sync: boolean;
  /** First index the write appends (Infinity if none): its entries must stay cached until written. */
  appendFrom: number;
  resolve(): void;
  reject(err: unknown): void;
}

export class WriteQueue {
  private queued: Intent[] = [];
  private inFlight: Intent[] = [];
  private failure: unknown = null;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly sink: (ops: KvOp[], sync: boolean) => Promise<void>,
    /** Called after each batch is written, before its writes resolve. */
    private readonly written: () => void,
    /** The error a write after a failure gets, from the failure. */
    private readonly sticky: (failure: unknown) => Error,
  ) {}

  get failed(): unknown {
    return this.failure;
  }

  get idle(): boolean {
    return this.queued.length === 0 && this.inFlight.length === 0;
  }

  /** The lowest index an append not yet written starts at (Infinity if none). */
  get unwrittenFrom(): number {
    let from = Infinity;
    for (const i of this.inFlight) from = Math.min(from, i.appendFrom);
    for (const i of this.queued) from = Math.min(from, i.appendFrom);
    return from;
  }

  push(ops: KvOp[], sync: boolean, appendFrom = Infinity): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.sticky(this.failure));
    return new Promise((resolve, reject) => {
      this.queued.push({ ops, sync, appendFrom, resolve, reject });
      this.flush();
    });
  }

  /** Resolves when nothing is queued or being written (a failure counts as done). */
  drained(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Forgets a failure, once the storage under it was reopened. */
  reset(): void {
    assert(this.idle, 'write queue reset with writes in flight');
    this.failure = null;
  }

  private flush(): void {
    if (this.inFlight.length > 0 || this.failure !== null) return;
    if (this.queued.length === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const batch = this.queued.splice(0);
    this.inFlight = batch;
    const ops = batch.length === 1 ? batch[0]!.ops : batch.flatMap((i) => i.ops);
    const sync = batch.some((i) => i.sync);
    let started: Promise<void>;
    try {
      started = this.sink(ops, sync);
    } catch (err) {
      started = Promise.reject(err);
    }
    started.then(
      () => {
        this.inFlight = [];
        this.written();
        for (const i of batch) i.resolve();
        this.flush();
      },
      (err: unknown) => {
        this.failure = err;
        this.inFlight = [];
        for (const i of batch) i.reject(err);
        const sticky = this.sticky(err);
        for (const i of this.queued.splice(0)) i.reject(sticky);
        for (const w of this.idleWaiters.splice(0)) w();
      },
    );
  }
}
