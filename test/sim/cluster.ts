/**
 * A cluster of real coord nodes (CoordNode: the driver, the Raft core, the store, the session
 * tracker and the watch hub) in the simulated world. Each node has its own simulated disk
 * (SimDisk, whose fsyncs take a seeded time) under the production log storage (SimStorage), its
 * own process (timers that die with it, pauses, a drifting clock), its own seeded randomness, and
 * a transport on the simulated network.
 *
 * - crash(id): the disk loses what was not synced (sim-disk.ts), the process dies with everything
 *   it was waiting for, and the node object is dropped without stop(). restart(id): a new
 *   process opens the same disk and runs CoordNode.start again.
 * - Membership: the founders start the cluster; `join()` starts a new node (a fresh id, never
 *   reused, as etcd's member ids are not) as a blank joiner and asks the leader to add it as a
 *   learner; `promote`, `remove` and `transfer` go through the leader too. A removed node is
 *   retired: its process stops and its id is never used again.
 * - Disk faults: a full disk on the next write (before it lands, after it, or torn), which stays
 *   full until `diskFreed`; and, if the profile says so, a crash in the middle of an fsync.
 */
import type { ConfChange, Membership } from '../../server/consensus/core/index.ts';
import type { NodeEnv } from '../../server/consensus/env.ts';
import type { Logger } from '../../server/log.ts';
import { isNoSpaceError } from '../../server/storage/no-space.ts';
import { CoordNode, type NodeOptions } from '../../server/node.ts';
import type { Checker, NodeView } from './checks.ts';
import type { ClientNodeApi, ClientSide } from './clients.ts';
import type { SimNetwork } from './network.ts';
import { SimDisk, SimStorage, type CrashOptions, type WriteFault } from './sim-storage.ts';
import { Process, type Rng, type World } from './world.ts';

export interface ClusterProfile {
  /** Founding voters. */
  nodes: number;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEveryEntries: number;
  historyRevisions: number;
  /**
   * Each node started with its own history window (historyRevisions + 7 × its number), as with
   * mismatched flags: the leader's becomes the cluster's through the log (settings.ts).
   */
  historyPerNode: boolean;
  sessionCheckIntervalMs: number;
  diskCheckIntervalMs: number;
  /** fsync latency: base + exponential part, and now and then a slow one. */
  fsyncBaseMs: number;
  fsyncJitterMs: number;
  fsyncSlowChance: number;
  fsyncSlowMs: number;
  /** Chance that a node's disk is much slower than the others'. */
  slowDiskChance: number;
  /** Chance that a node dies while an fsync is under way (and restarts after `restartMs`). */
  crashInSync: number;
  /** Mean time before a crashed node restarts. */
  restartMs: number;
  /** Largest clock drift between nodes, as a fraction (0.01: ±1%). */
  drift: number;
}

export function randomCluster(rng: Rng, nodes?: number): ClusterProfile {
  return {
    nodes: nodes ?? rng.pick([1, 3, 3, 3, 5, 5]),
    tickMs: rng.pick([10, 20]),
    electionTicks: rng.pick([10, 15]),
    heartbeatTicks: rng.pick([1, 2, 3]),
    snapshotEveryEntries: rng.pick([8, 30, 200]),
    historyRevisions: rng.pick([20, 100, 1000]),
    sessionCheckIntervalMs: rng.pick([20, 50, 100]),
    diskCheckIntervalMs: rng.pick([50, 200]),
    fsyncBaseMs: rng.real(0.05, 2),
    fsyncJitterMs: rng.real(0.05, 3),
    fsyncSlowChance: rng.pick([0, 0.01, 0.05]),
    fsyncSlowMs: rng.real(10, 100),
    slowDiskChance: rng.pick([0, 0, 0.3]),
    crashInSync: rng.pick([0, 0, 0.002, 0.01]),
    restartMs: rng.pick([3, 30, 300]),
    drift: rng.pick([0, 0.001, 0.01]),
    historyPerNode: rng.chance(0.3),
  };
}

