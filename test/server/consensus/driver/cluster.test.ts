/**
 * Three (and four) real nodes in this process: CoordNode, the driver, the Raft core, the store,
 * over SimStorage (the production log code on an in-memory disk) and an in-memory transport
 * that delivers at once, with real timers (10 ms ticks). End to end: a leader is elected, writes
 * replicate and every store agrees; a read on a follower is linearizable (read-index through the
 * leader); a follower forwards writes to the leader; an isolated leader is replaced, and the
 * write it took meanwhile gets "outcome unknown", never another write's result; a node that
 * was down catches up, from the log or, once the leader compacted it, from a streamed snapshot;
 * a blank node joins from a snapshot; keepalives sent to a follower keep a session alive on the
 * leader. The simulator (test/sim/) does the heavy proving under faults; this is the smoke test
 * that the pieces fit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CoordError, ErrorCode } from '../../../../protocol/errors.ts';
import { mulberry32 } from '../../../../server/consensus/core/random.ts';
import type { NodeEnv, PeerMessage, PeerTransport } from '../../../../server/consensus/env.ts';
import { timerScheduler } from '../../../../server/consensus/env-production.ts';
import { systemClock } from '../../../../server/clock.ts';
import { silentLogger } from '../../../../server/log.ts';
import { CoordNode, type NodeOptions } from '../../../../server/node.ts';
import type { Command } from '../../../../server/store/commands.ts';
import { SimDisk, SimStorage } from '../../../sim/sim-storage.ts';

const te = new TextEncoder();
const td = new TextDecoder();
const set = (path: string, value: string): Command => ({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: te.encode(value) }] });

/** Delivers every message at once, unless the link is cut. */
class Net {
  readonly ends = new Map<string, PeerTransport>();
  readonly cut = new Set<string>();
  /** Messages sent, by kind (and Raft message type). */
  readonly counts = new Map<string, number>();

  transport(id: string): PeerTransport {
    const t: PeerTransport = {
      send: (to: string, m: PeerMessage) => {
        const kind = m.kind === 'raft' ? m.msg.type : m.kind;
        this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
        if (this.cut.has(id) || this.cut.has(to)) return;
        this.ends.get(to)?.onMessage(id, m);
      },
      onMessage: () => {},
    };
    this.ends.set(id, t);
    return t;
  }
}

interface Member {
  id: string;
  disk: SimDisk;
  node: CoordNode | null;
}

const running: CoordNode[] = [];
afterEach(async () => {
  for (const n of running.splice(0)) await n.stop().catch(() => {});
});

class Cluster {
  readonly net = new Net();
  readonly members = new Map<string, Member>();
  readonly fatal: unknown[] = [];

  constructor(private readonly founders: string[], private readonly extra: Partial<NodeOptions> = {}) {}

  async start(id: string, initialMembers = this.founders, own: Partial<NodeOptions> = {}): Promise<CoordNode> {
    let m = this.members.get(id);
    if (m === undefined) {
      const crashes = mulberry32(Number(id.slice(1)) * 977);
      m = { id, disk: new SimDisk({ random: () => crashes.next() }), node: null };
      this.members.set(id, m);
    }
    const rnd = mulberry32(Number(id.slice(1)) * 7919);
    const env: NodeEnv = {
      clock: systemClock,
      scheduler: timerScheduler,
      random: () => Math.floor(rnd.next() * 2 ** 32) >>> 0,
      transport: this.net.transport(id),
      storage: await SimStorage.open(m.disk),
      log: silentLogger,
    };
    const node = await CoordNode.start(env, {
      nodeId: id,
      initialMembers,
      historyRevisions: 1000,
      snapshotEveryEntries: 1_000_000,
      tickMs: 10,
      // Elections after 300-600 ms of silence: a loaded test machine does not depose leaders.
      electionTicks: 30,
      heartbeatTicks: 1,
      sessionCheckIntervalMs: 10,
      onFatal: (err) => this.fatal.push(err),
      ...this.extra,
      ...own,
    });
    m.node = node;
    running.push(node);
    return node;
  }

  node(id: string): CoordNode {
    const n = this.members.get(id)?.node;
    if (n == null) throw new Error(`${id} is down`);
    return n;
  }

  /** The process dies: its node is dropped without stop(), its disk loses what was not synced. */
  crash(id: string): void {
    const m = this.members.get(id)!;
    m.disk.crash();
    running.splice(running.indexOf(m.node!), 1);
    this.net.ends.delete(id);
    m.node = null;
  }

