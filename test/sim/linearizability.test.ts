// The linearizability checker (test/sim/linearizability.ts) on hand-written histories it must
// accept and must reject, on generated linearizable histories (and the same with one read
// corrupted), against a brute-force search on small random histories, and on long histories for
// speed. Histories here use string values and small integer times; the checker treats equal
// times as overlapping.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkLinearizable, type CheckResult, type HistoryOp } from './linearizability.ts';
import { concurrentHistory, prng } from './register-history.ts';
import { compile, MISSING, step, ValueTable, type RegState } from './register-model.ts';

// ------------------------------------------------------------------ building histories

type Cond = number | { exact: number };
type Span = [call: number, ret: number | null];
type SetResult = number | 'mismatch' | { mismatch: number } | null;
type DelResult = number | 'missing' | { missing: number } | 'mismatch' | { mismatch: number } | null;

const condInput = (c: Cond): { cond: number; exact?: boolean } =>
  typeof c === 'number' ? { cond: c } : { cond: c.exact, exact: true };

function get(client: number, [call, ret]: Span, value: string | null, rev: number, at?: number, key = 'k'): HistoryOp {
  return {
    clientId: client, key, op: 'get', call, return: ret,
    output: ret === null ? null : { value, rev, ...(at === undefined ? {} : { at }) },
  };
}

function set(client: number, [call, ret]: Span, value: string, cond: Cond, result: SetResult, key = 'k'): HistoryOp {
  let output: HistoryOp['output'] = null;
  if (ret !== null) {
    if (typeof result === 'number') output = { ok: true, rev: result };
    else if (result === 'mismatch') output = { ok: false, error: 'REV_MISMATCH' };
    else if (result !== null) output = { ok: false, error: 'REV_MISMATCH', rev: result.mismatch };
  }
  return { clientId: client, key, op: 'set', input: { value, ...condInput(cond) }, call, return: ret, output } as HistoryOp;
}

function del(client: number, [call, ret]: Span, cond: Cond, result: DelResult, key = 'k'): HistoryOp {
  let output: HistoryOp['output'] = null;
  if (ret !== null) {
    if (typeof result === 'number') output = { ok: true, deleted: true, rev: result };
    else if (result === 'missing') output = { ok: true, deleted: false };
    else if (result === 'mismatch') output = { ok: false, error: 'REV_MISMATCH' };
    else if (result !== null && 'missing' in result) output = { ok: true, deleted: false, rev: result.missing };
    else if (result !== null) output = { ok: false, error: 'REV_MISMATCH', rev: result.mismatch };
  }
  return { clientId: client, key, op: 'del', input: condInput(cond), call, return: ret, output } as HistoryOp;
}

function accepted(history: HistoryOp[]): void {
  const r = checkLinearizable(history);
  if (!r.ok) throw new Error(`expected linearizable, got:\n${r.explanation}`);
}

/** Asserts a definite violation, blamed on the op at `blame` (an index into history) if given. */
function rejected(history: HistoryOp[], blame?: number): Extract<CheckResult, { inconclusive: false }> {
  const r = checkLinearizable(history);
  if (r.ok) throw new Error('expected a violation, but the history was accepted');
  if (r.inconclusive) throw new Error(`expected a violation, got inconclusive:\n${r.explanation}`);
  if (blame !== undefined) expect(r.failed.index, r.explanation).toBe(blame);
  return r;
}

// ------------------------------------------------------------------ must accept

