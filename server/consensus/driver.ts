/**
 * The driver: the only code that moves the Raft core's decisions (core/core.ts) into the world,
 * and the same code in production and in the simulator: it reads the world only through the
 * NodeEnv it is given (env.ts). It runs the ready loop, and around it:
 *
 *   ticks ──────────────▶ core.tick() every tickMs (env.scheduler)
 *   peers ──────────────▶ core.step(msg)         snapshot chunks ──▶ snapshot-transfer.ts
 *   propose(cmd) ───────▶ core.propose() ─────── proposals.ts: waiters matched by (index, term)
 *   readBarrier() ──────▶ core.readIndex() ───── reads.ts
 *   core.ready():
 *     (a) snapshot/entries/hard state ──────────▶ write-queue.ts: overlapping, ordered writes;
 *                                                 persisted(mark) in order, then (c) is sent
 *     (b) messages ─────────────────────────────▶ env.transport, at once
 *     (d) committed entries ────────────────────▶ the store, each decoded from its bytes
 *         read states ──────────────────────────▶ reads.ts
 *
 * Every replica, the leader included, applies each committed entry from its bytes: a Command
 * is decoded and applied, a leader's Noop is applied as a `noop` carrying its term (the store
 * keeps the last one, for the expire rule: sessions), a Config entry changes nothing in the store
 * (the core already follows the membership it sets; status() reports it).
 *
 * Start (recovery.ts): a node starts from what its storage holds, or, for an empty one, from the
 * bootstrap snapshot a founder writes (a single node is a cluster of one founder), or blank (a
 * joiner). A node that is the only voter, as it has always been (a single node), campaigns at
 * once instead of waiting an election timeout, and counts every entry in its durable log as
 * committed: no other node can hold a log that would replace them.
 *
 * Snapshots (snapshots.ts) are taken in the background every `snapshotEveryEntries` entries,
 * and sent to members that need them (snapshot-transfer.ts). A full disk is NOSPACE mode
 * (disk-full.ts): the core is frozen (no ticks, messages or readies: storage refuses every read
 * after a failed write) until the storage is reopened, and then rebuilt from what is durable, as
 * a restart would.
 *
 * Nothing here depends on stop() having run: the simulator drops a node on the floor.
 */
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import { assert } from '../assert.ts';
import { isNoSpaceError } from '../storage/no-space.ts';
import { LogCompactedError, LogUnavailableError, type RaftStorage } from '../storage/raft-storage.ts';
import { decodeCommand, encodeCommand, type Command, type WriteOutcome } from '../store/commands.ts';
import { Store, type StoreOptions } from '../store/store.ts';
import {
  EntryType, RaftCore, Refused, mulberry32, type ConfChange, type Entry, type Membership, type Message, type NodeId,
  type LeadershipCause, type Ready, type Role, type SnapshotMeta, type SoftState, type Status,
} from './core/index.ts';
import { admittedWhenFull, DiskFull, type DiskState } from './disk-full.ts';
import type { NodeEnv, PeerMessage } from './env.ts';
import { outcomeUnknown, Proposals } from './proposals.ts';
import { Reads, readUnavailable } from './reads.ts';
import { bootstrap, lastIndexOf, loadDurable, type Durable } from './recovery.ts';
import { SnapshotReceiver, SnapshotSender } from './snapshot-transfer.ts';
import { restoreSnapshot, Snapshotter, storeFromSnapshot, type SnapshotHooks } from './snapshots.ts';
import { StorageLog } from './storage-log.ts';
import { WriteQueue, type Install, type Write } from './write-queue.ts';

export { DISK_CHECK_INTERVAL_MS, type DiskState } from './disk-full.ts';
export { SNAPSHOT_RETRY_AFTER_NOSPACE_MS } from './snapshots.ts';

export const TICK_MS_DEFAULT = 100;
export const ELECTION_TICKS_DEFAULT = 10;
export const HEARTBEAT_TICKS_DEFAULT = 1;