  up(): CoordNode[] {
    return [...this.members.values()].filter((m) => m.node !== null).map((m) => m.node!);
  }

  async leader(among = this.up()): Promise<CoordNode> {
    await until('a leader', () => among.filter((n) => n.isLeader).length === 1 && among.every((n) => n.isReady));
    return among.find((n) => n.isLeader)!;
  }
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const value = (n: CoordNode, path: string) => {
  const v = n.store.get(path).value;
  return v === null ? null : td.decode(v);
};

/** Every node up has applied the same revisions, with the same values at `paths`. */
async function converged(c: Cluster, paths: string[]): Promise<void> {
  const nodes = c.up();
  await until('the stores to converge', () => nodes.every((n) => n.store.rev === nodes[0]!.store.rev &&
    n.status().applied === nodes[0]!.status().applied));
  for (const p of paths) for (const n of nodes) expect(value(n, p)).toBe(value(nodes[0]!, p));
}

describe('three nodes in one process', { timeout: 30_000 }, () => {
  it('elects a leader, replicates writes from their bytes, reads on a follower, forwards writes from there', async () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    await Promise.all(['n1', 'n2', 'n3'].map((id) => c.start(id)));
    const leader = await c.leader();
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => leader.propose(set(`/k/${i % 5}`, `v${i}`))));
    expect(outcomes.map((o) => o.ok && o.rev).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await converged(c, ['/k/0', '/k/1', '/k/2', '/k/3', '/k/4']);

    const follower = c.up().find((n) => !n.isLeader)!;
    expect(await follower.readAt()).toBe(20);
    // A write on a follower is forwarded to the leader and answered with its outcome.
    const forwarded = await follower.propose(set('/x', 'y'));
    expect(forwarded).toEqual({ ok: true, rev: 21, changed: 1 });
    await converged(c, ['/x']);
    expect(value(follower, '/x')).toBe('y');
    // With the leader out of reach, the follower cannot know what became of it: outcome unknown.
    c.net.cut.add(leader.status().id);
    const lost = await follower.propose(set('/x', 'z')).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(CoordError);
    expect((lost as CoordError).code).toBe(ErrorCode.UNAVAILABLE);
    expect((lost as CoordError).details).toMatchObject({ outcome: 'unknown' });
    c.net.cut.clear();

    const st = leader.status();
    expect(st.role).toBe('leader');
    expect(st.membership.voters).toEqual(['n1', 'n2', 'n3']);
    expect(Object.keys(st.progress!)).toEqual(['n1', 'n2', 'n3']);
    expect(c.fatal).toEqual([]);
  });

