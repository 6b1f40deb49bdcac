/**
 * The Raft core: roles, elections, replication and commitment as one pure object, in the style
 * of etcd-io/raft. It never awaits, reads a clock, touches a socket or a disk, or draws a random
 * number other than from the generator it is given. Time comes in as tick(), the network as
 * step(), clients as propose() / readIndex() / transferLeadership(); everything it wants done
 * comes out of ready().
 *
 * THE CONTRACT WITH THE DRIVER
 *
 * Ownership. The core owns its in-memory state and the messages and entries it hands out (the
 * driver must not modify them). The driver owns storage: it writes what a Ready says to write,
 * keeps the StableLog view (stable-log.ts) in step with what is durable, and compacts it when it
 * takes snapshots. The core reads that view synchronously and never writes to it.
 *
 * Calls. Every method is synchronous and may be called at any time, in any order, from one
 * thread: tick(), step(), propose(), readIndex(), transferLeadership(), reportSnapshot(),
 * reportUnreachable(), status(), and ready() whenever hasReady() is true. There is no advance():
 * ready() hands its contents over as it returns them, and the core never hands the same thing
 * out twice. What the driver reports back is persisted(mark), below.
 *
 * A Ready (ready.ts) has four parts, and the driver deals with them like this:
 *  (a) `snapshot`, `entries`, `hardState`: one write, synced if `mustSync`. Writes may overlap:
 *      the driver may take the next Ready and start its write before the last one is durable,
 *      but writes must become durable in the order they were handed out (one queue, or a later
 *      batch that subsumes earlier ones).
 *  (b) `messages`: send now. A leader's appends do not wait for its own write: it counts itself
 *      toward a quorum only for entries it has been told are durable.
 *  (c) `afterWrite`: send only once `write` is durable (vote and pre-vote answers promise a
 *      durable term and vote; append answers promise durable entries; a candidate's vote
 *      requests promise its new term is durable, so it can never win that term twice).
 *  (d) `committed`: apply in order (before or after the write: they do not depend on it).
 *      Only entries both committed and durable here are handed out. `readStates` are reads
 *      to answer once the state machine has applied their index; `readsRefused` are reads to
 *      fail with a retryable error.
 * `write` is set whenever (a) or (c) is not empty (an empty write still takes its turn in the
 * queue: its messages wait for the writes before it). Once that write and every earlier one is
 * durable, the driver calls persisted(write) (each mark once, in order) and then sends (c).
 * Marks carry the log end and hard state they make durable: the leader counts itself toward
 * commit from them, a candidate counts its own vote from them (a vote for itself it could
 * forget in a crash must not elect it), and entries leave memory for the StableLog view. A
 * hard state whose term and vote did not change (mustSync false) may be written unsynced, or
 * not at all: the commit index is learned again after a restart.
 *
 * The network may lose, duplicate, delay and reorder messages; the core copes with all of it.
 * Proposals are not forwarded: a follower refuses them (Refused NOT_LEADER, naming the leader it
 * knows) and the driver routes them. Reads and transfer requests are forwarded to the leader.
 *
 * Snapshots. A leader that needs to send a member entries it has compacted emits a `snap`
 * message carrying only the snapshot's metadata; its driver streams the snapshot's bytes and
 * calls reportSnapshot(member, ok) when done or given up (once per `snap` message: until then
 * the leader sends that member nothing). The member's driver, once it holds the
 * complete bytes, steps the `snap` message into its core; if the core takes it, the next Ready's
 * `snapshot` says to install it (a). The member answers after the install is durable, and the
 * leader resumes replicating from the snapshot's index + 1.
 *
 * Restart. `new RaftCore(options, { hardState, log, applied, entries? })` rebuilds a core from
 * durable state only: the hard state, the StableLog view (whose snapshot() gives the snapshot's
 * index, term and membership), the index the state machine has applied (the snapshot's, when the
 * store is rebuilt from it), and optionally the log after the snapshot as storage loaded it. The
 * membership is the snapshot's updated by the Config entries in the log after it. Committed
 * entries after `applied` come out again in (d), to be applied again. A brand-new cluster's
 * founding members start from a view whose snapshot is {index 1, term 1, the initial membership}
 * (not index 0: a blank log matches every log at index 0, so a joiner could take the founders'
 * entries without their membership); a node joining an existing cluster starts blank ({0, 0, no
 * members}), never campaigns, and gets a snapshot, with the membership, from the leader before
 * any entry.
 *
 * Configuration changes take effect when appended (the Raft thesis's single-server changes):
 * config.ts says why, and argues their safety.
 */