export interface DriverOptions extends StoreOptions {
  nodeId: NodeId;
  /** Founding voters of a new cluster (including nodeId); default [nodeId]. Ignored once storage holds state. */
  initialMembers?: NodeId[];
  /** Founders' peer addresses, kept in the bootstrap membership (Membership.urls). */
  initialUrls?: Record<NodeId, string>;
  snapshotEveryEntries: number;
  /** Entries a cluster member keeps before its latest snapshot, for followers a little behind (default 5000). */
  snapshotCatchUpEntries?: number;
  /** Milliseconds per tick (default TICK_MS_DEFAULT). */
  tickMs?: number;
  /** Ticks without a leader before a follower campaigns (default ELECTION_TICKS_DEFAULT). */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats (default HEARTBEAT_TICKS_DEFAULT). */
  heartbeatTicks?: number;
  /** Called when persisting or applying fails (a full disk aside): the process must stop. */
  onFatal(err: unknown): void;
  /** Told, with a sentence for the operator, when NOSPACE mode is entered and when it is left. */
  onDiskState?(state: DiskState, detail: string): void;
  /** Told, with a sentence for the operator, when a snapshot is given up for want of space. */
  onSnapshotDeferred?(detail: string): void;
  /** Default DISK_CHECK_INTERVAL_MS. */
  diskCheckIntervalMs?: number;
  /** Told when this node's role or leader changes, as the ready loop learns it. */
  onLeadership?(l: Leadership): void;
  /** Told of the peer messages that are the node's business (keepalives, forwarded writes). */
  onNodeMessage?(from: NodeId, message: PeerMessage): void;
  /** Told of the snapshots this node takes (for /metrics). */
  snapshotHooks?: SnapshotHooks;
}

/** This node's place in the cluster, as the core last said. */
export interface Leadership {
  role: Role;
  leader: NodeId | null;
  term: number;
  /** Why the role last changed (for the log). */
  cause: LeadershipCause;
}

export interface DriverStatus extends Omit<Status, 'applied'> {
  /** The last entry the store applied. */
  applied: number;
  rev: number;
  disk: DiskState;
}

interface Held {
  cmd: Command;
  resolve(outcome: WriteOutcome): void;
  reject(err: unknown): void;
}

const CURRENT = Number.MAX_SAFE_INTEGER;
const shuttingDown = () => new CoordError(ErrorCode.UNAVAILABLE, 'the server is shutting down');

function notLeader(err: Refused): CoordError {
  const leader = err.leader;
  const message = err.code === 'NOT_LEADER'
    ? `this node is not the leader${leader !== null ? ` (${leader} is)` : ''}`
    : `this node cannot take writes now: ${err.message}`;
  return new CoordError(ErrorCode.UNAVAILABLE, message, leader !== null ? { leader } : undefined);
}

function soleVoter(m: Membership, id: NodeId): boolean {
  return m.voters.length === 1 && m.voters[0] === id;
}

export class RaftDriver {
  readonly id: NodeId;

  private core!: RaftCore;
  private view!: StorageLog;
  private readonly storage: RaftStorage;
  private readonly writes: WriteQueue;
  private readonly proposals = new Proposals();
  private readonly reads: Reads;
  private readonly snapshots: Snapshotter;
  private readonly sender: SnapshotSender;
  private readonly receiver: SnapshotReceiver;
  private readonly disk: DiskFull;
  private readonly tickMs: number;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;

  private applied = 0;
  private appliedTerm = 0;
  /** The store holds every acknowledged write: this node, as leader, applied its own no-op. */
  private caughtUpOnce = false;
  private role: Role = 'follower';
  private leader: NodeId | null = null;
  /** Proposals waiting for the disk (NOSPACE mode) or for a sole voter's leadership to return. */
  private held: Held[] = [];
  /** The core was rebuilt (disk-full) and, a sole voter, has not led again since. */
  private rebuilt = false;
  /** `leader@term` this node confirmed it has caught up with (see isReady). */
  private readyFor: string | null = null;
  private probing = false;
  private readyWaiters: (() => void)[] = [];

