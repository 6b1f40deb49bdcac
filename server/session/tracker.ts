/**
 * Session liveness, as the leader sees it. The replicated session table lives in the store; this
 * keeps, per session, when it was last heard from, and proposes an `expire` command for any
 * session silent for longer than its TTL. Expiry is thus a committed log entry: replaying the log
 * removes the same ephemeral files at the same revision, whatever the clocks did.
 *
 * A new leader (and a restarted single node) gives every session a fresh TTL from when it took
 * over, as ZooKeeper does: a client cannot be blamed for silence while there was no leader.
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

  constructor(
    private readonly clock: Clock,
    private readonly propose: (cmd: Command) => Promise<unknown>,
  ) {}

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

  /** Proposes an expire for every session whose TTL has run out. Call it periodically. */
  expireOverdue(): void {
    const now = this.clock.now();
    for (const [sid, s] of this.sessions) {
      if (s.expiring || now - s.lastSeenMs <= s.ttlMs) continue;
      s.expiring = true;
      this.propose({ t: 'expire', sid }).catch(() => {
        // Not leader any more or shutting down: whoever leads next re-times the session.
        s.expiring = false;
      });
    }
  }
}
