/**
 * One seeded random run of a cluster through the harness, with faults, and the safety checks
 * made after every step (random-cluster.test.ts says which). Separate from the test so that a
 * failing seed can be replayed and profiled outside vitest.
 */
import type { RaftCore } from '../../../../../server/consensus/core/core.ts';
import { mulberry32, type Random } from '../../../../../server/consensus/core/random.ts';
import { Refused } from '../../../../../server/consensus/core/types.ts';
import { Cluster, type NodeOptions } from './cluster.ts';

const encoder = new TextEncoder();

const pick = <T>(rnd: Random, xs: T[]): T => xs[Math.floor(rnd.next() * xs.length)]!;

function ensure(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

function refusable(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
  }
}

export class Run {
  readonly c = new Cluster();
  readonly rnd: Random;
  readonly options: NodeOptions;
  private globalCommit = 0;
  private readonly readFloor = new Map<string, number>();
  private nextRead = 0;
  private nextData = 0;
  /** The output of the last steps, for replaying a failure by eye. */
  readonly trace: string[][] = [];

  constructor(readonly seed: number) {
    this.rnd = mulberry32(seed);
    this.options = {
      electionTicks: 10,
      heartbeatTicks: 2,
      maxInflightMsgs: 4,
      maxMsgBytes: 16,
      preVote: this.rnd.next() < 0.8,
      checkQuorum: this.rnd.next() < 0.8,
    };
    const n = this.rnd.next() < 0.5 ? 3 : 5;
    const voters = Array.from({ length: n }, (_, i) => String(i + 1));
    for (const id of voters) this.c.addNode(id, this.options, { voters, learners: [] }, 1, this.rnd.next() < 0.5);
  }

  up(): string[] {
    return [...this.c.nodes.values()].filter((n) => n.core !== null).map((n) => n.id);
  }

  leaders(): RaftCore[] {
    return this.up().map((id) => this.c.core(id)).filter((k) => k.currentRole === 'leader');
  }

  step(): void {
    const c = this.c;
    if (c.out.length > 0) this.trace.push(c.out);
    if (this.trace.length > 60) this.trace.shift();
    c.out = [];
    const r = this.rnd.next();
    const all = [...c.nodes.keys()];
    const down = all.filter((id) => c.node(id).core === null);
    if (down.length > 0 && this.rnd.next() < 0.05) c.restart(pick(this.rnd, down));
    const up = this.up();
    if (up.length === 0) return;
    const id = pick(this.rnd, up);
    const node = c.node(id);
    if (r < 0.3) {
      for (const n of up) c.observe(n, (k) => k.tick());
    } else if (r < 0.6) {
      this.networkRound(up);
    } else if (r < 0.72) {
      const leader = this.leaders()[0] ?? node.core!;
      const count = 1 + Math.floor(this.rnd.next() * 3);
      for (let i = 0; i < count; i++) refusable(() => leader.propose(0, encoder.encode(`v${this.nextData++}`)));
    } else if (r < 0.77) {
      const requestId = `r${this.nextRead++}`;
      this.readFloor.set(requestId, this.globalCommit);
      refusable(() => node.core!.readIndex(requestId));
    } else if (r < 0.81) {
      this.changeMembership(this.leaders()[0]?.id ?? id);
    } else if (r < 0.82) {
      const voters = node.core!.status().membership.voters;
      if (voters.length > 0) refusable(() => node.core!.transferLeadership(pick(this.rnd, voters)));
    } else if (r < 0.85) {
      // The driver compacts between two turns of its loop: nothing handed out still pending.
      const idle = node.writes.length === 0 && !node.core!.hasReady();
      if (idle && node.applied > node.storage.snapshot().index) {
        node.storage.compact(node.applied, node.core!.membershipAt(node.applied));
      }
    } else if (r < 0.87) {
      c.crash(id);
    } else if (r < 0.92) {
      if (this.rnd.next() < 0.5) c.isolate(id);
      else c.cut(id, pick(this.rnd, all));
    } else if (r < 0.96) {
      c.heal();
    } else {
      // A slow disk: one node's writes all land now.
      c.persist(id);
    }
    this.check();
  }

  /** Every node handles its ready, some writes land, and some nodes get their messages. */
  private networkRound(up: string[]): void {
    const c = this.c;
    for (const id of up) c.processReady(id);
    for (const id of up) c.persist(id, Math.floor(this.rnd.next() * 3));
    for (const id of up) {
      if (this.rnd.next() < 0.7) {
        this.disturbInbox(id);
        c.deliver(id);
      }
    }
  }

