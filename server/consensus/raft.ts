/**
 * The Raft core, as a pure object in the style of etcd-io/raft's RawNode: `tick()` and
 * `propose()` go in, `ready()` says what to persist and what is committed, `advance()` says it
 * was done. It never awaits, reads a clock or touches a socket or a disk; the driver
 * (driver.ts) does those. That split is what lets a cluster be simulated deterministically.
 *
 * This version runs a cluster of one voter: it elects itself on its first tick, appends an
 * empty entry for its term (Raft §5.4.2: a leader commits entries of earlier terms only through
 * one of its own), and commits each entry once it is persisted, since one voter is a majority.
 * The replicated cluster adds peers, messages and `step()` to this same object; the driver, the
 * log format and the store do not change.
 */
import { assert } from '../assert.ts';
import { EntryType, type Entry, type HardState } from '../storage/log-types.ts';

// The log's records belong to the storage contract (storage/ never imports the core).
export { EntryType, type Entry, type HardState };

export interface Ready {
  /** Set when term, vote or commit changed; persist it (term and vote durably) before advance. */
  hardState: HardState | null;
  /** True if hardState's term or vote changed: it must be synced, not just written. */
  hardStateMustSync: boolean;
  /** Entries to append durably to the log before advance. */
  entries: Entry[];
  /** Entries known committed, to apply to the store in order. */
  committed: Entry[];
}

export interface RaftConfig {
  id: string;
  voters: string[];
}

export interface RaftRestore {
  hardState: HardState;
  /** Index and term of the last entry in the persisted log (or of the snapshot if none). */
  lastIndex: number;
  lastTerm: number;
  /** Index of the last entry already applied to the store (the snapshot's, on start). */
  applied: number;
  /** The persisted entries after `applied`, in order (replayed once committed). */
  unapplied: Entry[];
}

export type Role = 'follower' | 'leader';

export class NotLeaderError extends Error {
  constructor() {
    super('this node is not the leader');
    this.name = 'NotLeaderError';
  }
}

export class RaftCore {
  readonly id: string;
  private term: number;
  private vote: string | null;
  private commit: number;
  private role: Role = 'follower';
  /** Every entry after `applied`, durable or not, in index order. */
  private log: Entry[];
  /** Entries not yet handed out by ready() for persisting (a suffix of `log`). */
  private unstableFrom: number;
  /** Index of the last entry handed out for persisting in the ready() not yet advanced. */
  private inFlightTo: number | null = null;
  private lastIndex: number;
  private lastTerm: number;
  /** Index of the last entry known durable on this node. */
  private stable: number;
  /** Index of the last entry handed out as committed. */
  private applied: number;
  private prevHard: HardState;

  constructor(config: RaftConfig, restore: RaftRestore) {
    assert(config.voters.length === 1 && config.voters[0] === config.id,
      'this Raft core runs a single voter; clusters need the replicated core');
    this.id = config.id;
    this.term = restore.hardState.term;
    this.vote = restore.hardState.vote;
    this.commit = Math.max(restore.hardState.commit, restore.applied);
    this.lastIndex = restore.lastIndex;
    this.lastTerm = restore.lastTerm;
    this.stable = restore.lastIndex;
    this.applied = restore.applied;
    this.log = restore.unapplied;
    this.unstableFrom = this.log.length;
    assert(this.commit <= this.lastIndex, 'commit beyond the log');
    assert(this.log.length === this.lastIndex - this.applied, 'unapplied entries do not reach the log end');
    this.log.forEach((e, i) => assert(e.index === this.applied + 1 + i, 'unapplied entries out of order'));
    this.prevHard = { ...restore.hardState };
  }

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  get currentTerm(): number {
    return this.term;
  }

  get commitIndex(): number {
    return this.commit;
  }

  get lastLogIndex(): number {
    return this.lastIndex;
  }

  /** One unit of logical time. A single voter campaigns, and wins, on its first tick. */
  tick(): void {
    if (this.role !== 'leader') this.campaign();
  }

  private campaign(): void {
    this.term += 1;
    this.vote = this.id;
    this.becomeLeader();
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.append(EntryType.Noop, new Uint8Array(0));
  }

  /** Appends a proposal, as a Command entry, to the leader's log; returns its index. Throws NotLeaderError. */
  propose(data: Uint8Array): number {
    if (this.role !== 'leader') throw new NotLeaderError();
    return this.append(EntryType.Command, data);
  }

