/**
 * Generated client histories that are linearizable by construction, for the checker's own tests
 * and its benchmark (test/sim/linearizability.test.ts). Clients run against a reference store
 * (one global revision, Doozer's rule): each op's effect happens at one instant strictly between
 * its call and its return, effects are applied in time order, so the effect order is a
 * linearization that respects real time.
 */
import type { HistoryOp } from './register-model.ts';

/** Small deterministic PRNG (mulberry32): uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ConcurrentOptions {
  seed: number;
  /** Total ops (split evenly among clients). */
  ops: number;
  clients: number;
  /** Keys written (default 1). Writes to every key share the global revision. */
  keys?: number;
  /** Chance an op's outcome is unknown (return null); an unknown write takes effect half the time. */
  unknownRate?: number;
  /** Share of reads (default 0.5). */
  readRatio?: number;
  /** Longest gap between call and effect and between effect and return (default 10). */
  latency?: number;
  /** Reads report `at`, deletes of a missing file the store revision (default true). */
  withAt?: boolean;
  /** Share of REV_MISMATCH answers that report the file's rev, as the protocol does (default 1). */
  mismatchRevRate?: number;
}

/** Clients issuing get/set/del (plain, create, CAS from their last read, exact) concurrently. */
export function concurrentHistory(o: ConcurrentOptions): HistoryOp[] {
  const rnd = prng(o.seed);
  const int = (k: number): number => Math.floor(rnd() * k);
  const keys = Array.from({ length: o.keys ?? 1 }, (_, i) => `/k${i}`);
  const latency = o.latency ?? 10;
  const readRatio = o.readRatio ?? 0.5;
  const unknownRate = o.unknownRate ?? 0;
  const withAt = o.withAt ?? true;
  const mismatchRevRate = o.mismatchRevRate ?? 1;

  interface Planned { client: number; call: number; effect: number; ret: number; key: string; slot: number }
  const planned: Planned[] = [];
  const perClient = Math.ceil(o.ops / o.clients);
  for (let c = 0; c < o.clients; c++) {
    let t = rnd() * latency;
    for (let k = 0; k < perClient && planned.length < o.ops; k++) {
      const call = t;
      const effect = call + 0.001 + rnd() * latency;
      const ret = effect + 0.001 + rnd() * latency;
      planned.push({ client: c, call, effect, ret, key: keys[int(keys.length)]!, slot: planned.length });
      t = ret + rnd() * latency * 0.5;
    }
  }
  planned.sort((a, b) => a.effect - b.effect);

  let globalRev = 0;
  const files = new Map<string, { value: string; rev: number }>();
  const lastSeen = new Map<string, number>(); // `${client} ${key}` → rev it last saw
  const history: (HistoryOp | undefined)[] = new Array<HistoryOp | undefined>(planned.length);
  let written = 0;
  for (const p of planned) {
    const file = files.get(p.key);
    const rev = file?.rev ?? 0;
    const seen = lastSeen.get(`${p.client} ${p.key}`) ?? 0;
    const unknown = rnd() < unknownRate;
    const applies = !unknown || rnd() < 0.5;
    const base = { clientId: p.client, key: p.key, call: p.call, return: unknown ? null : p.ret };
    if (rnd() < readRatio) {
      const output = { value: file?.value ?? null, rev, ...(withAt ? { at: globalRev } : {}) };
      history[p.slot] = { ...base, op: 'get', output: unknown ? null : output };
      if (!unknown) lastSeen.set(`${p.client} ${p.key}`, rev);
      continue;
    }
    const r = rnd();
    const exact = r >= 0.9;
    const cond = r < 0.25 ? -1 : r < 0.4 ? 0 : r < 0.8 ? seen : r < 0.9 ? Math.max(0, rev - 1 + int(3)) : int(2) === 0 ? seen : rev;
    const holds = exact ? rev === cond : cond === -1 || cond >= rev;
    const mismatch = { ok: false as const, error: 'REV_MISMATCH' as const, ...(rnd() < mismatchRevRate ? { rev } : {}) };
    if (int(3) === 0) {
      // del
      let output: HistoryOp['output'];
      if (!holds) output = mismatch;
      else if (file === undefined) output = { ok: true, deleted: false, ...(withAt ? { rev: globalRev } : {}) };
      else {
        if (applies) {
          globalRev++;
          files.delete(p.key);
        }
        output = { ok: true, deleted: true, rev: globalRev };
      }
      if (!unknown && output.ok) lastSeen.set(`${p.client} ${p.key}`, 0);
      const input = { cond, ...(exact ? { exact } : {}) };
      history[p.slot] = { ...base, op: 'del', input, output: unknown ? null : (output as never) };
    } else {
      const value = `v${++written}`;
      let output: HistoryOp['output'];
      if (!holds) output = mismatch;
      else {
        if (applies) {
          globalRev++;
          files.set(p.key, { value, rev: globalRev });
        }
        output = { ok: true, rev: globalRev };
        if (!unknown) lastSeen.set(`${p.client} ${p.key}`, globalRev);
      }
      const input = { value, cond, ...(exact ? { exact } : {}) };
      history[p.slot] = { ...base, op: 'set', input, output: unknown ? null : (output as never) };
    }
  }
  return history as HistoryOp[];
}