  private scheduled = false;
  private running = false;
  private stopped = false;
  private dead = false;
  private stopping: Promise<void> | null = null;
  private cancelTick: (() => void) | null = null;

  private constructor(private readonly env: NodeEnv, private readonly options: DriverOptions, readonly store: Store) {
    this.id = options.nodeId;
    this.storage = env.storage;
    this.tickMs = options.tickMs ?? TICK_MS_DEFAULT;
    this.electionTicks = options.electionTicks ?? ELECTION_TICKS_DEFAULT;
    this.heartbeatTicks = options.heartbeatTicks ?? HEARTBEAT_TICKS_DEFAULT;
    this.writes = new WriteQueue(this.storage, {
      install: (i) => this.saveInstalled(i),
      done: (w) => this.persisted(w),
      // What the writes made committable is applied now, not a turn later: a client's write
      // is answered as soon as its fsync returns.
      afterDone: () => this.run(),
      failed: (err) => this.writeFailed(err),
    });
    const prefix = (env.random() >>> 0).toString(16).padStart(8, '0');
    this.reads = new Reads(`${this.id}.${prefix}`, {
      ask: (id) => this.askRead(id),
      applied: () => this.applied,
      local: () => this.readsLocally(),
      soon: (fn) => env.scheduler.soon(fn),
    }, 2 * this.electionTicks);
    this.snapshots = new Snapshotter(this.storage, env.scheduler, () => this.view, {
      snapshotEveryEntries: options.snapshotEveryEntries,
      ...(options.snapshotCatchUpEntries !== undefined ? { catchUpEntries: options.snapshotCatchUpEntries } : {}),
      hasPeers: () => this.hasPeers(),
      onSnapshotDeferred: options.onSnapshotDeferred,
      deferred: (err) => {
        if (this.storageRefuses()) this.writeFailed(err);
      },
      die: (err) => this.die(err),
      ...(options.snapshotHooks !== undefined ? { hooks: options.snapshotHooks } : {}),
    });
    this.sender = new SnapshotSender({
      send: (to, m) => env.transport.send(to, m),
      report: (to, ok) => {
        if (ok) env.log.info({ to }, 'snapshot sent: the member is installing it');
        else env.log.warn({ to }, 'snapshot not delivered; the leader will try again');
        this.core.reportSnapshot(to, ok);
        this.kick();
      },
      bytesFor: (index, term) => this.snapshots.bytesFor(index, term)?.data ?? null,
    }, Math.max(3, Math.ceil(this.electionTicks / 2)), 5);
    this.receiver = new SnapshotReceiver((to, m) => env.transport.send(to, m));
    this.disk = new DiskFull(this.storage, env.scheduler, {
      ...(options.diskCheckIntervalMs !== undefined ? { diskCheckIntervalMs: options.diskCheckIntervalMs } : {}),
      onDiskState: (state, detail) => {
        if (state === 'ok') this.snapshots.roomAgain();
        options.onDiskState?.(state, detail);
      },
    }, {
      settle: () => this.settle(),
      die: (err) => this.die(err),
    });
  }

  /**
   * Loads what storage holds (or bootstraps a founder), rebuilds the store and the core, takes
   * over `env.transport.onMessage`, and starts ticking. Does not wait for a leader: see
   * caughtUp(). The ready loop first runs on a later turn (env.scheduler.soon): whoever started
   * the driver can set the store's observer before the first entry is applied.
   */
  static async start(env: NodeEnv, options: DriverOptions): Promise<RaftDriver> {
    let decoded: Store | null = null;
    const loaded = await loadDurable(env.storage, options.nodeId, (record) => {
      const s = storeFromSnapshot(record.data, options);
      decoded = s.store;
      return s.membership;
    });
    let durable = loaded.durable;
    if (loaded.fresh) {
      const members = options.initialMembers ?? [options.nodeId];
      if (members.includes(options.nodeId)) durable = await bootstrap(env.storage, durable.hardState, members, options, options.initialUrls);
    }
    // No snapshot yet: a founder's first start (its bootstrap snapshot holds this empty store) or
    // a joiner before its leader's snapshot.
    const driver = new RaftDriver(env, options, decoded ?? Store.founding(options));
    driver.positionStore(durable);
    driver.begin(durable);
    env.transport.onMessage = (from, m) => driver.receive(from, m);
    if (env.storage.openedFull) await driver.disk.enter('it was full when the server started');
    driver.scheduleTick();
    driver.kick();
    return driver;
  }