import { assert } from '../../assert.ts';
import {
  ConfigHistory, applyConfChange, decodeConfChange, encodeConfChange, isMember, isVoter, type ConfChange,
} from './config.ts';
import { RaftLog } from './log.ts';
import type {
  AppendMsg, AppendRespMsg, HeartbeatMsg, Message, Outgoing, PreVoteMsg, ReadIndexRespMsg, SnapMsg, VoteMsg,
} from './messages.ts';
import { committedIndex, voteResult } from './quorum.ts';
import { Outbox, type LeadershipCause, type Ready, type SoftState, type WriteMark } from './ready.ts';
import { ReadOnly, type PendingRead } from './read-only.ts';
import { Replication } from './replication.ts';
import { intBetween } from './random.ts';
import type { StableLog } from './stable-log.ts';
import {
  EntryType, Refused, type CoreOptions, type Entry, type HardState, type Membership, type NodeId, type ReadRefused,
  type ReadState, type Role, type Status,
} from './types.ts';

/** What a core restarts from: durable state only. */
export interface CoreRestore {
  hardState: HardState;
  log: StableLog;
  /** The last index the state machine has applied (at least the snapshot's). */
  applied: number;
  /**
   * The log after the snapshot, as storage loaded it, for the configuration changes in it.
   * Optional: without it the core reads them through `log`, which must then hold them all in
   * memory (stable-log.ts lets a view answer only part of an old range).
   */
  entries?: Entry[];
}

type Resolved = Required<CoreOptions>;

const DEFAULTS = {
  preVote: true,
  checkQuorum: true,
  maxInflightMsgs: 256,
  maxInflightBytes: Infinity,
  maxMsgBytes: 1 << 20,
} as const;

type CampaignKind = 'pre-vote' | 'vote' | 'transfer';

export class RaftCore {
  readonly id: NodeId;
  private readonly opts: Resolved;
  private readonly log: RaftLog;
  private readonly config: ConfigHistory;

  private term: number;
  private vote: NodeId | null;
  private lead: NodeId | null = null;
  private role: Role = 'follower';
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedTimeout = 0;
  /** Votes received in the current (pre-)election. */
  private readonly votes = new Map<NodeId, boolean>();

  // Leader state, reset by becomeLeader().
  private replication: Replication | null = null;
  private readOnly = new ReadOnly();
  /** Reads that arrived before this leader committed an entry of its term. */
  private deferredReads: { requestId: string; origin: NodeId }[] = [];
  private transferee: NodeId | null = null;
  /** Index of this leader's no-op: entries of its term start there. */
  private termStart = 0;

  // Output, collected until the next ready().
  private readonly outbox = new Outbox();
  private readStates: ReadState[] = [];
  private readsRefused: ReadRefused[] = [];
  private prevHard: HardState;
  private prevSoft: SoftState = { role: 'follower', leader: null };
  /** Why the role last changed (reported with the soft state; never affects what Raft does). */
  private cause: LeadershipCause = 'election-timeout';
  private writeSeq = 0;
  private persistedSeq = 0;

