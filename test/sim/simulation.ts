/**
 * One simulated run, from a seed: the world, a cluster of real nodes, clients, a nemesis that
 * injects faults, the checker after every event, and the end-of-run checks.
 *
 * The seed picks everything (swarm testing, as in TigerBeetle's VOPR and FoundationDB's
 * simulator): cluster timing, disk and network weather, the workload mix, which kinds of fault
 * this run injects and how often. A run has two phases:
 * - chaos: `steps` nemesis steps (about 100 ms of virtual time apart) while clients work;
 * - the quiet tail: faults stop (links heal, crashed nodes restart, pauses end), clients finish
 *   what they were doing; then a leader must appear within a bound, every client must complete a
 *   write and a read, every replica must converge on the same revision, and no request a live
 *   node took may still be pending. Then the histories are checked for linearizability.
 */
import { EntryType } from '../../server/consensus/core/types.ts';
import { decodeCommand } from '../../server/store/commands.ts';
import { Store } from '../../server/store/store.ts';
import { Checker, Violation, type ApplyCommitted } from './checks.ts';
import { ClientLog, randomWorkload, SimClient, SimWatcher, type WorkloadProfile } from './clients.ts';
import { Cluster, randomCluster, type ClusterProfile } from './cluster.ts';
import { checkLinearizable, describeOp } from './linearizability.ts';
import { installMutation } from './mutations.ts';
import { randomProfile, SimNetwork, type NetworkProfile } from './network.ts';
import { observeCores } from './probes.ts';
import { Rng, World } from './world.ts';

export interface SimConfig {
  seed: number;
  /** Nemesis steps in the chaos phase (default 40). */
  steps?: number;
  /** Cluster size (default: drawn from the seed, 3 or 5). */
  nodes?: number;
  /** A planted bug (mutations.ts). */
  mutation?: string;
  /** Keep every trace line (for --trace). */
  traceAll?: boolean;
  /** No faults at all (a calm run). */
  calm?: boolean;
  /**
   * Parts of the swarm to leave out (the seed's other choices stay as they are): 'disk-full'
   * faults, 'single-node' clusters (3 founders instead), 'membership' changes, 'crash' faults.
   */
  avoid?: readonly Avoidable[];
}

export type Avoidable = 'disk-full' | 'single-node' | 'membership' | 'crash';
export const avoidable: readonly Avoidable[] = ['disk-full', 'single-node', 'membership', 'crash'];

export interface SimResult {
  seed: number;
  ok: boolean;
  violation: Violation | null;
  traceHash: string;
  events: number;
  virtualMs: number;
  wallMs: number;
  lastEvents: string[];
  /** Each node at the end: its role, term, log and store positions, and (a leader's) progress. */
  nodes: string[];
  trace: string[] | null;
  summary: Record<string, unknown>;
}

/** Which faults this run injects, and how often (relative weights; 0: never). */
interface Nemesis {
  crash: number;
  crashLeader: number;
  isolate: number;
  split: number;
  oneWay: number;
  heal: number;
  pause: number;
  diskFull: number;
  member: number;
  transfer: number;
  nothing: number;
}

function randomNemesis(rng: Rng, calm: boolean): Nemesis {
  if (calm) return { crash: 0, crashLeader: 0, isolate: 0, split: 0, oneWay: 0, heal: 0, pause: 0, diskFull: 0, member: 0, transfer: 0, nothing: 1 };
  const on = (p: number, w: number): number => (rng.chance(p) ? w : 0);
  return {
    crash: on(0.6, rng.between(1, 3)),
    crashLeader: on(0.5, rng.between(1, 3)),
    isolate: on(0.6, rng.between(1, 3)),
    split: on(0.5, rng.between(1, 2)),
    oneWay: on(0.4, rng.between(1, 2)),
    heal: 3,
    pause: on(0.4, rng.between(1, 2)),
    diskFull: on(0.25, 1),
    member: on(0.3, rng.between(1, 3)),
    transfer: on(0.3, rng.between(1, 2)),
    nothing: rng.between(2, 8),
  };
}

