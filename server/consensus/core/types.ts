/**
 * The vocabulary of the Raft core: node ids, roles, memberships, snapshot metadata, the
 * options it is built with, its status, and the typed refusals it answers a caller with.
 * Entries and the hard state are the storage contract's (storage/log-types.ts), re-exported.
 */
import type { Random } from './random.ts';

export { EntryType, type Entry, type HardState } from '../../storage/log-types.ts';

/** A member's id, as the cluster configuration names it. */
export type NodeId = string;

/**
 * follower: follows a leader (or waits for one). pre-candidate: asking, without raising its
 * term, whether it could win an election (§9.6 of the Raft thesis: pre-vote). candidate: raised
 * its term and asks for votes. leader: replicates its log.
 */
export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/**
 * Who is in the cluster. Voters elect leaders and make up quorums; learners only receive the
 * log. A node is in at most one of the two lists; both are kept sorted.
 */
export interface Membership {
  voters: NodeId[];
  learners: NodeId[];
  /**
   * Where peers reach each member (ws://host:port), when known: the founders' from their
   * --peers, a joiner's from the change that added it. Carried in snapshots and Config entries,
   * so a node restarted on its data directory needs no --peers. The core never reads it.
   */
  urls?: Record<NodeId, string>;
}

/** What a snapshot covers: the log up to and including (index, term), and the membership then. */
export interface SnapshotMeta {
  index: number;
  term: number;
  membership: Membership;
}

/** A linearizable read the core confirmed: answer it once the state machine applied `index`. */
export interface ReadState {
  requestId: string;
  index: number;
}

/**
 * A read the core could not confirm and will never answer: the leader it was waiting on lost
 * its leadership (`leadership-lost`), or the node it was forwarded to was not the leader
 * (`not-leader`). The driver answers it with a retryable error.
 */
export interface ReadRefused {
  requestId: string;
  reason: 'leadership-lost' | 'not-leader';
}

/**
 * Why the core refused a call, for the driver to turn into a client error.
 * - NOT_LEADER: only the leader takes proposals (`leader` names the one this node knows, if any).
 * - NO_LEADER: a read-index or transfer needs a leader and this node knows none.
 * - TRANSFER_IN_PROGRESS: the leader is handing over leadership and takes no proposals.
 * - CONFIG_CHANGE_PENDING: a configuration change is not committed yet (one at a time), or the
 *   leader has not yet committed an entry of its own term (see config.ts for why both).
 * - INVALID_CONFIG_CHANGE: the change does not apply to the current membership.
 * - NOT_A_VOTER: leadership can only go to a voter.
 */
export type RefusalCode =
  | 'NOT_LEADER'
  | 'NO_LEADER'
  | 'TRANSFER_IN_PROGRESS'
  | 'CONFIG_CHANGE_PENDING'
  | 'INVALID_CONFIG_CHANGE'
  | 'NOT_A_VOTER';

export class Refused extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
    /** The leader this node knows of, when there is one: where to send the request instead. */
    readonly leader: NodeId | null = null,
  ) {
    super(message);
    this.name = 'Refused';
  }
}

/** How a core is built. Ticks are the driver's unit of time; the core never reads a clock. */
export interface CoreOptions {
  id: NodeId;
  /**
   * Ticks without hearing from a leader before a follower campaigns (the actual timeout is drawn
   * from [electionTicks, 2 × electionTicks) each time); also a leader's check-quorum period and
   * the time a leadership transfer may take. Must be greater than heartbeatTicks.
   */
  electionTicks: number;
  /** Ticks between a leader's heartbeats. */
  heartbeatTicks: number;
  /** Seeded randomness, for election timeouts only (random.ts). */
  random: Random;
  /** Ask whether an election could be won before raising the term (default true). */
  preVote?: boolean;
  /**
   * A leader steps down if it has not heard from a quorum within an election timeout, and
   * followers that heard from a leader within one ignore (pre-)vote requests (default true).
   */
  checkQuorum?: boolean;
  /** Append messages in flight to one follower at most (default 256). */
  maxInflightMsgs?: number;
  /** Bytes of entry data in flight to one follower at most (default unbounded). */
  maxInflightBytes?: number;
  /** Bytes of entry data per append message at most; one entry is always sent (default 1 MiB). */
  maxMsgBytes?: number;
}

/** Where the leader stands with one member (progress.ts explains the states). */
export interface MemberStatus {
  match: number;
  next: number;
  state: 'probe' | 'replicate' | 'snapshot';
  learner: boolean;
  /** Heard from within the current check-quorum period. */
  recentActive: boolean;
}

/** A snapshot of the core's state, for `coord status` and for tests. */
export interface Status {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId | null;
  leader: NodeId | null;
  commit: number;
  /** The last entry handed out to apply (or installed by a snapshot). */
  applied: number;
  lastIndex: number;
  /** The last index known durable on this node. */
  persisted: number;
  membership: Membership;
  /** The member leadership is being handed to, on a leader during a transfer. */
  transferee: NodeId | null;
  /** Per member, on a leader only. */
  progress: Record<NodeId, MemberStatus> | null;
}
