/**
 * A coord node: the Raft driver and its store, the watch hub and session liveness, wired
 * together over the world it is given (consensus/env.ts: clock, scheduler, randomness, peer
 * transport, storage, logger). The API layer talks only to this: it proposes writes, asks for
 * reads at a revision (waiting for it when needed), opens or resumes sessions and reports client
 * traffic on them. Production and the simulator run this same code, each with its own NodeEnv.
 * What it does for its cluster rather than its clients (leadership log lines, settings, learner
 * promotion, hand-over) is in leader-duties.ts.
 *
 * Sessions in a cluster (ARCHITECTURE.md): every node keeps the session list (the store's);
 * only the leader's tracker expires sessions, and a new leader gives every session a fresh TTL
 * first. Client traffic on a follower is forwarded to the leader as keepalive batches, once per
 * tick. Session ids and secrets come from env.random, so a simulation replays exactly.
 */
import { timingSafeEqual } from 'node:crypto';
import { CoordError, ErrorCode } from '../protocol/errors.ts';
import { limits } from '../protocol/limits.ts';
import type { ConfChange, NodeId } from './consensus/core/index.ts';
import {
  ELECTION_TICKS_DEFAULT, RaftDriver, TICK_MS_DEFAULT, type DiskState, type DriverStatus, type Leadership,
} from './consensus/driver.ts';
import type { NodeEnv, PeerMessage, RandomSource } from './consensus/env.ts';
import type { SnapshotHooks } from './consensus/snapshots.ts';
import type { Logger } from './log.ts';
import { Forwarding } from './forwarding.ts';
import { LeaderDuties } from './leader-duties.ts';
import { RefusalByRead } from './refusal-by-read.ts';
import { KeepaliveBatcher } from './session/keepalives.ts';
import { SessionTracker } from './session/tracker.ts';
import type { AccessTable } from './store/access.ts';
import type { Command, WriteOutcome } from './store/commands.ts';
import type { SnapshotCapture, Store } from './store/store.ts';
import { WatchHub } from './watch/hub.ts';

export type { DiskState } from './consensus/driver.ts';

export interface NodeOptions {
  /** This node's id in the cluster: 'n1' for a single node. */
  nodeId: NodeId;
  /** Founding voters of a new cluster (including nodeId); default [nodeId]. Ignored when the storage already holds state. */
  initialMembers?: NodeId[];
  /** Founders' peer addresses (ws://host:port), kept in the membership. */
  initialUrls?: Record<NodeId, string>;
  historyRevisions: number;
  /** Bytes of history kept at most (default limits.historyBytesDefault). */
  historyBytes?: number;
  snapshotEveryEntries: number;
  /** Entries a cluster member keeps before its latest snapshot, for followers a little behind (default 5000). */
  snapshotCatchUpEntries?: number;
  /** Milliseconds per Raft tick (default 100). */
  tickMs?: number;
  /** Ticks without a leader before a follower campaigns (default 10). */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats (default 1). */
  heartbeatTicks?: number;
  /** How often the leader checks sessions for expiry. */
  sessionCheckIntervalMs: number;
  /** Client writes (and session opens) proposed and not yet answered, node-wide; more: LIMIT. */
  writesInflightMax?: number;
  /** While the disk is full, how often free space is measured (default 1000). */
  diskCheckIntervalMs?: number;
  onFatal(err: unknown): void;
  /** Told when NOSPACE mode is entered or left (the node logs it too). */
  onDiskState?(state: DiskState, detail: string): void;
  /** Told when a snapshot is given up for want of space (the node logs it too). */
  onSnapshotDeferred?(detail: string): void;
  /** Told of the snapshots this node takes (for /metrics). */
  snapshotHooks?: SnapshotHooks;
}

/**
 * Numbers about a node that /metrics reads when it is scraped (none is kept for it alone but
 * leaderChanges, a plain count).
 */