describe('accepts', () => {
  it('sequential sets, gets and deletes, Doozer conditions included', () => {
    accepted([
      get(1, [0, 1], null, 0),
      set(1, [2, 3], 'a', 0, 1), // create
      get(1, [4, 5], 'a', 1, 1),
      set(1, [6, 7], 'b', 1, 2), // compare-and-set on the rev read
      set(1, [8, 9], 'c', 40, 3), // any revision ≥ the file's rev will do
      get(2, [10, 11], 'c', 3, 3),
      del(2, [12, 13], 3, 4),
      get(2, [14, 15], null, 0, 4),
      set(2, [16, 17], 'd', 0, 5), // create again after the delete
      set(2, [18, 19], 'e', -1, 6),
      get(1, [20, 21], 'e', 6),
    ]);
  });

  it('overlapping writes in either order, and reads during the overlap', () => {
    // The first called lands first...
    accepted([
      set(1, [0, 10], 'a', -1, 1),
      set(2, [2, 12], 'b', -1, 2),
      get(3, [3, 4], null, 0),
      get(3, [5, 11], 'a', 1),
      get(3, [13, 14], 'b', 2),
    ]);
    // ...or the second.
    accepted([
      set(1, [0, 10], 'a', -1, 2),
      set(2, [2, 12], 'b', -1, 1),
      get(3, [5, 9], 'b', 1),
      get(3, [13, 14], 'a', 2),
    ]);
  });

  it('a CAS race where exactly one wins', () => {
    accepted([
      set(1, [0, 1], 'a', 0, 1),
      get(2, [2, 3], 'a', 1),
      get(3, [2, 3], 'a', 1),
      set(2, [4, 10], 'from 2', 1, { mismatch: 2 }),
      set(3, [5, 9], 'from 3', 1, 2),
      get(1, [11, 12], 'from 3', 2),
    ]);
  });

  it('two creates racing: one wins, the other is refused', () => {
    accepted([
      set(1, [0, 10], 'x', 0, 'mismatch'),
      set(2, [0, 10], 'y', 0, 1),
      get(3, [11, 12], 'y', 1),
    ]);
  });

  it('an unknown-outcome write that took effect, seen by a later read', () => {
    accepted([
      set(1, [0, 1], 'a', -1, 1),
      set(2, [2, null], 'b', 1, null), // timed out
      get(3, [10, 11], 'b', 2),
    ]);
  });

  it('an unknown-outcome write that did not take effect', () => {
    accepted([
      set(1, [0, 1], 'a', -1, 1),
      set(2, [2, null], 'b', -1, null),
      get(3, [10, 11], 'a', 1),
      set(3, [12, 13], 'c', 1, 2),
      get(3, [14, 15], 'c', 2),
    ]);
  });

  it('an unknown-outcome write that took effect long after its call, after a later write', () => {
    accepted([
      set(1, [0, null], 'late', -1, null),
      set(2, [5, 6], 'b', -1, 1),
      get(3, [7, 8], 'b', 1),
      get(3, [20, 21], 'late', 2),
    ]);
  });

  it('an unknown-outcome write seen only through the refusals it caused', () => {
    accepted([
      set(1, [0, null], 'ghost', 0, null), // a create nobody reads...
      set(2, [5, 6], 'mine', 0, { mismatch: 7 }), // ...yet the file exists, at rev 7
      del(2, [8, 9], { exact: 7 }, 8),
      get(2, [10, 11], null, 0),
    ]);
    accepted([
      set(1, [0, 1], 'a', 0, 1),
      del(2, [2, null], 1, null), // a delete nobody saw directly...
      set(3, [7, 8], 'c', 0, 3), // ...but a create succeeding needs it to have happened
      get(3, [9, 10], 'c', 3),
    ]);
  });

  it('a delete of a missing file, which takes no revision', () => {
    accepted([
      del(1, [0, 1], -1, 'missing'),
      del(1, [2, 3], 0, { missing: 0 }),
      set(1, [4, 5], 'a', 0, 1),
      del(1, [6, 7], 1, 2),
      del(2, [8, 9], -1, { missing: 2 }),
      get(2, [10, 11], null, 0, 2),
    ]);
  });

  it('exact conditions (TXN exact) that hold', () => {
    accepted([
      set(1, [0, 1], 'a', { exact: 0 }, 1),
      set(1, [2, 3], 'b', { exact: 1 }, 2),
      set(2, [4, 5], 'c', { exact: 1 }, { mismatch: 2 }),
      del(2, [6, 7], { exact: 2 }, 3),
      del(2, [8, 9], { exact: 5 }, { mismatch: 0 }),
    ]);
  });

  it('reads that report the store revision they saw', () => {
    // Other keys' writes move the store revision on: revs jump, `at` runs ahead of the file's rev.
    accepted([
      set(1, [0, 1], 'a', -1, 4),
      get(2, [2, 3], 'a', 4, 9),
      get(3, [2, 8], 'a', 4, 11),
      set(1, [4, 10], 'b', -1, 12),
      get(2, [11, 12], 'b', 12, 12),
    ]);
  });

  it('keys checked independently: revisions are global and jump per key', () => {
    accepted([
      set(1, [0, 1], 'a1', 0, 1, 'a'),
      set(2, [0, 1], 'b1', 0, 2, 'b'),
      set(1, [2, 3], 'a2', 1, 3, 'a'),
      get(2, [4, 5], 'b1', 2, 3, 'b'),
      get(1, [4, 5], 'a2', 3, 3, 'a'),
    ]);
  });

  it('drops reads whose outcome is unknown', () => {
    accepted([set(1, [0, 1], 'a', -1, 1), get(2, [2, null], null, 0), get(2, [3, 4], 'a', 1)]);
  });

  it('starting from a given initial state', () => {
    const r = checkLinearizable([get(1, [0, 1], 'seed', 7), set(1, [2, 3], 'x', 7, 8)], {
      initial: new Map([['k', { value: 'seed', rev: 7 }]]),
    });
    expect(r.ok).toBe(true);
  });
});

