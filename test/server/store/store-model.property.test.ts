/**
 * Method: model-based property testing. fast-check generates seeded sequences of store commands
 * (single writes, transactions with conditions, ephemeral writes, session open/close/expire,
 * retries of sequenced writes, noops, and snapshot round trips) over a small path alphabet chosen
 * so that file/directory conflicts are frequent. Each command goes to the real Store and to the
 * dumb Map-based model in test/helpers/store-model.ts; after every command the two must agree on
 * the outcome, the revision, the sessions and their ephemerals, the observer's events, and on
 * reads (get, stat, getdir, walk, firstEvent) now, at older kept revisions, and just below the
 * kept history (TOO_LATE). Small history windows make compaction happen inside most runs.
 *
 * Snapshots: a "snapshot" step packs store.toSnapshot() with msgpack (the driver's settings),
 * unpacks it, and builds a second Store with Store.fromSnapshot. The copy is first compared with
 * the original on every read at every kept revision, then joins the run: every later command is
 * applied to it too and it must keep agreeing with the model.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, it } from 'vitest';
import { CoordError } from '../../../protocol/errors.ts';
import type { Event, TxnCondition, TxnOp } from '../../../protocol/messages.ts';
import { compileGlob } from '../../../protocol/path.ts';
import type { Command, WriteOutcome } from '../../../server/store/commands.ts';
import { Store, type StoreSnapshot } from '../../../server/store/store.ts';
import { StoreModel, type ModelOutcome, type ModelRead } from '../../helpers/store-model.ts';

// ------------------------------------------------------------------ the alphabet

/** Write targets: /a vs /a/x vs /a/x/q give NOTDIR and ISDIR; /a.b sorts differently by path and by tree order. */
const PATHS = ['/a', '/a.b', '/b', '/c', '/a/x', '/a/y', '/a/x/q', '/b/z/w'] as const;
const READ_PATHS = ['/', ...PATHS, '/b/z', '/a/x/q/r', '/d'];
const DIRS = ['/', '/a', '/b', '/b/z', '/a/x', '/c', '/d'];
const GLOBS = [
  '/**', '/*', '/?', '/a/*', '/a/**', '/b/**', '/a/?', '/*/*', '/b/z/w', '/a', '/a*', '/a**',
  '/*/z/*', '/**/w', '/a.b', '/*.*', '/a/x/*', '/**/q', '/?/?', '/c',
];
const SIDS = ['s1', 's2', 's3'] as const;
const te = new TextEncoder();
const VALUES = [new Uint8Array(0), te.encode('v1'), te.encode('value-2'), te.encode('x = y z')];

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** Fixed seeds by default; COORD_SOAK=1 runs twenty times as many, from a fresh seed (printed on failure). */
const SOAK = process.env.COORD_SOAK !== undefined && process.env.COORD_SOAK !== '';
const runs = (n: number, seed: number) => (SOAK ? { seed: Date.now() ^ seed, numRuns: n * 20 } : { seed, numRuns: n });

// ------------------------------------------------------------------ steps

type RevChoice = 'none' | 'clobber' | 'zero' | 'file' | 'stale' | 'store' | 'ahead';
interface OpSpec { op: 'set' | 'del'; path: string; value: number; rev: RevChoice; ephemeral: boolean }
interface CondSpec { path: string; rev: RevChoice }
/** Random numbers each step uses to pick what to read after it. */
interface Probe { revs: number[]; globs: number[]; froms: number[]; after: number; limit: number; store: number }
type Step =
  | { t: 'write'; ops: OpSpec[]; conds: CondSpec[]; sid: string | null; seq: boolean; floorBack: number | null; probe: Probe }
  | { t: 'retry'; sid: string; pick: number; probe: Probe }
  | { t: 'open' | 'close' | 'expire'; sid: string; probe: Probe }
  | { t: 'noop' | 'snapshot'; probe: Probe };

