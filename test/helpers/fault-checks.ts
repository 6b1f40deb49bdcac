/**
 * What the fault tests on real processes share (faults.test.ts: kills and freezes;
 * partition.test.ts: cut and blackholed links): the register workload (GET / blind SET /
 * compare-and-SET, recorded for the linearizability checker), the check that every acknowledged
 * write is on every node at its revision, and polling a node's /status.
 */
import { expect } from 'vitest';
import { connect, type CoordClient } from '../../client/index.ts';
import type { HistoryOp } from '../sim/linearizability.ts';
import type { TestCluster } from './cluster.ts';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const td = new TextDecoder();

export interface Acked { key: string; value: string; rev: number }

export interface NodeStatus { id: string; role: string; term: number; leader: string | null; ready: boolean; rev: number }

export async function status(cluster: TestCluster, id: string): Promise<NodeStatus | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${cluster.node(id).port}/status`, { signal: AbortSignal.timeout(2000) });
    return await r.json() as NodeStatus;
  } catch {
    return null;
  }
}

/** Polls until `ok` holds (returns performance.now() at that moment) or throws after `timeoutMs`. */
export async function until(what: string, ok: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 20): Promise<number> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (await ok()) return performance.now();
    if (performance.now() > end) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(everyMs);
  }
}

/** The one node among `ids` whose /status says it leads, or null. */
export async function leaderAmong(cluster: TestCluster, ids: readonly string[]): Promise<string | null> {
  const st = await Promise.all(ids.map((id) => status(cluster, id)));
  const leaders = st.filter((s) => s?.role === 'leader');
  return leaders.length === 1 ? leaders[0]!.id : null;
}

/**
 * One client's register workload until `stop()`: random GETs (a `readShare` of them), blind
 * SETs and compare-and-SETs on `keys`, each recorded in `history` (unknown outcome: return null) and, when acknowledged,
 * in `acked`. Returns the number of operations with a known outcome.
 */
export async function registerWork(id: number, c: CoordClient, keys: readonly string[], stop: () => boolean,
  history: HistoryOp[], acked: Acked[], readShare = 0.4): Promise<number> {
  let n = 0;
  let done = 0;
  const lastRev = new Map<string, number>();
  // A closed client fails at once: without the state check, a failed test would spin here.
  while (!stop() && c.state !== 'closed') {
    const key = pick(keys);
    const call = performance.now();
    const r = Math.random();
    if (r < readShare) {
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
    const cond = Math.random() < 0.5 ? -1 : (lastRev.get(key) ?? 0);
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

/** Every acknowledged write, on every node, at its revision; every node at least at the newest. */
export async function expectAckedEverywhere(cluster: TestCluster, acked: readonly Acked[]): Promise<void> {
  const head = Math.max(0, ...acked.map((a) => a.rev));
  for (const n of cluster.nodes) {
    const direct = await connect({ urls: n.url, requestTimeoutMs: 15_000 });
    try {
      for (const a of acked) {
        const got = await direct.get(a.key, { rev: a.rev, timeoutMs: 15_000 });
        expect(got.value === null ? null : td.decode(got.value), `${a.key}@${a.rev} on ${n.id}`).toBe(a.value);
      }
      expect(await direct.rev({ consistency: 'serializable' })).toBeGreaterThanOrEqual(head);
    } finally {
      await direct.close();
    }
  }
}
