/**
 * A deliberately dumb model of the store, for property tests (test/server/store/*.property.test.ts).
 *
 * It keeps every state the store ever had as a plain Map<path, file> (one Map per revision),
 * every revision's events as a list, and the sessions as a Map. Directories are not stored at
 * all: a path is a directory when some file lies below it. Nothing here shares code with
 * server/store or with protocol/path.ts's glob compiler, so agreement between the two means
 * something. It is slow (copies the whole tree on every write) and that is fine for a few
 * dozen commands over a handful of paths.
 */
import { limits } from '../../protocol/limits.ts';
import type { Event, TxnCondition, TxnOp } from '../../protocol/messages.ts';
import type { Command } from '../../server/store/commands.ts';

export interface ModelFile {
  value: Uint8Array;
  rev: number;
  owner: string | null;
}

/** An outcome with only what the spec fixes: messages are free text and not compared. */
export type ModelOutcome =
  | { ok: true; rev: number; changed: number }
  | { ok: false; code: string; details?: Record<string, unknown> };

/** A read's answer, or the coded error it gave. */
export type ModelRead<T> = { ok: T } | { err: string; details?: Record<string, unknown> };

type WalkPage = { files: { path: string; rev: number; value: Uint8Array }[]; at: number; more: boolean };

interface ModelSession {
  secret: string;
  ttlMs: number;
  results: Map<number, ModelOutcome>;
  floor: number;
}

// ------------------------------------------------------------------ path helpers (independent)

/** `/a/b/c` → ['/a/b', '/a'] (nearest first, `/` excluded). */
export function properAncestors(path: string): string[] {
  const parts = path === '/' ? [] : path.slice(1).split('/');
  const out: string[] = [];
  for (let n = parts.length - 1; n >= 1; n--) out.push('/' + parts.slice(0, n).join('/'));
  return out;
}

function strictlyBelow(path: string, dir: string): boolean {
  return dir === '/' ? path !== '/' : path.startsWith(dir + '/');
}

/** Depth-first tree order: compare component by component; a parent comes before its children. */
export function treeOrder(a: string, b: string): number {
  const x = a === '/' ? [] : a.slice(1).split('/');
  const y = b === '/' ? [] : b.slice(1).split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return x.length - y.length;
}

/**
 * The glob rules written as a regex, independently of protocol/path.ts: `**` is any run of
 * characters, `*` any run without `/`, `?` one character that is not `/`; everything else is
 * itself (escaped generically). Anchored at both ends.
 */
export function referenceGlobRegex(glob: string): RegExp {
  const parts = glob.split(/(\*\*|\*|\?)/);
  let src = '';
  for (const part of parts) {
    if (part === '**') src += '.*';
    else if (part === '*') src += '[^/]*';
    else if (part === '?') src += '[^/]';
    else src += part.replace(/[\\^$.*+?()[\]{}|/-]/g, (c) => `\\${c}`);
  }
  return new RegExp(`^${src}$`);
}

// ------------------------------------------------------------------ the model

export class StoreModel {
  /** states[r] is the whole tree (files only) at revision r. */
  readonly states: Map<string, ModelFile>[] = [new Map()];
  /** events[r] are the events of revision r, sorted by path; events[0] is unused. */
  readonly events: Event[][] = [[]];
  readonly sessions = new Map<string, ModelSession>();

  constructor(public historyRevisions: number) {}

  /** Write results a session remembers (the replicated setting). */
  dedupeMax: number = limits.dedupeResultsPerSessionMax;

  get rev(): number {
    return this.states.length - 1;
  }

  /** Oldest revision whose state is readable; events are kept after it. */
  get oldest(): number {
    return Math.max(0, this.rev - this.historyRevisions);
  }

  get current(): Map<string, ModelFile> {
    return this.states[this.rev]!;
  }

  fileRev(path: string): number {
    return this.current.get(path)?.rev ?? 0;
  }

  /** Files the session owns now, sorted. */
  ephemeralsOf(sid: string): string[] {
    return [...this.current].filter(([, f]) => f.owner === sid).map(([p]) => p).sort();
  }

  /** Whether the model has a remembered result for (sid, seq). */
  remembered(sid: string, seq: number): ModelOutcome | undefined {
    return this.sessions.get(sid)?.results.get(seq);
  }

  // ---------------------------------------------------------------- commands

