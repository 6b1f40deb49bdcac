/**
 * A cluster of real coord nodes (CoordNode: the driver, the Raft core, the store, the session
 * tracker and the watch hub) in the simulated world. Each node has its own simulated disk
 * (SimDisk, whose fsyncs take a seeded time) under the production log storage (SimStorage), its
 * own process (timers that die with it, pauses, a drifting clock), its own seeded randomness, and
 * a transport on the simulated network.
 *
 * crash(id): the disk loses what was not synced (sim-disk.ts), the process dies with everything
 * it was waiting for, and the node object is dropped without stop(). restart(id): a new process
 * opens the same disk and runs CoordNode.start again.
 */
import type { NodeEnv } from '../../server/consensus/env.ts';
import type { Logger } from '../../server/log.ts';
import { CoordNode, type NodeOptions } from '../../server/node.ts';
import type { Checker, NodeView } from './checks.ts';
import type { ClientNodeApi, ClientSide } from './clients.ts';
import type { SimNetwork } from './network.ts';
import { SimDisk, SimStorage } from './sim-storage.ts';
import { Process, type Rng, type World } from './world.ts';

export interface ClusterProfile {
  nodes: number;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEveryEntries: number;
  historyRevisions: number;
  sessionCheckIntervalMs: number;
  /** fsync latency: base + exponential part, and now and then a slow one. */
  fsyncBaseMs: number;
  fsyncJitterMs: number;
  fsyncSlowChance: number;
  fsyncSlowMs: number;
  /** Largest clock drift between nodes, as a fraction (0.01: ±1%). */
  drift: number;
}

export function randomCluster(rng: Rng, nodes?: number): ClusterProfile {
  return {
    nodes: nodes ?? rng.pick([3, 3, 5]),
    tickMs: rng.pick([10, 20]),
    electionTicks: rng.pick([10, 15]),
    heartbeatTicks: rng.pick([1, 2, 3]),
    snapshotEveryEntries: rng.pick([8, 30, 200]),
    historyRevisions: rng.pick([20, 100, 1000]),
    sessionCheckIntervalMs: rng.pick([20, 50, 100]),
    fsyncBaseMs: rng.real(0.05, 2),
    fsyncJitterMs: rng.real(0.05, 3),
    fsyncSlowChance: rng.pick([0, 0.01, 0.05]),
    fsyncSlowMs: rng.real(10, 100),
    drift: rng.pick([0, 0.001, 0.01]),
  };
}

/** One member of the cluster, across its restarts. */
export class SimNode {
  incarnation = 0;
  process: Process | null = null;
  node: CoordNode | null = null;
  state: 'down' | 'starting' | 'up' = 'down';
  /** Set while a partition cuts this node off from clients. */
  clientsCut = false;
  readonly disk: SimDisk;
  readonly random: Rng;
  readonly rate: number;
  readonly offset: number;

  constructor(readonly id: string, world: World, rng: Rng, private readonly profile: ClusterProfile) {
    this.random = rng.fork();
    this.rate = 1 + rng.real(-profile.drift, profile.drift);
    this.offset = rng.real(0, 1e6);
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
    const proc = this.process;
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

export class Cluster implements ClientSide {
  readonly nodes: SimNode[] = [];
  readonly ids: string[];
  /** Node ids, founders first. */
  readonly stats = { crashes: 0, restarts: 0, pauses: 0 };

  constructor(
    readonly world: World,
    readonly net: SimNetwork,
    private readonly checker: Checker,
    readonly profile: ClusterProfile,
    rng: Rng,
  ) {
    this.ids = Array.from({ length: profile.nodes }, (_, i) => `n${i + 1}`);
    for (const id of this.ids) this.nodes.push(new SimNode(id, world, rng, profile));
  }

  get(id: string): SimNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  private options(n: SimNode): NodeOptions {
    const p = this.profile;
    return {
      nodeId: n.id,
      initialMembers: this.ids,
      historyRevisions: p.historyRevisions,
      snapshotEveryEntries: p.snapshotEveryEntries,
      tickMs: p.tickMs,
      electionTicks: p.electionTicks,
      heartbeatTicks: p.heartbeatTicks,
      sessionCheckIntervalMs: p.sessionCheckIntervalMs,
      onFatal: (err) => this.fatal(n, err),
    };
  }

  private fatal(n: SimNode, err: unknown): void {
    this.checker.fail('fatal', `${n.id}#${n.incarnation} stopped: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  }

  /** Starts (or restarts) node `id` on its disk; resolves once it runs (or never, if it crashes first). */
  start(id: string): void {
    const n = this.get(id);
    if (n.state !== 'down') throw new Error(`${id} is ${n.state}`);
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
        if (proc.alive) this.fatal(n, err);
      });
    });
  }

  /** The process dies: unsynced writes may be lost, the node is dropped without stop(). */
  crash(id: string): void {
    const n = this.get(id);
    if (n.state === 'down') return;
    this.world.note(`${n.process!.name} crashes`);
    this.stats.crashes++;
    n.disk.crash();
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

  /** The node's process stops running for `ms` (a GC pause, a frozen VM). */
  pause(id: string, ms: number): void {
    const n = this.get(id);
    if (n.process === null) return;
    this.stats.pauses++;
    n.process.pause(ms);
    this.world.note(`${n.process.name} paused until ${n.process.pausedUntil}`);
  }

  up(): SimNode[] {
    return this.nodes.filter((n) => n.state === 'up');
  }

  down(): SimNode[] {
    return this.nodes.filter((n) => n.state === 'down');
  }

  /** The live nodes that believe they lead. */
  leaders(): string[] {
    return this.up().filter((n) => n.node!.isLeader).map((n) => n.id);
  }

  views(): NodeView[] {
    return this.nodes.map((n) => ({
      id: n.id,
      incarnation: n.incarnation,
      up: n.state === 'up',
      store: n.state === 'up' ? n.node!.store : null,
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