export interface NodeStats {
  term: number;
  isLeader: boolean;
  commit: number;
  applied: number;
  /** Times this node saw a new leader (a different one, or one after none). */
  leaderChanges: number;
  /** Writes proposed on this node and not yet applied. */
  proposalsPending: number;
  sessions: number;
  /** WAITs and WATCHes open on this node. */
  watches: number;
  /** Watches ended with SLOW_CONSUMER. */
  slowConsumersEnded: number;
  /** Conditional writes answered REV_MISMATCH as reads, without a log entry (refusal-by-read.ts). */
  writesRefusedAsReads: number;
  /** The oldest revision whose events are kept (a WAIT or WATCH may start there). */
  historyOldestRev: number;
  /** Bytes of paths and values in the kept history. */
  historyBytes: number;
  rev: number;
}

export interface SessionGrant {
  id: string;
  secret: string;
  ttlMs: number;
  resumed: boolean;
}

/** What `coord status` and tests see of a node: the core's status, with the store's applied index. */
export type NodeStatus = DriverStatus;

export class CoordNode {
  readonly hub: WatchHub;
  /** Conditional writes the leader can see will fail, answered as reads (refusal-by-read.ts). */
  readonly refusals: RefusalByRead;
  private readonly tracker: SessionTracker;
  private readonly keepalives = new KeepaliveBatcher();
  private readonly forwarding: Forwarding;
  private readonly revWaiters = new Set<{ rev: number; resolve(): void; reject(err: Error): void }>();
  /** Told when a session ends (closed or expired), after the store applied it. */
  readonly sessionEndListeners = new Set<(sid: string, reason: 'close' | 'expire') => void>();
  private writesInflight = 0;
  private readonly writesInflightMax: number;
  private readonly log: Logger;
  private readonly tickMs: number;
  private cancelSessionCheck: (() => void) | null = null;
  private cancelKeepalives: (() => void) | null = null;
  private stopped = false;
  private readonly duties: LeaderDuties;
  /** Requests waiting for a leader to be known (see leaderKnown). */
  private readonly leaderWaiters = new Set<() => void>();
  private readonly leaderWaitMs: number;
  private leaderChanges = 0;
  private lastLeader: NodeId | null = null;

  private constructor(private readonly env: NodeEnv, private readonly driver: RaftDriver, private readonly options: NodeOptions) {
    const store = driver.store;
    this.log = env.log;
    this.tickMs = options.tickMs ?? TICK_MS_DEFAULT;
    this.leaderWaitMs = 2 * (options.electionTicks ?? ELECTION_TICKS_DEFAULT) * this.tickMs;
    this.writesInflightMax = options.writesInflightMax ?? limits.writesInflightMax;
    this.duties = new LeaderDuties(env, driver, options, this.tickMs);
    this.hub = new WatchHub(store, (fn) => env.scheduler.soon(fn));
    this.refusals = new RefusalByRead(store, () => this.driver.readBarrier());
    this.tracker = new SessionTracker(env.clock, (cmd) => this.driver.propose(cmd), options.sessionCheckIntervalMs);
    this.forwarding = new Forwarding({
      transport: env.transport,
      scheduler: env.scheduler,
      random: env.random,
      proposeHere: (cmd) => this.limited(() => this.proposeAsLeader(cmd)),
      resendMs: Math.max(1, Math.floor(((options.electionTicks ?? ELECTION_TICKS_DEFAULT) * this.tickMs) / 2)),
    });
    for (const sid of store.sessionIds()) this.tracker.add(sid, store.session(sid)!.ttlMs);
    store.observer = {
      revision: (rev, events) => {
        this.hub.onRevision(rev, events);
        this.releaseRevWaiters(rev);
      },
      sessionOpened: (s) => this.tracker.add(s.id, s.ttlMs),
      sessionEnded: (s, reason, removed, rev) => {
        this.tracker.remove(s.id);
        this.logSessionEnd(s.id, s.ttlMs, reason, removed, rev);
        for (const listener of this.sessionEndListeners) listener(s.id, reason);
      },
      restored: (fromRev) => {
        this.tracker.resync(store.sessionIds().map((sid) => [sid, store.session(sid)!.ttlMs]));
        this.hub.restored(fromRev);
        this.releaseRevWaiters(store.rev);
      },
    };
    if (driver.isLeader) this.leadershipChanged({ role: 'leader', leader: driver.id, term: driver.term, cause: 'election-timeout' });
  }

