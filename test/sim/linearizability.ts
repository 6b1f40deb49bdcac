/**
 * Linearizability checker for client histories of the store, one key at a time.
 *
 * The history is split by key (P-compositionality: every op touches one key, so a history is
 * linearizable iff each key's sub-history is) and each key is checked against the register model
 * of register-model.ts by Wing & Gong's search with Lowe's improvements, as in Porcupine: call
 * and return events in one time-ordered list; place (linearize) a call that comes before the
 * first return still in the list (a minimal op); when none can be placed, back up and try the
 * next candidate. Every configuration reached (set of placed ops, model state) is remembered and
 * never explored twice.
 *
 * Unknown outcomes (return === null): the op may have taken effect at any point after its call,
 * or never. Its return sits at +∞ and placing it is optional: the search succeeds once every op
 * with a known outcome is placed, and unknown ops left out are taken to have had no effect. A
 * configuration that failed therefore also rules out every configuration that differs only in
 * having more unknown ops placed, and the cache is used that way.
 *
 * What keeps the search small (each is argued where it is made, and the test suite checks the
 * checker against a brute-force search on thousands of small random histories):
 * - forced moves: an op that applies and leaves the state as it is goes first, alone;
 * - revision deadlines: the store revision only rises, so once it passes what an unplaced op
 *   wrote or saw, that branch is dead; likewise once a value some unplaced read returns is
 *   overwritten and nothing left can write it again;
 * - an unknown set that is the only writer of a value a read returned with rev R took rev R;
 * - effects no read shows (an unknown delete, a set of a value nobody reads) are tried only
 *   directly before an op that may need them, least permissive condition first, and
 *   interchangeable ones in call order.
 *
 * Times: A precedes B only if A.return < B.call. Equal times count as concurrent (conservative:
 * a coarse clock can hide a violation, never invent one), so when order matters use a clock
 * that separates a return from a later call (a simulator's step counter does).
 *
 * The search is exponential in the worst case. It stops after `maxStepsPerKey` steps (and, if
 * set, after `timeoutMs`) and then says "inconclusive", never "ok". The step bound is
 * deterministic, so a simulator seed replays to the same verdict; the time bound is not.
 */
import {
  compile, DEL, GET, MISSING, REV_UNBOUNDED, SET, showValue, step, ValueTable,
  type Bytes, type HistoryOp, type ModelOp, type RegState,
} from './register-model.ts';

export type { Bytes, CondInput, DelOutput, GetOutput, HistoryOp, RevMismatch, SetInput, SetOutput } from './register-model.ts';

export interface CheckOptions {
  /**
   * Search steps allowed per key before giving up as inconclusive. Each may cache one
   * configuration (~100–200 bytes). Default 1,000,000.
   */
  maxStepsPerKey?: number;
  /** Wall-clock bound for the whole check (not deterministic). Default: none. */
  timeoutMs?: number;
  /** A key's state before the history (default: missing, store revision 0). */
  initial?: ReadonlyMap<string, { value: Bytes; rev: number }>;
}

export interface CheckStats {
  keys: number;
  /** Ops checked (reads with unknown outcome are dropped and not counted). */
  ops: number;
  /** Search steps over all keys. */
  steps: number;
  ms: number;
}

/** An op in an explanation, with its index in the input history. */
export interface PlacedOp {
  index: number;
  op: HistoryOp;
}

export type CheckResult =
  | { ok: true; stats: CheckStats }
  | {
      ok: false;
      inconclusive: false;
      key: string;
      /** Readable: the state after the prefix, the ops that cannot follow it and why, the prefix's end. */
      explanation: string;
      /**
       * The longest linearizable prefix found, in linearization order. Unknown-outcome ops in it
       * took effect there; those not in it are taken to have had no effect.
       */
      prefix: PlacedOp[];
      /**
       * The op blamed, a best guess: a pending read that nothing left can satisfy; else the op
       * that the first op to return runs into (the read of a value it would replace, the op
       * whose revision it would pass); else the first op to return that does not fit the state
       * after the prefix; else the first to return. The explanation gives each pending op's
       * reason.
       */
      failed: { index: number; op: HistoryOp };
      /** The other ops pending (called, not placed) after that prefix. */
      concurrent: { index: number; op: HistoryOp }[];
      stats: CheckStats;
    }
  | { ok: false; inconclusive: true; key: string; explanation: string; stats: CheckStats };