  private append(type: EntryType, data: Uint8Array): number {
    const entry: Entry = { index: this.lastIndex + 1, term: this.term, type, data };
    this.log.push(entry);
    this.lastIndex = entry.index;
    this.lastTerm = entry.term;
    return entry.index;
  }

  hasReady(): boolean {
    return this.unstableFrom < this.log.length || this.commit > this.applied || this.hardChanged();
  }

  private hardChanged(): boolean {
    const p = this.prevHard;
    return p.term !== this.term || p.vote !== this.vote || p.commit !== this.commit;
  }

  /** What the driver must do now. Call advance() once it is done, before the next ready(). */
  ready(): Ready {
    assert(this.inFlightTo === null, 'ready() called again before advance()');
    const changed = this.hardChanged();
    const entries = this.log.slice(this.unstableFrom);
    const committed = this.log.slice(0, this.commit - this.applied);
    this.unstableFrom = this.log.length;
    this.inFlightTo = this.lastIndex;
    return {
      hardState: changed ? { term: this.term, vote: this.vote, commit: this.commit } : null,
      hardStateMustSync: this.prevHard.term !== this.term || this.prevHard.vote !== this.vote,
      entries,
      committed,
    };
  }

  /**
   * The driver persisted and applied `rd`. Its entries are durable here now; with one voter that
   * makes them committed, handed out by the next ready().
   */
  advance(rd: Ready): void {
    assert(this.inFlightTo !== null, 'advance() without ready()');
    if (rd.hardState !== null) this.prevHard = rd.hardState;
    this.stable = this.inFlightTo;
    this.inFlightTo = null;
    this.releaseApplied(rd);
    this.maybeCommit();
  }

  /**
   * The driver could not persist `rd` (its disk is full), applied `rd.committed`, reopened its
   * storage and found the log durable up to `durable`: all of what `rd` carried, or none of it
   * (one batch is atomic). Every entry after `durable` leaves the log, the ones proposed since
   * `rd` included: they will never be written, and are returned, in index order, for the driver
   * to answer or propose again (later proposals take their indexes). A term and vote that went
   * down with the batch are handed out again by the next ready(); if this term's first entry went
   * too, a new empty one is appended (§5.4.2: earlier entries commit only through one of its own).
   */
  persistFailed(rd: Ready, durable: { index: number; term: number }, hardStateDurable: boolean): Entry[] {
    assert(this.inFlightTo !== null, 'persistFailed() without ready()');
    assert(durable.index >= this.stable && durable.index <= this.inFlightTo,
      `durable log end ${durable.index} outside the batch being written (${this.stable + 1}..${this.inFlightTo})`);
    if (durable.index > this.stable) {
      const e = this.log[durable.index - this.applied - 1];
      assert(e !== undefined && e.term === durable.term, `durable entry ${durable.index} has another term`);
    }
    if (rd.hardState !== null && hardStateDurable) this.prevHard = rd.hardState;
    this.stable = durable.index;
    this.inFlightTo = null;
    this.releaseApplied(rd);
    const dropped = this.log.splice(durable.index - this.applied);
    this.unstableFrom = this.log.length;
    if (dropped.length > 0) {
      this.lastIndex = durable.index;
      this.lastTerm = durable.term;
    }
    if (this.role === 'leader' && this.lastTerm !== this.term) this.append(EntryType.Noop, new Uint8Array(0));
    this.maybeCommit();
    return dropped;
  }

  /** Drops the entries `rd` handed out as committed (the driver applied them) from the log. */
  private releaseApplied(rd: Ready): void {
    const n = rd.committed.length;
    if (n > 0) {
      assert(rd.committed[0]!.index === this.applied + 1, 'applied out of order');
      this.log.splice(0, n);
      this.unstableFrom -= n;
      this.applied += n;
    }
  }

  private maybeCommit(): void {
    // A majority of one holds everything this node persisted. Only an entry of the current term
    // commits by counting (Raft §5.4.2); earlier ones commit with it.
    if (this.role !== 'leader' || this.stable <= this.commit) return;
    const e = this.log[this.stable - this.applied - 1];
    const termOfStable = e !== undefined ? e.term : this.lastTerm;
    if (termOfStable === this.term) this.commit = this.stable;
  }
}