/** One member of the cluster, across its restarts. */
export class SimNode {
  incarnation = 0;
  process: Process | null = null;
  node: CoordNode | null = null;
  state: 'down' | 'starting' | 'up' = 'down';
  /** Removed from the cluster: never started again. */
  retired = false;
  /** Set while a partition cuts this node off from clients. */
  clientsCut = false;
  readonly disk: SimDisk;
  readonly random: Rng;
  readonly rate: number;
  readonly offset: number;
  /** Called when an fsync starts (the cluster may crash the node before it ends). */
  onSync: ((ms: number) => void) | null = null;
  /** This node's disk is this many times slower than the profile's (a slow disk beside fast ones). */
  diskFactor: number;
  /** Faults are over: fsyncs take their base time (what is under way finishes as it was). */
  quiet = false;

  constructor(readonly id: string, world: World, rng: Rng, private readonly profile: ClusterProfile) {
    this.random = rng.fork();
    this.rate = 1 + rng.real(-profile.drift, profile.drift);
    this.offset = rng.real(0, 1e6);
    this.diskFactor = rng.chance(profile.slowDiskChance) ? rng.pick([5, 20]) : 1;
    const diskRng = rng.fork();
    this.disk = new SimDisk({
      random: () => diskRng.float(),
      name: `${id}-data`,
      fsync: () => this.fsync(world),
    });
  }

  private fsync(world: World): Promise<void> {
    const p = this.profile;
    let ms = p.fsyncBaseMs + this.random.exp(p.fsyncJitterMs);
    if (this.random.chance(p.fsyncSlowChance)) ms += this.random.exp(p.fsyncSlowMs);
    // A slow disk, but one that answers within seconds (a run lasts a few).
    ms = this.quiet ? p.fsyncBaseMs : Math.min(ms * this.diskFactor, 1500);
    const proc = this.process;
    this.onSync?.(ms);
    // Through the process: a dead one's fsync never completes, a paused one's completes late.
    return new Promise<void>((resolve) => {
      if (proc === null) return;
      proc.at(world.now + ms, `${this.id} fsync`, resolve);
    });
  }
}

/** A Logger that puts warnings and errors in the trace (info and debug are dropped). */
function traceLogger(world: World, name: () => string): Logger {
  const line = (level: string) => (obj: object, msg: string): void => {
    world.note(`${name()} ${level} ${msg} ${JSON.stringify(obj)}`);
  };
  const nothing = (): void => {};
  return { debug: nothing, info: nothing, warn: line('warn'), error: line('error') };
}