const revChoiceArb: fc.Arbitrary<RevChoice> = fc.oneof(
  { arbitrary: fc.constant('none' as const), weight: 3 },
  { arbitrary: fc.constant('clobber' as const), weight: 2 },
  { arbitrary: fc.constant('zero' as const), weight: 2 },
  { arbitrary: fc.constant('file' as const), weight: 3 },
  { arbitrary: fc.constant('stale' as const), weight: 1 },
  { arbitrary: fc.constant('store' as const), weight: 1 },
  { arbitrary: fc.constant('ahead' as const), weight: 1 },
);
const pathArb = fc.oneof(
  { arbitrary: fc.constant('/'), weight: 1 },
  { arbitrary: fc.constantFrom(...PATHS), weight: 16 },
);
const opArb: fc.Arbitrary<OpSpec> = fc.record({
  op: fc.oneof({ arbitrary: fc.constant('set' as const), weight: 3 }, { arbitrary: fc.constant('del' as const), weight: 1 }),
  path: pathArb,
  value: fc.nat(VALUES.length - 1),
  rev: revChoiceArb,
  ephemeral: fc.oneof({ arbitrary: fc.constant(false), weight: 2 }, { arbitrary: fc.constant(true), weight: 1 }),
});
const probeArb: fc.Arbitrary<Probe> = fc.record({
  revs: fc.array(fc.nat(), { minLength: 2, maxLength: 2 }),
  globs: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
  froms: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
  after: fc.nat(),
  limit: fc.integer({ min: 1, max: 3 }),
  store: fc.nat(),
});
const sidArb = fc.oneof(
  { arbitrary: fc.constant('s1'), weight: 4 },
  { arbitrary: fc.constant('s2'), weight: 3 },
  { arbitrary: fc.constant('s3'), weight: 1 },
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      t: fc.constant('write' as const),
      ops: fc.oneof(
        { arbitrary: opArb.map((o) => [o]), weight: 5 },
        { arbitrary: fc.uniqueArray(opArb, { selector: (o) => o.path, minLength: 0, maxLength: 4 }), weight: 3 },
        // The edge refuses a path named twice; the store must refuse it too, not crash.
        { arbitrary: fc.array(opArb, { minLength: 2, maxLength: 4 }), weight: 1 },
      ),
      conds: fc.oneof(
        { arbitrary: fc.constant<CondSpec[]>([]), weight: 3 },
        { arbitrary: fc.array(fc.record({ path: pathArb, rev: revChoiceArb }), { minLength: 1, maxLength: 2 }), weight: 1 },
      ),
      sid: fc.oneof({ arbitrary: fc.constant(null), weight: 1 }, { arbitrary: sidArb, weight: 8 }),
      seq: fc.boolean(),
      floorBack: fc.option(fc.nat(4)),
      probe: probeArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('retry' as const), sid: sidArb, pick: fc.nat(), probe: probeArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('open' as const), sid: sidArb, probe: probeArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom('close' as const, 'expire' as const), sid: sidArb, probe: probeArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('noop' as const), probe: probeArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('snapshot' as const), probe: probeArb }) },
);

// ------------------------------------------------------------------ comparing

/** Uint8Array (or Buffer, after msgpack) → a tagged hex string, for messages. */
function norm(x: unknown): unknown {
  if (x instanceof Uint8Array) return `bytes:${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex')}`;
  if (Array.isArray(x)) return x.map(norm);
  if (x !== null && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = norm(v);
    return out;
  }
  return x;
}

/**
 * Structural equality where byte arrays compare by content (a Buffer from msgpack equals the
 * Uint8Array it was packed from) and a key holding undefined counts as absent.
 */
function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.compare(a, b) === 0;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equal(a[i], b[i])) return false;
    return true;
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const k in x) if (x[k] !== undefined && !equal(x[k], y[k])) return false;
  for (const k in y) if (y[k] !== undefined && x[k] === undefined) return false;
  return true;
}

function same(actual: unknown, expected: unknown, what: string): void {
  if (!equal(actual, expected)) {
    throw new Error(`${what}:\n  expected ${JSON.stringify(norm(expected))}\n  got      ${JSON.stringify(norm(actual))}`);
  }
}

function outcomeOf(o: WriteOutcome): ModelOutcome {
  if (o.ok) return { ok: true, rev: o.rev, changed: o.changed };
  return o.error.details === undefined
    ? { ok: false, code: o.error.code }
    : { ok: false, code: o.error.code, details: o.error.details };
}

