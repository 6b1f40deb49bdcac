/**
 * What a node does for its cluster rather than for its clients: says in the log when leadership
 * changes and why, makes its settings the cluster's when it leads (settings.ts), promotes a
 * learner that has caught up, and hands leadership over before it stops. The node (node.ts)
 * serves clients; this watches the driver's leadership and acts on it.
 */
import { CoordError, ErrorCode } from '../protocol/errors.ts';
import type { NodeId } from './consensus/core/index.ts';
import type { Leadership, RaftDriver } from './consensus/driver.ts';
import type { NodeEnv } from './consensus/env.ts';
import { describeSettings, settingsFromOptions, type ReplicatedSettings } from './store/settings.ts';
import type { StoreOptions } from './store/store.ts';

/** How close to the leader's log a learner must be to be promoted to voter. */
const LEARNER_CAUGHT_UP_ENTRIES = 100;

/** How soon a leader tries again to make its settings the cluster's after a failed proposal. */
const SETTINGS_RETRY_MS = 1000;

export class LeaderDuties {
  private promoting = false;
  private stopped = false;
  private lastLeadership: Leadership | null = null;
  /** The last leader this node knew of (a campaign forgets the leader before it wins). */
  private lastLeader: NodeId | null = null;

  constructor(
    private readonly env: NodeEnv,
    private readonly driver: RaftDriver,
    /** The flags this node was started with, which become the cluster's settings when it leads. */
    private readonly settings: StoreOptions,
    private readonly tickMs: number,
  ) {}

  /** Whether this node is one of several (or waiting to join some): anything but a founder alone. */
  get hasPeers(): boolean {
    const m = this.driver.status().membership;
    return !(m.voters.length === 1 && m.voters[0] === this.driver.id && m.learners.length === 0);
  }

  leadershipChanged(l: Leadership): void {
    this.logLeadership(l);
    if (l.role === 'leader') void this.driver.caughtUp().then(() => this.proposeSettings(l.term));
  }

  /** Once a tick. */
  tick(): void {
    this.promoteCaughtUpLearner();
  }

  stop(): void {
    this.stopped = true;
  }

  /**
   * One line per change an operator cares about, with its cause: this node leads (and in which
   * term, after an election timeout or a transfer), it learned of a new leader, or, leading, it
   * stepped down (lost-quorum: check-quorum found it out of touch with a majority; higher-term;
   * transfer; removed).
   */
  private logLeadership(l: Leadership): void {
    const before = this.lastLeadership;
    const previous = this.lastLeader;
    this.lastLeadership = l;
    if (l.leader !== null) this.lastLeader = l.leader;
    if ((before !== null && before.leader === l.leader && before.role === l.role) || !this.hasPeers) return;
    const log = this.env.log;
    if (l.role === 'leader') log.info({ term: l.term, cause: l.cause, previous }, 'elected leader');
    else if (before?.role === 'leader') {
      const fields = { term: l.term, cause: l.cause, leader: l.leader };
      if (l.cause === 'lost-quorum') log.warn(fields, 'stepped down: lost touch with a majority of voters');
      else log.info(fields, 'stepped down');
    } else if (l.leader !== null) log.info({ term: l.term, leader: l.leader }, 'following a new leader');
  }

  /**
   * The values this node was started with (its flags, or this version's defaults) become the
   * cluster's replicated settings when it leads (settings.ts): a single node restarted with new
   * flags behaves as it always did, and every replica takes the change from the log.
   */
  private proposeSettings(term: number): void {
    if (this.stopped || !this.driver.isLeader || this.driver.term !== term) return;
    const wanted = settingsFromOptions(this.settings);
    const current = this.driver.store.settings;
    const change: Partial<ReplicatedSettings> = {};
    for (const k of Object.keys(wanted) as (keyof ReplicatedSettings)[]) if (current === null || wanted[k] !== current[k]) change[k] = wanted[k];
    if (Object.keys(change).length === 0) return;
    const log = this.env.log;
    if (current === null) log.debug({ settings: describeSettings(change) }, "the cluster's first settings");
    else log.info({ was: describeSettings(current), now: describeSettings(change) }, "this node's settings become the cluster's");
    this.driver.propose({ t: 'settings', settings: change }).then((outcome) => {
      if (!outcome.ok) log.warn({ error: outcome.error }, 'settings refused');
    }, (err: unknown) => {
      // Another leader took over (it proposes its own), or the disk is full: tried again soon.
      log.debug({ err: err instanceof Error ? err.message : String(err) }, 'settings not changed yet');
      this.env.scheduler.after(SETTINGS_RETRY_MS, () => this.proposeSettings(term));
    });
  }

  /**
   * A learner that has caught up (its log within LEARNER_CAUGHT_UP_ENTRIES of the leader's, and
   * heard from) becomes a voter: `coord member add` adds a learner, and this makes it vote once
   * counting it in a quorum cannot stall writes. One change at a time.
   */
  private promoteCaughtUpLearner(): void {
    if (this.promoting || this.stopped || !this.driver.isLeader) return;
    const st = this.driver.status();
    if (st.progress === null || st.membership.learners.length === 0) return;
    const ready = st.membership.learners.find((id) => {
      const p = st.progress![id];
      return p !== undefined && p.state === 'replicate' && p.recentActive && p.match + LEARNER_CAUGHT_UP_ENTRIES >= st.lastIndex;
    });
    if (ready === undefined) return;
    this.promoting = true;
    this.driver.changeMembership({ op: 'promote', node: ready }).then((o) => {
      if (o.ok) this.env.log.info({ member: ready }, 'learner caught up: now a voter');
    }, (err: unknown) => {
      this.env.log.debug({ member: ready, err: err instanceof Error ? err.message : String(err) }, 'promotion not made yet');
    }).finally(() => {
      this.promoting = false;
    });
  }

  /**
   * Hands leadership to the most caught-up voter (or `to`) and waits (at most `timeoutMs`) until
   * another node leads: a leader that is stopped cleanly spares its cluster an election timeout.
   */
  async handOver(timeoutMs: number, to?: NodeId): Promise<NodeId | null> {
    const st = this.driver.status();
    if (!this.driver.isLeader || st.progress === null) return null;
    const others = st.membership.voters.filter((id) => id !== this.driver.id);
    if (to !== undefined && !others.includes(to)) throw new CoordError(ErrorCode.BAD_REQUEST, `${to} is not another voter (voters: ${st.membership.voters.join(', ')})`);
    if (others.length === 0) return null;
    const best = to ?? others.reduce((a, b) => ((st.progress![b]?.match ?? 0) > (st.progress![a]?.match ?? 0) ? b : a));
    try {
      this.driver.transferLeadership(best);
    } catch {
      return null;
    }
    const end = this.env.clock.now() + timeoutMs;
    while (this.driver.isLeader && this.env.clock.now() < end) await new Promise<void>((r) => this.env.scheduler.after(this.tickMs, r));
    return this.driver.isLeader ? null : best;
  }
}