  /** The store holds `d`'s snapshot: it applies what stands in for one (recovery.ts), if anything. */
  private positionStore(d: Durable): void {
    this.applied = d.snapshot.index - d.preapply.length;
    this.appliedTerm = d.snapshot.term;
    for (const e of d.preapply) this.applyEntry(e);
    this.applied = d.snapshot.index;
  }

  /** Builds the log view and the core over `d`; the store has applied through `applied`. */
  private begin(d: Durable): void {
    this.view = new StorageLog(this.storage, d.snapshot, d.entries, (err) => this.readFailed(err));
    const sole = soleVoter(d.snapshot.membership, this.id) && !d.entries.some((e) => e.type === EntryType.Config);
    const commit = Math.max(d.hardState.commit, this.applied, sole ? lastIndexOf(d) : 0);
    this.core = new RaftCore({
      id: this.id,
      electionTicks: this.electionTicks,
      heartbeatTicks: this.heartbeatTicks,
      random: mulberry32(this.env.random()),
    }, { hardState: { ...d.hardState, commit }, log: this.view, applied: this.applied, entries: d.entries });
    this.role = 'follower';
    this.leader = null;
    this.snapshots.reset({ index: d.snapshot.index, record: d.record });
    if (soleVoter(this.membership, this.id)) this.core.campaign();
  }

  // ---- State --------------------------------------------------------------------------------

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  get leaderId(): NodeId | null {
    return this.leader;
  }

  get term(): number {
    return this.core.currentTerm;
  }

