/**
 * The sequential model that test/sim/linearizability.ts checks one key's history against: one
 * file of the store, as the server's store applies SET, DEL and GET to it
 * (server/store/store.ts, protocol/README.md).
 *
 * A file's state is {value, rev}: value null and rev 0 when it is missing. Revisions are the
 * store's global revision, so a successful write's rev is the new store revision, strictly
 * greater than every revision the store had before it. Per key that gives:
 *
 * - get → {value, rev} (rev 0, value null when missing); with `at`, the store revision the read
 *   saw, which is ≥ the file's rev and ≥ every revision reached before the read.
 * - set(value, cond): Doozer's rule, ok iff cond === -1 || cond >= rev (a missing file's rev 0
 *   satisfies any cond ≥ 0); with `exact` (a TXN condition), ok iff rev === cond. Success
 *   makes {value, newRev}, newRev > the store revision; otherwise REV_MISMATCH, which changes
 *   nothing and may report the file's current rev.
 * - del(cond): same condition; an existing file becomes missing (rev 0 again) at a new revision;
 *   a missing file is left alone ({deleted: false}, no revision taken; the protocol returns the
 *   current store revision, which is then ≥ every revision before it).
 *
 * Unknown outcomes. A write whose outcome is unknown (return === null) may take effect at any
 * point after its call, or never. If it takes effect its new rev is unknown; the state then holds
 * the file's rev as an interval [lo, hi] that later observations narrow (a read of that value
 * pins it, a CAS that succeeded bounds it above, a REV_MISMATCH bounds it below). The store
 * revision is tracked only as a lower bound (`floor`): the store revision is ≥ max(floor, rev).
 * Picking the smallest rev the interval allows is always the best choice for what comes after,
 * since later constraints on an overwritten rev are only upper bounds ("the next write's rev is
 * greater"), so the interval is exact except for one over-approximation: an `exact` REV_MISMATCH
 * without a reported rev excludes one value from the middle of an interval, which is not
 * recorded. That can only make the checker accept more, never reject a linearizable history.
 */

/** A value as recorded by a harness: bytes, or a string (compared as its UTF-8 bytes). */
export type Bytes = Uint8Array | string;

/** A write's condition: -1 unconditional, 0 create, N Doozer's "rev ≤ N"; `exact`: rev === N. */
export interface CondInput {
  cond: number;
  exact?: boolean;
}
export interface SetInput extends CondInput {
  value: Bytes;
}

/** A read's result: value null and rev 0 for a missing file. `at`: the store revision it saw. */
export interface GetOutput {
  value: Bytes | null;
  rev: number;
  at?: number;
}
/** A refused write. `rev`, when given, is the file's rev at that moment (the error's details). */
export interface RevMismatch {
  ok: false;
  error: 'REV_MISMATCH';
  rev?: number;
}
export type SetOutput = { ok: true; rev: number } | RevMismatch;
/** `rev` with deleted: the new store revision; without: the store revision then (optional). */
export type DelOutput =
  | { ok: true; deleted: true; rev: number }
  | { ok: true; deleted: false; rev?: number }
  | RevMismatch;

interface Timing {
  clientId: string | number;
  key: string;
  /** When the request was sent (any clock: simulated steps or ms). */
  call: number;
  /** When its answer arrived; null when the outcome is unknown (timeout, UNAVAILABLE, lost). */
  return: number | null;
}

/**
 * One client operation as a harness records it. An op with `return: null` has an unknown
 * outcome and its `output` is ignored. Ops that failed with any other definite error (the
 * request was refused before it could take effect) must be left out of the history, and a
 * timed-out or UNAVAILABLE write must be recorded with `return: null`, never as a failure.
 */
export type HistoryOp = Timing &
  (
    | { op: 'get'; input?: undefined; output: GetOutput | null }
    | { op: 'set'; input: SetInput; output: SetOutput | null }
    | { op: 'del'; input: CondInput; output: DelOutput | null }
  );

// ------------------------------------------------------------------ compiled form

export const GET = 0;
export const SET = 1;
export const DEL = 2;

/** An op reduced to numbers, values interned (0 = missing). */
export interface ModelOp {
  kind: typeof GET | typeof SET | typeof DEL;
  /** false: outcome unknown; the model gives the state if it took effect. */
  known: boolean;
  /** SET: the value written; GET: the value read (0 = missing). */
  val: number;
  cond: number;
  exact: boolean;
  /** Known SET/DEL answered REV_MISMATCH. */
  refused: boolean;
  /** DEL answered {deleted: false}. */
  missing: boolean;
  /**
   * GET: the rev read; SET/DEL ok: the new rev; REV_MISMATCH and DEL of missing: as reported, or
   * -1. An unknown SET: -1, or the rev it must have taken if it took effect (set by the checker).
   */
  rev: number;
  /** GET: the store revision the read saw, or -1. */
  at: number;
}