  apply(cmd: Command): ModelOutcome {
    switch (cmd.t) {
      case 'noop':
        return this.unchanged();
      case 'settings': {
        const v = Object.values(cmd.settings);
        if (v.some((x) => x !== undefined && (!Number.isSafeInteger(x) || x < 1))) return { ok: false, code: 'BAD_REQUEST' };
        if (cmd.settings.historyRevisions !== undefined) this.historyRevisions = cmd.settings.historyRevisions;
        if (cmd.settings.dedupeResultsPerSession !== undefined) this.dedupeMax = cmd.settings.dedupeResultsPerSession;
        return this.unchanged();
      }
      case 'acl':
        // Access control has its own model test (test/store/access.test.ts); the generators here make none.
        throw new Error('the store model does not cover acl commands');
      case 'open':
        if (!this.sessions.has(cmd.sid)) {
          this.sessions.set(cmd.sid, { secret: cmd.secret, ttlMs: cmd.ttlMs, results: new Map(), floor: 0 });
        }
        return this.unchanged();
      case 'close':
      case 'expire':
        return this.endSession(cmd.sid);
      case 'txn':
        return this.txn(cmd);
    }
  }

  private unchanged(): ModelOutcome {
    return { ok: true, rev: this.rev, changed: 0 };
  }

  private endSession(sid: string): ModelOutcome {
    if (!this.sessions.has(sid)) return this.unchanged();
    this.sessions.delete(sid);
    const owned = this.ephemeralsOf(sid);
    if (owned.length === 0) return this.unchanged();
    const next = new Map(this.current);
    const rev = this.rev + 1;
    for (const p of owned) next.delete(p);
    this.commit(next, owned.map((path) => ({ path, rev, kind: 'delete' as const })));
    return { ok: true, rev, changed: owned.length };
  }

  private txn(cmd: Extract<Command, { t: 'txn' }>): ModelOutcome {
    const s = cmd.sid === undefined ? undefined : this.sessions.get(cmd.sid);
    if (cmd.sid !== undefined) {
      if (s === undefined) return { ok: false, code: 'SESSION_EXPIRED' };
      if (cmd.seq !== undefined) {
        const prior = s.results.get(cmd.seq);
        if (prior !== undefined) return prior;
        if (cmd.seq < s.floor) return { ok: false, code: 'OUTCOME_UNKNOWN', details: { seq: cmd.seq, floor: s.floor } };
      }
    }
    const outcome = this.write(cmd.conds, cmd.ops, cmd.sid);
    if (s !== undefined && cmd.seq !== undefined) {
      if (cmd.seqFloor !== undefined && cmd.seqFloor > s.floor) {
        s.floor = cmd.seqFloor;
        for (const k of [...s.results.keys()]) if (k < cmd.seqFloor) s.results.delete(k);
      }
      s.results.set(cmd.seq, outcome);
      while (s.results.size > this.dedupeMax) {
        const first = s.results.keys().next().value as number;
        s.results.delete(first);
        s.floor = Math.max(s.floor, first + 1);
      }
    }
    return outcome;
  }

  private write(conds: TxnCondition[], ops: TxnOp[], sid: string | undefined): ModelOutcome {
    const cur = this.current;
    for (const c of conds) {
      const fileRev = cur.get(c.path)?.rev ?? 0;
      if (c.rev !== -1 && c.rev < fileRev) {
        return { ok: false, code: 'REV_MISMATCH', details: { path: c.path, rev: fileRev } };
      }
    }
    const rev = this.rev + 1;
    const next = new Map(cur);
    const events: Event[] = [];
    const seen = new Set<string>();
    for (const op of ops) {
      const p = op.path;
      if (seen.has(p)) return { ok: false, code: 'BAD_REQUEST', details: { path: p } };
      seen.add(p);
      const fileAncestor = properAncestors(p).find((a) => next.has(a));
      if (fileAncestor !== undefined) {
        return { ok: false, code: 'NOTDIR', details: { path: fileAncestor } };
      }
      if (p === '/' || [...next.keys()].some((k) => strictlyBelow(k, p))) {
        return { ok: false, code: 'ISDIR', details: { path: p } };
      }
      const fileRev = cur.get(p)?.rev ?? 0;
      if (op.rev !== undefined && op.rev !== -1 && op.rev < fileRev) {
        return { ok: false, code: 'REV_MISMATCH', details: { path: p, rev: fileRev } };
      }
      if (op.op === 'set') {
        if (op.ephemeral === true && sid === undefined) return { ok: false, code: 'BAD_REQUEST' };
        next.set(p, { value: op.value, rev, owner: op.ephemeral === true ? sid! : null });
        events.push({ path: p, rev, kind: 'set', value: op.value });
      } else if (next.has(p)) {
        next.delete(p);
        events.push({ path: p, rev, kind: 'delete' });
      }
    }
    if (events.length === 0) return this.unchanged();
    events.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    this.commit(next, events);
    return { ok: true, rev, changed: events.length };
  }

