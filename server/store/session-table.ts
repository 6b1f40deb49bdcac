/**
 * The sessions as replicated state: who exists, their TTL and secret, the ephemeral files each
 * owns, and the results of their recent writes (for exactly-once retries). Liveness (when a
 * session was last heard from) is not here: it is the leader's business (server/session/).
 */

import type { WriteOutcome } from './commands.ts';

export interface SessionState {
  readonly id: string;
  readonly secret: string;
  readonly ttlMs: number;
  /** Paths of the live files this session owns. */
  readonly ephemerals: Set<string>;
  /** Results of writes by seq, oldest first; forgotten below `floor`. */
  readonly results: Map<number, WriteOutcome>;
  /** Writes with a seq below this were answered and forgotten: a retry of one is refused. */
  floor: number;
  /** The access-control user that opened it (access.ts), if any: only it (or root) may resume it. */
  readonly user?: string;
}

export class SessionTable {
  private readonly sessions = new Map<string, SessionState>();

  get size(): number {
    return this.sessions.size;
  }

  get(sid: string): SessionState | undefined {
    return this.sessions.get(sid);
  }

  ids(): IterableIterator<string> {
    return this.sessions.keys();
  }

  all(): IterableIterator<SessionState> {
    return this.sessions.values();
  }

  open(id: string, secret: string, ttlMs: number, user?: string): SessionState {
    const s: SessionState = {
      id, secret, ttlMs, ephemerals: new Set(), results: new Map(), floor: 0, ...(user !== undefined ? { user } : {}),
    };
    this.sessions.set(id, s);
    return s;
  }

  remove(sid: string): void {
    this.sessions.delete(sid);
  }

  /** Remembers a write's result and forgets what the client said it no longer needs. */
  remember(s: SessionState, seq: number, seqFloor: number | undefined, result: WriteOutcome, max: number): void {
    if (seqFloor !== undefined && seqFloor > s.floor) {
      s.floor = seqFloor;
      for (const k of s.results.keys()) if (k < seqFloor) s.results.delete(k);
    }
    s.results.set(seq, result);
    while (s.results.size > max) {
      const oldest = s.results.keys().next().value as number;
      s.results.delete(oldest);
      s.floor = Math.max(s.floor, oldest + 1);
    }
  }
}