/** Checks a whole history (any number of keys). Throws on a malformed op. */
export function checkLinearizable(history: readonly HistoryOp[], options: CheckOptions = {}): CheckResult {
  const started = performance.now();
  const deadline = options.timeoutMs === undefined ? Infinity : started + options.timeoutMs;
  const byKey = new Map<string, number[]>();
  for (let i = 0; i < history.length; i++) {
    const h = history[i]!;
    if (typeof h.key !== 'string') throw new Error(`history op #${i}: key must be a string`);
    let list = byKey.get(h.key);
    if (list === undefined) byKey.set(h.key, (list = []));
    list.push(i);
  }
  const stats: CheckStats = { keys: byKey.size, ops: 0, steps: 0, ms: 0 };
  let inconclusive: { key: string; explanation: string } | null = null;
  for (const [key, indices] of byKey) {
    const r = checkKey(history, key, indices, options, deadline, stats);
    if (r === null) continue;
    if (r.kind === 'inconclusive') {
      inconclusive ??= { key, explanation: r.explanation };
      continue;
    }
    stats.ms = performance.now() - started;
    const { kind: _, ...violation } = r;
    return { ok: false, inconclusive: false, key, ...violation, stats };
  }
  stats.ms = performance.now() - started;
  if (inconclusive !== null) return { ok: false, inconclusive: true, ...inconclusive, stats };
  return { ok: true, stats };
}

type ViolationFields = {
  explanation: string;
  prefix: PlacedOp[];
  failed: { index: number; op: HistoryOp };
  concurrent: { index: number; op: HistoryOp }[];
};

// ------------------------------------------------------------------ one key

interface Entry {
  call: boolean;
  /** Op number within the key (ops are numbered in call order). */
  op: number;
  time: number;
  /** A call's return entry. */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/** A configuration in the cache; `done` once it has been explored without success. */
interface Memo {
  /** The unknown-outcome ops placed (bits by their rank among unknown ops), or null if none exist. */
  unknown: Uint32Array | null;
  done: boolean;
}

interface Frame {
  entry: Entry;
  /** What the op was placed on. */
  before: RegState;
  restrictionBefore: number;
  maxSet: number;
  /** The candidates at the configuration before, and which one this is; null for a forced move. */
  cands: Entry[] | null;
  ci: number;
  memo: Memo;
  /** The frame of the op placed before this one. */
  parent: Frame | null;
}

interface Best {
  /** The deepest chain of placed ops at a configuration that failed, and its length. */
  top: Frame | null;
  depth: number;
  /** The op of the first return still in the list: it must come before anything called later. */
  stuck: number;
  state: RegState;
  /** The ops called and not placed then, in call order. */
  pending: { op: number }[];
}

const DEFAULT_MAX_STEPS = 1_000_000;

/** Kinds of speculative effect (see `speculation`), as bits of its `needyFor`. */
const BLIND_SET = 1;
const UNKNOWN_DEL = 2;

function checkKey(
  history: readonly HistoryOp[],
  key: string,
  indices: readonly number[],
  options: CheckOptions,
  deadline: number,
  stats: CheckStats,
): (ViolationFields & { kind: 'violation' }) | { kind: 'inconclusive'; explanation: string } | null {
  const values = new ValueTable();
  // Compile, drop unknown reads, number the rest in call order.
  const compiled: { index: number; m: ModelOp; call: number; ret: number }[] = [];
  for (const i of indices) {
    const h = history[i]!;
    const m = compile(h, i, values);
    if (m !== null) compiled.push({ index: i, m, call: h.call, ret: h.return ?? Infinity });
  }
  compiled.sort((a, b) => a.call - b.call || a.index - b.index);
  const n = compiled.length;
  stats.ops += n;
  if (n === 0) return null;
  const ops = compiled.map((c) => c.m);
  const origin = compiled.map((c) => c.index);
  const callT = Float64Array.from(compiled, (c) => c.call);
  const retT = Float64Array.from(compiled, (c) => c.ret);

  let init: RegState = MISSING;
  const given = options.initial?.get(key);
  if (given !== undefined) init = { val: values.id(given.value), lo: given.rev, hi: given.rev, floor: given.rev };

  const seen = new Set<number>();
  for (const m of ops) if (m.kind === GET) seen.add(m.val);
  // An unknown set that is the only writer of a value some read returned with rev R can only
  // have taken rev R (the file that read saw was made by it, unless it was there from the
  // start): pin it.
  const writers = new Map<number, number>();
  for (const m of ops) if (m.kind === SET && !m.refused) writers.set(m.val, (writers.get(m.val) ?? 0) + 1);
  const revRead = new Map<number, number>();
  for (const m of ops) if (m.kind === GET && m.val !== 0 && !revRead.has(m.val)) revRead.set(m.val, m.rev);
  for (const m of ops) {
    if (m.known || m.kind !== SET || writers.get(m.val) !== 1 || m.val === init.val) continue;
    const r = revRead.get(m.val);
    if (r !== undefined) m.rev = r;
  }
  const { needyFor, useful } = speculation(ops, callT, retT, seen);
  const hoistable = readsSafeToHoist(ops, callT, retT);

  // Unknown-outcome ops are optional: each may be placed (taking effect) or left out. Those
  // whose effect cannot matter are left out from the start. They get ranks for the cache.
  const rank = new Int32Array(n).fill(-1);
  let unknownCount = 0;
  let knownLeft = 0;
  for (let i = 0; i < n; i++) {
    if (ops[i]!.known) knownLeft++;
    else if (useful[i]) rank[i] = unknownCount++;
  }
  const inList = (i: number): boolean => ops[i]!.known || rank[i]! >= 0;
  // Interchangeable unknown ops (deletes, and sets of values no read returns, with the same
  // condition) are used in call order: any linearization that uses a later one where an
  // earlier one is unused, or used later, stays valid with the two swapped (the earlier one's
  // window, from its call on, covers the later one's). So each waits for its predecessor.
  const predecessor = new Int32Array(n).fill(-1);
  {
    const lastOf = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const m = ops[i]!;
      if (rank[i]! < 0 || (m.kind === SET && seen.has(m.val))) continue;
      const sig = `${m.kind},${m.cond},${m.exact}`;
      const p = lastOf.get(sig);
      if (p !== undefined) predecessor[i] = p;
      lastOf.set(sig, i);
    }
  }