// ------------------------------------------------------------------ must reject

describe('rejects', () => {
  it('a stale read: an old value after a write completed before the read began', () => {
    const h = [set(1, [0, 1], 'a', -1, 1), set(1, [2, 3], 'b', -1, 2), get(2, [4, 5], 'a', 1)];
    const r = rejected(h, 2);
    expect(r.explanation).toContain('after it the file is "a" at rev 1');
    expect(r.explanation).toContain('#1 client 1 set "b" unconditional → ok rev 2 [call 2, return 3]: would replace "a", which #2 reads');
    expect(r.explanation).toContain('cannot be linearized: #2 client 2 get → "a" rev 1 [call 4, return 5]');
    expect(r.prefix.map((p) => p.index)).toEqual([0]);
  });

  it('a stale read of the same value, caught by the store revision it saw', () => {
    rejected([set(1, [0, 1], 'a', -1, 1), get(1, [2, 3], 'a', 1, 7), get(2, [4, 5], 'a', 1, 5)], 2);
  });

  it('a lost acknowledged write', () => {
    rejected([set(1, [0, 1], 'a', -1, 1), get(2, [2, 3], null, 0)], 1);
    rejected([set(1, [0, 1], 'a', -1, 1), set(1, [2, 3], 'b', -1, 2), get(2, [4, 5], 'a', 1), get(2, [6, 7], 'b', 2)], 2);
  });

  it('two successful creates of one key with no delete between', () => {
    rejected([set(1, [0, 1], 'a', 0, 1), set(2, [2, 3], 'b', 0, 2)], 1);
    // Concurrent, too: whichever goes second finds the file.
    rejected([set(1, [0, 10], 'a', 0, 1), set(2, [0, 10], 'b', 0, 2)]);
  });

  it('a CAS that succeeded with a stale rev', () => {
    rejected([set(1, [0, 1], 'a', 0, 1), set(2, [2, 3], 'b', 1, 2), set(3, [4, 5], 'c', 1, 3)], 2);
    rejected([set(1, [0, 1], 'a', 0, 1), set(2, [2, 3], 'b', 1, 2), set(3, [4, 5], 'c', { exact: 1 }, 3)], 2);
  });

  it('revisions going backwards', () => {
    rejected([set(1, [0, 1], 'a', -1, 5), set(2, [2, 3], 'b', -1, 4)], 1);
    rejected([set(1, [0, 1], 'a', -1, 5), set(2, [2, 3], 'b', -1, 5)], 1); // not even equal
    rejected([set(1, [0, 1], 'a', -1, 5), get(2, [2, 3], 'a', 5, 9), set(1, [4, 5], 'b', -1, 7)], 2);
  });

  it('a read of a value never written', () => {
    rejected([set(1, [0, 1], 'a', -1, 1), get(2, [0, 5], 'zzz', 1)], 1);
    rejected([get(1, [0, 1], 'zzz', 3)], 0);
  });

  it('a REV_MISMATCH that could not have happened', () => {
    rejected([set(1, [0, 1], 'a', -1, 'mismatch')], 0); // unconditional writes are never refused
    rejected([set(1, [0, 1], 'a', 0, 1), set(2, [2, 3], 'b', 5, 'mismatch')], 1); // 1 ≤ 5: it holds
    rejected([set(1, [0, 1], 'a', 0, 'mismatch')], 0); // nothing there to conflict with
    rejected([set(1, [0, 1], 'a', 0, 1), set(2, [2, 3], 'b', 0, { mismatch: 2 })], 1); // wrong rev
    rejected([set(1, [0, 1], 'a', 0, 1), del(2, [2, 3], { exact: 1 }, { mismatch: 1 })], 1);
  });

  it('a deleted file read back', () => {
    rejected([set(1, [0, 1], 'a', -1, 1), del(1, [2, 3], -1, 2), get(2, [4, 5], 'a', 1)], 2);
  });

  it('deletes that disagree with the file', () => {
    rejected([del(1, [0, 1], -1, 1)], 0); // nothing to delete
    rejected([set(1, [0, 1], 'a', -1, 1), del(1, [2, 3], -1, 'missing')], 1); // it was there
  });

  it('an unknown-outcome write cannot explain a read that ended before it was called', () => {
    rejected([get(1, [0, 1], 'x', 1), set(2, [5, null], 'x', -1, null)], 0);
  });

  it('an unknown-outcome write has one rev: two reads of it disagreeing', () => {
    rejected([set(1, [0, null], 'x', -1, null), get(2, [5, 6], 'x', 3), get(2, [7, 8], 'x', 4)], 2);
  });

  it('reports the key with the violation among several', () => {
    const r = rejected([
      set(1, [0, 1], 'a', -1, 1, 'good'),
      set(1, [2, 3], 'b', -1, 2, 'bad'),
      get(2, [4, 5], null, 0, undefined, 'bad'),
      get(2, [4, 5], 'a', 1, undefined, 'good'),
    ]);
    expect(r.key).toBe('bad');
    expect(r.failed.index).toBe(2);
  });

  it('explains with the prefix, the state, the ops that cannot follow and why', () => {
    const r = rejected([
      set(1, [0, 1], 'a', 0, 1),
      set(2, [2, 3], 'b', 1, 2),
      set(3, [4, 10], 'c', -1, 3),
      get(4, [5, 6], 'zzz', 1),
    ], 3);
    expect(r.prefix.map((p) => p.index)).toEqual([0, 1, 2]);
    expect(r.explanation).toMatch(/longest linearizable prefix found has 3 of 4 ops; after it the file is "c" at rev 3/);
    expect(r.explanation).toContain('#3 client 4 get → "zzz" rev 1 [call 5, return 6]: does not fit that state');
    expect(r.explanation).toMatch(/ends with .*\n.*\n.*\n  #2 client 3 set "c" unconditional → ok rev 3 \[call 4, return 10\]/);
    expect(r.concurrent).toEqual([]);

    const late = rejected([set(1, [0, 1], 'a', -1, 5), set(2, [2, 3], 'b', -1, 4)], 1);
    expect(late.explanation).toContain(': would take the store revision to 5 or more, but #1 made rev 4');
    expect(late.concurrent.map((c) => c.index)).toEqual([0]);
  });
});

// ------------------------------------------------------------------ malformed input, limits

describe('input and limits', () => {
  it('throws on malformed ops rather than judging them', () => {
    expect(() => checkLinearizable([get(1, [5, 4], 'a', 1)])).toThrow(/op #0: return must be/);
    expect(() => checkLinearizable([{ ...get(1, [0, 1], 'a', 1), output: null }])).toThrow(/needs an output/);
    const unavailable = { ...set(1, [0, 1], 'a', -1, 1), output: { ok: false, error: 'UNAVAILABLE' } } as unknown as HistoryOp;
    expect(() => checkLinearizable([unavailable])).toThrow(/only REV_MISMATCH/);
  });

  it('gives up as inconclusive, not ok, when the step bound runs out', () => {
    const h = concurrentHistory({ seed: 3, ops: 400, clients: 6 });
    const r = checkLinearizable(h, { maxStepsPerKey: 50 });
    expect(r.ok).toBe(false);
    if (r.ok || !r.inconclusive) throw new Error('expected inconclusive');
    expect(r.explanation).toMatch(/inconclusive after 50 search steps/);
    expect(checkLinearizable(h).ok).toBe(true);
  });
});

// ------------------------------------------------------------------ generated histories

/**
 * One command of a sequential run of a reference store: what to do, and how far to widen its
 * call/return window around the instant it takes effect.
 */
interface Command {
  kind: 'get' | 'set' | 'del';
  /** Which condition: unconditional, create, the file's rev, a stale rev, the store revision, rev + k. */
  cond: number;
  exact: boolean;
  /** Outcome unknown; and if so, whether it took effect. */
  unknown: boolean;
  applies: boolean;
  /** Writes to other keys before this command (the store revision jumps). */
  gap: number;
  before: number;
  after: number;
}

const commandArb: fc.Arbitrary<Command> = fc.record({
  kind: fc.constantFrom('get', 'get', 'set', 'set', 'del'),
  cond: fc.nat(5),
  exact: fc.boolean(),
  unknown: fc.boolean(),
  applies: fc.boolean(),
  gap: fc.nat(3),
  before: fc.nat(1000),
  after: fc.nat(1000),
});

/**
 * Runs the commands one at a time against a one-key reference store (effects 100 apart in
 * time), then widens every op's window by up to `widen` on each side without moving its effect:
 * linearizable by construction, with up to about 2·widen/100 ops overlapping.
 */
function sequentialHistory(commands: Command[], widen: number, unknownRate: number): HistoryOp[] {
  let store = 0;
  let file: { value: string; rev: number } | null = null;
  const history: HistoryOp[] = [];
  commands.forEach((c, i) => {
    store += c.gap;
    const t = 100 * (i + 1);
    const call = t - (c.before % (widen + 1));
    const unknown = c.kind !== 'get' && c.unknown && (c.before % 100) / 100 < unknownRate;
    const ret = unknown ? null : t + (c.after % (widen + 1));
    const base = { clientId: i % 7, key: 'k', call, return: ret };
    const rev = file?.rev ?? 0;
    if (c.kind === 'get') {
      history.push({ ...base, op: 'get', output: { value: file?.value ?? null, rev, ...(c.gap > 1 ? { at: store } : {}) } });
      return;
    }
    const cond = [-1, 0, rev, Math.max(0, rev - 1), store, rev + 1][c.cond]!;
    const exact = c.exact && c.cond >= 2;
    const holds = exact ? rev === cond : cond === -1 || cond >= rev;
    const effect = !unknown || c.applies;
    const input = { cond, ...(exact ? { exact } : {}) };
    if (c.kind === 'set') {
      const value = `v${i}`;
      if (holds && effect) file = { value, rev: ++store };
      const output = holds ? { ok: true as const, rev: store } : { ok: false as const, error: 'REV_MISMATCH' as const, rev };
      history.push({ ...base, op: 'set', input: { value, ...input }, output: unknown ? null : output });
    } else {
      let output: HistoryOp['output'];
      if (!holds) output = { ok: false, error: 'REV_MISMATCH', rev };
      else if (file === null) output = { ok: true, deleted: false, rev: store };
      else {
        if (effect) {
          file = null;
          store++;
        }
        output = { ok: true, deleted: true, rev: store };
      }
      history.push({ ...base, op: 'del', input, output: unknown ? null : output } as HistoryOp);
    }
  });
  return history;
}

const runArb = fc.record({
  commands: fc.array(commandArb, { minLength: 1, maxLength: 60 }),
  widen: fc.constantFrom(0, 40, 150, 400),
  unknownRate: fc.constantFrom(0, 0.2, 0.6),
});

describe('generated histories', () => {
  it('a sequential run of a reference store, windows widened, is always accepted', () => {
    fc.assert(
      fc.property(runArb, ({ commands, widen, unknownRate }) => {
        accepted(sequentialHistory(commands, widen, unknownRate));
      }),
      { numRuns: 300, seed: 20261201 },
    );
  });

  it('the same with one read returning a value never written is rejected', () => {
    fc.assert(
      fc.property(runArb, fc.nat(), ({ commands, widen, unknownRate }, pick) => {
        const h = sequentialHistory(commands, widen, unknownRate);
        const reads = h.flatMap((op, i) => (op.op === 'get' ? [i] : []));
        fc.pre(reads.length > 0);
        const i = reads[pick % reads.length]!;
        const read = h[i]! as Extract<HistoryOp, { op: 'get' }>;
        h[i] = { ...read, output: { ...read.output!, value: 'never written', rev: Math.max(1, read.output!.rev) } };
        rejected(h);
      }),
      { numRuns: 200, seed: 20261202 },
    );
  });

  it('the same with one read returning another known write\'s value is rejected', () => {
    // Values are unique and revs are too, so a read claiming value v at a rev v's write did not
    // take (or v of a write that was refused) has no explanation.
    fc.assert(
      fc.property(runArb, fc.nat(), fc.nat(), ({ commands, widen, unknownRate }, pickRead, pickWrite) => {
        const h = sequentialHistory(commands, widen, unknownRate);
        const reads = h.flatMap((op, i) => (op.op === 'get' ? [i] : []));
        fc.pre(reads.length > 0);
        const i = reads[pickRead % reads.length]!;
        const read = h[i]! as Extract<HistoryOp, { op: 'get' }>;
        const others = h.flatMap((op) =>
          op.op === 'set' && op.return !== null && op.input.value !== read.output!.value ? [op.input.value as string] : [],
        );
        fc.pre(others.length > 0);
        h[i] = { ...read, output: { ...read.output!, value: others[pickWrite % others.length]! } };
        rejected(h);
      }),
      { numRuns: 200, seed: 20261203 },
    );
  });
});

// ------------------------------------------------------------------ against brute force

/** Every order of every subset of unknown ops, real time respected: the definition, slowly. */
function bruteForce(history: HistoryOp[]): boolean {
  const values = new ValueTable();
  const ops = history.flatMap((h, i) => {
    const m = compile(h, i, values);
    return m === null ? [] : [{ h, m }];
  });
  const used = ops.map(() => false);
  const knownTotal = ops.filter((o) => o.m.known).length;
  const search = (s: RegState, known: number): boolean => {
    if (known === knownTotal) return true;
    for (let i = 0; i < ops.length; i++) {
      if (used[i]) continue;
      const mustWait = ops.some((o, j) => !used[j] && j !== i && o.h.return !== null && o.h.return < ops[i]!.h.call);
      if (mustWait) continue;
      const next = step(s, ops[i]!.m);
      if (next === null) continue;
      used[i] = true;
      const found = search(next, known + (ops[i]!.m.known ? 1 : 0));
      used[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(MISSING, 0);
}

/** A small history with arbitrary outputs (mostly not linearizable; duplicate values). */
function arbitraryHistory(seed: number): HistoryOp[] {
  const rnd = prng(seed);
  const int = (k: number): number => Math.floor(rnd() * k);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return Array.from({ length: 2 + int(6) }, (_, i): HistoryOp => {
    const call = int(12);
    const ret = rnd() < 0.25 ? null : call + int(6);
    const cond: Cond = rnd() < 0.2 ? { exact: int(5) } : pick([-1, 0, 1, 2, 3, 4]);
    const r = rnd();
    if (r < 0.35) {
      const value = rnd() < 0.3 ? null : pick(['a', 'b', 'c']);
      return get(i, [call, ret], value, value === null ? 0 : 1 + int(5), rnd() < 0.3 ? int(6) : undefined);
    }
    if (r < 0.7) {
      const result = rnd() < 0.7 ? 1 + int(5) : rnd() < 0.5 ? 'mismatch' : { mismatch: int(5) };
      return set(i, [call, ret], pick(['a', 'b', 'c']), cond, result);
    }
    return del(i, [call, ret], cond, pick<DelResult>([1 + int(5), 'missing', { missing: int(6) }, 'mismatch', { mismatch: int(5) }]));
  });
}

/** A small linearizable history, sometimes with one op corrupted. */
function nearlyLinearizableHistory(seed: number): HistoryOp[] {
  const rnd = prng(seed);
  const h = concurrentHistory({
    seed, ops: 3 + Math.floor(rnd() * 6), clients: 1 + Math.floor(rnd() * 4), unknownRate: rnd() * 0.6,
    latency: 1 + rnd() * 20, withAt: rnd() < 0.5, mismatchRevRate: rnd(), readRatio: rnd(),
  });
  if (rnd() < 0.6) {
    const i = Math.floor(rnd() * h.length);
    const op = structuredClone(h[i]!) as { call: number; return: number | null; op: string; input?: { value?: string }; output: Record<string, unknown> | null };
    const how = Math.floor(rnd() * 4);
    if (op.return === null) {
      op.return = op.call + 1;
      op.output = op.op === 'get' ? { value: null, rev: 0 } : op.op === 'set' ? { ok: true, rev: 1 + Math.floor(rnd() * 8) } : { ok: true, deleted: true, rev: 1 + Math.floor(rnd() * 8) };
    } else if (how === 0 && op.output !== null && typeof op.output.rev === 'number') {
      const rev = Math.max(0, op.output.rev + (rnd() < 0.5 ? -1 : 1));
      const landed = op.op === 'set' ? op.output.ok === true : op.output.deleted === true;
      op.output.rev = op.op === 'get' ? (op.output.value === null ? 0 : Math.max(1, rev)) : landed ? Math.max(1, rev) : rev;
    } else if (how === 1) {
      op.return = null;
      op.output = null;
    } else if (how === 2) op.call = Math.max(0, op.call - 5);
    else if (op.op === 'set') op.input!.value = `v${1 + Math.floor(rnd() * 3)}`;
    h[i] = op as HistoryOp;
  }
  return h;
}

describe('agrees with a brute-force search', () => {
  it('on small arbitrary histories', () => {
    let linearizable = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      const h = arbitraryHistory(seed);
      const expected = bruteForce(h);
      const r = checkLinearizable(h);
      expect(r.ok, `seed ${seed}: ${JSON.stringify(h)}`).toBe(expected);
      if (expected) linearizable++;
    }
    expect(linearizable).toBeGreaterThan(200);
  });

  it('on small nearly linearizable histories (unknown outcomes, exact conditions, duplicates)', () => {
    let violations = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      const h = nearlyLinearizableHistory(seed);
      const expected = bruteForce(h);
      const r = checkLinearizable(h);
      expect(r.ok, `seed ${seed}: ${JSON.stringify(h)}`).toBe(expected);
      if (!expected) violations++;
    }
    expect(violations).toBeGreaterThan(200);
  });
});

// ------------------------------------------------------------------ long histories

describe('long histories', () => {
  it('2,000 ops from 8 clients (5% unknown outcomes), and the same with a stale read', () => {
    const h = concurrentHistory({ seed: 11, ops: 2000, clients: 8, unknownRate: 0.05 });
    const r = checkLinearizable(h);
    expect(r.ok).toBe(true);
    expect(r.stats.steps).toBeLessThan(3 * r.stats.ops);

    // A read late in the history returns a value whose write was followed, before the read
    // began, by another completed write.
    type Write = Extract<HistoryOp, { op: 'set' | 'del' }>;
    const landed = (op: HistoryOp): op is Write =>
      op.op !== 'get' && op.return !== null && op.output!.ok && !('deleted' in op.output! && !op.output.deleted);
    const readAt = h.reduce((best, op, j) => (op.op === 'get' && op.return !== null && op.call > h[best]!.call ? j : best), 0);
    const read = h[readAt]! as Extract<HistoryOp, { op: 'get' }>;
    const newer = h.filter((op) => landed(op) && op.return! < read.call).sort((a, b) => b.return! - a.return!)[0]!;
    const old = h.find((op) => landed(op) && op.op === 'set' && op.return! < newer.call)! as Extract<HistoryOp, { op: 'set' }>;
    const stale = h.slice();
    stale[readAt] = { ...read, output: { value: old.input.value, rev: (old.output as { rev: number }).rev } };
    const v = rejected(stale, readAt);
    expect(v.stats.steps).toBeLessThan(10 * r.stats.ops);
  });

  it('5,000 ops from 10 clients on 3 keys, checked in well under a second of search', () => {
    const h = concurrentHistory({ seed: 12, ops: 5000, clients: 10, keys: 3, unknownRate: 0.02 });
    const r = checkLinearizable(h);
    expect(r.ok).toBe(true);
    expect(r.stats.keys).toBe(3);
    expect(r.stats.steps).toBeLessThan(3 * r.stats.ops);
    expect(r.stats.ms).toBeLessThan(5000); // typically ~100 ms; generous for loaded machines
  });
});
