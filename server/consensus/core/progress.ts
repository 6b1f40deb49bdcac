/**
 * What a leader knows of one member's log, and how it feeds it (Raft §5.3, with etcd-io/raft's
 * flow control):
 *
 * - `match`: the member's log agrees with the leader's through this index (it said so, after
 *   making it durable). `next`: the next index to send.
 * - probe: the leader does not know where the logs agree. It sends one append at a time and
 *   waits for the answer (or a heartbeat answer) before the next, stepping `next` back on each
 *   rejection, a whole term at a time thanks to the member's hint.
 * - replicate: the logs agree through `match`; the leader streams appends optimistically,
 *   moving `next` past what it sent, up to a window of messages in flight (inflights.ts).
 * - snapshot: the member needs entries the leader compacted; a snapshot is on its way and
 *   nothing else is sent until the driver reports how it went or the member answers.
 */
import { assert } from '../../assert.ts';
import { Inflights } from './inflights.ts';
import type { MemberStatus } from './types.ts';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In snapshot state: the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Heard from since the leader's last check-quorum. */
  recentActive = false;
  /** In probe state: an append went out and its answer has not come back. */
  probeSent = false;
  /** The highest commit index sent to this member that its log could apply. */
  sentCommit = 0;
  readonly inflights: Inflights;

  constructor(next: number, public learner: boolean, maxInflightMsgs: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  becomeProbe(): void {
    // After a snapshot, the member holds (at least) the snapshot: resume right after it.
    this.next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.reset('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset('replicate');
  }

  becomeSnapshot(index: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = index;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  /** True while the leader should send this member no more entries. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe': return this.probeSent;
      case 'replicate': return this.inflights.full();
      case 'snapshot': return true;
    }
  }

  /** An append carrying entries up to `lastIndex` (or none, if lastIndex is next - 1) went out. */
  sentAppend(lastIndex: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (lastIndex >= this.next) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else {
      assert(this.state === 'probe', 'append sent while a snapshot is pending');
      this.probeSent = true;
    }
  }

  /**
   * The member acknowledged its log matches through `index`. Returns true if that is news.
   * Either way it answered, so a probe may go out again.
   */
  maybeUpdate(index: number): boolean {
    this.probeSent = false;
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    return true;
  }

  /**
   * The member rejected the append whose previous index was `rejected`; `probeFrom` is the
   * leader's guess, from the member's hint, of the last index where the logs may agree. Returns
   * false if the rejection is stale (answers an append from before the current `next`).
   */
  maybeDecrTo(rejected: number, probeFrom: number): boolean {
    if (this.state === 'replicate') {
      // Appends are pipelined: only a rejection above match says the stream broke.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // One append is outstanding in probe state: only the answer to it counts.
    if (rejected !== this.next - 1) return false;
    this.next = Math.max(Math.min(rejected, probeFrom + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  status(): MemberStatus {
    return { match: this.match, next: this.next, state: this.state, learner: this.learner, recentActive: this.recentActive };
  }
}