  // Values some unplaced read returns, and how many unplaced sets could still write them:
  // replacing such a value when nothing can write it again dooms that read.
  const readsOf = new Int32Array(values.size() + 1);
  const writersOf = new Int32Array(values.size() + 1);
  for (let i = 0; i < n; i++) {
    const m = ops[i]!;
    if (m.kind === GET && m.val !== 0) readsOf[m.val]!++;
    if (m.kind === SET && !m.refused && inList(i)) writersOf[m.val]!++;
  }

  // The event list of known ops: calls and returns in time order, calls first on a tie
  // (overlap). Unknown ops, whose returns would all sit at +∞, have their calls in a list of
  // their own; one is a candidate when its call is no later than the first return left.
  const entries: Entry[] = [];
  const unknownCalls: Entry[] = [];
  for (let i = 0; i < n; i++) {
    if (!inList(i)) continue;
    if (!ops[i]!.known) {
      unknownCalls.push({ call: true, op: i, time: callT[i]!, match: null, prev: null, next: null });
      continue;
    }
    const ret: Entry = { call: false, op: i, time: retT[i]!, match: null, prev: null, next: null };
    const call: Entry = { call: true, op: i, time: callT[i]!, match: ret, prev: null, next: null };
    entries.push(call, ret);
  }
  entries.sort((a, b) => a.time - b.time || (a.call === b.call ? 0 : a.call ? -1 : 1) || a.op - b.op);
  const link = (list: readonly Entry[]): Entry => {
    const first: Entry = { call: false, op: -1, time: -Infinity, match: null, prev: null, next: null };
    let last = first;
    for (const e of list) {
      last.next = e;
      e.prev = last;
      last = e;
    }
    return first;
  };
  const head = link(entries);
  const uhead = link(unknownCalls); // already in call order: ops are numbered by call
  const unlink = (e: Entry): void => {
    e.prev!.next = e.next;
    if (e.next !== null) e.next.prev = e.prev;
  };
  const relink = (e: Entry): void => {
    e.prev!.next = e;
    if (e.next !== null) e.next.prev = e;
  };
  const lift = (e: Entry): void => {
    unlink(e);
    if (e.match !== null) unlink(e.match);
  };
  const unlift = (e: Entry): void => {
    if (e.match !== null) relink(e.match);
    relink(e);
  };
  // The placed set, in two parts. Known ops: a bitset in which every unknown op also counts as
  // set, with its first zero and highest placed op (it is compared from the first zero on).
  // Unknown ops: a bitset by rank.
  const kbits = new Uint32Array((n + 31) >>> 5);
  for (let i = 0; i < n; i++) if (!ops[i]!.known) kbits[i >>> 5]! |= 1 << (i & 31);
  const ubits = unknownCount > 0 ? new Uint32Array((unknownCount + 31) >>> 5) : null;
  let firstZero = 0;
  let maxSet = -1;
  const advanceFirstZero = (): void => {
    let f = firstZero;
    while (f < n) {
      const w = kbits[f >>> 5]!;
      if ((f & 31) === 0 && w === 0xffffffff) f += 32;
      else if (w & (1 << (f & 31))) f++;
      else break;
    }
    firstZero = Math.min(f, n);
  };
  advanceFirstZero();
  /** Whether unknown op i is placed. */
  const placed = (i: number): boolean => {
    const r = rank[i]!;
    return (ubits![r >>> 5]! & (1 << (r & 31))) !== 0;
  };
  const setBit = (i: number): void => {
    const m = ops[i]!;
    if (m.kind === GET) {
      if (m.val !== 0) readsOf[m.val]!--;
    } else if (m.kind === SET && !m.refused) writersOf[m.val]!--;
    revs.remove(i);
    const r = rank[i]!;
    if (r >= 0) {
      ubits![r >>> 5]! |= 1 << (r & 31);
      return;
    }
    kbits[i >>> 5]! |= 1 << (i & 31);
    if (i > maxSet) maxSet = i;
    if (i === firstZero) advanceFirstZero();
  };
  const clearBit = (i: number, oldMax: number): void => {
    const m = ops[i]!;
    if (m.kind === GET) {
      if (m.val !== 0) readsOf[m.val]!++;
    } else if (m.kind === SET && !m.refused) writersOf[m.val]!++;
    revs.restore(i);
    const r = rank[i]!;
    if (r >= 0) {
      ubits![r >>> 5]! &= ~(1 << (r & 31));
      return;
    }
    kbits[i >>> 5]! &= ~(1 << (i & 31));
    if (i < firstZero) firstZero = i;
    maxSet = oldMax;
  };