  constructor(options: CoreOptions, restore: CoreRestore) {
    this.opts = { ...DEFAULTS, ...options };
    assert(this.opts.heartbeatTicks >= 1 && this.opts.electionTicks > this.opts.heartbeatTicks,
      'electionTicks must exceed heartbeatTicks, which must be at least 1');
    this.id = options.id;
    this.log = new RaftLog(restore.log, restore.hardState.commit, restore.applied);
    const snap = restore.log.snapshot();
    // Log matching holds only if logs that agree at an index agree on everything before it. A
    // blank log (snapshot 0@0) agrees with every log at 0, so it must carry no membership, or a
    // joiner would take a founder's log from entry 1 without the founders' membership.
    assert(snap.index > 0 || (snap.membership.voters.length === 0 && snap.membership.learners.length === 0),
      'a membership needs a snapshot at index 1 or later: bootstrap a cluster from a snapshot at 1@1');
    this.config = new ConfigHistory(snap.index, snap.membership);
    this.config.appended(restore.entries?.filter((e) => e.index > snap.index) ?? this.readLogAfter(snap.index));
    this.term = restore.hardState.term;
    this.vote = restore.hardState.vote;
    this.prevHard = { ...restore.hardState };
    this.becomeFollower(this.term, null);
  }

  /** Every entry after `index`, through the stable view (at restart, to find Config entries). */
  private readLogAfter(index: number): Entry[] {
    const out: Entry[] = [];
    const last = this.log.lastIndex();
    for (let lo = index + 1; lo <= last;) {
      const got = this.log.entries(lo, last + 1);
      assert(got.length > 0, `restart: entry ${lo} is not in the stable view's memory; pass CoreRestore.entries`);
      out.push(...got);
      lo += got.length;
    }
    return out;
  }

  // ---- Inputs -------------------------------------------------------------------------------