const describeError = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class Cluster implements ClientSide {
  readonly nodes: SimNode[] = [];
  readonly founders: string[];
  readonly stats = { crashes: 0, restarts: 0, pauses: 0, diskFull: 0, joins: 0, promotions: 0, removals: 0, transfers: 0 };
  private nextId: number;
  private readonly nodeRng: Rng;
  private readonly faultRng: Rng;

  constructor(
    readonly world: World,
    readonly net: SimNetwork,
    private readonly checker: Checker,
    readonly profile: ClusterProfile,
    rng: Rng,
  ) {
    this.nodeRng = rng.fork();
    this.faultRng = rng.fork();
    this.founders = Array.from({ length: profile.nodes }, (_, i) => `n${i + 1}`);
    this.nextId = profile.nodes + 1;
    for (const id of this.founders) this.add(id);
  }

  private add(id: string): SimNode {
    const n = new SimNode(id, this.world, this.nodeRng.fork(), this.profile);
    if (this.profile.crashInSync > 0) {
      n.onSync = (ms) => {
        if (!this.faultRng.chance(this.profile.crashInSync)) return;
        const proc = n.process;
        this.world.after(this.faultRng.real(0, ms), `${n.id} dies during an fsync`, () => {
          if (n.process !== proc || n.state === 'down') return;
          this.crash(n.id);
          this.restartLater(n.id);
        });
      };
    }
    this.nodes.push(n);
    return n;
  }

  get(id: string): SimNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Nodes not retired. */
  live(): SimNode[] {
    return this.nodes.filter((n) => !n.retired);
  }

  get ids(): string[] {
    return this.live().map((n) => n.id);
  }

  private options(n: SimNode): NodeOptions {
    const p = this.profile;
    return {
      nodeId: n.id,
      initialMembers: this.founders,
      historyRevisions: p.historyRevisions + (p.historyPerNode ? 7 * Number(n.id.slice(1)) : 0),
      snapshotEveryEntries: p.snapshotEveryEntries,
      tickMs: p.tickMs,
      electionTicks: p.electionTicks,
      heartbeatTicks: p.heartbeatTicks,
      sessionCheckIntervalMs: p.sessionCheckIntervalMs,
      diskCheckIntervalMs: p.diskCheckIntervalMs,
      onFatal: (err) => this.fatal(n, err),
    };
  }

  private fatal(n: SimNode, err: unknown): void {
    this.checker.fail('fatal', `${n.id}#${n.incarnation} stopped: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  }

  /** Starts (or restarts) node `id` on its disk; it is up once CoordNode.start resolves. */
  start(id: string): void {
    const n = this.get(id);
    if (n.state !== 'down' || n.retired) throw new Error(`${id} is ${n.retired ? 'retired' : n.state}`);
    n.incarnation++;
    const proc = new Process(this.world, `${id}#${n.incarnation}`, n.rate, n.offset + this.world.now);
    n.process = proc;
    n.state = 'starting';
    const transport = this.net.attach(id, proc);
    this.world.note(`${proc.name} starting`);
    const boot = async (): Promise<void> => {
      const storage = await SimStorage.open(n.disk);
      const env: NodeEnv = {
        clock: { now: () => proc.now() },
        scheduler: proc.scheduler(),
        random: () => n.random.u32(),
        transport,
        storage,
        log: traceLogger(this.world, () => proc.name),
      };
      const node = await CoordNode.start(env, this.options(n));
      if (!proc.alive) return;
      n.node = node;
      n.state = 'up';
      this.world.note(`${proc.name} up (store rev ${node.store.rev})`);
    };
    // Run inside the process, so a crash during start leaves nothing of it running.
    proc.runNow(`${id} boot`, () => {
      boot().catch((err: unknown) => {
        if (!proc.alive) return;
        if (isNoSpaceError(err)) {
          // It cannot even start on a full disk: the process exits, and its supervisor tries again.
          this.world.note(`${proc.name} exits: ${describeError(err)}`);
          this.crash(id);
          this.restartLater(id, 300);
          return;
        }
        this.fatal(n, err);
      });
    });
  }

  /** The process dies: unsynced writes may be lost, the node is dropped without stop(). */
  crash(id: string, how?: CrashOptions): void {
    const n = this.get(id);
    if (n.state === 'down') return;
    this.world.note(`${n.process!.name} crashes`);
    this.stats.crashes++;
    n.disk.crash(how);
    n.process!.kill();
    n.process = null;
    n.node = null;
    n.state = 'down';
    this.checker.crashed(id);
  }

  restart(id: string): void {
    this.stats.restarts++;
    this.start(id);
  }

  /** Restarts `id` after a while (the profile's restart time), unless it is up or retired by then. */
  restartLater(id: string, meanMs = this.profile.restartMs): void {
    this.world.after(this.faultRng.exp(meanMs), `restart ${id}`, () => {
      const n = this.get(id);
      if (n.state === 'down' && !n.retired) this.restart(id);
    });
  }

  /** The node's process stops running for `ms` (a GC pause, a frozen VM). */
  pause(id: string, ms: number): void {
    const n = this.get(id);
    if (n.process === null) return;
    this.stats.pauses++;
    n.process.pause(ms);
    this.world.note(`${n.process.name} paused until ${n.process.pausedUntil}`);
  }

  /** The node's disk is full from its next write on, until diskFreed(). */
  diskFull(id: string, fault: WriteFault): void {
    const n = this.get(id);
    this.stats.diskFull++;
    n.disk.faults.writes.push(fault);
    n.disk.freeBytes = 0;
    this.world.note(`${id} disk full (${fault})`);
  }

  diskFreed(id: string): void {
    const n = this.get(id);
    n.disk.faults.writes.length = 0;
    n.disk.freeBytes = 1 << 30;
  }

  up(): SimNode[] {
    return this.nodes.filter((n) => n.state === 'up');
  }

  down(): SimNode[] {
    return this.live().filter((n) => n.state === 'down');
  }

  /** The live nodes that believe they lead. */
  leaders(): string[] {
    return this.up().filter((n) => n.node!.isLeader).map((n) => n.id);
  }

  /** The membership the (one) leader has, or null. */
  membership(): Membership | null {
    const leaders = this.leaders();
    if (leaders.length !== 1) return null;
    return this.get(leaders[0]!).node!.status().membership;
  }

  // ---------------------------------------------------------------- membership

  private async change(change: ConfChange): Promise<boolean> {
    const leader = this.leaders()[0];
    if (leader === undefined) return false;
    const node = this.get(leader).node!;
    try {
      const outcome = await node.changeMembership(change);
      this.world.note(`membership: ${change.op} ${change.node} committed (${outcome.ok ? 'ok' : outcome.error.code})`);
      return outcome.ok;
    } catch (err) {
      this.world.note(`membership: ${change.op} ${change.node} refused: ${describeError(err)}`);
      return false;
    }
  }

  /** Starts a new node as a blank joiner and asks the leader to add it as a learner. */
  join(): void {
    const id = `n${this.nextId++}`;
    this.stats.joins++;
    this.add(id);
    this.world.note(`membership: ${id} joins`);
    this.start(id);
    void this.change({ op: 'add-learner', node: id }).then((ok) => {
      if (!ok) this.retire(id);
    });
  }

  /** Asks the leader to make learner `id` a voter. */
  promote(id: string): void {
    this.stats.promotions++;
    void this.change({ op: 'promote', node: id });
  }

  /** Asks the leader to remove `id`; once that is committed, the node is retired. */
  remove(id: string): void {
    this.stats.removals++;
    void this.change({ op: 'remove', node: id }).then((ok) => {
      if (ok) this.retire(id);
    });
  }

  /** The node stops for good and its id is never used again. */
  retire(id: string): void {
    const n = this.get(id);
    if (n.retired) return;
    this.crash(id);
    n.retired = true;
    this.world.note(`membership: ${id} retired`);
  }

  /** Asks the leader to hand leadership to `target`. */
  transfer(target: string): void {
    const leader = this.leaders()[0];
    if (leader === undefined) return;
    this.stats.transfers++;
    try {
      this.get(leader).node!.transferLeadership(target);
      this.world.note(`transfer: ${leader} hands leadership to ${target}`);
    } catch (err) {
      this.world.note(`transfer to ${target} refused: ${describeError(err)}`);
    }
  }

  views(): NodeView[] {
    return this.nodes.map((n) => ({
      id: n.id,
      incarnation: n.incarnation,
      up: n.state === 'up',
      store: n.state === 'up' ? n.node!.store : null,
      diskFull: n.state === 'up' && n.node!.diskState === 'nospace',
    }));
  }

  // ---------------------------------------------------------------- ClientSide

  nodeIds(): readonly string[] {
    return this.ids;
  }

  target(id: string): { api: ClientNodeApi; process: Process } | null {
    // A node still starting is not listening yet: the connection is refused.
    const n = this.get(id);
    if (n.state !== 'up') return null;
    return { api: n.node!, process: n.process! };
  }

  clientsReach(id: string): boolean {
    return !this.get(id).clientsCut;
  }
}