  // The cache. A configuration is the placed set, the state, and the restriction on what may
  // come next (with the state it depends on). Leaving an unknown op out is always allowed, so a
  // configuration that failed also rules out every one that differs only by having more unknown
  // ops placed: the key holds the rest, and each entry under it the unknown ops placed.
  const cache = new Map<string, Memo[]>();
  let memos = 0;
  const remember = (s: RegState, restriction: number, before: RegState): Memo | null => {
    let k = `${firstZero},${s.val},${s.lo},${s.hi},${s.floor},${restriction}`;
    k += restriction === 0 ? ':' : `/${before.val},${before.lo},${before.hi},${before.floor}:`;
    for (let w = firstZero >>> 5; maxSet > firstZero && w <= maxSet >>> 5; w++) {
      const v = kbits[w]!;
      k += String.fromCharCode(v & 0xffff, v >>> 16);
    }
    let list = cache.get(k);
    if (list === undefined) cache.set(k, (list = []));
    else {
      for (const m of list) {
        if (!m.done) continue;
        if (ubits === null) return null;
        let sub = true;
        for (let w = 0; w < ubits.length && sub; w++) if ((m.unknown![w]! & ~ubits[w]!) !== 0) sub = false;
        if (sub) return null;
      }
    }
    const memo: Memo = { unknown: ubits === null ? null : ubits.slice(), done: false };
    list.push(memo);
    memos++;
    return memo;
  };

  /**
   * Whether op i, needy of a speculative effect, may actually need it at state b: it does not
   * apply there. (An op that applies can go before the effect instead, which leaves the effect
   * at least as free, unless b's rev is an unknown interval that the op would narrow.)
   */
  const blockedBy = (b: RegState, i: number): boolean => b.lo !== b.hi || step(b, ops[i]!) === null;

  // Revision deadlines: the store revision only rises, so a known write with rev W cannot come
  // once the floor reaches W, nor a read that saw store revision A once it passes A. The least
  // deadline among unplaced ops, kept in a min-tree over op numbers.
  const deadlines = ops.map(revisionDeadline);
  const revs = minTree(deadlines);

  let state = init;
  /** The placed ops, newest first, as a chain of frames. */
  let top: Frame | null = null;
  let depth = 0;
  /** After a speculative effect only an op needy of it may come next (see `speculation`). */
  let restriction = 0;
  const allowed = (i: number): boolean => {
    if (restriction === 0) return true;
    if ((needyFor[i]! & restriction) === 0) return false;
    return blockedBy(top!.before, i);
  };
  /** Call after op i is accounted as placed. */
  const restrictionAfter = (i: number): number => {
    const m = ops[i]!;
    if (m.known) return 0;
    if (m.kind === DEL) return UNKNOWN_DEL;
    return readsOf[m.val] === 0 ? BLIND_SET : 0;
  };

  /** Places op e if it applies and leads somewhere new. */
  const tryPlace = (e: Entry, cands: Entry[] | null, ci: number): boolean => {
    const i = e.op;
    const next = step(state, ops[i]!);
    if (next === null) return false;
    const oldMax = maxSet;
    setBit(i);
    const v = state.val;
    // Replacing a value that an unplaced read returns, when nothing unplaced can write it again.
    const doomed = v !== 0 && next.val !== v && readsOf[v]! > 0 && writersOf[v] === 0;
    const after = restrictionAfter(i);
    const memo = doomed || revs.min() <= next.floor ? null : remember(next, after, state);
    if (memo === null) {
      clearBit(i, oldMax);
      return false;
    }
    top = { entry: e, before: state, restrictionBefore: restriction, maxSet: oldMax, cands, ci, memo, parent: top };
    depth++;
    state = next;
    restriction = after;
    lift(e);
    if (ops[i]!.known) knownLeft--;
    return true;
  };
  const undo = (): Frame => {
    const f = top!;
    top = f.parent;
    depth--;
    f.memo.done = true;
    state = f.before;
    restriction = f.restrictionBefore;
    clearBit(f.entry.op, f.maxSet);
    unlift(f.entry);
    if (ops[f.entry.op]!.known) knownLeft++;
    return f;
  };