  /** One unit of logical time. */
  tick(): void {
    this.log.retryReads();
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedTimeout) {
      this.campaign(this.opts.preVote ? 'pre-vote' : 'vote');
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.opts.electionTicks) {
      this.electionElapsed = 0;
      if (this.opts.checkQuorum && !this.replication!.quorumActive(this.config.current().voters)) {
        this.cause = 'lost-quorum';
        this.becomeFollower(this.term, null);
        return;
      }
      // A transfer that has not happened within an election timeout is abandoned.
      this.transferee = null;
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.replication!.bcastHeartbeat(this.readOnly.latestRound);
    }
  }

  /** Starts an election now (pre-vote first, if enabled), as an election timeout would. */
  campaign(kind: CampaignKind = this.opts.preVote ? 'pre-vote' : 'vote'): void {
    if (this.role === 'leader' || !this.promotable()) return;
    // A pre-candidate that won goes on to 'vote' with the cause it started with.
    if (kind !== 'vote' || this.role !== 'pre-candidate') this.cause = kind === 'transfer' ? 'transfer' : 'election-timeout';
    if (kind === 'pre-vote') this.becomePreCandidate();
    else this.becomeCandidate();
    // A candidate's own vote counts once it is durable (persisted()); a pre-vote promises nothing.
    if (kind === 'pre-vote') this.votes.set(this.id, true);
    const term = kind === 'pre-vote' ? this.term + 1 : this.term;
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.config.current().voters) {
      if (to === this.id) continue;
      if (kind === 'pre-vote') this.send({ type: 'pre-vote', to, term, lastIndex, lastTerm });
      else this.send({ type: 'vote', to, lastIndex, lastTerm, transfer: kind === 'transfer' });
    }
    this.tallyVotes();
  }

  /** A message from another member. */
  step(m: Message): void {
    assert(m.to === this.id, `message for ${m.to} stepped into ${this.id}`);
    if (m.term > this.term) {
      if (!this.acceptHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.answerStaleTerm(m);
      return;
    }
    switch (m.type) {
      case 'vote':
      case 'pre-vote':
        this.answerVote(m);
        return;
      case 'read-index':
        if (this.role === 'leader') this.handleReadRequest(m.requestId, m.from);
        else this.send({ type: 'read-index-resp', to: m.from, requestId: m.requestId, index: 0, reject: true });
        return;
      case 'read-index-resp':
        this.handleReadIndexResp(m);
        return;
    }
    if (this.role === 'leader') this.stepLeader(m);
    else this.stepNotLeader(m);
  }

  /**
   * A message from a higher term. Returns false if it is to be ignored. A (pre-)vote request is
   * ignored while this node heard from a leader within an election timeout (leader stickiness,
   * with check-quorum: a leader that still has a quorum is not deposed by a node that merely
   * lost touch), unless a transfer asked for it. Pre-votes, and pre-vote grants (which carry the
   * term asked about), do not change the term. Anything else makes this node a follower of the
   * new term, and of the sender if it is a leader.
   */
  private acceptHigherTerm(m: Message): boolean {
    if (m.type === 'vote' || m.type === 'pre-vote') {
      const inLease = this.opts.checkQuorum && this.lead !== null && this.electionElapsed < this.opts.electionTicks;
      if (inLease && !(m.type === 'vote' && m.transfer)) return false;
    }
    if (m.type === 'pre-vote' || (m.type === 'pre-vote-resp' && !m.reject)) return true;
    const fromLeader = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap';
    // A leader handing over steps down when its successor's vote request arrives.
    this.cause = this.role === 'leader' && this.transferee !== null ? 'transfer' : 'higher-term';
    this.becomeFollower(m.term, fromLeader ? m.from : null);
    return true;
  }

  /**
   * A message from a lower term. Most are dropped. A stale leader's appends and heartbeats are
   * answered (with check-quorum or pre-vote a node can have moved to a higher term without an
   * election the old leader would hear of: the answer's term makes it step down). A pre-vote is
   * rejected, so the pre-candidate learns the term; a read-index request is refused.
   */
  private answerStaleTerm(m: Message): void {
    if ((this.opts.checkQuorum || this.opts.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
      this.send({ type: 'app-resp', to: m.from, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
    } else if (m.type === 'pre-vote') {
      this.send({ type: 'pre-vote-resp', to: m.from, reject: true });
    } else if (m.type === 'read-index') {
      this.send({ type: 'read-index-resp', to: m.from, requestId: m.requestId, index: 0, reject: true });
    }
  }

  /**
   * Raft §5.2, §5.4.1: grant a vote to at most one candidate per term, and only to one whose log
   * is at least as up to date. A pre-vote is granted on the same log condition if the term asked
   * about is above ours, whoever we voted for.
   */
  private answerVote(m: VoteMsg | PreVoteMsg): void {
    const pre = m.type === 'pre-vote';
    const canVote = this.vote === m.from || (this.vote === null && this.lead === null) || (pre && m.term > this.term);
    const type = pre ? 'pre-vote-resp' : 'vote-resp';
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      this.send({ type, to: m.from, term: m.term, reject: false });
      if (!pre) {
        this.vote = m.from;
        this.electionElapsed = 0;
      }
    } else {
      this.send({ type, to: m.from, reject: true });
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'app-resp':
        this.handleAppendResp(m);
        return;
      case 'heartbeat-resp':
        this.replication!.onHeartbeatResp(m);
        if (m.read > 0) {
          this.readOnly.ack(m.from, m.read);
          this.releaseReads();
        }
        return;
      case 'transfer-leader':
        if (isVoter(this.config.current(), m.target)) this.startTransfer(m.target);
        return;
      default:
        // Another leader in this term cannot exist; a stale vote answer or timeout-now is moot.
        return;
    }
  }

  private handleAppendResp(m: AppendRespMsg): void {
    const repl = this.replication!;
    if (!repl.onAppendResp(m)) {
      if (!m.reject) repl.afterAck(m.from);
      return;
    }
    this.maybeCommit();
    if (this.role !== 'leader') return;
    repl.afterAck(m.from);
    if (m.from === this.transferee && repl.match(m.from) === this.log.lastIndex()) {
      this.send({ type: 'timeout-now', to: m.from });
    }
  }

  private stepNotLeader(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
        // A leader of our term exists: a (pre-)candidate of this term lost.
        if (this.role !== 'follower') this.becomeFollower(this.term, m.from);
        this.electionElapsed = 0;
        this.lead = m.from;
        if (m.type === 'app') this.handleAppend(m);
        else if (m.type === 'heartbeat') this.handleHeartbeat(m);
        else this.handleSnapshot(m);
        return;
      case 'vote-resp':
        if (this.role === 'candidate') this.recordVote(m.from, !m.reject);
        return;
      case 'pre-vote-resp':
        if (this.role === 'pre-candidate') this.recordVote(m.from, !m.reject);
        return;
      case 'timeout-now':
        // The leader hands over: campaign at once, past pre-vote and the others' stickiness.
        this.campaign('transfer');
        return;
      case 'transfer-leader':
        if (this.lead !== null) this.send({ type: 'transfer-leader', to: this.lead, target: m.target });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: AppendMsg): void {
    if (m.index < this.log.committed) {
      // Everything up to our commit index matches the leader's log already.
      this.send({ type: 'app-resp', to: m.from, index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const res = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (res !== null) {
      if (res.appendedFrom !== null) {
        this.config.truncatedFrom(res.appendedFrom);
        this.config.appended(m.entries.slice(res.appendedFrom - m.index - 1));
      }
      this.send({ type: 'app-resp', to: m.from, index: res.lastNew, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    // Hint: the last entry (at or below m.index) whose term is at most the leader's term there;
    // everything after it in our log conflicts with the leader's.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({ type: 'app-resp', to: m.from, index: m.index, reject: true, hintIndex: hint.index, hintTerm: hint.term });
  }

  private handleHeartbeat(m: HeartbeatMsg): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeat-resp', to: m.from, read: m.read });
  }

  /**
   * The driver received a snapshot's bytes from the leader. Take it unless the log already holds
   * what it covers: committed (nothing to do) or matching (commit up to it, keep the log).
   */
  private handleSnapshot(m: SnapMsg): void {
    const s = m.snapshot;
    if (s.index > this.log.committed) {
      if (this.log.matchTerm(s.index, s.term)) {
        this.log.commitTo(s.index);
      } else {
        this.log.restore(s);
        this.config.reset(s.index, s.membership);
      }
    }
    this.send({ type: 'app-resp', to: m.from, index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0 });
  }

  /**
   * The driver streamed (ok) or gave up streaming (not ok) the snapshot this leader sent `to`.
   * Required once for every `snap` message the core emits: until then the leader sends that
   * member nothing.
   */
  reportSnapshot(to: NodeId, ok: boolean): void {
    this.replication?.reportSnapshot(to, ok);
  }

  /** The transport could not deliver to `to`: stop pipelining appends to it. */
  reportUnreachable(to: NodeId): void {
    this.replication?.reportUnreachable(to);
  }

  // ---- Proposals ------------------------------------------------------------------------------

  /**
   * Appends an entry to the leader's log and returns where it went. It is committed once a
   * quorum holds it, or replaced (a later leader put another entry at that index): the driver
   * matches outcomes by (index, term). Throws Refused (types.ts) when it cannot be taken.
   */
  propose(type: EntryType, data: Uint8Array): { index: number; term: number } {
    if (this.role !== 'leader') {
      throw new Refused('NOT_LEADER', this.lead === null ? 'no leader is known' : `${this.lead} is the leader`, this.lead);
    }
    if (this.transferee !== null) {
      throw new Refused('TRANSFER_IN_PROGRESS', `leadership is being transferred to ${this.transferee}`, this.id);
    }
    if (type === EntryType.Config) this.checkConfChange(data);
    const index = this.log.lastIndex() + 1;
    this.appendEntries([{ index, term: this.term, type, data }]);
    this.replication!.bcastAppend();
    return { index, term: this.term };
  }

  /** propose() for a configuration change. */
  proposeConfChange(change: ConfChange): { index: number; term: number } {
    return this.propose(EntryType.Config, encodeConfChange(change));
  }

  private checkConfChange(data: Uint8Array): void {
    let change: ConfChange;
    try {
      change = decodeConfChange(data);
    } catch (err) {
      throw new Refused('INVALID_CONFIG_CHANGE', (err as Error).message, this.id);
    }
    if (this.config.lastIndex() > this.log.committed) {
      throw new Refused('CONFIG_CHANGE_PENDING', `the change at ${this.config.lastIndex()} is not committed yet`, this.id);
    }
    if (this.log.committed < this.termStart) {
      throw new Refused('CONFIG_CHANGE_PENDING', 'the leader has not committed an entry of its term yet', this.id);
    }
    const next = applyConfChange(this.config.current(), change);
    if (typeof next === 'string') throw new Refused('INVALID_CONFIG_CHANGE', next, this.id);
  }

  /** Appends to the leader's log; Config entries take effect at once. */
  private appendEntries(entries: Entry[]): void {
    this.log.append(entries);
    if (entries.some((e) => e.type === EntryType.Config)) {
      this.config.appended(entries);
      this.replication!.sync(this.config.current());
      if (this.transferee !== null && !isVoter(this.config.current(), this.transferee)) this.transferee = null;
    }
  }

  /**
   * Raft §5.3, §5.4.2: the highest index a quorum of voters holds becomes committed, but only if
   * it is of this leader's term (earlier entries commit with it, never by counting replicas).
   */
  private maybeCommit(): boolean {
    const repl = this.replication!;
    const index = committedIndex(this.config.current().voters, (id) => repl.match(id));
    if (index <= this.log.committed || this.log.term(index) !== this.term) return false;
    this.log.commitTo(index);
    repl.commitMoved();
    this.onCommitted();
    return true;
  }

  private onCommitted(): void {
    if (this.deferredReads.length > 0 && this.committedInTerm()) {
      const reads = this.deferredReads;
      this.deferredReads = [];
      for (const r of reads) this.handleReadRequest(r.requestId, r.origin);
    }
    // A leader that removed itself leads until the removal commits, then tells the others the
    // commit index and steps down; it is no voter, so it never campaigns again. So that the
    // cluster need not wait an election timeout for a new leader, it also tells the voter
    // furthest along to campaign at once (a transfer, as the Raft thesis suggests in §4.2.2).
    if (!isMember(this.config.current(), this.id) && this.log.committed >= this.config.lastIndex()) {
      const repl = this.replication!;
      repl.bcastAppend();
      const heir = repl.mostCaughtUp(this.config.current().voters);
      if (heir !== null && repl.match(heir) === this.log.lastIndex()) this.send({ type: 'timeout-now', to: heir });
      this.cause = 'removed';
      this.becomeFollower(this.term, null);
    }
  }

  /**
   * This leader's no-op is committed. (Not "the committed entry's term is ours": a bootstrap
   * snapshot may carry the term a first leader is elected in.)
   */
  private committedInTerm(): boolean {
    return this.log.committed >= this.termStart;
  }

  // ---- Reads ----------------------------------------------------------------------------------

  /**
   * Asks for a linearizable read (Raft thesis §6.4, read-index). On the leader: once it has
   * confirmed its leadership with a heartbeat round, a ReadState gives the commit index as of
   * now. On a follower: forwarded to the leader, whose answer comes back as a ReadState. Throws
   * Refused NO_LEADER if no leader is known. `requestId` must be unique among this node's reads.
   */
  readIndex(requestId: string): void {
    if (this.role === 'leader') this.handleReadRequest(requestId, this.id);
    else if (this.lead !== null) this.send({ type: 'read-index', to: this.lead, requestId });
    else throw new Refused('NO_LEADER', 'no leader is known to confirm a read', null);
  }

  /**
   * A leader only knows the commit index is current once it has committed an entry of its own
   * term (a new leader's commit index may lag its predecessor's): reads wait until then.
   */
  private handleReadRequest(requestId: string, origin: NodeId): void {
    if (!this.committedInTerm()) {
      this.deferredReads.push({ requestId, origin });
      return;
    }
    this.readOnly.add(requestId, origin, this.log.committed);
    this.replication!.bcastHeartbeat(this.readOnly.latestRound);
    this.releaseReads();
  }

  private releaseReads(): void {
    for (const r of this.readOnly.release(this.config.current().voters, this.id)) this.answerRead(r, true);
  }

  private answerRead(r: Pick<PendingRead, 'requestId' | 'origin' | 'index'>, ok: boolean): void {
    if (r.origin === this.id) {
      if (ok) this.readStates.push({ requestId: r.requestId, index: r.index });
      else this.readsRefused.push({ requestId: r.requestId, reason: 'leadership-lost' });
    } else {
      this.send({ type: 'read-index-resp', to: r.origin, requestId: r.requestId, index: ok ? r.index : 0, reject: !ok });
    }
  }

  private handleReadIndexResp(m: ReadIndexRespMsg): void {
    if (m.reject) this.readsRefused.push({ requestId: m.requestId, reason: 'not-leader' });
    else this.readStates.push({ requestId: m.requestId, index: m.index });
  }

  // ---- Leadership transfer ----------------------------------------------------------------

  /**
   * Hands leadership to voter `target`: the leader stops taking proposals, brings the target's
   * log up to date, then tells it to campaign at once. Abandoned after an election timeout. On a
   * follower, the request goes to the leader. Throws Refused (NOT_A_VOTER, NO_LEADER).
   */
  transferLeadership(target: NodeId): void {
    if (!isVoter(this.config.current(), target)) {
      throw new Refused('NOT_A_VOTER', `${target} is not a voter`, this.lead);
    }
    if (this.role === 'leader') this.startTransfer(target);
    else if (this.lead !== null) this.send({ type: 'transfer-leader', to: this.lead, target });
    else throw new Refused('NO_LEADER', 'no leader is known to transfer leadership', null);
  }

  private startTransfer(target: NodeId): void {
    if (target === this.id || target === this.transferee) return;
    this.transferee = target;
    // The transfer must happen within an election timeout from now.
    this.electionElapsed = 0;
    const repl = this.replication!;
    if (repl.match(target) === this.log.lastIndex()) this.send({ type: 'timeout-now', to: target });
    else repl.sendAppend(target);
  }

  // ---- Roles ----------------------------------------------------------------------------------

  /**
   * May campaign: a voter in its log's latest configuration, or in the one its commit index
   * says is committed, and not in the middle of installing a snapshot. The second case is a node
   * whose removal is not committed yet: it may hold the only copies of that removal (a leader
   * that removed itself and then lost leadership), and the remaining voters may need it to lead
   * once more to commit it (they cannot elect one of their own, whose logs are shorter). It then
   * counts votes by its latest configuration, as every node does.
   */
  private promotable(): boolean {
    const voter = isVoter(this.config.current(), this.id) || isVoter(this.config.at(this.log.committed), this.id);
    return voter && this.log.unstable.snapshot === null;
  }

  private becomeFollower(term: number, lead: NodeId | null): void {
    if (this.role === 'leader') this.leaveLeadership();
    if (term !== this.term) {
      assert(term > this.term, `term ${term} after ${this.term}`);
      this.term = term;
      this.vote = null;
    }
    this.role = 'follower';
    this.lead = lead;
    this.resetTimers();
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not campaign');
    this.role = 'pre-candidate';
    this.lead = null;
    this.resetTimers();
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not campaign');
    this.role = 'candidate';
    this.term++;
    this.vote = this.id;
    this.lead = null;
    this.resetTimers();
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', `${this.role} cannot become leader`);
    this.role = 'leader';
    this.lead = this.id;
    this.resetTimers();
    this.replication = new Replication(this.id, this.log, (m) => this.send(m), this.opts, this.config.current());
    this.readOnly = new ReadOnly();
    this.deferredReads = [];
    this.transferee = null;
    // Raft §5.4.2, §8: a no-op of the new term lets earlier entries commit, and tells the leader
    // the commit index is current (read-index waits for it).
    this.termStart = this.log.lastIndex() + 1;
    this.appendEntries([{ index: this.termStart, term: this.term, type: EntryType.Noop, data: new Uint8Array(0) }]);
    this.replication.bcastAppend();
  }

  /** Pending reads will never be confirmed now: refuse them. */
  private leaveLeadership(): void {
    for (const r of [...this.readOnly.drain(), ...this.deferredReads.map((d) => ({ ...d, index: 0 }))]) {
      this.answerRead(r, false);
    }
    this.deferredReads = [];
    this.readOnly = new ReadOnly();
    this.replication = null;
    this.transferee = null;
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedTimeout = intBetween(this.opts.random, this.opts.electionTicks, 2 * this.opts.electionTicks);
    this.votes.clear();
  }

  private recordVote(from: NodeId, granted: boolean): void {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    this.tallyVotes();
  }

  private tallyVotes(): void {
    const result = voteResult(this.config.current().voters, this.votes);
    if (result === 'won') {
      if (this.role === 'pre-candidate') this.campaign('vote');
      else this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term, null);
    }
  }

  // ---- Output -------------------------------------------------------------------------------

  private send(m: Outgoing & { term?: number }): void {
    assert(m.to !== this.id, `${this.id} sending ${m.type} to itself`);
    this.outbox.push({ ...m, from: this.id, term: m.term ?? this.term } as Message);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  hasReady(): boolean {
    const hs = this.hardState();
    const p = this.prevHard;
    return this.prevSoft.role !== this.role || this.prevSoft.leader !== this.lead ||
      hs.term !== p.term || hs.vote !== p.vote || hs.commit !== p.commit ||
      this.log.unstable.hasPending() || this.outbox.size > 0 || this.log.hasNextCommitted() ||
      this.replication?.hasCommitToSend === true ||
      this.readStates.length > 0 || this.readsRefused.length > 0;
  }

  /** Everything there is to do now; see the header for what the driver does with it. */
  ready(): Ready {
    this.replication?.flushCommit();
    const hs = this.hardState();
    const p = this.prevHard;
    const hardChanged = hs.term !== p.term || hs.vote !== p.vote || hs.commit !== p.commit;
    const mustSyncHard = hs.term !== p.term || hs.vote !== p.vote;
    const softChanged = this.prevSoft.role !== this.role || this.prevSoft.leader !== this.lead;
    let write: WriteMark | null = null;
    let persist: { snapshot: Ready['snapshot']; entries: Entry[] } = { snapshot: null, entries: [] };
    if (hardChanged || this.log.unstable.hasPending() || this.outbox.hasAfterWrite()) {
      const seq = ++this.writeSeq;
      persist = this.log.unstable.handOut(seq);
      write = { seq, index: this.log.lastIndex(), term: this.log.lastTerm(), hardState: hs };
    }
    const { messages, afterWrite } = this.outbox.take();
    const rd: Ready = {
      softState: softChanged ? { role: this.role, leader: this.lead, cause: this.cause } : null,
      hardState: hardChanged ? hs : null,
      entries: persist.entries,
      snapshot: persist.snapshot,
      mustSync: mustSyncHard || persist.entries.length > 0 || persist.snapshot !== null,
      write,
      messages,
      afterWrite,
      committed: this.log.nextCommitted(),
      readStates: this.readStates,
      readsRefused: this.readsRefused,
    };
    this.readStates = [];
    this.readsRefused = [];
    this.prevHard = hs;
    this.prevSoft = { role: this.role, leader: this.lead };
    return rd;
  }

  /**
   * The write `mark` (from a Ready) is durable, and so is every write before it. Marks must
   * come in the order the readies handed them out, each once.
   */
  persisted(mark: WriteMark): void {
    assert(mark.seq === this.persistedSeq + 1, `write ${mark.seq} reported durable after ${this.persistedSeq}`);
    this.persistedSeq = mark.seq;
    this.log.persisted(mark.seq, mark.index, mark.term);
    const hs = mark.hardState;
    if (this.role === 'candidate' && hs.term === this.term && hs.vote === this.id) this.recordVote(this.id, true);
    if (this.role === 'leader' && this.replication!.selfPersisted(this.log.persistedIndex())) this.maybeCommit();
  }

  // ---- Introspection --------------------------------------------------------------------------

  get currentRole(): Role {
    return this.role;
  }

  get currentTerm(): number {
    return this.term;
  }

  get leader(): NodeId | null {
    return this.lead;
  }

  /** The term of log entry `index`, or undefined if it is compacted or beyond the log's end. */
  logTerm(index: number): number | undefined {
    return this.log.term(index);
  }

  /** The log's first index: one past the latest snapshot, a leader's not yet installed included. */
  firstIndex(): number {
    return this.log.firstIndex();
  }

  /** The membership in effect once entry `index` is in the log (for a snapshot taken there). */
  membershipAt(index: number): Membership {
    return this.config.at(index);
  }

  status(): Status {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      persisted: this.log.persistedIndex(),
      membership: this.config.current(),
      transferee: this.transferee,
      progress: this.replication?.status() ?? null,
    };
  }
}
