/**
 * An in-memory cluster of Raft cores for transcript tests: each node has a core, a MemStorage
 * (what survives a crash) and a queue of writes handed out but not yet durable; a network holds
 * each node's inbox and may isolate nodes or cut links. The harness plays the driver exactly as
 * the core's contract says: it writes what a Ready says, sends (b) at once, holds (c) until the
 * write is durable, reports writes durable in order, and applies (d).
 *
 * A node persists synchronously (each Ready's write is durable before the next step) unless it
 * was made asynchronous, in which case writes wait for an explicit `persist`, or `stabilize`.
 *
 * While running, it checks two safety properties after every step and throws if one breaks:
 * at most one leader per term, and every node applies the same entry at each index.
 */
import { assert } from '../../../../../server/assert.ts';
import { RaftCore } from '../../../../../server/consensus/core/core.ts';
import type { Message } from '../../../../../server/consensus/core/messages.ts';
import { mulberry32 } from '../../../../../server/consensus/core/random.ts';
import type { WriteMark } from '../../../../../server/consensus/core/ready.ts';
import {
  Refused, type CoreOptions, type Entry, type Membership, type Role,
} from '../../../../../server/consensus/core/types.ts';
import { formatEntries, formatEntry, formatMessage } from './format.ts';
import { MemStorage, type Write } from './mem-storage.ts';

export type NodeOptions = Omit<CoreOptions, 'id' | 'random'>;

interface PendingWrite extends Write {
  mark: WriteMark;
  afterWrite: Message[];
}

export interface SimNode {
  id: string;
  options: NodeOptions;
  core: RaftCore | null;
  storage: MemStorage;
  async: boolean;
  writes: PendingWrite[];
  /** The state machine: the last index applied. */
  applied: number;
  inbox: Message[];
}

export class Cluster {
  readonly nodes = new Map<string, SimNode>();
  private readonly isolated = new Set<string>();
  private readonly cuts = new Set<string>();
  /** Safety checks: the leader seen in each term, the entry applied at each index. */
  private readonly leaders = new Map<number, string>();
  private readonly appliedAt = new Map<number, string>();
  private readonly appliedInTerm = new Map<number, number>();
  out: string[] = [];
  /** Every read confirmed, in the order the nodes' readies handed them out. */
  readonly reads: { node: string; requestId: string; index: number }[] = [];

  node(id: string): SimNode {
    const n = this.nodes.get(id);
    assert(n !== undefined, `no node ${id}`);
    return n;
  }

  core(id: string): RaftCore {
    const c = this.node(id).core;
    if (c === null) throw new Error(`node ${id} is down`);
    return c;
  }

  addNode(id: string, options: NodeOptions, membership: Membership, index: number, async: boolean): void {
    const storage = new MemStorage({ index, term: index > 0 ? 1 : 0, membership });
    const n: SimNode = { id, options, core: null, storage, async, writes: [], applied: index, inbox: [] };
    this.nodes.set(id, n);
    this.start(n);
  }

  private start(n: SimNode): void {
    // The seed depends on the node alone, so every run of a transcript is the same run.
    const random = mulberry32(Number(n.id) * 7919 + 1);
    n.core = new RaftCore({ ...n.options, id: n.id, random }, {
      hardState: n.storage.hardState, log: n.storage, applied: n.storage.snapshot().index,
    });
    n.applied = n.storage.snapshot().index;
  }

  /** Loses everything not durable: the core, writes in flight, and the node's inbox. */
  crash(id: string): void {
    const n = this.node(id);
    n.core = null;
    n.writes = [];
    // Snapshot streams to it break: their senders' drivers report it.
    for (const m of n.inbox) if (m.type === 'snap') this.node(m.from).core?.reportSnapshot(m.to, false);
    n.inbox = [];
  }

  restart(id: string): void {
    const n = this.node(id);
    assert(n.core === null, `node ${id} is up`);
    this.start(n);
  }

  isolate(id: string): void {
    this.isolated.add(id);
  }

  cut(a: string, b: string): void {
    this.cuts.add(`${a}-${b}`).add(`${b}-${a}`);
  }

  heal(): void {
    this.isolated.clear();
    this.cuts.clear();
  }

  /** Runs `fn` against node `id`'s core and prints what changed in its role, term or leader. */
  observe<T>(id: string, fn: (core: RaftCore) => T, indent = '  '): T {
    const core = this.core(id);
    const before = { role: core.currentRole, term: core.currentTerm, leader: core.leader };
    try {
      return fn(core);
    } finally {
      if (this.node(id).core === core) this.describeChange(id, before, core, indent);
      this.checkLeaders();
    }
  }

  private describeChange(id: string, b: { role: Role; term: number; leader: string | null }, core: RaftCore, indent: string): void {
    const { currentRole: role, currentTerm: term, leader } = core;
    if (role !== b.role || term !== b.term) {
      const follows = role === 'follower' && leader !== null ? ` (leader ${leader})` : '';
      this.out.push(`${indent}${id} became ${role} at term ${term}${follows}`);
    } else if (leader !== b.leader) {
      this.out.push(`${indent}${id} ${leader === null ? 'has no leader' : `follows ${leader}`}`);
    }
  }

  /**
   * Every entry applied so far (by any node): its index, its term, and the term of the node that
   * applied it first, then (the entry was committed in that term or before).
   */
  appliedTerms(): { index: number; term: number; committedBy: number }[] {
    return [...this.appliedAt].map(([index, e]) => ({
      index, term: Number(e.split(' ')[0]!.split('@')[1]), committedBy: this.appliedInTerm.get(index)!,
    }));
  }