  // Candidates: calls before the first return in the list (minimal ops). Order: unknown sets
  // of a value that a read among the candidates waits for, then known ops, then speculative
  // effects (only if a candidate needy of them does not apply now). So the
  // effects reads show come when needed, and configurations with unknown ops left out are
  // explored (and cached) before those with them placed.
  const candidates = (): Entry[] => {
    const known: Entry[] = [];
    const unknown: Entry[] = [];
    let wanted = 0; // kinds of speculative effect a blocked candidate may need
    const wantedValues: number[] = [];
    const consider = (c: Entry): void => {
      const m = ops[c.op]!;
      // A pinned unknown set whose rev the store has passed can never take effect now.
      if (!m.known && m.rev > 0 && m.rev <= state.floor) return;
      if (allowed(c.op)) {
        if (m.known) known.push(c);
        else if (predecessor[c.op]! < 0 || placed(predecessor[c.op]!)) unknown.push(c);
      }
      // What blocked candidates wait for counts whether or not they may come next: a chain of
      // effects may lead to them.
      if (m.kind !== GET && (needyFor[c.op]! & ~wanted) === 0) return;
      if (!blockedBy(state, c.op)) return;
      wanted |= needyFor[c.op]!;
      if (m.kind === GET && m.val !== 0 && step(state, m) === null) wantedValues.push(m.val);
    };
    let c: Entry | null = head.next;
    for (; c !== null && c.call; c = c.next) consider(c);
    const until = c === null ? Infinity : c.time;
    for (let u = uhead.next; u !== null && u.time <= until; u = u.next) consider(u);
    if (unknown.length === 0) return known;
    let first: Entry[] | null = null;
    let rest: Entry[] | null = null;
    // Speculative effects that apply here are interchangeable but for their conditions, and
    // those are nested when the file's rev is known (an exact one that applies is on this rev,
    // a Doozer one on this rev or above): with the least permissive one used here, any other
    // can stand in wherever it would have been used later. So only that one is tried.
    const pinned = state.lo === state.hi;
    let bestSet: Entry | null = null;
    let bestDel: Entry | null = null;
    for (const c of unknown) {
      const m = ops[c.op]!;
      if (m.kind === SET && readsOf[m.val]! > 0) {
        if (wantedValues.includes(m.val)) (first ??= []).push(c);
        else (rest ??= []).push(c);
        continue;
      }
      if ((wanted & (m.kind === DEL ? UNKNOWN_DEL : BLIND_SET)) === 0) continue;
      if (!pinned) {
        (rest ??= []).push(c);
        continue;
      }
      if (step(state, m) === null) continue;
      const held = m.kind === DEL ? bestDel : bestSet;
      if (held !== null && permissiveness(ops[held.op]!) <= permissiveness(m)) continue;
      if (m.kind === DEL) bestDel = c;
      else bestSet = c;
    }
    if (bestSet !== null) (rest ??= []).push(bestSet);
    if (bestDel !== null) (rest ??= []).push(bestDel);
    if (first === null && rest === null) return known;
    return (first ?? []).concat(known, rest ?? []);
  };

  // Forced moves. A known op that applies now and leaves the state exactly as it is can go
  // first: any linearization that places it later stays valid with it moved to the front (it is
  // a candidate, so every op that must precede it is placed, and nothing after it sees a
  // difference). So it is placed without trying anything else, and if that fails, this
  // configuration fails. The same holds for a read of the current value, when the file's rev is
  // known, that raises the store revision floor to its `at`, if no read of that value
  // overlapping it saw an earlier revision: only such reads, refusals and ops left out can
  // come before it (any write would move the rev past the one it read), and none of them needs
  // the floor below its `at`.
  const findForced = (): Entry | null => {
    for (let c: Entry | null = head.next; c !== null && c.call; c = c.next) {
      const op = ops[c.op]!;
      if (!op.known || !allowed(c.op)) continue;
      const next = step(state, op);
      if (next === null) continue;
      if (next === state || (hoistable[c.op]! && state.val !== 0 && state.lo === state.hi)) return c;
    }
    return null;
  };

  const maxSteps = options.maxStepsPerKey ?? DEFAULT_MAX_STEPS;
  let steps = 0;
  let best: Best | null = null;
  const fail = (): void => {
    if (best !== null && depth <= best.depth) return;
    let stuck = -1;
    const pending: { op: number }[] = [];
    let c: Entry | null = head.next;
    for (; c !== null && c.call; c = c.next) pending.push({ op: c.op });
    if (c !== null) stuck = c.op;
    const until = c === null ? Infinity : c.time;
    for (let u = uhead.next; u !== null && u.time <= until; u = u.next) pending.push({ op: u.op });
    best = { top, depth, stuck, state, pending };
  };

  search: while (knownLeft > 0) {
    if (++steps > maxSteps || ((steps & 1023) === 0 && performance.now() > deadline)) {
      stats.steps += steps;
      const why = steps > maxSteps ? `${maxSteps} search steps` : 'the time limit';
      return {
        kind: 'inconclusive',
        explanation:
          `key ${JSON.stringify(key)}: inconclusive after ${why} (${n} ops; ` +
          `${best === null ? 0 : (best as Best).depth} linearized at most; ${memos} configurations). ` +
          'Raise maxStepsPerKey, or shorten the history or its unknown-outcome ops.',
      };
    }
    // A configuration not seen before: a forced move, or each candidate in turn.
    const forced = findForced();
    if (forced !== null) {
      if (tryPlace(forced, null, 0)) continue;
    } else {
      const cands = candidates();
      for (let ci = 0; ci < cands.length; ci++) if (tryPlace(cands[ci]!, cands, ci)) continue search;
    }
    // It fails: back up to the nearest configuration with a candidate left to try.
    fail();
    for (;;) {
      if (top === null) break search;
      const f = undo();
      if (f.cands === null) continue;
      for (let ci = f.ci + 1; ci < f.cands.length; ci++) {
        steps++;
        if (tryPlace(f.cands[ci]!, f.cands, ci)) continue search;
      }
    }
  }
  stats.steps += steps;
  if (knownLeft === 0) return null;
  return { kind: 'violation', ...explain(history, key, ops, origin, retT, values, best!) };
}