  /** Peer messages that are the node's business, not the driver's. */
  private peerMessage(from: NodeId, m: PeerMessage): void {
    switch (m.kind) {
      case 'keepalive':
        // Client traffic on sessions, as a follower saw it.
        if (this.tracker.leading && Array.isArray(m.sessions)) for (const sid of m.sessions) if (typeof sid === 'string') this.tracker.touch(sid);
        return;
      case 'forward':
      case 'forward-reply':
        this.forwarding.receive(from, m);
        return;
      default:
    }
  }

  /**
   * Opens the node over `env.storage`: loads (or bootstraps) its state and starts the driver.
   * Does not wait for a leader (`whenReady()` does).
   */
  static async start(env: NodeEnv, options: NodeOptions): Promise<CoordNode> {
    const log = env.log;
    const dir = env.storage.dir;
    // What the driver reports before the node exists (nothing, as it is: its loop starts on a
    // later turn) is picked up from its state when the node is made.
    let node: CoordNode | null = null;
    const driver = await RaftDriver.start(env, {
      nodeId: options.nodeId,
      ...(options.initialMembers !== undefined ? { initialMembers: options.initialMembers } : {}),
      ...(options.initialUrls !== undefined ? { initialUrls: options.initialUrls } : {}),
      historyRevisions: options.historyRevisions,
      ...(options.historyBytes !== undefined ? { historyBytes: options.historyBytes } : {}),
      snapshotEveryEntries: options.snapshotEveryEntries,
      ...(options.snapshotCatchUpEntries !== undefined ? { snapshotCatchUpEntries: options.snapshotCatchUpEntries } : {}),
      ...(options.tickMs !== undefined ? { tickMs: options.tickMs } : {}),
      ...(options.electionTicks !== undefined ? { electionTicks: options.electionTicks } : {}),
      ...(options.heartbeatTicks !== undefined ? { heartbeatTicks: options.heartbeatTicks } : {}),
      ...(options.diskCheckIntervalMs !== undefined ? { diskCheckIntervalMs: options.diskCheckIntervalMs } : {}),
      onFatal: options.onFatal,
      // Passed in, not set on the node later: the driver may find the disk full during start().
      onDiskState: (state, detail) => {
        const fields = { disk: state, data: dir };
        if (state === 'nospace') log.warn(fields, detail);
        else log.info(fields, detail);
        options.onDiskState?.(state, detail);
      },
      onSnapshotDeferred: (detail) => {
        log.warn({ data: dir }, detail);
        options.onSnapshotDeferred?.(detail);
      },
      onLeadership: (l) => node?.leadershipChanged(l),
      onNodeMessage: (from, m) => node?.peerMessage(from, m),
      ...(options.snapshotHooks !== undefined ? { snapshotHooks: options.snapshotHooks } : {}),
    });
    const made = new CoordNode(env, driver, options);
    node = made;
    made.scheduleSessionCheck();
    made.scheduleKeepalives();
    return made;
  }

  /**
   * What an operator needs to answer "what happened, and when": which session ended, how, and
   * which of its ephemeral files (its locks, claims, registrations) went at which revision.
   * Expiries are always worth a line; a close is, when it removed something.
   */
  private logSessionEnd(sid: string, ttlMs: number, reason: 'close' | 'expire', removed: string[], rev: number): void {
    const fields = { session: sid, ttlMs, removed, rev };
    if (reason === 'expire') this.log.info(fields, 'session expired');
    else if (removed.length > 0) this.log.info(fields, 'session closed');
    else this.log.debug(fields, 'session closed');
  }

