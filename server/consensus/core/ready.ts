/**
 * What the core hands the driver (see core.ts's header for the whole contract), and the rule
 * that sorts outgoing messages into those that may leave at once and those that must wait for
 * the driver's write.
 */
import type { Message, MessageType } from './messages.ts';
import type { Entry, HardState, NodeId, ReadRefused, ReadState, Role, SnapshotMeta } from './types.ts';

/** Role and leader, handed out when either changes: for routing requests and for logs. */
export interface SoftState {
  role: Role;
  leader: NodeId | null;
  /** Why the role last changed, for the operator's log (see LeadershipCause). */
  cause?: LeadershipCause;
}

/**
 * Why a node's role last changed: it campaigned after an election timeout, or because a leader
 * handed over (transfer); a leader stepped down because it lost touch with a quorum
 * (check-quorum), saw a higher term, or was removed from the membership.
 */
export type LeadershipCause = 'election-timeout' | 'transfer' | 'lost-quorum' | 'higher-term' | 'removed';

/**
 * Identifies one write: once it, and every write handed out before it, is durable, the driver
 * passes this mark to `persisted()`. Then the log is durable through (index, term) as it was
 * when the Ready was made, and so is `hardState`.
 */
export interface WriteMark {
  /** Writes are numbered 1, 2, 3... in the order readies hand them out; they complete in order. */
  seq: number;
  index: number;
  term: number;
  hardState: HardState;
}

export interface Ready {
  /** Set when the role or the known leader changed. */
  softState: SoftState | null;
  // (a) To persist, in one write, in this order: snapshot, entries, hard state.
  /** Set when term, vote or commit changed. */
  hardState: HardState | null;
  /**
   * Entries to append. Storage first drops every entry it holds at or after entries[0].index
   * (a follower overwriting a conflicting suffix), then appends these.
   */
  entries: Entry[];
  /**
   * A snapshot received from the leader, to install: restore the state machine from the bytes
   * the driver received with it, save it, and drop the whole log before it. Then `entries`.
   */
  snapshot: SnapshotMeta | null;
  /** The write must be synced to disk (false when only the commit index changed). */
  mustSync: boolean;
  /** Set if this Ready has anything in (a) or (c): complete it in order, then call persisted(). */
  write: WriteMark | null;
  /** (b) Messages to send now, whatever the state of the writes. */
  messages: Message[];
  /**
   * (c) Messages to send only once `write` (and every earlier write) is durable: vote and
   * pre-vote answers (they promise a durable term and vote) and append answers (they promise
   * durable entries).
   */
  afterWrite: Message[];
  /** (d) Entries committed and durable here, to apply in order. Includes Config and Noop entries. */
  committed: Entry[];
  /** Confirmed linearizable reads: answer each once `index` is applied. */
  readStates: ReadState[];
  /** Reads that will never be confirmed: answer each with a retryable error. */
  readsRefused: ReadRefused[];
}

/**
 * Messages whose content a crash could make a lie until this node's write is durable: answers
 * (a vote, entries held), and a candidate's vote requests — a candidate that wins with others'
 * votes and crashes before its new term is on disk would come back in the old term, could win
 * the same term again, and would then write other entries under it (found by the simulator).
 */
const WAITS_FOR_WRITE: ReadonlySet<MessageType> = new Set<MessageType>(['vote', 'app-resp', 'vote-resp', 'pre-vote-resp']);

/** Collects outgoing messages until the next ready(). */
export class Outbox {
  private now: Message[] = [];
  private afterWrite: Message[] = [];

  push(m: Message): void {
    (WAITS_FOR_WRITE.has(m.type) ? this.afterWrite : this.now).push(m);
  }

  get size(): number {
    return this.now.length + this.afterWrite.length;
  }

  hasAfterWrite(): boolean {
    return this.afterWrite.length > 0;
  }

  take(): { messages: Message[]; afterWrite: Message[] } {
    const out = { messages: this.now, afterWrite: this.afterWrite };
    this.now = [];
    this.afterWrite = [];
    return out;
  }
}