/**
 * The store revision at which an op can no longer be placed: a known write's rev (the floor
 * must stay below it), one past what a read or a delete of a missing file saw; a pinned unknown
 * set's rev too, since the reads that pinned it need it.
 */
function revisionDeadline(m: ModelOp): number {
  if (!m.known) return m.kind === SET && m.rev > 0 ? m.rev : Infinity;
  if (m.kind === GET) return m.at >= 0 ? m.at + 1 : Infinity;
  if (m.refused) return Infinity;
  if (m.missing) return m.rev >= 0 ? m.rev + 1 : Infinity;
  return m.rev;
}

/** Orders conditions that hold at one rev: exact, then Doozer's by rev, then unconditional. */
function permissiveness(m: ModelOp): number {
  if (m.exact) return 0;
  return m.cond === -1 ? Infinity : 1 + m.cond;
}

/** A min-tree over fixed values: remove(i) hides value i, restore(i) brings it back. */
function minTree(values: readonly number[]): { min(): number; remove(i: number): void; restore(i: number): void } {
  let size = 1;
  while (size < values.length) size *= 2;
  const tree = new Float64Array(2 * size).fill(Infinity);
  for (let i = 0; i < values.length; i++) tree[size + i] = values[i]!;
  for (let p = size - 1; p >= 1; p--) tree[p] = Math.min(tree[2 * p]!, tree[2 * p + 1]!);
  const set = (i: number, v: number): void => {
    let p = size + i;
    if (tree[p] === v) return;
    tree[p] = v;
    for (p >>= 1; p >= 1; p >>= 1) tree[p] = Math.min(tree[2 * p]!, tree[2 * p + 1]!);
  };
  return {
    min: () => tree[1]!,
    remove: (i) => set(i, Infinity),
    restore: (i) => set(i, values[i]!),
  };
}

/**
 * Speculative effects. An unknown set of a value no unplaced read returns (a "blind" set) can
 * matter only through the rev it takes; an unknown delete only through the missing file it
 * leaves. Call an op "needy" of a blind set if that effect could be what makes it legal: a
 * refusal that no known rev explains (it reports none, or one that no known write made), an
 * `exact` condition on a rev no known write made, or a delete that found a file. Call an op
 * needy of an unknown delete if it could rely on the file being missing: a read of a missing
 * file, a delete that found nothing, a refusal reporting rev 0 or none, a conditional set
 * (known to have succeeded, or unknown).
 *
 * With such an effect, the ops after it up to the next write that lands see the speculative
 * state; without it they see the state before, which every op that is not needy accepts at
 * least as readily (it has the same or no value for them to see, and a rev and floor no higher),
 * and the states after that next write are equal up to a floor no higher. So such an effect is
 * tried only if a needy op may come after it, and only directly before one (moving it there
 * keeps a linearization valid: its return is +∞ and the ops it jumps over are not needy; if a
 * write lands first, the effect can be left out altogether).
 */
function speculation(
  ops: readonly ModelOp[],
  callT: Float64Array,
  retT: Float64Array,
  seen: ReadonlySet<number>,
): { needyFor: Uint8Array; useful: boolean[] } {
  // Revs a blind set cannot take: those of known writes, and those reads saw with a value (the
  // write that made such a rev wrote a value some read returns, so it is no blind set).
  const knownRevs = new Set<number>([0]);
  for (const m of ops) {
    if (m.known && m.kind !== GET && !m.refused && !m.missing) knownRevs.add(m.rev);
    if (m.known && m.kind === GET && m.val !== 0) knownRevs.add(m.rev);
  }
  const n = ops.length;
  const needyFor = new Uint8Array(n);
  let latestBlind = -Infinity;
  let latestDel = -Infinity;
  for (let i = 0; i < n; i++) {
    const m = ops[i]!;
    let needs = 0;
    if (
      (m.exact && m.kind !== GET && !knownRevs.has(m.cond)) ||
      (m.known && m.refused && (m.rev < 0 || !knownRevs.has(m.rev))) ||
      (m.known && m.kind === DEL && !m.refused && !m.missing)
    ) {
      needs |= BLIND_SET;
      latestBlind = Math.max(latestBlind, retT[i]!);
    }
    if (
      (m.known && m.kind === GET && m.val === 0) ||
      (m.known && m.kind === DEL && m.missing) ||
      (m.known && m.refused && m.rev <= 0) ||
      (m.kind === SET && !m.refused && (m.cond !== -1 || m.exact))
    ) {
      needs |= UNKNOWN_DEL;
      latestDel = Math.max(latestDel, retT[i]!);
    }
    needyFor[i] = needs;
  }
  const useful = ops.map((m, i) => {
    if (m.known) return true;
    if (m.kind === DEL) return latestDel >= callT[i]!;
    return seen.has(m.val) || latestBlind >= callT[i]!;
  });
  return { needyFor, useful };
}