  private leadershipChanged(l: Leadership): void {
    if (l.leader !== null && l.leader !== this.lastLeader) this.leaderChanges++;
    this.lastLeader = l.leader;
    this.duties.leadershipChanged(l);
    this.forwarding.leaderChanged(l.leader);
    if (l.leader !== null) for (const w of [...this.leaderWaiters]) w();
    if (l.role === 'leader') {
      this.tracker.lead(l.term);
      this.keepalives.clear();
    } else {
      this.tracker.follow();
    }
  }

  private scheduleSessionCheck(): void {
    if (this.stopped) return;
    this.cancelSessionCheck = this.env.scheduler.after(this.options.sessionCheckIntervalMs, () => {
      this.tracker.check();
      this.scheduleSessionCheck();
    });
  }

  private scheduleKeepalives(): void {
    if (this.stopped) return;
    this.cancelKeepalives = this.env.scheduler.after(this.tickMs, () => {
      this.flushKeepalives();
      this.duties.tick();
      this.scheduleKeepalives();
    });
  }

  /**
   * Hands leadership to the most caught-up voter (or `to`) and waits (at most `timeoutMs`) until
   * another node leads (leader-duties.ts).
   */
  handOver(timeoutMs: number, to?: NodeId): Promise<NodeId | null> {
    return this.duties.handOver(timeoutMs, to);
  }

  /**
   * Confirms, for a client's ping, that the cluster heard from session `sid` now: its keepalive
   * goes to the leader at once, then a read barrier through that leader. Both travel the one
   * ordered link to the leader, so a leader that answers the barrier has had the keepalive
   * first: a client told "alive" cannot be ahead of the leader's clock for its session (were
   * the keepalive left for the next tick's batch, a link lost in between would leave the client
   * believing in a session the leader might expire up to a ping period sooner).
   */
  async confirmSession(sid: string): Promise<void> {
    this.touch(sid);
    this.flushKeepalives();
    await this.readAt(undefined);
  }

  private flushKeepalives(): void {
    const leader = this.driver.leaderId;
    if (leader === null || leader === this.options.nodeId || this.keepalives.size === 0) return;
    this.env.transport.send(leader, { kind: 'keepalive', sessions: this.keepalives.take() });
  }

  /** Access control as this node has applied it (store/access.ts): read it, never change it. */
  get access(): AccessTable {
    return this.store.access;
  }

  get store(): Store {
    return this.driver.store;
  }

  get isLeader(): boolean {
    return this.driver.isLeader;
  }

  /** Whether this node is one of several (or waiting to join some): anything but a founder alone. */
  get hasPeers(): boolean {
    return this.duties.hasPeers;
  }

  get leaderId(): NodeId | null {
    return this.driver.leaderId;
  }

  /**
   * Serving: there is a leader and this node has applied what it had committed when this node
   * last asked (on a single node: it leads, and has applied the log it found on start).
   */
  get isReady(): boolean {
    return this.driver.isReady;
  }

  /** Resolves once the node is ready (see isReady) for the first time. */
  whenReady(): Promise<void> {
    return this.driver.caughtUp();
  }

  /** 'nospace' while the disk is full: writes are refused with NOSPACE, reads go on. */
  get diskState(): DiskState {
    return this.driver.diskState;
  }

  status(): NodeStatus {
    return this.driver.status();
  }

  /**
   * The sessions in this replica's applied state, for GET /sessions (the web console): each one's
   * id, TTL and the ephemeral files it owns, at revision `rev`. Never the secrets.
   */
  sessions(): { rev: number; sessions: { id: string; ttlMs: number; ephemerals: string[] }[] } {
    const store = this.driver.store;
    const sessions = store.sessionIds().sort().map((id) => {
      const s = store.session(id)!;
      return { id, ttlMs: s.ttlMs, ephemerals: [...s.ephemerals].sort() };
    });
    return { rev: store.rev, sessions };
  }

