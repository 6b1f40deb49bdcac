/**
 * Faults on three real `coord server` processes while clients work: the leader SIGKILLed (most
 * of all) and restarted on its data, any node frozen with SIGSTOP for longer than an election
 * timeout and thawed. Afterwards, with every node back:
 * - every acknowledged write is on every node, at its revision (a read at that revision on each);
 * - each key's history is linearizable (the simulator's checker, on real timestamps, unknown
 *   outcomes allowed);
 * - every client made progress through the faults.
 * Bounded here (about 25 s of faults); COORD_SOAK=1 runs it for 3 minutes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.ts';
import { checkLinearizable, type HistoryOp } from '../sim/linearizability.ts';
import { TestCluster } from '../helpers/cluster.ts';
import { expectAckedEverywhere, pick, registerWork, sleep, type Acked } from '../helpers/fault-checks.ts';

const soak = process.env['COORD_SOAK'] === '1';
const FAULT_MS = soak ? 180_000 : 25_000;
const KEYS = ['/f/a', '/f/b', '/f/c'];

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

describe('faults on three real processes', { timeout: FAULT_MS + 120_000 }, () => {
  it('loses no acknowledged write and stays linearizable through leader kills and frozen nodes', async () => {
    cluster = await TestCluster.start();
    const c = cluster;
    const clients = await Promise.all([0, 1, 2, 3].map((i) => {
      const k = i % 3;
      return connect({ urls: [...c.urls.slice(k), ...c.urls.slice(0, k)], requestTimeoutMs: 10_000, sessionTtlMs: 15_000 });
    }));
    const history: HistoryOp[] = [];
    const acked: Acked[] = [];
    const end = performance.now() + FAULT_MS;
    let stop = false;
    const workers = clients.map((cl, i) => registerWork(i, cl, KEYS, () => stop, history, acked));

    // The nemesis: one node out at a time (three nodes survive one), the leader most often.
    const faults: string[] = [];
    while (performance.now() < end) {
      await sleep(500 + Math.random() * 1500);
      const leader = await c.waitReady(20_000);
      if (Math.random() < 0.6) {
        faults.push(`kill ${leader}`);
        await c.kill(leader, 'SIGKILL');
        await sleep(300 + Math.random() * 1200);
        await c.startNode(leader);
      } else {
        const victim = pick(c.nodes).id;
        faults.push(`freeze ${victim}`);
        const proc = c.node(victim).server!.proc;
        proc.kill('SIGSTOP');
        await sleep(1000 + Math.random() * 1500);
        proc.kill('SIGCONT');
      }
    }
    await c.waitReady(20_000);
    stop = true;
    const progress = await Promise.all(workers);
    expect(progress.every((p) => p > 0), `ops per client: ${progress.join(', ')}`).toBe(true);

    // Every acknowledged write, on every node, at its revision.
    await expectAckedEverywhere(c, acked);

    const result = checkLinearizable(history);
    expect(result.ok, result.ok ? '' : `${result.explanation ?? ''}\nfaults: ${faults.join(', ')}`).toBe(true);
    expect(faults.length).toBeGreaterThan(3);
    for (const cl of clients) await cl.close();
  });
});