  /** Writes proposed on this node and not yet applied (or given up). */
  get proposalsPending(): number {
    return this.proposals.size;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** The membership in this node's log (its latest configuration). */
  get membership(): Membership {
    return this.core.membershipAt(CURRENT);
  }

  /** Whether writes are taken (`ok`) or refused because the disk is full (`nospace`). */
  get diskState(): DiskState {
    return this.disk.diskState;
  }

  get noSpace(): boolean {
    return this.disk.noSpace;
  }

  /**
   * There is a leader, and this node has applied everything that leader had committed when this
   * node last asked (a read-index, once per leader and term); or it is a sole voter that has
   * caught up, which serves reads even while it is between terms (its disk was full).
   */
  get isReady(): boolean {
    return (this.leader !== null && this.readyFor === this.leaderKey()) || this.readsLocally();
  }

  /** Resolves once isReady (the first time). */
  caughtUp(): Promise<void> {
    if (this.isReady) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  status(): DriverStatus {
    const s = this.core.status();
    return { ...s, applied: this.applied, rev: this.store.rev, disk: this.disk.diskState };
  }

  private leaderKey(): string {
    return `${this.leader}@${this.core.currentTerm}`;
  }

  private hasPeers(): boolean {
    const m = this.membership;
    return m.voters.length + m.learners.length > 1 || (m.voters.length === 1 && m.voters[0] !== this.id);
  }

  /** The core is not to be touched: a write failed and storage refuses reads until reopened. */
  private get frozen(): boolean {
    return this.disk.pending;
  }

  // ---- Client requests ----------------------------------------------------------------------

  /**
   * Proposes a command; resolves with the store's outcome once it is committed and applied here.
   * Rejects with UNAVAILABLE off the leader (details.leader when known) or when the outcome
   * became unknown (details.outcome 'unknown': retry), NOSPACE in NOSPACE mode (disk-full.ts).
   */
  propose(cmd: Command): Promise<WriteOutcome> {
    if (this.stopped || this.dead) return Promise.reject(shuttingDown());
    if (this.disk.noSpace && !this.admitted(cmd)) return Promise.reject(this.disk.error());
    if (this.holding()) return new Promise((resolve, reject) => this.held.push({ cmd, resolve, reject }));
    return this.proposeNow(cmd, EntryType.Command, encodeCommand(cmd));
  }

  /** Proposes a membership change (one at a time: core/config.ts). */
  changeMembership(change: ConfChange): Promise<WriteOutcome> {
    if (this.stopped || this.dead) return Promise.reject(shuttingDown());
    if (this.frozen) return Promise.reject(new CoordError(ErrorCode.UNAVAILABLE, 'this node cannot write now (its disk is full)'));
    try {
      const at = this.core.proposeConfChange(change);
      this.kick();
      return this.proposals.add(at.index, at.term, { t: 'noop' });
    } catch (err) {
      return Promise.reject(err instanceof Refused ? notLeader(err) : err);
    }
  }

  /** Hands leadership to voter `target` (on a follower, asks the leader to). */
  transferLeadership(target: NodeId): void {
    if (this.frozen || this.stopped) throw new CoordError(ErrorCode.UNAVAILABLE, 'this node cannot act now');
    try {
      this.core.transferLeadership(target);
    } catch (err) {
      throw err instanceof Refused ? notLeader(err) : err;
    }
    this.kick();
  }

  private proposeNow(cmd: Command, type: EntryType, data: Uint8Array): Promise<WriteOutcome> {
    let at: { index: number; term: number };
    try {
      at = this.core.propose(type, data);
    } catch (err) {
      return Promise.reject(err instanceof Refused ? notLeader(err) : err);
    }
    this.kick();
    return this.proposals.add(at.index, at.term, cmd);
  }

  private admitted(cmd: Command): boolean {
    return admittedWhenFull(cmd, this.store, (sid, seq) => this.proposals.hasWrite(sid, seq) ||
      this.held.some((h) => h.cmd.t === 'txn' && h.cmd.sid === sid && h.cmd.seq === seq));
  }

  /** Proposals wait: for the disk, or for a sole voter rebuilt after a failed write to lead again. */
  private holding(): boolean {
    return this.frozen || (this.rebuilt && this.role !== 'leader');
  }

  private releaseHeld(): void {
    for (const h of this.held.splice(0)) {
      if (this.disk.noSpace && !this.admitted(h.cmd)) h.reject(this.disk.error());
      else this.proposeNow(h.cmd, EntryType.Command, encodeCommand(h.cmd)).then(h.resolve, h.reject);
    }
  }

  /**
   * A linearizable read barrier (read-index): resolves once this node has applied every entry
   * committed when it was called, so a read after it sees every acknowledged write. Rejects with
   * UNAVAILABLE when that cannot be confirmed (no leader, leadership lost, no answer).
   */
  readBarrier(): Promise<void> {
    if (this.stopped || this.dead) return Promise.reject(shuttingDown());
    return this.reads.barrier();
  }

  private askRead(requestId: string): void {
    if (this.frozen) throw readUnavailable('this node cannot reach its log now (its disk is full)');
    this.core.readIndex(requestId);
    this.kick();
  }

  /**
   * A sole voter that has led and applied its own no-op holds every acknowledged write (a write
   * is acknowledged once applied here), and no other node can have committed anything: a read of
   * its store as it is is linearizable, with no round through the core. This is also what keeps
   * reads going while its disk is full.
   */
  private readsLocally(): boolean {
    return this.caughtUpOnce && soleVoter(this.membership, this.id);
  }

  // ---- Peers --------------------------------------------------------------------------------

  /** A message from peer `from` (the node routes keepalives here too). */
  receive(from: NodeId, pm: PeerMessage): void {
    if (this.stopped || this.dead) return;
    try {
      switch (pm.kind) {
        case 'raft': {
          const m = pm.msg;
          if (m.to !== this.id || m.from !== from || this.frozen) return;
          // A snapshot is stepped only once its bytes are all here (snapshot-transfer.ts).
          if (m.type === 'snap' && !this.receiver.has(m)) return;
          this.core.step(m);
          this.kick();
          return;
        }
        case 'snap-chunk':
          this.receiver.onChunk(from, pm);
          return;
        case 'snap-ack':
          this.sender.onAck(from, pm);
          return;
        case 'keepalive':
        case 'forward':
        case 'forward-reply':
          this.options.onNodeMessage?.(from, pm);
          return;
      }
    } catch (err) {
      this.die(err);
    }
  }

  private send(m: Message): void {
    if (m.type === 'snap') {
      // A member too far behind for the log the leader kept: it gets the state instead.
      this.env.log.info({ to: m.to, index: m.snapshot.index, term: m.snapshot.term }, 'sending a snapshot');
      this.sender.start(m);
    } else {
      this.env.transport.send(m.to, { kind: 'raft', msg: m });
    }
  }

  // ---- The loop -----------------------------------------------------------------------------

  /** Runs the ready loop soon, once: proposals made in the same turn share one Ready. */
  private kick(): void {
    if (this.scheduled || this.dead) return;
    this.scheduled = true;
    this.env.scheduler.soon(() => {
      this.scheduled = false;
      this.run();
    });
  }

  private run(): void {
    if (this.running || this.dead || this.frozen) return;
    this.running = true;
    try {
      while (!this.frozen && !this.dead && this.core.hasReady()) this.handle(this.core.ready());
    } catch (err) {
      this.die(err);
    } finally {
      this.running = false;
    }
  }

  private handle(rd: Ready): void {
    if (rd.softState !== null) this.softStateChanged(rd.softState);
    for (const m of rd.messages) this.send(m);
    const install = rd.snapshot !== null ? this.installStore(rd.snapshot) : null;
    if (rd.entries.length > 0) {
      this.proposals.appending(rd.entries);
      this.view.appending(rd.entries[0]!.index);
    }
    if (rd.write !== null) {
      this.writes.push({
        mark: rd.write, install, entries: rd.entries, hardState: rd.hardState, sync: rd.mustSync, afterWrite: rd.afterWrite,
      });
    }
    if (rd.committed.length > 0) this.apply(rd.committed);
    if (rd.readStates.length > 0) this.reads.confirmed(rd.readStates);
    if (rd.readsRefused.length > 0) this.reads.refused(rd.readsRefused);
  }

  private softStateChanged(ss: SoftState): void {
    const wasLeader = this.role === 'leader';
    if (ss.leader !== null && ss.leader !== this.leader) this.reads.reask();
    this.role = ss.role;
    this.leader = ss.leader;
    if (wasLeader && ss.role !== 'leader') this.sender.cancelAll();
    if (ss.role === 'leader') {
      this.rebuilt = false;
      this.releaseHeld();
    } else if (!this.holding() && this.held.length > 0) {
      const err = new CoordError(ErrorCode.UNAVAILABLE, 'this node is not the leader',
        ss.leader !== null ? { leader: ss.leader } : undefined);
      for (const h of this.held.splice(0)) h.reject(err);
    }
    this.env.log.debug({ node: this.id, role: ss.role, leader: ss.leader, term: this.core.currentTerm }, 'raft role');
    this.options.onLeadership?.({ role: ss.role, leader: ss.leader, term: this.core.currentTerm, cause: ss.cause ?? 'election-timeout' });
    this.probeReady();
  }

  /** Write `w` and every write before it are durable. */
  private persisted(w: Write): void {
    if (this.dead) return;
    this.disk.wrote();
    try {
      this.core.persisted(w.mark);
      for (const m of w.afterWrite) this.send(m);
    } catch (err) {
      this.die(err);
    }
  }

  private writeFailed(err: unknown): void {
    if (!isNoSpaceError(err)) {
      this.die(err);
      return;
    }
    this.disk.writeFailed(err).catch((e: unknown) => this.die(e));
  }

  /**
   * Storage refuses every read and write after a failed write (its snapshot record's, say) until
   * it is reopened: then the core must not touch it.
   */
  private storageRefuses(): boolean {
    try {
      this.storage.firstIndex();
      return false;
    } catch {
      return true;
    }
  }

  private readFailed(err: unknown): void {
    // Compacted (or truncated) while the read was on its way: the core asks again, and finds out.
    if (err instanceof LogCompactedError || err instanceof LogUnavailableError) return;
    // After a failed write, reads fail too until the reopen: that is the write's business.
    if (!this.frozen && !this.writes.failed && !isNoSpaceError(err)) this.die(err);
  }

  private tick(): void {
    this.cancelTick = null;
    if (this.stopped || this.dead) return;
    try {
      if (!this.frozen) {
        this.core.tick();
        this.sender.tick();
        this.maybeSnapshot();
        this.kick();
      }
      this.reads.tick();
      if (!this.isReady) this.probeReady();
    } catch (err) {
      this.die(err);
      return;
    }
    this.scheduleTick();
  }

  private scheduleTick(): void {
    if (this.cancelTick === null && !this.stopped && !this.dead) {
      this.cancelTick = this.env.scheduler.after(this.tickMs, () => this.tick());
    }
  }

  /** Finds out whether this node has caught up with its leader (see isReady). */
  private probeReady(): void {
    if (this.probing || this.leader === null || this.isReady) return;
    this.probing = true;
    const key = this.leaderKey();
    this.reads.barrier().then(() => {
      if (this.leader === null || this.leaderKey() !== key) return;
      this.readyFor = key;
      for (const w of this.readyWaiters.splice(0)) w();
    }, () => {
      // Asked again at the next tick.
    }).finally(() => {
      this.probing = false;
    });
  }

  // ---- Applying -----------------------------------------------------------------------------

  private apply(entries: Entry[]): void {
    for (const e of entries) {
      assert(e.index === this.applied + 1, `apply ${e.index} after ${this.applied}`);
      const outcome = this.applyEntry(e);
      this.applied = e.index;
      this.appliedTerm = e.term;
      this.proposals.applied(e, outcome);
    }
    this.reads.appliedTo(this.applied);
    this.view.appliedTo(this.applied);
    this.maybeSnapshot();
  }

  /** Takes a snapshot if one is due, or wanted (a member needs one whose bytes are gone). */
  private maybeSnapshot(): void {
    if (this.disk.noSpace || this.frozen || this.stopped) return;
    // A leader's snapshot waiting to be installed is past what the store holds (a joiner paused
    // before its Ready ran): the store is about to be replaced, nothing to take.
    if (this.applied < this.core.firstIndex() - 1) return;
    this.snapshots.maybeTake(this.store, { index: this.applied, term: this.appliedTerm }, this.core.membershipAt(this.applied));
  }

  private applyEntry(e: Entry): WriteOutcome {
    switch (e.type) {
      case EntryType.Command:
        // This node's own proposal at (index, term) is this entry exactly: its command, not a
        // decoding of the bytes made from it. Any other entry is applied from its bytes.
        return this.store.apply(this.proposals.commandAt(e.index, e.term) ?? decodeCommand(e.data));
      case EntryType.Noop:
        // This leader's own no-op: everything before it is applied.
        if (this.role === 'leader' && e.term === this.core?.currentTerm) this.caughtUpOnce = true;
        return this.store.apply({ t: 'noop', term: e.term });
      case EntryType.Config: {
        // Every member says when a membership change takes effect in its state machine.
        const m = this.core.membershipAt(e.index);
        this.env.log.info({ index: e.index, voters: m.voters, learners: m.learners }, 'membership changed');
        return { ok: true, rev: this.store.rev, changed: 0 };
      }
      default:
        throw new Error(`log entry ${e.index} has unknown type ${String(e.type)}`);
    }
  }

  /** A Ready says to install the leader's snapshot: the store takes it now, storage in the write. */
  private installStore(meta: SnapshotMeta): Install {
    const record = this.receiver.take(meta.index, meta.term);
    assert(record !== null, `snapshot ${meta.index}@${meta.term} to install, but its bytes are not here`);
    restoreSnapshot(this.store, record.data);
    this.env.log.info({ index: meta.index, term: meta.term, bytes: record.data.byteLength, rev: this.store.rev }, "installed the leader's snapshot");
    this.snapshots.installing(meta.index);
    this.applied = meta.index;
    this.appliedTerm = meta.term;
    this.proposals.installed(meta.index);
    this.reads.appliedTo(meta.index);
    return { meta, record };
  }

  /** Saves an installed snapshot (one save at a time) and tells the log view before the core. */
  private saveInstalled(i: Install): Promise<void> {
    return this.snapshots.exclusive(async () => {
      await this.storage.saveSnapshot(i.record);
      this.view.setSnapshot(i.meta, true);
      this.snapshots.installed(i.record);
    });
  }

  // ---- A full disk --------------------------------------------------------------------------

  /**
   * After a failed write: reopens the storage and rebuilds the core from what is durable (see
   * disk-full.ts). False if the disk is still too full to reopen.
   */
  private async settle(): Promise<boolean> {
    await this.snapshots.idle();
    try {
      await this.storage.reopen();
    } catch (err) {
      if (!isNoSpaceError(err)) throw err;
      return false;
    }
    const { durable } = await loadDurable(this.storage, this.id);
    if (this.dead) return true;
    this.rebuild(durable);
    return true;
  }

  /** Starts the core again from `d`, as a restart would, keeping the store (all of it durable). */
  private rebuild(d: Durable): void {
    this.writes.reset();
    this.sender.cancelAll();
    this.reads.abandonAsked('the node restarted its log after a failed write');
    const last = lastIndexOf(d);
    if (this.applied > last) {
      // The store took a leader's snapshot whose save did not land: back to what is on disk.
      if (d.record !== null) restoreSnapshot(this.store, d.record.data);
      else this.store.restore(Store.founding(this.options).toSnapshot());
      this.positionStore(d);
      this.caughtUpOnce = false;
    }
    if (soleVoter(this.membership, this.id)) {
      // What did not reach the disk is gone for good (no other node has it): client writes were
      // not written, which NOSPACE says; session commands and admitted retries go again.
      const again: Held[] = [];
      for (const p of this.proposals.takeFrom(last + 1)) {
        if (this.admitted(p.cmd)) again.push(p);
        else p.reject(this.disk.error());
      }
      this.held.unshift(...again);
      this.rebuilt = true;
    } else {
      for (const p of this.proposals.takeFrom(last + 1)) p.reject(outcomeUnknown('the node restarted its log after a failed write'));
    }
    this.begin(d);
    this.probeReady();
    this.kick();
  }

  /** Hands an unrecoverable error to onFatal, once, and runs nothing more. */
  private die(err: unknown): void {
    if (this.dead) return;
    this.dead = true;
    this.cancelTick?.();
    this.cancelTick = null;
    this.options.onFatal(err);
  }

  // ---- Stopping -----------------------------------------------------------------------------

  /**
   * Stops taking proposals, finishes the ones in flight (their writes, and, on a single node,
   * their commit and apply), then closes the storage. A write that could not be written (full
   * disk) is left as it is: its outcome unknown.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    this.stopped = true;
    this.cancelTick?.();
    this.cancelTick = null;
    for (;;) {
      if (this.dead || this.frozen) break;
      if (this.core.hasReady() && !this.running) {
        this.run();
        await new Promise<void>((r) => this.env.scheduler.soon(r));
      } else if (this.writes.size > 0) {
        await this.writes.drained();
      } else {
        // A write's completion may have made the core ready again (commit, apply).
        await new Promise<void>((r) => this.env.scheduler.soon(r));
        if (!this.core.hasReady() && this.writes.size === 0) break;
      }
    }
    this.snapshots.stop();
    await this.disk.stop();
    const err = shuttingDown();
    this.proposals.rejectAll(err);
    for (const h of this.held.splice(0)) h.reject(err);
    this.reads.rejectAll(err);
    // A snapshot being packed finishes (or it would be wasted work, not lost data: the log it
    // would have replaced is still there).
    await this.snapshots.idle();
    await this.storage.close();
  }
}