  /** What /metrics reads of this node, at scrape time. */
  stats(): NodeStats {
    const store = this.driver.store;
    const core = this.driver.status();
    return {
      term: core.term,
      isLeader: this.driver.isLeader,
      commit: core.commit,
      applied: core.applied,
      leaderChanges: this.leaderChanges,
      proposalsPending: this.driver.proposalsPending,
      sessions: store.sessionCount,
      watches: this.hub.liveCount + this.hub.laggingCount,
      slowConsumersEnded: this.hub.slowEnded,
      writesRefusedAsReads: this.refusals.refusedEarly,
      historyOldestRev: store.oldestKeptRev,
      historyBytes: store.historyBytes,
      rev: store.rev,
    };
  }

  /**
   * Proposes a client's write and returns its outcome once durable and applied. At most
   * writesInflightMax are in flight node-wide (ARCHITECTURE rule 10): past that, LIMIT at once,
   * so a flood of writers is told to back off instead of growing the queue without bound. Off
   * the leader: UNAVAILABLE (details.leader names it when known).
   */
  propose(cmd: Command): Promise<WriteOutcome> {
    return this.limited(async () => {
      await this.leaderKnown();
      const leader = this.driver.leaderId;
      if (leader === null || leader === this.options.nodeId) return this.proposeAsLeader(cmd);
      return this.forwarding.forward(leader, cmd);
    });
  }

  /** A client's write on the leader: proposed, or refused as a read (refusal-by-read.ts). */
  private proposeAsLeader(cmd: Command): Promise<WriteOutcome> {
    return this.refusals.propose(cmd, (c) => this.driver.propose(c));
  }

