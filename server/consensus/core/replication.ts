/**
 * A leader's side of log replication (Raft §5.3): one Progress per member, and what to send
 * each of them, within the flow-control limits, when something changes. It decides nothing
 * about terms, roles or commitment (core.ts does); it only feeds followers and books their
 * answers.
 */
import { isLearner, members } from './config.ts';
import type { AppendRespMsg, HeartbeatRespMsg, Outgoing } from './messages.ts';
import type { RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import { hasQuorum } from './quorum.ts';
import { entryBytes } from './stable-log.ts';
import type { Membership, MemberStatus, NodeId } from './types.ts';

export interface ReplicationLimits {
  maxMsgBytes: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
}

export class Replication {
  private readonly progress = new Map<NodeId, Progress>();
  private commitToSend = false;

  constructor(
    private readonly self: NodeId,
    private readonly log: RaftLog,
    private readonly send: (m: Outgoing) => void,
    private readonly limits: ReplicationLimits,
    membership: Membership,
  ) {
    this.sync(membership);
    // The leader holds its own log: it matches through what is durable.
    const me = this.get(self)!;
    me.becomeReplicate();
    me.maybeUpdate(log.persistedIndex());
  }

  get(id: NodeId): Progress | undefined {
    return this.progress.get(id);
  }

  /** Tracks exactly the members of `membership` (and the leader itself, member or not). */
  sync(membership: Membership): void {
    const want = new Set([...members(membership), this.self]);
    for (const id of this.progress.keys()) if (!want.has(id)) this.progress.delete(id);
    for (const id of want) {
      const learner = isLearner(membership, id);
      const pr = this.progress.get(id);
      if (pr !== undefined) pr.learner = learner;
      else {
        const { maxInflightMsgs, maxInflightBytes } = this.limits;
        this.progress.set(id, new Progress(this.log.lastIndex() + 1, learner, maxInflightMsgs, maxInflightBytes));
      }
    }
  }

  /** The leader's own entries are durable through `index`. */
  selfPersisted(index: number): boolean {
    return this.get(this.self)!.maybeUpdate(index);
  }

  /**
   * Sends `to` the entries it lacks (a snapshot if they are compacted), unless its progress is
   * paused. With nothing new to send, sends an empty append (to carry the commit index) only if
   * `sendIfEmpty`. Returns true if a message went out.
   */
  sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || to === this.self || pr.isPaused()) return false;
    const prev = pr.next - 1;
    const prevTerm = this.log.term(prev);
    if (prevTerm === undefined) {
      this.sendSnapshot(to, pr);
      return true;
    }
    const last = this.log.lastIndex();
    const entries = pr.next <= last ? this.log.entries(pr.next, last + 1, this.limits.maxMsgBytes) : [];
    // Entries the stable view could not read from memory now: the member's next heartbeat
    // answer tries again (by then the view may have loaded them).
    if (entries.length === 0 && pr.next <= last) return false;
    if (entries.length === 0 && !sendIfEmpty) return false;
    const commit = this.log.committed;
    this.send({ type: 'app', to, index: prev, logTerm: prevTerm, entries, commit });
    pr.sentCommit = Math.max(pr.sentCommit, Math.min(commit, prev + entries.length));
    pr.sentAppend(prev + entries.length, entries.reduce((n, e) => n + entryBytes(e), 0));
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): void {
    const snapshot = this.log.snapshot();
    pr.becomeSnapshot(snapshot.index);
    this.send({ type: 'snap', to, snapshot });
  }

  /** Sends every member what it lacks, or at least the commit index. */
  bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.self) this.sendAppend(id);
  }

  /**
   * Notes that some member has not heard the current commit index: the next flushCommit() tells
   * it, once per ready() however many acknowledgements moved the commit index in between.
   */
  commitMoved(): void {
    this.commitToSend = true;
  }

  get hasCommitToSend(): boolean {
    return this.commitToSend;
  }

  /** Tells every member that has not heard it the commit index (with any entries it lacks). */
  flushCommit(): void {
    if (!this.commitToSend) return;
    this.commitToSend = false;
    for (const [id, pr] of this.progress) {
      if (id !== this.self && pr.sentCommit < this.log.committed) this.sendAppend(id);
    }
  }

  /** Heartbeats every member, carrying read-index round `round`. */
  bcastHeartbeat(round: number): void {
    for (const [id, pr] of this.progress) {
      if (id === this.self) continue;
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: 'heartbeat', to: id, commit, read: round });
      pr.sentCommit = Math.max(pr.sentCommit, commit);
    }
  }

  /**
   * Books an append answer. A rejection steps `next` back (by the member's hint) and probes
   * again. An acceptance moves `match` and returns true if it moved (the caller then looks for
   * a new commit index and calls `afterAck`).
   */
  onAppendResp(m: AppendRespMsg): boolean {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return false;
    pr.recentActive = true;
    if (m.reject) {
      // The member's log holds hintTerm at hintIndex: every leader entry after the last one with
      // a term at most hintTerm conflicts with it, so the next probe can skip them all.
      const probeFrom = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index : m.hintIndex;
      if (pr.maybeDecrTo(m.index, probeFrom)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return false;
    }
    const moved = pr.maybeUpdate(m.index);
    if (!moved && !(pr.match === m.index && pr.state === 'probe')) return false;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeTo(m.index);
    return moved;
  }

  /** After `from` acknowledged: send what it still lacks, as far as its window allows. */
  afterAck(from: NodeId): void {
    const pr = this.progress.get(from);
    if (pr === undefined || from === this.self) return;
    while (this.sendAppend(from, false));
    // It may have missed the commit index while its window was full.
    if (pr.sentCommit < this.log.committed) this.commitToSend = true;
  }

  /** Books a heartbeat answer: the member is alive; feed it if it lags. */
  onHeartbeatResp(m: HeartbeatRespMsg): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.match < this.log.lastIndex() || this.log.committed > pr.sentCommit) this.sendAppend(m.from);
  }

  /** The driver finished (ok) or gave up (not ok) streaming a snapshot to `to`. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the member's answer (or a heartbeat's) before probing.
    pr.probeSent = true;
  }

  /** The transport could not reach `to`: stop streaming to it optimistically. */
  reportUnreachable(to: NodeId): void {
    const pr = this.progress.get(to);
    if (pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  /** Check-quorum: did a quorum of `voters` answer since the last check? Starts a new period. */
  quorumActive(voters: readonly NodeId[]): boolean {
    const ok = hasQuorum(voters, (id) => id === this.self || this.progress.get(id)?.recentActive === true);
    for (const [id, pr] of this.progress) pr.recentActive = id === this.self;
    return ok;
  }

  /** The voter, other than the leader, whose log matches the leader's furthest (null if none). */
  mostCaughtUp(voters: readonly NodeId[]): NodeId | null {
    let best: NodeId | null = null;
    for (const id of voters) {
      if (id !== this.self && (best === null || this.match(id) > this.match(best))) best = id;
    }
    return best;
  }

  match(id: NodeId): number {
    return this.progress.get(id)?.match ?? 0;
  }

  status(): Record<NodeId, MemberStatus> {
    const out: Record<NodeId, MemberStatus> = {};
    for (const id of [...this.progress.keys()].sort()) out[id] = this.progress.get(id)!.status();
    return out;
  }
}