/** The file's value (0 = missing), its rev ∈ [lo, hi], and a lower bound of the store revision. */
export interface RegState {
  readonly val: number;
  readonly lo: number;
  readonly hi: number;
  readonly floor: number;
}

export const REV_UNBOUNDED = Number.MAX_SAFE_INTEGER;

export const MISSING: RegState = { val: 0, lo: 0, hi: 0, floor: 0 };

function state(val: number, lo: number, hi: number, floor: number): RegState {
  return { val, lo, hi, floor: floor > lo ? floor : lo };
}

/** The revs x in [s.lo, s.hi] for which the condition holds: returns the smallest, or -1. */
function holdsFrom(s: RegState, cond: number, exact: boolean): number {
  if (exact) return cond >= s.lo && cond <= s.hi ? cond : -1;
  if (cond === -1) return s.lo;
  return s.lo <= Math.min(s.hi, cond) ? s.lo : -1;
}

/** The state after a REV_MISMATCH (rev narrowed to where the condition fails), or null. */
function refuse(s: RegState, cond: number, exact: boolean, reported: number): RegState | null {
  let lo = s.lo;
  let hi = s.hi;
  if (exact) {
    if (lo === cond) lo++;
    if (hi === cond) hi--;
    // A hole in the middle of [lo, hi] is not recorded (over-approximation, see above).
  } else {
    if (cond === -1) return null;
    if (cond + 1 > lo) lo = cond + 1;
  }
  if (reported >= 0) {
    if (reported < lo || reported > hi || (exact && reported === cond)) return null;
    lo = hi = reported;
  }
  if (lo > hi) return null;
  return lo === s.lo && hi === s.hi ? s : state(s.val, lo, hi, s.floor);
}

/**
 * The state after `op` takes effect in state `s` with the outcome it reported (for an unknown
 * op: with some outcome that changes the state), or null if that is impossible. Never returns
 * a "no effect" alternative for unknown ops: the search adds that itself.
 */
export function step(s: RegState, op: ModelOp): RegState | null {
  if (op.kind === GET) {
    if (op.val === 0) {
      if (s.val !== 0 || op.rev !== 0) return null;
    } else if (s.val !== op.val || op.rev < s.lo || op.rev > s.hi) {
      return null;
    }
    let floor = s.floor;
    if (op.at >= 0) {
      if (op.at < s.floor || op.at < op.rev) return null;
      floor = op.at;
    }
    if (op.rev === s.lo && op.rev === s.hi && floor === s.floor) return s;
    return state(s.val, op.rev, op.rev, floor);
  }
  if (op.known && op.refused) return refuse(s, op.cond, op.exact, op.rev);
  const x = holdsFrom(s, op.cond, op.exact);
  if (op.kind === DEL && op.known && op.missing) {
    if (s.val !== 0 || x === -1) return null;
    if (op.rev >= 0) {
      if (op.rev < s.floor) return null;
      return op.rev === s.floor ? s : state(0, 0, 0, op.rev);
    }
    return s;
  }
  if (x === -1) return null;
  if (op.kind === DEL && s.val === 0) return null; // known: answered deleted, but nothing to delete
  // The write makes a new store revision: greater than the store revision before it, which is
  // ≥ floor and ≥ the file's rev x.
  const before = s.floor > x ? s.floor : x;
  if (op.known) {
    if (op.rev <= before) return null;
    return op.kind === SET ? state(op.val, op.rev, op.rev, op.rev) : state(0, 0, 0, op.rev);
  }
  if (op.kind === DEL) return state(0, 0, 0, before + 1);
  // An unknown set whose rev is known from a read (the checker pins it): as if known.
  if (op.rev > 0) return op.rev > before ? state(op.val, op.rev, op.rev, op.rev) : null;
  return state(op.val, before + 1, REV_UNBOUNDED, before + 1);
}

export function sameState(a: RegState, b: RegState): boolean {
  return a.val === b.val && a.lo === b.lo && a.hi === b.hi && a.floor === b.floor;
}

// ------------------------------------------------------------------ values

/** Interns values (compared as bytes) to small integers; 0 is "missing". */
export class ValueTable {
  private readonly ids = new Map<string, number>();
  private readonly values: Bytes[] = [];

  id(v: Bytes | null): number {
    if (v === null) return 0;
    const k = byteString(v);
    let id = this.ids.get(k);
    if (id === undefined) {
      id = this.values.length + 1;
      this.ids.set(k, id);
      this.values.push(v);
    }
    return id;
  }

