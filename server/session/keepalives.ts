/**
 * Keepalives from clients connected to a node that does not lead: client traffic on any node
 * keeps a session alive, but only the leader's tracker decides expiry. So a follower collects
 * the ids of the sessions it heard from and sends them to the leader in one batch per flush
 * (the node flushes every tick), where they count as traffic (tracker.touch). A batch lost on
 * the way costs nothing but a tick's worth of liveness: the next one carries the ids again if
 * the clients are still talking, and a session's TTL spans many ticks.
 */
export class KeepaliveBatcher {
  private pending = new Set<string>();

  /** A client of session `sid` was heard from on this node. */
  heard(sid: string): void {
    this.pending.add(sid);
  }

  get size(): number {
    return this.pending.size;
  }

  /** The ids heard from since the last batch, and a new batch begins. */
  take(): string[] {
    if (this.pending.size === 0) return [];
    const ids = [...this.pending];
    this.pending = new Set();
    return ids;
  }

  clear(): void {
    this.pending.clear();
  }
}