  /** Reorders, drops or duplicates the messages waiting for `id`. */
  private disturbInbox(id: string): void {
    const inbox = this.c.node(id).inbox;
    if (inbox.length < 1) return;
    const r = this.rnd.next();
    const i = Math.floor(this.rnd.next() * inbox.length);
    if (r < 0.2) {
      // A lost snapshot stream is reported by the sender's driver, as the contract requires.
      const [m] = inbox.splice(i, 1);
      if (m!.type === 'snap') this.c.node(m!.from).core?.reportSnapshot(m!.to, false);
    }
    else if (r < 0.3) inbox.push(inbox[i]!);
    else if (r < 0.5) inbox.reverse();
  }

  private changeMembership(id: string): void {
    const core = this.c.node(id).core!;
    if (core.currentRole !== 'leader') return;
    const m = core.status().membership;
    const r = this.rnd.next();
    refusable(() => {
      if (r < 0.3 && this.c.nodes.size < 7) {
        const joiner = String(this.c.nodes.size + 1);
        core.proposeConfChange({ op: 'add-learner', node: joiner });
        this.c.addNode(joiner, this.options, { voters: [], learners: [] }, 0, this.rnd.next() < 0.5);
      } else if (r < 0.6 && m.learners.length > 0) {
        core.proposeConfChange({ op: 'promote', node: pick(this.rnd, m.learners) });
      } else if (m.voters.length > 3 || (r > 0.9 && m.voters.length > 1)) {
        core.proposeConfChange({ op: 'remove', node: pick(this.rnd, [...m.voters, ...m.learners]) });
      }
    });
  }

  check(): void {
    const c = this.c;
    c.checkLeaders();
    const cores = this.up().map((id) => c.core(id));
    for (const k of cores) this.globalCommit = Math.max(this.globalCommit, k.status().commit);
    // Log matching, on terms: the highest index two logs agree on bounds an agreeing prefix.
    for (let a = 0; a < cores.length; a++) {
      for (let b = a + 1; b < cores.length; b++) this.checkMatching(cores[a]!, cores[b]!);
    }
    // Leader completeness: a leader holds every entry committed in an earlier term (that it has
    // not compacted). A stale leader of an earlier term, not yet told, need not.
    const applied = c.appliedTerms();
    for (const leader of this.leaders()) {
      for (const { index, term, committedBy } of applied) {
        if (committedBy >= leader.currentTerm) continue;
        const t = leader.logTerm(index);
        if (t !== undefined || index > leader.status().lastIndex) {
          ensure(t === term, `leader ${leader.id} lacks applied entry ${index}@${term}`);
        }
      }
    }
    for (const r of c.reads.splice(0)) {
      const floor = this.readFloor.get(r.requestId)!;
      ensure(r.index >= floor, `read ${r.requestId} at ${r.index}, below commit ${floor} when asked`);
    }
  }

  private checkMatching(a: RaftCore, b: RaftCore): void {
    const sa = a.status();
    const sb = b.status();
    const last = Math.min(sa.lastIndex, sb.lastIndex);
    let agreed = false;
    for (let i = last; i > 0; i--) {
      const ta = a.logTerm(i);
      const tb = b.logTerm(i);
      if (ta === undefined || tb === undefined) return;
      if (agreed) ensure(ta === tb, `${a.id} and ${b.id} agree above ${i} but not at it`);
      else agreed = ta === tb;
    }
  }

  stats(): string {
    const c = this.c;
    const maxApplied = Math.max(...[...c.nodes.values()].map((n) => n.applied));
    const terms = Math.max(...this.up().map((id) => c.core(id).currentTerm));
    const members = this.leaders()[0]?.status().membership;
    return `nodes=${c.nodes.size} applied=${maxApplied} term=${terms} reads=${this.nextRead} members=${JSON.stringify(members)} commit=${this.globalCommit}`;
  }

  /** Faults stop: everyone up, network whole, time passes until a new entry is everywhere. */
  settle(): void {
    const c = this.c;
    c.heal();
    for (const n of c.nodes.values()) if (n.core === null) c.restart(n.id);
    let marker: { index: number; term: number } | null = null;
    for (let round = 0; round < 400; round++) {
      c.out = [];
      for (const id of c.nodes.keys()) c.observe(id, (k) => k.tick());
      c.stabilize([...c.nodes.keys()]);
      this.check();
      // The leader of the latest term (a removed node may go on leading an old term unheard).
      const leader = this.leaders().sort((a, b) => b.currentTerm - a.currentTerm)[0];
      if (leader === undefined) continue;
      if (marker === null) {
        marker = this.proposeFinal(leader);
        continue;
      }
      const m = leader.status().membership;
      if ([...m.voters, ...m.learners].every((id) => c.node(id).applied >= marker!.index)) return;
      // The entry may have been lost with a leader change: propose again.
      if (leader.logTerm(marker.index) !== marker.term) marker = null;
    }
    throw new Error('no progress after the faults stopped');
  }

  private proposeFinal(leader: RaftCore): { index: number; term: number } | null {
    try {
      return leader.propose(0, encoder.encode('final'));
    } catch (err) {
      if (err instanceof Refused) return null;
      throw err;
    }
  }
}