/**
 * For each op: true if it is a read of a value (not of a missing file) that no overlapping read
 * of the same value saw at an earlier store revision (`at`), so that it may be placed as soon
 * as it applies while the file's rev is known (see the forced moves in checkKey).
 */
function readsSafeToHoist(ops: readonly ModelOp[], callT: Float64Array, retT: Float64Array): boolean[] {
  const safe = ops.map((m) => m.known && m.kind === GET && m.val !== 0);
  const byValue = new Map<number, number[]>();
  for (let i = 0; i < ops.length; i++) {
    const m = ops[i]!;
    if (m.kind !== GET || m.val === 0 || m.at < 0) continue;
    let list = byValue.get(m.val);
    if (list === undefined) byValue.set(m.val, (list = []));
    list.push(i); // in call order: ops are numbered by call
  }
  for (const list of byValue.values()) {
    for (const i of list) {
      const ret = retT[i]!;
      const call = callT[i]!;
      const at = ops[i]!.at;
      for (const j of list) {
        if (callT[j]! > ret) break;
        if (j !== i && retT[j]! >= call && ops[j]!.at < at) {
          safe[i] = false;
          break;
        }
      }
    }
  }
  return safe;
}

// ------------------------------------------------------------------ explanations

const PREFIX_SHOWN = 8;
const UNKNOWN_SHOWN = 5;

function explain(
  history: readonly HistoryOp[],
  key: string,
  ops: readonly ModelOp[],
  origin: readonly number[],
  retT: Float64Array,
  values: ValueTable,
  best: Best,
): ViolationFields {
  const at = (i: number): { index: number; op: HistoryOp } => ({ index: origin[i]!, op: history[origin[i]!]! });
  const prefix: PlacedOp[] = [];
  const placed = new Set<number>();
  for (let f = best.top; f !== null; f = f.parent) {
    prefix.push(at(f.entry.op));
    placed.add(f.entry.op);
  }
  prefix.reverse();
  const s = best.state;
  const show = (v: number): string => (v === 0 ? 'a missing file' : showValue(values.value(v)));
  const name = (i: number): string => `#${origin[i]!}`;

  // Why each pending op cannot go next, and the op to blame for it.
  const unplaced = ops.map((_, i) => i).filter((i) => !placed.has(i));
  const reason = (p: number): { why: string; culprit: number; hopeless?: boolean } => {
    const m = ops[p]!;
    const next = step(s, m);
    if (next === null && m.kind === GET && m.val !== s.val) {
      // A read of a value the file does not have: hopeless if nothing left can make it so.
      const makers = unplaced.filter((i) => {
        const o = ops[i]!;
        if (i === p || o.kind === GET || o.refused) return false;
        return m.val === 0 ? o.kind === DEL && !o.missing : o.kind === SET && o.val === m.val;
      });
      if (makers.length === 0) {
        const what = m.val === 0 ? 'nothing left deletes the file' : `nothing left writes ${show(m.val)}`;
        return { why: `does not fit that state, and ${what}`, culprit: p, hopeless: true };
      }
    }
    if (next === null) return { why: 'does not fit that state', culprit: p };
    if (s.val !== 0 && next.val !== s.val) {
      const reads = unplaced.filter((i) => i !== p && ops[i]!.kind === GET && ops[i]!.val === s.val);
      const writers = unplaced.filter((i) => i !== p && ops[i]!.kind === SET && !ops[i]!.refused && ops[i]!.val === s.val);
      if (reads.length > 0 && writers.length === 0) {
        const r = reads.sort((a, b) => retT[a]! - retT[b]!)[0]!;
        return { why: `would replace ${show(s.val)}, which ${name(r)} reads and nothing left writes again`, culprit: r };
      }
    }
    const late = unplaced.filter((i) => i !== p && revisionDeadline(ops[i]!) <= next.floor).sort((a, b) => retT[a]! - retT[b]!)[0];
    if (late !== undefined) {
      const m2 = ops[late]!;
      const what =
        m2.kind === GET || m2.missing
          ? `${name(late)} saw store revision ${m2.kind === GET ? m2.at : m2.rev}`
          : `${name(late)} made rev ${m2.rev}`;
      return { why: `would take the store revision to ${next.floor} or more, but ${what}`, culprit: late };
    }
    return { why: 'fits, but then the ops that must follow cannot all be placed', culprit: -1 };
  };
  const pending = best.pending.map((p) => p.op).sort((a, b) => retT[a]! - retT[b]! || a - b);
  const reasons = new Map(pending.map((p) => [p, reason(p)]));
  // Blame: a read that no continuation can satisfy (the first to return); else follow what the
  // first op to return that runs into another op (a read that needs the value it would replace,
  // an op whose revision it would pass) runs into, to the end of that chain; else the first known
  // op to return that does not fit; else the first to return.
  let blamed = pending.find((p) => ops[p]!.known && reasons.get(p)!.hopeless === true) ?? -1;
  const runsInto = (p: number): boolean => reasons.get(p)!.culprit >= 0 && reasons.get(p)!.culprit !== p;
  const chainStart = blamed >= 0 ? undefined : pending.find((p) => ops[p]!.known && runsInto(p));
  if (chainStart !== undefined) {
    blamed = reasons.get(chainStart)!.culprit;
    for (let hops = 0; hops < pending.length; hops++) {
      const next = ops[blamed]!.known ? (reasons.get(blamed)?.culprit ?? -1) : -1;
      if (next < 0 || next === blamed) break;
      blamed = next;
    }
  } else if (blamed < 0) {
    blamed = pending.find((p) => ops[p]!.known && reasons.get(p)!.culprit === p) ?? best.stuck;
  }

  const rev =
    s.lo === s.hi ? `rev ${s.lo}` : s.hi === REV_UNBOUNDED ? `an unknown rev ≥ ${s.lo}` : `a rev in [${s.lo}, ${s.hi}]`;
  const stateText = s.val === 0 ? 'missing' : `${showValue(values.value(s.val))} at ${rev}`;
  const lines = [
    `key ${JSON.stringify(key)} is not linearizable. The longest linearizable prefix found has ` +
      `${prefix.length} of ${origin.length} ops; after it the file is ${stateText} (store ` +
      `revision ≥ ${s.floor}), and no pending op can go next:`,
  ];
  const line = (p: number, why: string): string => `  ${describeOp(origin[p]!, history[origin[p]!]!)}: ${why}`;
  for (const p of pending) {
    if (!ops[p]!.known) continue;
    lines.push(line(p, reasons.get(p)!.why + (p === best.stuck ? ' (the first of them to return)' : '')));
  }
  // Unknown-outcome ops (they may also be left out): those whose effect here would replace a
  // value a read still needs first, then the rest, a few of them.
  const unknown = pending.filter((p) => !ops[p]!.known);
  const telling = (p: number): boolean => {
    const c = reasons.get(p)!.culprit;
    return c >= 0 && c !== p && ops[c]!.kind === GET;
  };
  const shownUnknown = [...unknown.filter(telling), ...unknown.filter((p) => !telling(p))].slice(0, UNKNOWN_SHOWN);
  for (const p of shownUnknown) {
    const r = reasons.get(p)!;
    const why = telling(p) ? `if it took effect now, it ${r.why}` : r.culprit === p ? 'cannot take effect here' : 'may still take effect';
    lines.push(line(p, why));
  }
  if (unknown.length > shownUnknown.length) {
    lines.push(`  … and ${unknown.length - shownUnknown.length} more ops of unknown outcome`);
  }
  if (!pending.includes(blamed)) {
    lines.push(`The op that cannot be linearized: ${describeOp(origin[blamed]!, history[origin[blamed]!]!)}`);
  }
  if (prefix.length > 0) {
    const shown = prefix.slice(-PREFIX_SHOWN);
    lines.push(`The prefix ends with (in linearization order):`);
    for (const p of shown) lines.push(`  ${describeOp(p.index, p.op)}${p.op.return === null ? ' [took effect here]' : ''}`);
  }
  const concurrent = best.pending.filter((p) => p.op !== blamed).map((p) => at(p.op));
  return { explanation: lines.join('\n'), prefix, failed: at(blamed), concurrent };
}