  /**
   * Resolves once a leader is known: at once if one is, else when an election ends (or after two
   * election timeouts, when the request goes on to get the usual UNAVAILABLE). A write or a
   * linearizable read that arrives mid-election is answered as soon as there is a leader, instead
   * of being refused and retried by the client after a backoff.
   */
  private leaderKnown(): Promise<void> {
    if (this.driver.leaderId !== null || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        cancel();
        this.leaderWaiters.delete(done);
        resolve();
      };
      const cancel = this.env.scheduler.after(this.leaderWaitMs, done);
      this.leaderWaiters.add(done);
    });
  }

  /** Runs a write within writesInflightMax (forwarded ones count on the follower and the leader). */
  private async limited(write: () => Promise<WriteOutcome>): Promise<WriteOutcome> {
    if (this.writesInflight >= this.writesInflightMax) {
      throw new CoordError(ErrorCode.LIMIT, `over ${this.writesInflightMax} writes in flight on this server; retry shortly`);
    }
    this.writesInflight++;
    try {
      return await write();
    } finally {
      this.writesInflight--;
    }
  }

  /** Proposes a membership change (one at a time). */
  changeMembership(change: ConfChange): Promise<WriteOutcome> {
    return this.driver.changeMembership(change);
  }

  /** Hands leadership to voter `target`. */
  transferLeadership(target: NodeId): void {
    this.driver.transferLeadership(target);
  }

  /**
   * The revision a read uses. Without `rev`: linearizable (every write acknowledged before the
   * read is visible, by read-index through the leader), or with `serializable`, whatever this
   * replica has applied. With `rev`: that revision, answered here as soon as it is applied (a
   * revision never changes once applied, so no round trip to the leader: the pages after the
   * first of a WALK or GETDIR, and a client's read of what it just wrote, stay local); waits,
   * bounded, for a revision not applied yet.
   */
  async readAt(rev?: number, options: { serializable?: boolean } = {}): Promise<number> {
    if (rev === undefined) {
      if (options.serializable !== true) {
        await this.leaderKnown();
        await this.driver.readBarrier();
      }
      return this.store.rev;
    }
    if (rev > this.store.rev) await this.waitForRev(rev);
    return rev;
  }

  /**
   * A capture of the whole store (store.ts: SnapshotCapture) for a backup, at a revision that
   * is linearizable-fresh: a read barrier first (read-index through the leader, as a default
   * read), so it holds every write acknowledged before it was asked for, whichever member
   * answers. The caller reads it out and must finish() it (compaction of the history it needs
   * waits until then).
   */
  async captureForBackup(): Promise<SnapshotCapture> {
    await this.readAt();
    return this.store.captureSnapshot();
  }

  private waitForRev(rev: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let cancel = (): void => {};
      const waiter = {
        rev,
        resolve: () => {
          cancel();
          resolve();
        },
        reject: (err: Error) => {
          cancel();
          reject(err);
        },
      };
      cancel = this.env.scheduler.after(limits.futureRevisionWaitMsMax, () => {
        this.revWaiters.delete(waiter);
        reject(new CoordError(
          ErrorCode.TIMEOUT,
          `revision ${rev} was not reached within ${limits.futureRevisionWaitMsMax} ms ` +
            `(current: ${this.store.rev})`,
          { rev: this.store.rev },
        ));
      });
      this.revWaiters.add(waiter);
    });
  }

  private releaseRevWaiters(rev: number): void {
    if (this.revWaiters.size === 0) return;
    for (const w of this.revWaiters) {
      if (w.rev <= rev) {
        this.revWaiters.delete(w);
        w.resolve();
      }
    }
  }

  /** Client traffic on session `sid`: it keeps the session alive (forwarded when not leading). */
  touch(sid: string): void {
    if (this.tracker.leading) this.tracker.touch(sid);
    else this.keepalives.heard(sid);
  }

  /** Opens a new session (a committed entry), or resumes one by id and secret. */
  async session(
    ttlMs: number | undefined,
    resume?: { id: string; secret: string },
    /** Who asks (e.g. `{ remote }`), for the log line. */
    who: Record<string, unknown> = {},
    /**
     * The access-control user asking (commands.ts `user`), stamped on a new session; and whether
     * it may do everything. Only the user that opened a session (or root) may resume it.
     */
    owner: { user?: string; unrestricted: boolean } = { unrestricted: true },
  ): Promise<SessionGrant> {
    if (resume !== undefined) {
      await this.leaderKnown();
      await this.driver.readBarrier();
      const s = this.store.session(resume.id);
      if (s === undefined || !secretsEqual(s.secret, resume.secret)) {
        throw new CoordError(ErrorCode.SESSION_EXPIRED, `session ${resume.id} has expired or never existed`);
      }
      if (!owner.unrestricted && s.user !== owner.user) {
        throw new CoordError(ErrorCode.PERMISSION_DENIED, `session ${resume.id} belongs to another user`);
      }
      this.touch(s.id);
      this.log.info({ session: s.id, ttlMs: s.ttlMs, ...who }, 'session resumed');
      return { id: s.id, secret: s.secret, ttlMs: s.ttlMs, resumed: true };
    }
    const id = randomHex(this.env.random, 8);
    const secret = randomHex(this.env.random, 16);
    const ttl = ttlMs ?? limits.sessionTtlMsDefault;
    const outcome = await this.propose({ t: 'open', sid: id, secret, ttlMs: ttl, ...(owner.user !== undefined ? { user: owner.user } : {}) });
    if (!outcome.ok) throw new CoordError(outcome.error.code, outcome.error.message);
    this.log.debug({ session: id, ttlMs: ttl, ...who }, 'session opened');
    return { id, secret, ttlMs: ttl, resumed: false };
  }

  /** Stops taking requests, finishes the writes in flight, closes the storage. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.duties.stop();
    this.cancelSessionCheck?.();
    this.cancelKeepalives?.();
    for (const w of this.revWaiters) w.reject(new CoordError(ErrorCode.UNAVAILABLE, 'the server is shutting down'));
    this.revWaiters.clear();
    this.forwarding.stop();
    for (const w of [...this.leaderWaiters]) w();
    await this.driver.stop();
  }
}

/** `bytes` random bytes as hex, from the node's random source. */
function randomHex(random: RandomSource, bytes: number): string {
  let out = '';
  while (out.length < bytes * 2) out += (random() >>> 0).toString(16).padStart(8, '0');
  return out.slice(0, bytes * 2);
}

/** Compares two secrets in time that does not depend on where they differ. */
export function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