/**
 * A store read as its answer or its coded error. Stack traces are switched off meanwhile: the
 * test reads errors by code, and capturing a stack per expected error was most of its run time.
 */
function read<T>(f: () => T): ModelRead<T> {
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return { ok: f() };
  } catch (e) {
    if (!(e instanceof CoordError)) throw e;
    return e.details === undefined ? { err: e.code } : { err: e.code, details: e.details };
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

/** Every read the store offers, asked of `a` (the store under test) and answered by `b`. */
interface Reader {
  get(p: string, rev?: number): unknown;
  stat(p: string, rev?: number): unknown;
  getdir(p: string, rev?: number, after?: string, limit?: number): unknown;
  walk(g: string, rev?: number, after?: string, limit?: number): unknown;
  firstEvent(g: string, from: number): unknown;
}

function storeReader(s: Store): Reader {
  return {
    get: (p, rev) => read(() => s.get(p, rev)),
    stat: (p, rev) => read(() => s.stat(p, rev)),
    getdir: (p, rev, after, limit) => read(() => s.getdir(p, rev, after, limit)),
    walk: (g, rev, after, limit) => read(() => s.walk(g, rev, after, limit)),
    firstEvent: (g, from) => read(() => s.firstEvent(compileGlob(g), from) ?? null),
  };
}

function modelReader(m: StoreModel): Reader {
  return {
    get: (p, rev) => m.get(p, rev),
    stat: (p, rev) => m.stat(p, rev),
    getdir: (p, rev, after, limit) => m.getdir(p, rev, after, limit),
    walk: (g, rev, after, limit) => m.walk(g, rev, after, limit),
    firstEvent: (g, from) => m.firstEvent(g, from),
  };
}

const pick = <T>(xs: readonly T[], n: number): T => xs[n % xs.length]!;

/**
 * The reads a probe selects: at the head and at two random revisions from one below the kept
 * history up, every path's get and stat, three directories' getdir and three globs' walk (each
 * also paged from a probe-chosen point); a revision below the history gets a few reads, all of
 * which must be TOO_LATE. Then three WAITs (firstEvent) from random revisions.
 */
function compareReads(a: Reader, b: Reader, m: StoreModel, probe: Probe, label: string): void {
  const lo = Math.max(0, m.oldest - 1);
  const revs = [undefined, ...probe.revs.map((n) => lo + (n % (m.rev - lo + 1)))];
  for (const rev of revs) {
    const at = `${label} at ${rev ?? 'head'}`;
    if (rev !== undefined && rev < m.oldest) {
      same(a.get('/a', rev), b.get('/a', rev), `${at}: get /a`);
      same(a.stat('/', rev), b.stat('/', rev), `${at}: stat /`);
      same(a.getdir('/', rev), b.getdir('/', rev), `${at}: getdir /`);
      same(a.walk('/**', rev), b.walk('/**', rev), `${at}: walk /**`);
      continue;
    }
    for (const p of READ_PATHS) {
      same(a.get(p, rev), b.get(p, rev), `${at}: get ${p}`);
      same(a.stat(p, rev), b.stat(p, rev), `${at}: stat ${p}`);
    }
    for (const n of probe.globs) {
      const d = pick(DIRS, n + probe.after);
      same(a.getdir(d, rev), b.getdir(d, rev), `${at}: getdir ${d}`);
      const after = pick(['a', 'a.b', 'b', 'x', 'z', '0'], probe.after);
      same(a.getdir(d, rev, after, probe.limit), b.getdir(d, rev, after, probe.limit),
        `${at}: getdir ${d} after ${after} limit ${probe.limit}`);
      const g = pick(GLOBS, n);
      same(a.walk(g, rev), b.walk(g, rev), `${at}: walk ${g}`);
      const from = pick(READ_PATHS, probe.after);
      same(a.walk(g, rev, from, probe.limit), b.walk(g, rev, from, probe.limit),
        `${at}: walk ${g} after ${from} limit ${probe.limit}`);
    }
  }
  for (let i = 0; i < probe.froms.length; i++) {
    const g = pick(GLOBS, probe.globs[i]! + i);
    const from = lo + (probe.froms[i]! % (m.rev - lo + 2));
    same(a.firstEvent(g, from), b.firstEvent(g, from), `${label}: firstEvent ${g} from ${from}`);
  }
}

/** Reads of `copy` and `original` must be identical, exhaustively, at every kept revision. */
function compareStoresExhaustively(copy: Store, original: Store): void {
  const a = storeReader(copy);
  const b = storeReader(original);
  same(copy.rev, original.rev, 'restored rev');
  same(copy.oldestRev, original.oldestRev, 'restored oldestRev');
  same(copy.sessionIds().sort(), original.sessionIds().sort(), 'restored sessions');
  for (let rev = original.oldestRev; rev <= original.rev; rev++) {
    for (const p of READ_PATHS) {
      same(a.get(p, rev), b.get(p, rev), `restored get ${p} at ${rev}`);
      same(a.stat(p, rev), b.stat(p, rev), `restored stat ${p} at ${rev}`);
    }
    for (const d of DIRS) same(a.getdir(d, rev), b.getdir(d, rev), `restored getdir ${d} at ${rev}`);
    for (const g of GLOBS) same(a.walk(g, rev), b.walk(g, rev), `restored walk ${g} at ${rev}`);
  }
  for (const g of GLOBS) {
    for (let from = Math.max(0, original.oldestRev - 1); from <= original.rev + 1; from++) {
      same(a.firstEvent(g, from), b.firstEvent(g, from), `restored firstEvent ${g} from ${from}`);
    }
  }
}

function roundTrip(s: Store, historyRevisions: number): Store {
  const bytes = packr.pack(s.toSnapshot());
  return Store.fromSnapshot(packr.unpack(bytes) as StoreSnapshot, { historyRevisions });
}

// ------------------------------------------------------------------ running a sequence

function resolveRev(c: RevChoice, path: string, m: StoreModel): number | undefined {
  switch (c) {
    case 'none': return undefined;
    case 'clobber': return -1;
    case 'zero': return 0;
    case 'file': return m.fileRev(path);
    case 'stale': return Math.max(0, m.fileRev(path) - 1);
    case 'store': return m.rev;
    case 'ahead': return m.rev + 3;
  }
}

function run(historyRevisions: number, steps: Step[]): void {
  const model = new StoreModel(historyRevisions);
  const stores: Store[] = [new Store({ historyRevisions })];
  const observed: [number, Event[]][] = [];
  stores[0]!.observer = { revision: (rev, events) => observed.push([rev, structuredClone(events)]) };
  const nextSeq = new Map<string, number>();
  const sent = new Map<string, Command[]>();
  /** The outcome the store gave when (sid, seq) was first remembered. */
  const firstOutcome = new Map<string, WriteOutcome>();

  const prefix: Step[] = SIDS.map((sid) => ({
    t: 'open' as const, sid, probe: { revs: [0, 0], globs: [0, 0, 0], froms: [0, 0, 0], after: 0, limit: 1, store: 0 },
  }));
  for (const [i, step] of [...prefix, ...steps].entries()) {
    let cmd: Command;
    switch (step.t) {
      case 'write': {
        const ops: TxnOp[] = step.ops.map((o) => {
          const rev = resolveRev(o.rev, o.path, model);
          const base = rev === undefined ? { path: o.path } : { path: o.path, rev };
          return o.op === 'del'
            ? { op: 'del', ...base }
            : { op: 'set', ...base, value: VALUES[o.value]!, ...(o.ephemeral ? { ephemeral: true } : {}) };
        });
        const conds: TxnCondition[] = step.conds.map((c) => ({ path: c.path, rev: resolveRev(c.rev, c.path, model) ?? -1 }));
        const txn: Extract<Command, { t: 'txn' }> = { t: 'txn', conds, ops };
        if (step.sid !== null) {
          txn.sid = step.sid;
          if (step.seq) {
            const seq = (nextSeq.get(step.sid) ?? 0) + 1;
            nextSeq.set(step.sid, seq);
            txn.seq = seq;
            if (step.floorBack !== null) txn.seqFloor = Math.max(0, seq - step.floorBack);
            sent.set(step.sid, [...(sent.get(step.sid) ?? []), txn]);
          }
        }
        cmd = txn;
        break;
      }
      case 'retry': {
        const list = sent.get(step.sid) ?? [];
        cmd = list.length === 0 ? { t: 'noop' } : pick(list, step.pick);
        break;
      }
      case 'open':
        cmd = { t: 'open', sid: step.sid, secret: `secret-${step.sid}`, ttlMs: 5000 };
        break;
      case 'close':
      case 'expire':
        cmd = { t: step.t, sid: step.sid };
        break;
      case 'noop':
        cmd = { t: 'noop' };
        break;
      case 'snapshot': {
        const from = pick(stores, step.probe.store);
        const copy = roundTrip(from, historyRevisions);
        compareStoresExhaustively(copy, from);
        if (stores.length >= 3) stores.splice(1, 1);
        stores.push(copy);
        cmd = { t: 'noop' };
        break;
      }
    }

    const label = `step ${i} (${JSON.stringify(norm(cmd))})`;
    const seqOf = cmd.t === 'txn' && cmd.sid !== undefined && cmd.seq !== undefined
      ? { sid: cmd.sid, seq: cmd.seq } : null;
    const key = seqOf === null ? null : `${seqOf.sid}:${seqOf.seq}`;
    const wasRemembered = seqOf !== null && model.remembered(seqOf.sid, seqOf.seq) !== undefined;
    const revBefore = model.rev;
    const expected = model.apply(cmd);
    observed.length = 0;
    for (const [n, store] of stores.entries()) {
      const got = store.apply(cmd);
      same(outcomeOf(got), expected, `${label}: outcome of store ${n}`);
      if (key !== null) {
        if (wasRemembered) {
          // A retry: the very same answer, and nothing applied again.
          same(got, firstOutcome.get(key), `${label}: retry answer of store ${n}`);
          same(store.rev, revBefore, `${label}: retry must not add a revision`);
        } else if (n === 0 && model.remembered(seqOf!.sid, seqOf!.seq) !== undefined) {
          firstOutcome.set(key, got);
        }
      }
    }

    // The observer hears of exactly the revisions the model made, with the same events.
    same(observed, model.rev > revBefore ? [[model.rev, model.events[model.rev]]] : [], `${label}: observer`);

    const mr = modelReader(model);
    for (const [n, store] of stores.entries()) {
      const what = `${label}, store ${n}`;
      same(store.rev, model.rev, `${what}: rev`);
      same(store.oldestRev, model.oldest, `${what}: oldestRev`);
      same(store.sessionIds().sort(), [...model.sessions.keys()].sort(), `${what}: sessions`);
      for (const sid of SIDS) {
        const s = store.session(sid);
        const ms = model.sessions.get(sid);
        same(s === undefined, ms === undefined, `${what}: session ${sid} exists`);
        if (s !== undefined && ms !== undefined) {
          same([...s.ephemerals].sort(), model.ephemeralsOf(sid), `${what}: ephemerals of ${sid}`);
          same([s.secret, s.ttlMs], [ms.secret, ms.ttlMs], `${what}: session ${sid} fields`);
        }
      }
      compareReads(storeReader(store), mr, model, step.probe, what);
      // The raw event log WATCH reads: the head revision's events and one random kept one's.
      if (model.rev > model.oldest) {
        const r = model.oldest + 1 + (step.probe.froms[0]! % (model.rev - model.oldest));
        same(store.eventsAt(model.rev), model.events[model.rev], `${what}: eventsAt ${model.rev}`);
        same(store.eventsAt(r), model.events[r], `${what}: eventsAt ${r}`);
      }
    }
  }
}

// ------------------------------------------------------------------ the properties

describe('Store agrees with a Map-based model', () => {
  it('on outcomes, revisions, sessions, events and reads, with snapshot round trips (small and large history)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 1, max: 10 }), fc.constant<number>(1000)),
        fc.array(stepArb, { minLength: 1, maxLength: 60, size: 'max' }),
        (keep, steps) => run(keep, steps),
      ),
      runs(300, 0xc0_0d),
    );
  }, 180_000); // seconds alone, but a busy 2-core machine running other suites stretches it

  it('through long runs with a history of 1 to 3 revisions (heavy compaction)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.array(stepArb, { minLength: 40, maxLength: 120, size: 'max' }),
        (keep, steps) => run(keep, steps),
      ),
      runs(60, 0x5eed),
    );
  }, 180_000);
});