  private commit(next: Map<string, ModelFile>, events: Event[]): void {
    this.states.push(next);
    this.events.push(events);
  }

  // ---------------------------------------------------------------- reads

  private stateAt<T>(
    rev: number | undefined,
    read: (s: Map<string, ModelFile>, at: number) => ModelRead<T>,
  ): ModelRead<T> {
    const at = rev ?? this.rev;
    if (at > this.rev) throw new Error(`model: read at future revision ${at}`);
    if (at < this.oldest) return { err: 'TOO_LATE', details: { oldestRev: this.oldest + 1 } };
    return read(this.states[at]!, at);
  }

  private isDir(s: Map<string, ModelFile>, p: string): boolean {
    if (p === '/') return true;
    for (const k of s.keys()) if (strictlyBelow(k, p)) return true;
    return false;
  }

  private childNames(s: Map<string, ModelFile>, dir: string): string[] {
    const names = new Set<string>();
    const cut = dir === '/' ? 1 : dir.length + 1;
    for (const k of s.keys()) if (strictlyBelow(k, dir)) names.add(k.slice(cut).split('/')[0]!);
    return [...names].sort();
  }

  get(path: string, rev?: number): ModelRead<{ value: Uint8Array | null; rev: number; at: number }> {
    return this.stateAt<{ value: Uint8Array | null; rev: number; at: number }>(rev, (s, at) => {
      const f = s.get(path);
      if (f !== undefined) return { ok: { value: f.value, rev: f.rev, at } };
      if (this.isDir(s, path)) return { err: 'ISDIR', details: { path } };
      return { ok: { value: null, rev: 0, at } };
    });
  }

  stat(path: string, rev?: number): ModelRead<Record<string, unknown>> {
    return this.stateAt<Record<string, unknown>>(rev, (s, at) => {
      const f = s.get(path);
      if (f !== undefined) {
        return { ok: { kind: 'file', rev: f.rev, length: f.value.byteLength, ephemeral: f.owner !== null, at } };
      }
      if (this.isDir(s, path)) {
        return { ok: { kind: 'dir', rev: 0, children: this.childNames(s, path).length, at } };
      }
      return { ok: { kind: 'missing', rev: 0, at } };
    });
  }

  getdir(path: string, rev?: number, after?: string, limit: number = limits.pageEntriesDefault):
    ModelRead<{ names: string[]; at: number; more: boolean }> {
    return this.stateAt<{ names: string[]; at: number; more: boolean }>(rev, (s, at) => {
      if (s.has(path)) return { err: 'NOTDIR', details: { path } };
      if (!this.isDir(s, path)) return { err: 'NOENT', details: { path } };
      const all = this.childNames(s, path).filter((n) => after === undefined || n > after);
      return { ok: { names: all.slice(0, limit), at, more: all.length > limit } };
    });
  }

  walk(glob: string, rev?: number, after?: string, limit: number = limits.pageEntriesDefault):
    ModelRead<WalkPage> {
    const re = referenceGlobRegex(glob);
    return this.stateAt<WalkPage>(rev, (s, at) => {
      const all = [...s.keys()]
        .filter((p) => re.test(p) && (after === undefined || treeOrder(p, after) > 0))
        .sort(treeOrder)
        .map((p) => ({ path: p, rev: s.get(p)!.rev, value: s.get(p)!.value }));
      return { ok: { files: all.slice(0, limit), at, more: all.length > limit } };
    });
  }

  /** WAIT: the first event at revision ≥ max(fromRev, 1) matching `glob`, or null if none yet. */
  firstEvent(glob: string, fromRev: number): ModelRead<Event | null> {
    const from = Math.max(fromRev, 1);
    if (from <= this.oldest) return { err: 'TOO_LATE', details: { oldestRev: this.oldest + 1 } };
    const re = referenceGlobRegex(glob);
    for (let r = from; r <= this.rev; r++) {
      for (const e of this.events[r]!) if (re.test(e.path)) return { ok: e };
    }
    return { ok: null };
  }
}