function describeCond(c: { cond: number; exact?: boolean }, set: boolean): string {
  if (c.exact === true) return `if rev = ${c.cond}`;
  if (c.cond === -1) return 'unconditional';
  if (c.cond === 0 && set) return 'create (cond 0)';
  return `if rev ≤ ${c.cond}`;
}

/** One line for an op: `#12 client 3 set "v" if rev ≤ 4 → ok rev 9 [call 10, return 14]`. */
export function describeOp(index: number, h: HistoryOp): string {
  let what: string;
  let result = 'unknown outcome';
  if (h.op === 'get') {
    what = 'get';
    if (h.return !== null && h.output !== null) {
      result = h.output.value === null ? 'missing' : `${showValue(h.output.value)} rev ${h.output.rev}`;
      if (h.output.at !== undefined) result += ` (at ${h.output.at})`;
    }
  } else {
    what = h.op === 'set' ? `set ${showValue(h.input.value)} ${describeCond(h.input, true)}` : `del ${describeCond(h.input, false)}`;
    const out = h.output;
    if (h.return !== null && out !== null) {
      if (!out.ok) result = `REV_MISMATCH${out.rev === undefined ? '' : ` (file at rev ${out.rev})`}`;
      else if ('deleted' in out && !out.deleted) result = `ok, nothing to delete${out.rev === undefined ? '' : ` (at ${out.rev})`}`;
      else result = `ok rev ${out.rev}`;
    }
  }
  const span = `[call ${time(h.call)}, return ${h.return === null ? '-' : time(h.return)}]`;
  return `#${index} client ${String(h.clientId)} ${what} → ${result} ${span}`;
}

function time(t: number): string {
  return String(Number(t.toFixed(3)));
}