  it('replaces an isolated leader; its write meanwhile gets outcome unknown, never another result', async () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    await Promise.all(['n1', 'n2', 'n3'].map((id) => c.start(id)));
    const old = await c.leader();
    const oldId = old.status().id;
    await old.propose(set('/a', 'before'));

    c.net.cut.add(oldId);
    const stranded = old.propose(set('/a', 'stranded')).then((o) => o, (e: unknown) => e);
    const others = c.up().filter((n) => n !== old);
    const next = await c.leader(others);
    expect(next.status().term).toBeGreaterThan(old.status().term);
    const won = await next.propose(set('/a', 'after'));
    expect(won).toMatchObject({ ok: true });

    c.net.cut.clear();
    const err = await stranded;
    expect(err).toBeInstanceOf(CoordError);
    expect((err as CoordError).code).toBe(ErrorCode.UNAVAILABLE);
    expect((err as CoordError).details).toEqual({ outcome: 'unknown' });
    await until('the old leader to follow', () => !old.isLeader && old.leaderId === next.status().id);
    await converged(c, ['/a']);
    expect(value(old, '/a')).toBe('after');
    expect(c.fatal).toEqual([]);
  });

  it('a node that was down catches up from the log, and from a snapshot once the log is compacted', async () => {
    const c = new Cluster(['n1', 'n2', 'n3'], { snapshotEveryEntries: 10, snapshotCatchUpEntries: 0 });
    await Promise.all(['n1', 'n2', 'n3'].map((id) => c.start(id)));
    let leader = await c.leader();
    const victim = c.up().find((n) => n !== leader)!.status().id;
    c.crash(victim);
    for (let i = 0; i < 40; i++) await leader.propose(set(`/s/${i % 7}`, `v${i}`));
    // The leader has compacted past what the node that was down holds: it needs a snapshot.
    await until('a compaction', () => leader.status().applied >= 40);
    await c.start(victim);
    leader = await c.leader();
    await converged(c, Array.from({ length: 7 }, (_, i) => `/s/${i}`));
    expect(value(c.node(victim), '/s/6')).toBe('v34');
    expect(c.net.counts.get('snap-chunk')).toBeGreaterThan(0);
    expect(c.net.counts.get('snap')).toBeGreaterThan(0);
    // And it goes on replicating after the snapshot.
    await leader.propose(set('/s/after', 'x'));
    await converged(c, ['/s/after']);
    expect(c.fatal).toEqual([]);
  });

  it('a blank node joins as a learner from a snapshot, then is promoted once caught up', async () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    await Promise.all(['n1', 'n2', 'n3'].map((id) => c.start(id)));
    const leader = await c.leader();
    for (let i = 0; i < 5; i++) await leader.propose(set(`/j/${i}`, `v${i}`));
    const joiner = await c.start('n4', []);
    expect(joiner.isLeader).toBe(false);
    expect(await leader.changeMembership({ op: 'add-learner', node: 'n4' })).toMatchObject({ ok: true });
    await converged(c, ['/j/0', '/j/4']);
    expect(value(joiner, '/j/4')).toBe('v4');
    expect(c.net.counts.get('snap-chunk')).toBeGreaterThan(0);
    // Caught up, it is promoted by the leader on its own.
    await until('n4 a voter everywhere', () => c.up().every((n) => n.status().membership.voters.includes('n4')));
    await leader.propose(set('/j/after', 'x'));
    await converged(c, ['/j/after']);
    expect(c.fatal).toEqual([]);
  });

  it('a single node grows into a cluster: its first joiner gets a snapshot made for it', async () => {
    const c = new Cluster(['n1'], { snapshotEveryEntries: 5 });
    const solo = await c.start('n1');
    await c.leader();
    for (let i = 0; i < 12; i++) await solo.propose(set(`/g/${i}`, `v${i}`));
    // A single node keeps no snapshot bytes; the joiner needs them.
    await c.start('n2', []);
    expect(await solo.changeMembership({ op: 'add-learner', node: 'n2' })).toMatchObject({ ok: true });
    await converged(c, ['/g/0', '/g/11']);
    expect(value(c.node('n2'), '/g/11')).toBe('v11');
    // Caught up, it is promoted by the leader on its own.
    await until('n2 a voter', () => c.up().every((n) => n.status().membership.voters.includes('n2')));
    expect(await solo.propose(set('/g/after', 'x'))).toMatchObject({ ok: true });
    await converged(c, ['/g/after']);
    expect(c.fatal).toEqual([]);
  });

  it('founders started with different history flags share one history window: the leader\'s, from the log', async () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    const history: Record<string, number> = { n1: 50, n2: 60, n3: 70 };
    await Promise.all(['n1', 'n2', 'n3'].map((id) => c.start(id, undefined, { historyRevisions: history[id]! })));
    const leader = await c.leader();
    for (let i = 0; i < 5; i++) expect((await leader.propose(set('/a', `v${i}`))).ok).toBe(true);
    await converged(c, ['/a']);
    const want = history[leader.status().id]!;
    for (const n of c.up()) expect(n.store.settings?.historyRevisions).toBe(want);

    // The leader goes; the next one's flags become the cluster's, on every replica.
    const gone = leader.status().id;
    c.crash(gone);
    const next = await c.leader();
    expect((await next.propose(set('/a', 'after'))).ok).toBe(true);
    const wantNext = history[next.status().id]!;
    await until('the new settings everywhere', () => c.up().every((n) => n.store.settings?.historyRevisions === wantNext));
    await c.start(gone, undefined, { historyRevisions: history[gone]! });
    await converged(c, ['/a']);
    for (const n of c.up()) expect(n.store.settings?.historyRevisions).toBe(wantNext);
    expect(c.fatal).toEqual([]);
  });

  it('keeps a session alive through keepalives sent to a follower, and expires it on the leader when they stop', async () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    await Promise.all(['n1', 'n2', 'n3'].map((id) => c.start(id)));
    const leader = await c.leader();
    const grant = await leader.session(300);
    const follower = c.up().find((n) => n !== leader)!;
    await until('the session on the follower', () => follower.store.session(grant.id) !== undefined);
    const end = Date.now() + 800;
    while (Date.now() < end) {
      follower.touch(grant.id);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(leader.store.session(grant.id)).toBeDefined();
    await until('the expiry, everywhere', () => c.up().every((n) => n.store.session(grant.id) === undefined));
    expect(c.fatal).toEqual([]);
  });
});