/** The driver's apply path, for the checker's own replica. */
const applyCommitted: ApplyCommitted = (store, entry) => {
  if (entry.type === EntryType.Noop) store.apply({ t: 'noop', term: entry.term });
  else if (entry.type === EntryType.Command) store.apply(decodeCommand(entry.data));
};

export async function simulate(config: SimConfig): Promise<SimResult> {
  const started = performance.now();
  const world = new World(config.seed, { traceAll: config.traceAll ?? false });
  const rng = world.rng;
  const avoid = new Set(config.avoid ?? []);
  const clusterProfile: ClusterProfile = randomCluster(rng.fork(), config.nodes);
  if (avoid.has('single-node') && clusterProfile.nodes === 1) clusterProfile.nodes = 3;
  if (avoid.has('crash')) clusterProfile.crashInSync = 0;
  const netProfile: NetworkProfile = randomProfile(rng.fork());
  const workload: WorkloadProfile = randomWorkload(rng.fork());
  const nemesis = randomNemesis(rng.fork(), config.calm ?? false);
  if (avoid.has('disk-full')) nemesis.diskFull = 0;
  if (avoid.has('membership')) nemesis.member = 0;
  if (avoid.has('crash')) nemesis.crash = nemesis.crashLeader = 0;
  const nemesisRng = rng.fork();
  const steps = config.steps ?? 40;
  const maxEvents = 2_000_000;

  const checker = new Checker(() => world.now, {
    oracle: { store: new Store({ historyRevisions: 1e9, historyBytes: Infinity }), applied: 1, apply: applyCommitted },
  });
  const undo: (() => void)[] = [];
  // Leader churn: now and then a node that just became leader dies a moment later, before its
  // no-op and the entries behind it are everywhere (the histories of Raft's Figure 8).
  const churn = config.calm === true || avoid.has('crash') ? 0 : nemesisRng.pick([0, 0, 0.2, 0.5]);
  const churnMs = nemesisRng.pick([1, 5, 20]);
  let chaos = true;
  undo.push(observeCores((core, rd) => {
    checker.coreReady(core, rd);
    if (rd.softState?.role === 'leader' && chaos && churn > 0 && nemesisRng.chance(churn)) {
      const n = cluster.get(core.id);
      const proc = n.process;
      world.after(nemesisRng.exp(churnMs), `nemesis: ${core.id}, new leader, dies`, () => {
        if (n.process !== proc || n.state === 'down') return;
        cluster.crash(n.id);
        cluster.restartLater(n.id);
      });
    }
  }));
  if (config.mutation !== undefined) undo.push(installMutation(config.mutation));

  const net = new SimNetwork(world, rng.fork(), netProfile);
  const cluster = new Cluster(world, net, checker, clusterProfile, rng.fork());
  const log = new ClientLog();
  const clients: SimClient[] = [];
  const clientRng = rng.fork();
  for (let i = 0; i < workload.clients; i++) clients.push(new SimClient(`c${i + 1}`, cluster, clientRng.fork(), workload, log, checker));
  const watcher = new SimWatcher('w1', cluster, clientRng.fork(), checker);

  // A runaway guard: work that never lets virtual time move (a loop of soon()s, a retry storm).
  let sameTimeSince = 0;
  let sameTimeEvents = 0;
  const afterEvent = (): string | null => {
    if (world.now !== sameTimeSince) {
      sameTimeSince = world.now;
      sameTimeEvents = 0;
    } else if (++sameTimeEvents > 20_000) {
      checker.fail('runaway', `over 20,000 events at virtual time ${world.now} ms without time moving`);
    }
    if (world.events > maxEvents) checker.fail('runaway', `over ${maxEvents} events (virtual time ${world.now} ms)`);
    if (checker.violation === null) checker.poll(cluster.views());
    return checker.violation === null ? null : 'violation';
  };

  world.note(`leader churn ${churn} (${churnMs} ms)`);
  world.note(`seed ${config.seed} cluster ${JSON.stringify(clusterProfile)} net ${JSON.stringify(netProfile)} workload ${JSON.stringify(workload)} nemesis ${JSON.stringify(nemesis)}`);
  let outcome = 'running';
  try {
    for (const id of cluster.ids) cluster.start(id);
    watcher.start();
    const runs = clients.map((c) => c.run().catch((err: unknown) => {
      checker.fail('client', `${c.name}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    }));

    // ---- chaos
    const stepMs = 100;
    for (let s = 0; s < steps && checker.violation === null; s++) {
      outcome = await world.run({ until: world.now + nemesisRng.exp(stepMs), after: afterEvent });
      if (checker.violation !== null) break;
      act(nemesisRng, nemesis, cluster, net);
    }

    // ---- the quiet tail
    if (checker.violation === null) {
      net.heal();
      for (const n of cluster.nodes) {
        n.clientsCut = false;
        n.quiet = true;
        cluster.diskFreed(n.id);
        n.process?.resume();
      }
      for (const n of cluster.down()) cluster.restart(n.id);
      chaos = false;
      world.note('quiet: faults stop');
      const quietAt = world.now;
      for (const c of clients) c.stopped = true;
      let clientsDone = false;
      void Promise.all(runs).then(() => {
        clientsDone = true;
      });
      outcome = await world.run({ until: world.now + 3 * workload.opDeadlineMs, after: afterEvent, done: () => clientsDone });
      if (checker.violation === null && !clientsDone) {
        checker.fail('liveness', `clients still busy ${world.now - quietAt} ms into the quiet tail: ${clients.filter((c) => c.current !== null).map((c) => `${c.name} ${c.current!.what} since ${c.current!.sinceMs}`).join(', ')}`);
      }
      // A leader, within a bound: elections take a few timeouts, restarts replay their logs.
      const electionMs = clusterProfile.electionTicks * clusterProfile.tickMs;
      const leaderBound = 20 * electionMs + 2000;
      if (checker.violation === null) {
        const leaderSince = world.now;
        const settled = (): boolean => cluster.leaders().length === 1 && cluster.down().length === 0 && cluster.live().every((n) => n.state === 'up');
        outcome = await world.run({ until: world.now + leaderBound, after: afterEvent, done: settled });
        if (checker.violation === null && !settled()) {
          checker.fail('liveness', `no single leader with every node up ${world.now - leaderSince} ms after faults stopped (leaders: ${cluster.leaders().join(', ') || 'none'}; up: ${cluster.up().map((n) => n.id).join(', ')})`);
        }
        // Nodes that joined but never became members (their change was refused) leave now.
        const m = cluster.membership();
        if (m !== null) for (const n of cluster.live()) if (!m.voters.includes(n.id) && !m.learners.includes(n.id)) cluster.retire(n.id);
      }
      // Every client makes progress.
      if (checker.violation === null) {
        const probes: (string | null)[] = [];
        let probed = 0;
        for (const c of clients) {
          void c.finalProbe(leaderBound).then((r) => {
            probes.push(r);
            probed++;
          });
        }
        outcome = await world.run({ until: world.now + leaderBound + workload.opDeadlineMs, after: afterEvent, done: () => probed === clients.length });
        const stuck = probes.filter((p) => p !== null);
        if (checker.violation === null && probed < clients.length) checker.fail('liveness', `client probes still running after ${leaderBound} ms`);
        else if (checker.violation === null && stuck.length > 0) checker.fail('liveness', stuck.join('; '));
      }
      // Every replica converges on the same revision.
      if (checker.violation === null) {
        const converged = (): boolean => {
          const revs = cluster.live().map((n) => (n.state === 'up' ? n.node!.store.rev : -1));
          return revs.every((r) => r === revs[0] && r >= 0);
        };
        outcome = await world.run({ until: world.now + leaderBound, after: afterEvent, done: converged });
        if (checker.violation === null && !converged()) {
          checker.fail('liveness', `replicas did not converge: ${cluster.live().map((n) => `${n.id} ${n.state === 'up' ? `rev ${n.node!.store.rev}` : n.state}`).join(', ')}`);
        }
        // The replicated settings (server/store/settings.ts) are decided, and the same everywhere.
        if (checker.violation === null) {
          const values = (): Set<string> => new Set(cluster.live().map((n) => (n.state === 'up' ? JSON.stringify(n.node!.store.settings) : n.state)));
          const agree = (): boolean => {
            const v = values();
            return v.size === 1 && !v.has('null') && [...v][0]!.startsWith('{');
          };
          outcome = await world.run({ until: world.now + leaderBound, after: afterEvent, done: agree });
          if (checker.violation === null && !agree()) {
            checker.fail('replicas-agree', `replicated settings differ or were never decided: ${cluster.live().map((n) => `${n.id} ${n.state === 'up' ? JSON.stringify(n.node!.store.settings) : n.state}`).join('; ')}`);
          }
        }
      }
      // The watcher was sent every revision up to the last.
      if (checker.violation === null) {
        const last = (): number => Math.max(...cluster.live().map((n) => (n.state === 'up' ? n.node!.store.rev : 0)));
        const caughtUp = (): boolean => watcher.nextRev > last();
        outcome = await world.run({ until: world.now + leaderBound, after: afterEvent, done: caughtUp });
        if (checker.violation === null && !caughtUp()) checker.fail('liveness', `the watcher of /** is at revision ${watcher.nextRev - 1}, the cluster at ${last()}`);
        watcher.stopped = true;
        watcher.stop();
      }
      // Nothing a live node took is left hanging.
      if (checker.violation === null) {
        for (const r of log.inflight.values()) {
          if (r.process.alive && world.now - r.sinceMs > 2 * leaderBound) {
            checker.fail('liveness', `${r.what} still pending after ${world.now - r.sinceMs} ms`);
            break;
          }
        }
      }
      if (checker.violation === null) checker.finish();
    }

    // ---- linearizability
    let linear: Record<string, unknown> = {};
    if (checker.violation === null) {
      const result = checkLinearizable(log.ops, { maxStepsPerKey: 2_000_000 });
      linear = { keys: result.stats.keys, ops: result.stats.ops, steps: result.stats.steps };
      if (!result.ok) {
        if (result.inconclusive) {
          linear['inconclusive'] = result.key;
        } else {
          const meta = log.meta[result.failed.index]!;
          checker.fail('linearizability', `key ${result.key}: ${describeOp(result.failed.index, result.failed.op)} ` +
            `(called at ${meta.callMs} ms on ${meta.nodes.join(' → ')}, answered at ${meta.returnMs ?? '?'} ms)\n${result.explanation}`);
        }
      }
    }

    return {
      seed: config.seed,
      ok: checker.violation === null,
      violation: checker.violation,
      traceHash: world.trace.hash,
      events: world.events,
      virtualMs: Math.round(world.now),
      wallMs: Math.round(performance.now() - started),
      lastEvents: world.trace.last(60),
      nodes: describeNodes(cluster),
      trace: world.trace.all,
      summary: {
        outcome,
        nodes: clusterProfile.nodes,
        clients: workload.clients,
        ...checker.summary,
        ...log.counts,
        histories: log.ops.length,
        ...linear,
        ...cluster.stats,
        watch: watcher.stats,
        net: net.stats,
      },
    };
  } finally {
    for (const u of undo.reverse()) u();
  }
}

function describeNodes(cluster: Cluster): string[] {
  return cluster.nodes.map((n) => {
    if (n.state !== 'up') return `${n.id}: ${n.retired ? 'retired' : n.state}`;
    try {
      const s = n.node!.status();
      const progress = s.progress === null ? '' : ` progress ${Object.entries(s.progress)
        .map(([id, p]) => `${id}:${p.state} match ${p.match} next ${p.next}${p.recentActive ? '' : ' inactive'}`).join(', ')}`;
      return `${n.id}#${n.incarnation}: ${s.role} term ${s.term} leader ${s.leader ?? '-'} commit ${s.commit} applied ${s.applied} ` +
        `last ${s.lastIndex} persisted ${s.persisted} rev ${s.rev} disk ${s.disk} voters ${s.membership.voters.join(',')}` +
        `${s.membership.learners.length > 0 ? ` learners ${s.membership.learners.join(',')}` : ''}` +
        `${s.transferee !== null ? ` transferring to ${s.transferee}` : ''}${progress}`;
    } catch (err) {
      return `${n.id}: status failed: ${(err as Error).message}`;
    }
  });
}

/** One nemesis step. */
function act(rng: Rng, n: Nemesis, cluster: Cluster, net: SimNetwork): void {
  const world = cluster.world;
  const kinds = Object.entries(n).filter(([, w]) => w > 0) as [keyof Nemesis, number][];
  const total = kinds.reduce((a, [, w]) => a + w, 0);
  let x = rng.float() * total;
  let kind: keyof Nemesis = 'nothing';
  for (const [k, w] of kinds) {
    x -= w;
    if (x < 0) {
      kind = k;
      break;
    }
  }
  const ids = cluster.ids;
  const minority = Math.floor((ids.length - 1) / 2);
  switch (kind) {
    case 'crash':
    case 'crashLeader': {
      // Mostly keep a majority up; now and then take one more down.
      const down = cluster.live().filter((x) => x.state !== 'up').length;
      if (down >= minority && !rng.chance(0.1)) return;
      const leaders = cluster.leaders();
      const up = cluster.up().map((x) => x.id);
      if (up.length === 0) return;
      const victim = kind === 'crashLeader' && leaders.length > 0 ? rng.pick(leaders) : rng.pick(up);
      cluster.crash(victim);
      cluster.restartLater(victim, rng.pick([cluster.profile.restartMs, 300]));
      return;
    }
    case 'isolate': {
      const leaders = cluster.leaders();
      const victim = leaders.length > 0 && rng.chance(0.5) ? rng.pick(leaders) : rng.pick(ids);
      net.isolate(victim, ids);
      if (rng.chance(0.5)) cluster.get(victim).clientsCut = true;
      world.note(`nemesis: isolate ${victim}${cluster.get(victim).clientsCut ? ' (clients too)' : ''}`);
      return;
    }
    case 'split': {
      if (ids.length < 2) return;
      const shuffled = rng.sample(ids, ids.length);
      const k = rng.between(1, ids.length - 1);
      net.partition([shuffled.slice(0, k), shuffled.slice(k)]);
      world.note(`nemesis: split ${shuffled.slice(0, k).join(',')} | ${shuffled.slice(k).join(',')}`);
      return;
    }
    case 'oneWay': {
      if (ids.length < 2) return;
      const [a, b] = rng.sample(ids, 2);
      net.cut(a!, b!);
      world.note(`nemesis: cut ${a} > ${b}`);
      return;
    }
    case 'heal':
      net.heal();
      for (const x of cluster.nodes) x.clientsCut = false;
      world.note('nemesis: heal');
      return;
    case 'pause': {
      const victim = rng.pick(ids);
      cluster.pause(victim, rng.exp(rng.pick([50, 300, 1500])));
      return;
    }
    case 'diskFull': {
      const victim = rng.pick(ids);
      // One to three writes in a row fail (the disk stays full meanwhile: only session commands
      // and retries are written in NOSPACE mode, so the later failures fall on those).
      const faults = rng.between(1, 3);
      for (let i = 0; i < faults; i++) cluster.diskFull(victim, rng.pick(['nospace-before', 'nospace-after', 'nospace-torn'] as const));
      world.after(rng.exp(500), `${victim} disk freed`, () => cluster.diskFreed(victim));
      return;
    }
    case 'member': {
      const m = cluster.membership();
      if (m === null) return;
      if (m.learners.length > 0 && rng.chance(0.7)) {
        cluster.promote(rng.pick(m.learners));
      } else if (m.voters.length + m.learners.length < 5 && cluster.nodes.length < cluster.founders.length + 6 && rng.chance(0.6)) {
        cluster.join();
      } else if (m.voters.length > 3 || (m.voters.length > 1 && rng.chance(0.2))) {
        cluster.remove(rng.pick(m.voters));
      }
      return;
    }
    case 'transfer': {
      const m = cluster.membership();
      const leader = cluster.leaders()[0];
      if (m === null || leader === undefined) return;
      const others = m.voters.filter((v) => v !== leader);
      if (others.length > 0) cluster.transfer(rng.pick(others));
      return;
    }
    case 'nothing':
      return;
  }
}