  /** Throws if two nodes have led the same term. */
  checkLeaders(): void {
    for (const n of this.nodes.values()) {
      if (n.core?.currentRole !== 'leader') continue;
      const term = n.core.currentTerm;
      const seen = this.leaders.get(term);
      if (seen !== undefined && seen !== n.id) throw new Error(`two leaders in term ${term}: ${seen} and ${n.id}`);
      this.leaders.set(term, n.id);
    }
  }

  // ---- The driver's loop, one step at a time ------------------------------------------------

  /** Takes node `id`'s Ready and acts on it; returns false if it had none. */
  processReady(id: string): boolean {
    const n = this.node(id);
    if (n.core === null || !n.core.hasReady()) return false;
    const rd = n.core.ready();
    this.out.push(`> ${id} handling ready`);
    if (rd.softState !== null) this.out.push(`  soft state: ${rd.softState.role}, leader ${rd.softState.leader ?? '-'}`);
    if (rd.hardState !== null) {
      const hs = rd.hardState;
      this.out.push(`  hard state: term=${hs.term} vote=${hs.vote ?? '-'} commit=${hs.commit}`);
    }
    if (rd.snapshot !== null) this.out.push(`  snapshot: ${rd.snapshot.index}@${rd.snapshot.term}`);
    if (rd.entries.length > 0) this.out.push(`  entries: ${formatEntries(rd.entries)}`);
    for (const m of rd.messages) this.send(m, 'send');
    if (rd.write !== null) {
      const w: PendingWrite = { snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState, mark: rd.write, afterWrite: rd.afterWrite };
      if (n.async) {
        for (const m of rd.afterWrite) this.out.push(`  after write #${rd.write.seq}: ${formatMessage(m)}`);
        this.out.push(`  write #${rd.write.seq} queued`);
        n.writes.push(w);
      } else {
        this.completeWrite(n, w);
      }
    }
    if (rd.committed.length > 0) this.out.push(`  apply: ${formatEntries(rd.committed)}`);
    this.apply(n, rd.committed);
    for (const r of rd.readStates) this.out.push(`  read ${r.requestId}: index ${r.index}`);
    for (const r of rd.readStates) this.reads.push({ node: id, ...r });
    for (const r of rd.readsRefused) this.out.push(`  read ${r.requestId}: refused (${r.reason})`);
    return true;
  }

  /** Makes node `id`'s oldest `count` writes durable, in order. Returns how many there were. */
  persist(id: string, count = Infinity): number {
    const n = this.node(id);
    let done = 0;
    while (done < count && n.writes.length > 0) {
      const w = n.writes.shift()!;
      this.out.push(`> ${id} write #${w.mark.seq} durable (log ${w.mark.index}@${w.mark.term})`);
      this.completeWrite(n, w);
      done++;
    }
    return done;
  }

  private completeWrite(n: SimNode, w: PendingWrite): void {
    n.storage.write(w);
    if (w.snapshot !== null) n.applied = w.snapshot.index;
    this.observe(n.id, (core) => core.persisted(w.mark));
    for (const m of w.afterWrite) this.send(m, n.async ? 'send' : `after write #${w.mark.seq}`);
  }

  private apply(n: SimNode, entries: Entry[]): void {
    for (const e of entries) {
      assert(e.index === n.applied + 1, `node ${n.id} applies ${e.index} after ${n.applied}`);
      n.applied = e.index;
      const seen = this.appliedAt.get(e.index);
      const mine = formatEntry(e);
      if (seen !== undefined && seen !== mine) throw new Error(`node ${n.id} applied ${mine}, another node ${seen}`);
      if (seen === undefined) this.appliedInTerm.set(e.index, n.core!.currentTerm);
      this.appliedAt.set(e.index, mine);
    }
  }

  /**
   * Puts `m` in its recipient's inbox, unless the network drops it; prints it after `label`.
   */
  private send(m: Message, label: string): void {
    const to = this.nodes.get(m.to);
    const dropped = to === undefined || to.core === null || this.isolated.has(m.from) || this.isolated.has(m.to) ||
      this.cuts.has(`${m.from}-${m.to}`);
    this.out.push(`  ${label}: ${formatMessage(m)}${dropped ? ' (dropped)' : ''}`);
    if (dropped) {
      // The driver streaming a snapshot learns that it failed.
      if (m.type === 'snap') this.node(m.from).core?.reportSnapshot(m.to, false);
      return;
    }
    to.inbox.push(m);
  }

  /** Steps every message waiting for node `id` into its core. */
  deliver(id: string): boolean {
    const n = this.node(id);
    if (n.core === null || n.inbox.length === 0) return false;
    const msgs = n.inbox.splice(0);
    this.out.push(`> ${id} receiving messages`);
    for (const m of msgs) {
      this.out.push(`  ${formatMessage(m)}`);
      if (n.core === null) break;
      this.observe(id, (core) => core.step(m), '    ');
      // The sender's driver finished streaming the snapshot.
      if (m.type === 'snap') this.node(m.from).core?.reportSnapshot(m.to, true);
    }
    return true;
  }

  /** Runs readies, writes and deliveries on `ids` until none has anything left to do. */
  stabilize(ids: string[]): void {
    for (let round = 0; ; round++) {
      assert(round < 1000, 'stabilize did not settle');
      let busy = false;
      for (const id of ids) busy = this.processReady(id) || busy;
      for (const id of ids) busy = this.persist(id) > 0 || busy;
      for (const id of ids) busy = this.deliver(id) || busy;
      if (!busy) return;
    }
  }

  /** Calls a core method, printing a Refused as the driver would see it. */
  refusable(fn: () => string | void): void {
    try {
      const r = fn();
      if (typeof r === 'string') this.out.push(r);
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      this.out.push(`refused: ${err.code} (${err.message})`);
    }
  }
}
