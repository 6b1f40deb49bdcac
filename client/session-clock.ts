/**
 * The client's view of its session's life: when did the cluster last hear from us, and when
 * must we presume the session gone?
 *
 * The leader expires a session a TTL after it last heard from it. The client cannot see that
 * clock, but it knows a lower bound on it: the send time of the newest request whose successful
 * answer came through the leader (`heard(sentMs)`, for the requests reachesLeader() names). A
 * server cut off from the leader may keep our connection open and go on answering (UNAVAILABLE,
 * or reads from its own replica) while the majority expires the session and hands its locks on;
 * so the clock runs whether or not we are connected, and a lock holder learns it lost before the
 * lock can be handed on (partition.test.ts).
 *
 * A ping period before the deadline, if nothing has confirmed the session since, it asks for a
 * confirmation (a client busy with serializable reads sends no pings of its own), and it presumes
 * the session lost a quarter period before the deadline. If a stage fires late, this process was
 * frozen meanwhile (and may not even have read what the server sent): rather than presume, it
 * asks the server at once (a ping, or a reconnect) and presumes the session lost only if nothing
 * confirmed it within a ping period (`verifying` says so meanwhile).
 */
import type { RequestBody } from '../protocol/messages.ts';
import { pingPeriodMs, stallSlackMs } from './keepalive.ts';

type Timer = ReturnType<typeof setTimeout>;

/** Like the keepalive's, these timers alone do not keep a Node process alive. */
const unref = (t: Timer | null): void => (t as { unref?: () => void } | null)?.unref?.();

/**
 * Whether a successful answer to `body` shows that the cluster's leader heard from this session
 * when it was sent: writes (committed through the leader), linearizable reads (a read-index
 * through the leader), the hello and pings (the server confirms with the leader before it
 * answers). A serializable read, or one at a given revision, is answered by the server alone,
 * which may be cut off from the leader.
 */
export function reachesLeader(body: RequestBody): boolean {
  switch (body.op) {
    case 'hello': case 'ping': case 'set': case 'del': case 'txn':
      return true;
    case 'get': case 'stat': case 'getdir': case 'walk': case 'rev': {
      const b = body as { serializable?: boolean; rev?: number };
      return b.serializable !== true && b.rev === undefined;
    }
    default:
      return false;
  }
}

export interface SessionClockHooks {
  /** The session's TTL. */
  ttlMs(): number;
  /** Whether there is a session still worth watching (connected or suspended, not lost). */
  live(): boolean;
  /** Sends a ping on the link in use, if one is up. */
  pingIfUp(): void;
  /** Asks the server now: a ping on the link in use, else a reconnect without backoff. */
  askServer(): void;
  /** The TTL has (all but) passed unheard: the session is presumed gone. */
  timedOut(): void;
}

export class SessionClock {
  private lastHeard = 0;
  private timer: Timer | null = null;
  private verifyingNow = false;

  constructor(private readonly hooks: SessionClockHooks) {}

  /** The newest time the cluster is known to have heard from the session. */
  get lastHeardMs(): number {
    return this.lastHeard;
  }

  /**
   * True after a stage fired late (this process was frozen): the session is presumed lost if the
   * attempt to reach the server fails too.
   */
  get verifying(): boolean {
    return this.verifyingNow;
  }

  /** A request sent at `sentMs` was answered through the leader (see reachesLeader). */
  heard(sentMs: number): void {
    if (sentMs > this.lastHeard) this.lastHeard = sentMs;
  }

  /** (Re)starts the countdown from lastHeardMs: at each hello, and when a link closes. */
  arm(): void {
    this.clear();
    if (!this.hooks.live()) return;
    const ttl = this.hooks.ttlMs();
    const period = pingPeriodMs(ttl);
    const dueMs = this.lastHeard + ttl;
    const heardSince = (): boolean => this.lastHeard + ttl > dueMs;
    const at = (ms: number, then: () => void): void => {
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.hooks.live()) return;
        if (heardSince()) return this.arm();
        if (Date.now() - ms <= stallSlackMs(period)) return then();
        this.verifyingNow = true;
        this.timer = setTimeout(() => {
          this.timer = null;
          if (heardSince()) return this.arm();
          if (this.hooks.live()) this.hooks.timedOut();
        }, period);
        unref(this.timer);
        this.hooks.askServer();
      }, Math.max(0, ms - Date.now()));
      unref(this.timer);
    };
    // The leader's clock for the session starts when it hears the request we sent at
    // lastHeardMs (later: in our favour), but our timer may fire late on a busy machine: presume
    // a little early, so a lock holder stops before the lock can be handed on.
    const marginMs = Math.floor(period / 4);
    at(dueMs - period, () => {
      this.hooks.pingIfUp();
      at(dueMs - marginMs, () => this.hooks.timedOut());
    });
  }

  /** Stops the countdown (the session is lost, or the client closed). */
  clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.verifyingNow = false;
  }
}
