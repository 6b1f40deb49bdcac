/**
 * Linearizable reads by read-index (Raft thesis §6.4): a read is safe once this node has applied
 * every entry that was committed when the read arrived. The core finds that index: the leader
 * confirms it still leads (a heartbeat round) and answers with its commit index; a follower asks
 * the leader. Then the read waits for the store to apply that index. No log write.
 *
 * - Reads arriving in the same turn share one request to the core.
 * - A refused read (the leader lost its leadership, the node asked was not the leader, no leader
 *   is known), or one left unanswered for `maxAgeTicks` ticks (a message lost on the way), fails
 *   with UNAVAILABLE: the client retries, on this node or another. Reads waiting on a leader that
 *   was replaced are asked again of the new one as soon as it is known (`reask`).
 * - `local()` lets the driver answer at once when the store is known to hold every acknowledged
 *   write (a sole voter that has caught up: see driver.ts).
 */
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import type { ReadRefused, ReadState } from './core/index.ts';

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

export interface ReadsHooks {
  /** Asks the core to confirm read `requestId` (throws the core's Refused when it cannot). */
  ask(requestId: string): void;
  /** The index the store has applied. */
  applied(): number;
  /** True if a read may be answered from the store as it is, without asking. */
  local(): boolean;
  /** Runs `fn` on a later turn. */
  soon(fn: () => void): void;
}

export function readUnavailable(why: string, leader: string | null = null): CoordError {
  return new CoordError(ErrorCode.UNAVAILABLE, `this read could not be confirmed (${why}); retry it`,
    leader === null ? undefined : { leader });
}

export class Reads {
  private batch: Waiter[] = [];
  private scheduled = false;
  private readonly asked = new Map<string, { waiters: Waiter[]; ticks: number }>();
  /** Confirmed, waiting for the store to apply `index`. */
  private applying: { index: number; waiters: Waiter[] }[] = [];
  private seq = 0;

  constructor(
    /** Makes request ids unique to this node and this run of it. */
    private readonly idPrefix: string,
    private readonly hooks: ReadsHooks,
    private readonly maxAgeTicks: number,
  ) {}

  /** Resolves once a read made now would see every write acknowledged before now. */
  barrier(): Promise<void> {
    if (this.hooks.local()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.batch.push({ resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      this.hooks.soon(() => this.flush());
    });
  }

  private flush(): void {
    this.scheduled = false;
    const waiters = this.batch;
    this.batch = [];
    if (waiters.length === 0) return;
    if (this.hooks.local()) {
      for (const w of waiters) w.resolve();
      return;
    }
    const id = `${this.idPrefix}.${++this.seq}`;
    try {
      this.hooks.ask(id);
    } catch (err) {
      const leader = (err as { leader?: string | null }).leader ?? null;
      const e = err instanceof CoordError ? err : readUnavailable((err as Error).message, leader);
      for (const w of waiters) w.reject(e);
      return;
    }
    this.asked.set(id, { waiters, ticks: 0 });
  }

  /** The core confirmed these reads. */
  confirmed(states: ReadState[]): void {
    for (const rs of states) {
      const a = this.asked.get(rs.requestId);
      if (a === undefined) continue;
      this.asked.delete(rs.requestId);
      if (rs.index <= this.hooks.applied()) for (const w of a.waiters) w.resolve();
      else this.applying.push({ index: rs.index, waiters: a.waiters });
    }
  }

  /** The core will never confirm these. */
  refused(list: ReadRefused[]): void {
    for (const r of list) {
      const a = this.asked.get(r.requestId);
      if (a === undefined) continue;
      this.asked.delete(r.requestId);
      const why = r.reason === 'not-leader' ? 'the node asked is not the leader' : 'the leader lost its leadership';
      for (const w of a.waiters) w.reject(readUnavailable(why));
    }
  }

  /** The store applied through `index`. */
  appliedTo(index: number): void {
    if (this.applying.length === 0) return;
    const still: typeof this.applying = [];
    for (const a of this.applying) {
      if (a.index <= index) for (const w of a.waiters) w.resolve();
      else still.push(a);
    }
    this.applying = still;
  }

  /** One tick: reads asked too long ago are given up (their answer may have been lost). */
  tick(): void {
    for (const [id, a] of this.asked) {
      if (++a.ticks <= this.maxAgeTicks) continue;
      this.asked.delete(id);
      for (const w of a.waiters) w.reject(readUnavailable('no answer from the leader'));
    }
  }

  /**
   * A new leader is known: reads asked of the old one (which may be dead: its answer would never
   * come) are asked again at once, of the new one. Safe: the new leader's commit index covers
   * every write acknowledged before the reads arrived. An answer the old leader still gives is
   * ignored (its request id is forgotten).
   */
  reask(): void {
    if (this.asked.size === 0) return;
    for (const a of this.asked.values()) this.batch.push(...a.waiters);
    this.asked.clear();
    if (this.scheduled) return;
    this.scheduled = true;
    this.hooks.soon(() => this.flush());
  }

  /** Fails every read not yet confirmed (the core that would confirm them is gone). */
  abandonAsked(why: string): void {
    for (const a of this.asked.values()) for (const w of a.waiters) w.reject(readUnavailable(why));
    this.asked.clear();
  }

  rejectAll(err: unknown): void {
    for (const w of this.batch.splice(0)) w.reject(err);
    for (const a of this.asked.values()) for (const w of a.waiters) w.reject(err);
    this.asked.clear();
    for (const a of this.applying.splice(0)) for (const w of a.waiters) w.reject(err);
  }
}
