/**
 * A coord node: storage, the Raft driver and its store, the watch hub and session liveness,
 * wired together. The API layer talks only to this: it proposes writes, asks for reads at a
 * revision (waiting for it when needed), and opens or resumes sessions.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { CoordError, ErrorCode } from '../protocol/errors.ts';
import { limits } from '../protocol/limits.ts';
import { systemClock, type Clock } from './clock.ts';
import { silentLogger, type Logger } from './log.ts';
import { RaftDriver, type DiskState } from './consensus/driver.ts';
import { SessionTracker } from './session/tracker.ts';
import type { Command, WriteOutcome } from './store/commands.ts';
import type { Store } from './store/store.ts';
import { LevelStorage } from './storage/level-storage.ts';
import { WatchHub } from './watch/hub.ts';

export interface NodeOptions {
  dataDir: string;
  nodeId: string;
  historyRevisions: number;
  /** Bytes of history kept at most (default limits.historyBytesDefault). */
  historyBytes?: number;
  snapshotEveryEntries: number;
  /** How often sessions are checked for expiry. */
  sessionCheckIntervalMs: number;
  /** Client writes (and session opens) proposed and not yet answered, server-wide; more: LIMIT. */
  writesInflightMax?: number;
  clock?: Clock;
  log?: Logger;
  onFatal(err: unknown): void;
}

export interface SessionGrant {
  id: string;
  secret: string;
  ttlMs: number;
  resumed: boolean;
}

export class CoordNode {
  readonly hub: WatchHub;
  readonly tracker: SessionTracker;
  private readonly revWaiters = new Set<{ rev: number; resolve(): void; reject(err: Error): void }>();
  private sessionTimer: NodeJS.Timeout | null = null;
  /** Told when a session ends (closed or expired), after the store applied it. */
  readonly sessionEndListeners = new Set<(sid: string, reason: 'close' | 'expire') => void>();
  private ready = false;
  private writesInflight = 0;
  private readonly writesInflightMax: number;
  private readonly log: Logger;

  private constructor(readonly driver: RaftDriver, clock: Clock, options: NodeOptions) {
    const store = driver.store;
    this.log = options.log ?? silentLogger;
    this.writesInflightMax = options.writesInflightMax ?? limits.writesInflightMax;
    this.hub = new WatchHub(store);
    this.tracker = new SessionTracker(clock, (cmd) => this.driver.propose(cmd), options.sessionCheckIntervalMs);
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
    };
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

  static async start(options: NodeOptions): Promise<CoordNode> {
    const log = options.log ?? silentLogger;
    const storage = await LevelStorage.open(options.dataDir);
    let driver: RaftDriver;
    try {
      driver = await RaftDriver.start(storage, {
        nodeId: options.nodeId,
        historyRevisions: options.historyRevisions,
        ...(options.historyBytes !== undefined ? { historyBytes: options.historyBytes } : {}),
        snapshotEveryEntries: options.snapshotEveryEntries,
        onFatal: options.onFatal,
        // Passed in, not set on the node later: the driver may find the disk full during start().
        onDiskState: (state, detail) => {
          const fields = { disk: state, data: options.dataDir };
          if (state === 'nospace') log.warn(fields, detail);
          else log.info(fields, detail);
        },
        onSnapshotDeferred: (detail) => log.warn({ data: options.dataDir }, detail),
      });
    } catch (err) {
      await storage.close();
      throw err;
    }
    const node = new CoordNode(driver, options.clock ?? systemClock, options);
    await driver.caughtUp();
    node.ready = true;
    node.sessionTimer = setInterval(() => node.tracker.check(), options.sessionCheckIntervalMs);
    node.sessionTimer.unref();
    return node;
  }

  /** 'nospace' while the disk is full: writes are refused with NOSPACE, reads go on. */
  get diskState(): DiskState {
    return this.driver.diskState;
  }

  get store(): Store {
    return this.driver.store;
  }

  /** Serving: it leads (it is its own leader) and has applied the log it found on start. */
  get isReady(): boolean {
    return this.ready && this.driver.isLeader;
  }

  /**
   * Proposes a client's write and returns its outcome once durable and applied. At most
   * writesInflightMax are in flight server-wide (ARCHITECTURE rule 10): past that, LIMIT at once,
   * so a flood of writers is told to back off instead of growing the queue without bound.
   */
  async propose(cmd: Command): Promise<WriteOutcome> {
    if (this.writesInflight >= this.writesInflightMax) {
      throw new CoordError(ErrorCode.LIMIT, `over ${this.writesInflightMax} writes in flight on this server; retry shortly`);
    }
    this.writesInflight++;
    try {
      return await this.driver.propose(cmd);
    } finally {
      this.writesInflight--;
    }
  }

  /**
   * Makes a read safe: linearizable (every write acknowledged before it is visible), and, for a
   * read at `rev`, waits (bounded) until that revision is applied. Returns the revision to read at.
   */
  async readAt(rev: number | undefined): Promise<number> {
    await this.driver.readBarrier();
    if (rev === undefined) return this.store.rev;
    if (rev > this.store.rev) await this.waitForRev(rev);
    return rev;
  }

  private waitForRev(rev: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter = {
        rev,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.revWaiters.delete(waiter);
        reject(new CoordError(
          ErrorCode.TIMEOUT,
          `revision ${rev} was not reached within ${limits.futureRevisionWaitMsMax} ms ` +
            `(current: ${this.store.rev})`,
          { rev: this.store.rev },
        ));
      }, limits.futureRevisionWaitMsMax);
      this.revWaiters.add(waiter);
    });
  }

  private releaseRevWaiters(rev: number): void {
    for (const w of this.revWaiters) {
      if (w.rev <= rev) {
        this.revWaiters.delete(w);
        w.resolve();
      }
    }
  }

  /** Opens a new session (a committed entry), or resumes one by id and secret. */
  async session(
    ttlMs: number | undefined,
    resume?: { id: string; secret: string },
    /** Who asks (e.g. `{ remote }`), for the log line. */
    who: Record<string, unknown> = {},
  ): Promise<SessionGrant> {
    if (resume !== undefined) {
      await this.driver.readBarrier();
      const s = this.store.session(resume.id);
      if (s === undefined || !secretsEqual(s.secret, resume.secret)) {
        throw new CoordError(ErrorCode.SESSION_EXPIRED, `session ${resume.id} has expired or never existed`);
      }
      this.tracker.touch(s.id);
      this.log.info({ session: s.id, ttlMs: s.ttlMs, ...who }, 'session resumed');
      return { id: s.id, secret: s.secret, ttlMs: s.ttlMs, resumed: true };
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(16).toString('hex');
    const ttl = ttlMs ?? limits.sessionTtlMsDefault;
    const outcome = await this.propose({ t: 'open', sid: id, secret, ttlMs: ttl });
    if (!outcome.ok) throw new CoordError(outcome.error.code, outcome.error.message);
    this.log.debug({ session: id, ttlMs: ttl, ...who }, 'session opened');
    return { id, secret, ttlMs: ttl, resumed: false };
  }

  async stop(): Promise<void> {
    if (this.sessionTimer !== null) clearInterval(this.sessionTimer);
    for (const w of this.revWaiters) w.reject(new CoordError(ErrorCode.UNAVAILABLE, 'the server is shutting down'));
    this.revWaiters.clear();
    await this.driver.stop();
  }
}

/** Compares two secrets in time that does not depend on where they differ. */
export function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