  /** How many distinct values have ids (the largest id). */
  size(): number {
    return this.values.length;
  }

  /** The value a nonzero id stands for, as first seen. */
  value(id: number): Bytes | null {
    return id === 0 ? null : (this.values[id - 1] ?? null);
  }
}

/** The bytes of a value as a string of char codes 0–255 (a string value: its UTF-8 bytes). */
function byteString(v: Bytes): string {
  if (typeof v === 'string') {
    return /^[\x00-\x7f]*$/.test(v) ? v : Buffer.from(v, 'utf8').toString('latin1');
  }
  if (v.length <= 64) {
    let s = '';
    for (let i = 0; i < v.length; i++) s += String.fromCharCode(v[i]!);
    return s;
  }
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1');
}

/** A value for an explanation: a quoted string if it is printable UTF-8, else hex; shortened. */
export function showValue(v: Bytes | null): string {
  if (v === null) return 'missing';
  const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const text = bytes.toString('utf8');
  const printable = !text.includes('\uFFFD') && /^[\x20-\x7e\u00a0-\uffff]*$/.test(text);
  const shown = printable ? JSON.stringify(text) : `0x${bytes.toString('hex')}`;
  return shown.length > 42 ? `${shown.slice(0, 39)}…` : shown;
}

function isRev(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function bad(index: number, why: string): never {
  throw new Error(`history op #${index}: ${why}`);
}

/**
 * The compiled form of a history op, or null for one that cannot matter (a read with unknown
 * outcome). Throws on a malformed op: that is a harness bug, not a finding.
 */
export function compile(h: HistoryOp, index: number, values: ValueTable): ModelOp | null {
  if (typeof h.call !== 'number' || Number.isNaN(h.call)) bad(index, 'call must be a number');
  if (h.return !== null && (typeof h.return !== 'number' || !(h.return >= h.call))) {
    bad(index, `return must be null (unknown) or a number ≥ call (${h.call}), got ${String(h.return)}`);
  }
  const known = h.return !== null;
  const base: ModelOp = {
    kind: GET, known, val: 0, cond: -1, exact: false, refused: false, missing: false, rev: -1, at: -1,
  };
  if (h.op === 'get') {
    if (!known) return null;
    const out = h.output;
    if (out === null || typeof out !== 'object') bad(index, 'a get that returned needs an output');
    if (!isRev(out.rev)) bad(index, `get rev must be an integer ≥ 0, got ${String(out.rev)}`);
    if (out.value === null && out.rev !== 0) bad(index, 'a get of a missing file must report rev 0');
    if (out.at !== undefined && !isRev(out.at)) bad(index, 'get at must be an integer ≥ 0');
    return { ...base, val: values.id(out.value), rev: out.rev, at: out.at ?? -1 };
  }
  if (h.op !== 'set' && h.op !== 'del') bad(index, `unknown op ${String((h as { op: unknown }).op)}`);
  const input = h.input;
  const name = h.op;
  if (input === undefined || typeof input !== 'object') bad(index, `${name} needs an input`);
  if (!Number.isSafeInteger(input.cond) || input.cond < -1) bad(index, 'cond must be an integer ≥ -1');
  const op: ModelOp = {
    ...base,
    kind: h.op === 'set' ? SET : DEL,
    cond: input.cond,
    exact: input.exact === true,
  };
  if (h.op === 'set') op.val = values.id(h.input.value);
  if (!known) return op;
  const out = h.output;
  if (out === null || typeof out !== 'object') bad(index, `a ${h.op} that returned needs an output`);
  if (out.ok === false) {
    if (out.error !== 'REV_MISMATCH') {
      bad(
        index,
        `only REV_MISMATCH may be recorded as a refusal (got ${String(out.error)}): leave out ops ` +
          'that definitely failed, and record unknown outcomes with return: null',
      );
    }
    if (out.rev !== undefined && !isRev(out.rev)) bad(index, 'REV_MISMATCH rev must be an integer ≥ 0');
    op.refused = true;
    op.rev = out.rev ?? -1;
    return op;
  }
  if (out.ok !== true) bad(index, 'output.ok must be true or false');
  if (h.op === 'del' && 'deleted' in out && out.deleted === false) {
    if (out.rev !== undefined && !isRev(out.rev)) bad(index, 'del rev must be an integer ≥ 0');
    op.missing = true;
    op.rev = out.rev ?? -1;
    return op;
  }
  if (h.op === 'del' && !('deleted' in out && out.deleted === true)) bad(index, 'a del that succeeded needs deleted: true or false');
  if (!isRev(out.rev) || out.rev === 0) bad(index, `a successful ${h.op} needs its new rev (> 0)`);
  op.rev = out.rev;
  return op;
}
