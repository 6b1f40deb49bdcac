/**
 * The messages Raft cores exchange. Plain, serializable objects (the transport encodes them
 * with msgpack): no classes, no Maps, no undefined fields. Every message names its sender,
 * its recipient and the sender's current term; the receiver's reaction to a term other than
 * its own is the same for all of them (core.ts, `step`).
 *
 * Indexes name log positions; `(index, term)` pairs identify an entry (Raft's log matching
 * property: two logs holding an entry with the same index and term agree up to it).
 */
import type { Entry, NodeId, SnapshotMeta } from './types.ts';

interface Envelope {
  from: NodeId;
  to: NodeId;
  term: number;
}

/**
 * Leader → member: entries to append after (index, logTerm), which the receiver must already
 * hold, and the leader's commit index. With no entries it probes for a match or carries a new
 * commit index.
 */
export interface AppendMsg extends Envelope {
  type: 'app';
  /** Index of the entry just before `entries`. */
  index: number;
  /** Term of the entry at `index`. */
  logTerm: number;
  entries: Entry[];
  commit: number;
}

/**
 * Member → leader, once what it acknowledges is durable: either its log now matches the
 * leader's through `index` (reject false), or it holds no entry (index, logTerm) of the append it
 * answers (reject true, `index` is that append's `index`). A rejection carries a hint for the
 * leader's next try: `hintIndex` is the last index not above `index` whose term is at most the
 * append's logTerm, `hintTerm` its term, so the leader skips a whole conflicting term per round
 * trip instead of one entry.
 */
export interface AppendRespMsg extends Envelope {
  type: 'app-resp';
  index: number;
  reject: boolean;
  hintIndex: number;
  hintTerm: number;
}

/**
 * Candidate → voters: vote for me in `term`; my log ends at (lastIndex, lastTerm). `transfer`
 * marks an election the old leader asked for (MsgTimeoutNow), which voters must not ignore
 * for having heard from that leader recently.
 */
export interface VoteMsg extends Envelope {
  type: 'vote';
  lastIndex: number;
  lastTerm: number;
  transfer: boolean;
}

/**
 * Pre-candidate → voters: would you vote for me in `term` (one above my current term, which I
 * have not raised)? Receivers answer without changing their own term or vote.
 */
export interface PreVoteMsg extends Envelope {
  type: 'pre-vote';
  lastIndex: number;
  lastTerm: number;
}

/** Voter → candidate, once its vote (and term) is durable: granted or not. */
export interface VoteRespMsg extends Envelope {
  type: 'vote-resp';
  reject: boolean;
}

/**
 * Voter → pre-candidate: would grant or not. A grant carries the term asked about (one above the
 * pre-candidate's); a rejection carries the voter's own term.
 */
export interface PreVoteRespMsg extends Envelope {
  type: 'pre-vote-resp';
  reject: boolean;
}

/**
 * Leader → member, every heartbeat period and for each read-index round: I am still leader.
 * `commit` is the leader's commit index capped at what the member is known to hold. `read` is
 * the leader's latest read-index round (0 if none yet), echoed in the response.
 */
export interface HeartbeatMsg extends Envelope {
  type: 'heartbeat';
  commit: number;
  read: number;
}

/** Member → leader: heard you; `read` echoes the heartbeat's round. Sent at once. */
export interface HeartbeatRespMsg extends Envelope {
  type: 'heartbeat-resp';
  read: number;
}

/**
 * Leader → member that needs entries the leader compacted: install the snapshot described.
 * The core sends only the metadata: the leader's driver streams the snapshot's bytes, and the
 * member's driver steps this message into its core once they have all arrived and checked out.
 */
export interface SnapMsg extends Envelope {
  type: 'snap';
  snapshot: SnapshotMeta;
}

/** Leader → transfer target, whose log is up to date: campaign now, skipping pre-vote. */
export interface TimeoutNowMsg extends Envelope {
  type: 'timeout-now';
}

/** Member → leader: hand leadership to `target`. Sent by a member asked to do a transfer. */
export interface TransferLeaderMsg extends Envelope {
  type: 'transfer-leader';
  target: NodeId;
}

/** Member → leader: confirm leadership and tell me your commit index, for read `requestId`. */
export interface ReadIndexMsg extends Envelope {
  type: 'read-index';
  requestId: string;
}

/**
 * Leader → member: read `requestId` may be served once `index` is applied; or, with reject,
 * the receiver was not (or stopped being) leader and the read will not be answered.
 */
export interface ReadIndexRespMsg extends Envelope {
  type: 'read-index-resp';
  requestId: string;
  index: number;
  reject: boolean;
}

export type Message =
  | AppendMsg
  | AppendRespMsg
  | VoteMsg
  | PreVoteMsg
  | VoteRespMsg
  | PreVoteRespMsg
  | HeartbeatMsg
  | HeartbeatRespMsg
  | SnapMsg
  | TimeoutNowMsg
  | TransferLeaderMsg
  | ReadIndexMsg
  | ReadIndexRespMsg;

export type MessageType = Message['type'];

/** A message as the core builds it, before it stamps `from` and `term` on it. */
export type Outgoing = WithoutStamp<Message>;
type WithoutStamp<M> = M extends Message ? Omit<M, 'from' | 'term'> : never;
