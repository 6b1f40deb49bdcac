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
import { connect, type CoordClient } from '../../client/index.ts';
import { checkLinearizable, type HistoryOp } from '../sim/linearizability.ts';
import { TestCluster } from '../helpers/cluster.ts';

const soak = process.env['COORD_SOAK'] === '1';
const FAULT_MS = soak ? 180_000 : 25_000;
const KEYS = ['/f/a', '/f/b', '/f/c'];
const td = new TextDecoder();

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

interface Acked { key: string; value: string; rev: number }

/** One client: random GETs, blind SETs and compare-and-SETs, recorded for the checker. */
async function work(id: number, c: CoordClient, until: () => boolean, history: HistoryOp[], acked: Acked[]): Promise<number> {
  let n = 0;
  let done = 0;
  const lastRev = new Map<string, number>();
  while (!until()) {
    const key = pick(KEYS);
    const call = performance.now();
    const r = Math.random();
    if (r < 0.4) {
      try {
        const g = await c.get(key);
        lastRev.set(key, g.rev);
        history.push({ clientId: id, key, op: 'get', call, return: performance.now(), output: { value: g.value, rev: g.rev, at: g.at } });
        done++;
      } catch {
        // a read with no answer tells nothing
      }
      continue;
    }
    const value = `c${id}-${n++}`;
    const cond = r < 0.7 ? -1 : (lastRev.get(key) ?? 0);
    try {
      const rev = await c.set(key, value, { rev: cond });
      history.push({ clientId: id, key, op: 'set', input: { value, cond }, call, return: performance.now(), output: { ok: true, rev } });
      acked.push({ key, value, rev });
      lastRev.set(key, rev);
      done++;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'REV_MISMATCH') {
        const fileRev = (err as { details?: { rev?: number } }).details?.rev;
        history.push({ clientId: id, key, op: 'set', input: { value, cond }, call, return: performance.now(), output: { ok: false, error: 'REV_MISMATCH', ...(fileRev !== undefined ? { rev: fileRev } : {}) } });
        done++;
      } else {
        // TIMEOUT, UNAVAILABLE, a lost session: the write may or may not have happened.
        history.push({ clientId: id, key, op: 'set', input: { value, cond }, call, return: null, output: null });
      }
    }
  }
  return done;
}

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
    const workers = clients.map((cl, i) => work(i, cl, () => stop, history, acked));

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
    const head = Math.max(...acked.map((a) => a.rev));
    for (const n of c.nodes) {
      const direct = await connect({ urls: n.url });
      for (const a of acked) {
        const got = await direct.get(a.key, { rev: a.rev, timeoutMs: 10_000 });
        expect(got.value === null ? null : td.decode(got.value), `${a.key}@${a.rev} on ${n.id}`).toBe(a.value);
      }
      expect(await direct.rev({ consistency: 'serializable' })).toBeGreaterThanOrEqual(head);
      await direct.close();
    }

    const result = checkLinearizable(history);
    expect(result.ok, result.ok ? '' : `${result.explanation ?? ''}\nfaults: ${faults.join(', ')}`).toBe(true);
    expect(faults.length).toBeGreaterThan(3);
    for (const cl of clients) await cl.close();
  });
});
