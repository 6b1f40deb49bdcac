/**
 * Session liveness, as the leader sees it. The replicated session table lives in the store; this
 * keeps, per session, when it was last heard from, and proposes an `expire` command for any
 * session silent for longer than its TTL. Expiry is thus a committed log entry: replaying the log
 * removes the same ephemeral files at the same revision, whatever the clocks did.
 *
 * Every node keeps the list (from the store), but only the leader expires anything: `lead(term)`
 * starts that, `follow()` stops it. A new leader (and a restarted single node) gives every
 * session a fresh TTL from when it took over, as ZooKeeper does: a client cannot be blamed for
 * silence while there was no leader, nor for keepalives that went to a node that is gone. Each
 * expire carries the term it was decided in; the store ignores one from a term older than the
 * last leader no-op it applied (a deposed leader's decision, committed late).
 *
 * For the same reason a client is not blamed for a pause of this process. `check()` runs every
 * `checkIntervalMs`; when it runs late (a major GC, a slow fsync on the loop, a frozen VM), the
 * server was not listening for that long, and the messages that arrived meanwhile have not been
 * read yet. Every deadline then moves forward by how late the check was, before anything is
 * expired, so a pause of the server expires nobody.
 */
import type { Clock } from '../clock.ts';
import type { Command } from '../store/commands.ts';

interface Liveness {
  ttlMs: number;
  lastSeenMs: number;
  /** Set once an expire has been proposed, so it is proposed once. */
  expiring: boolean;
}

export class SessionTracker {
  private readonly sessions = new Map<string, Liveness>();
  /** When check() last ran (or, before the first, when this tracker was made). */
  private lastCheckMs: number;
  /** The term this node leads in, or null while it does not lead. */
  private leadTerm: number | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly propose: (cmd: Command) => Promise<unknown>,
    /** How often check() is called; lateness beyond it counts as a pause of this process. */
    private readonly checkIntervalMs: number,
  ) {
    this.lastCheckMs = clock.now();
  }

  /** Whether this tracker expires sessions (its node leads). */
  get leading(): boolean {
    return this.leadTerm !== null;
  }

  /**
   * This node leads, in `term`: every session gets a fresh full TTL from now, and expiry starts.
   */
  lead(term: number): void {
    this.leadTerm = term;
    const now = this.clock.now();
    this.lastCheckMs = now;
    for (const s of this.sessions.values()) {
      s.lastSeenMs = now;
      s.expiring = false;
    }
  }

  /** This node no longer leads: it expires nothing (a proposal in flight fails or is ignored). */
  follow(): void {
    this.leadTerm = null;
    for (const s of this.sessions.values()) s.expiring = false;
  }

  /** The sessions now: those the store holds (after a snapshot replaced it). */
  resync(sessions: Iterable<[sid: string, ttlMs: number]>): void {
    const keep = new Set<string>();
    for (const [sid, ttlMs] of sessions) {
      keep.add(sid);
      if (!this.sessions.has(sid)) this.add(sid, ttlMs);
    }
    for (const sid of [...this.sessions.keys()]) if (!keep.has(sid)) this.sessions.delete(sid);
  }

  /** A session now exists (opened, or found in the store on start). */
  add(sid: string, ttlMs: number): void {
    this.sessions.set(sid, { ttlMs, lastSeenMs: this.clock.now(), expiring: false });
  }

  remove(sid: string): void {
    this.sessions.delete(sid);
  }

  /** The client was heard from. */
  touch(sid: string): void {
    const s = this.sessions.get(sid);
    if (s !== undefined && !s.expiring) s.lastSeenMs = this.clock.now();
  }

  /** Milliseconds before `sid` expires if nothing more is heard (undefined: no such session). */
  remainingMs(sid: string): number | undefined {
    const s = this.sessions.get(sid);
    return s === undefined ? undefined : Math.max(0, s.lastSeenMs + s.ttlMs - this.clock.now());
  }

  /**
   * Forgives a pause of this process, then proposes an expire for every session whose TTL has
   * run out. Call it every `checkIntervalMs`.
   */
  check(): void {
    const now = this.clock.now();
    if (this.leadTerm === null) {
      this.lastCheckMs = now;
      return;
    }
    // Timer jitter up to one interval is normal; a gap beyond that is time nobody listened.
    const pausedMs = now - this.lastCheckMs - this.checkIntervalMs;
    if (pausedMs > this.checkIntervalMs) this.forgive(pausedMs);
    this.lastCheckMs = now;
    this.expireOverdue(now);
  }

  /** Moves every deadline forward by `ms`: the time this process could not hear anyone. */
  private forgive(ms: number): void {
    for (const s of this.sessions.values()) if (!s.expiring) s.lastSeenMs += ms;
  }

  private expireOverdue(now: number): void {
    const term = this.leadTerm!;
    for (const [sid, s] of this.sessions) {
      if (s.expiring || now - s.lastSeenMs <= s.ttlMs) continue;
      s.expiring = true;
      this.propose({ t: 'expire', sid, term }).catch(() => {
        // Not leader any more, shutting down, or the disk is full: retried at a later check,
        // and whoever leads next re-times the session anyway.
        s.expiring = false;
      });
    }
  }
}
