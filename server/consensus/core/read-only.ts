/**
 * Read-index bookkeeping on a leader (Raft thesis §6.4): each read remembers the commit index
 * when it arrived, and may be answered once the leader has confirmed, after that moment, that a
 * quorum still follows it. Confirmation rides on heartbeats: reads are numbered in rounds, every
 * heartbeat carries the latest round, and a member's answer to a heartbeat of round r confirms
 * every read of round r or earlier (the heartbeat left after those reads were recorded). A read
 * is released once a quorum (the leader counting itself) has confirmed its round.
 */
import { committedIndex } from './quorum.ts';
import type { NodeId } from './types.ts';

export interface PendingRead {
  requestId: string;
  /** The node the answer goes to: the leader itself, or the member that forwarded the read. */
  origin: NodeId;
  /** The leader's commit index when the read arrived. */
  index: number;
  round: number;
}

export class ReadOnly {
  private round = 0;
  private readonly pending: PendingRead[] = [];
  /** The latest round each member confirmed. */
  private readonly acked = new Map<NodeId, number>();

  /** The round the next heartbeat carries. */
  get latestRound(): number {
    return this.round;
  }

  get size(): number {
    return this.pending.length;
  }

  /** Records a read in a new round; the caller broadcasts a heartbeat carrying it. */
  add(requestId: string, origin: NodeId, index: number): number {
    this.round++;
    this.pending.push({ requestId, origin, index, round: this.round });
    return this.round;
  }

  /** `from` answered a heartbeat of round `round`. */
  ack(from: NodeId, round: number): void {
    if (round > (this.acked.get(from) ?? 0)) this.acked.set(from, round);
  }

  /** Removes and returns the reads a quorum of `voters` has confirmed (`self` confirms all). */
  release(voters: readonly NodeId[], self: NodeId): PendingRead[] {
    const confirmed = committedIndex(voters, (id) => (id === self ? this.round : this.acked.get(id) ?? 0));
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.round <= confirmed) n++;
    return this.pending.splice(0, n);
  }

  /** Removes and returns every pending read (leadership is lost: none will be confirmed). */
  drain(): PendingRead[] {
    return this.pending.splice(0);
  }
}
