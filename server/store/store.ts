/**
 * The store: coord's deterministic state machine. It applies committed commands one at a time,
 * in log order, and answers reads at any kept revision. It reads no clock, draws no random
 * number and does no I/O, so the same commands give the same tree, revisions and events on every
 * replica and after every restart.
 *
 * Revisions: the store revision starts at 0 and rises by exactly 1 for each applied change (a
 * write that set or deleted something, a session end that removed ephemeral files). A refused or
 * empty write consumes none. A file's rev is the revision of its last write; missing files: 0.
 */
import { CoordError, ErrorCode, type ErrorBody } from '../../protocol/errors.ts';
import { limits } from '../../protocol/limits.ts';
import type {
  Event, GetResult, GetdirResult, StatResult, TxnCondition, TxnOp, WalkEntry, WalkResult,
} from '../../protocol/messages.ts';
import { compileGlob, isUnder, parentPath, type Glob } from '../../protocol/path.ts';
import { assert, unreachable } from '../assert.ts';
import { AccessTable, type AccessSnapshot } from './access.ts';
import type { Command, WriteOrigin, WriteOutcome } from './commands.ts';
import { History } from './history.ts';
import { checkSettings, settingsFromOptions, type ReplicatedSettings } from './settings.ts';
import { SessionTable, type SessionState } from './session-table.ts';
import { Tree, type TreeNode, type Version } from './tree.ts';
import { ByteSlabs } from '../byte-slabs.ts';
import { upperBound } from '../sorted-strings.ts';

export interface StoreOptions {
  /** Revisions of history to keep (reads and waits at older revisions get TOO_LATE). */
  historyRevisions: number;
  /**
   * Bytes of history (paths and values of the kept events) to keep at most: the oldest
   * revisions go first, never the newest. Default limits.historyBytesDefault.
   */
  historyBytes?: number;
}

/** Who hears about changes, synchronously, as each command is applied. */
export interface StoreObserver {
  revision?(rev: number, events: Event[]): void;
  sessionOpened?(session: SessionState): void;
  /**
   * A session ended; `removed` lists its ephemeral files, deleted at revision `rev` (when
   * `removed` is empty, `rev` is the unchanged store revision). Called after that revision's
   * events went to `revision`.
   */
  sessionEnded?(session: SessionState, reason: 'close' | 'expire', removed: string[], rev: number): void;
  /**
   * The whole state was replaced by a snapshot (a follower installing its leader's): revisions
   * jumped from `fromRev` to the store's new one without events for the ones in between.
   */
  restored?(fromRev: number): void;
}

export type SnapshotFile = [path: string, versions: Version[]];
export type SnapshotSession = [id: string, secret: string, ttlMs: number, floor: number, results: [number, WriteOutcome][], user?: string];

/**
 * Format 1 holds the files in one list; format 2 in msgpack-encoded chunks (packed over time).
 * `noopTerm` (the term of the last leader no-op applied) is absent in snapshots taken before
 * clusters, which means 0.
 */
export type StoreSnapshot = {
  rev: number;
  oldest: number;
  sessions: SnapshotSession[];
  noopTerm?: number;
  /**
   * The cluster's replicated settings (settings.ts): null before its first leader decided them;
   * absent in snapshots written before there were any (a single node's: its options' values).
   */
  settings?: ReplicatedSettings | null;
  /** Access control (access.ts); absent in snapshots from before it: none, off. */
  access?: AccessSnapshot;
} & ({ format: 1; files: SnapshotFile[] } | { format: 2; fileChunks: Uint8Array[] });

/**
 * A snapshot being taken a piece at a time while the store goes on applying: everything but the
 * files is copied at once; the files are read in ranges, each as it stood at `rev`. Compaction
 * waits until `finish()`, so no version the snapshot needs goes meanwhile.
 */
export interface SnapshotCapture {
  readonly rev: number;
  readonly oldest: number;
  readonly sessions: SnapshotSession[];
  readonly noopTerm: number;
  readonly settings: ReplicatedSettings | null;
  readonly access: AccessSnapshot;
  readonly fileCount: number;
  /** Files `from` (inclusive) to `to` (exclusive) of the capture, as at `rev`. */
  files(from: number, to: number): SnapshotFile[];
  finish(): void;
}

function failure(code: ErrorCode, message: string, details?: Record<string, unknown>): WriteOutcome {
  const error: ErrorBody = details === undefined ? { code, message } : { code, message, details };
  return { ok: false, error };
}

function mismatch(path: string, given: number, fileRev: number, exact = false): WriteOutcome {
  const now = fileRev === 0 ? `${path} does not exist` : `${path} is at rev ${fileRev}`;
  return failure(
    ErrorCode.REV_MISMATCH,
    exact ? `${now}, not exactly ${given}` : `${now}, newer than ${given}`,
    { path, rev: fileRev },
  );
}

/** Slabs of file values (byte-slabs.ts), and the size from which a value gets a buffer of its own. */
const VALUE_SLAB_BYTES = 64 * 1024;
const OWN_VALUE_BUFFER_FROM = 8 * 1024;

export class Store {
  private tree = new Tree();
  private sessions = new SessionTable();
  private history = new History(1);
  private revision = 0;
  /** The oldest revision whose state is readable; events are kept from oldest + 1. */
  private oldest = 0;
  /**
   * The term of the last leader no-op applied: an `expire` decided in an older term comes from a
   * leader that has been replaced (its successor re-timed every session), and is ignored.
   */
  private lastNoopTerm = 0;
  /**
   * Values every replica must share (settings.ts): the log's. Null in a cluster's first entries,
   * before its first leader's `settings` command: founders may have been started with different
   * flags, so until then nothing depends on them (all history kept, every result remembered).
   */
  private replicated: ReplicatedSettings | null;
  /**
   * The oldest revision each snapshot in progress must still be able to write out. Compaction
   * keeps the versions those need (the visible window moves on as usual).
   */
  private readonly captureFloors: number[] = [];
  private accessTable = new AccessTable();
  /**
   * File values, copied out of the commands that brought them (byte-slabs.ts), in two
   * generations. New values go to `values`; most are overwritten or deleted within the history
   * window (a lock's contenders, a counter), and a slab is freed once none of its values is left.
   * A value that outlives the window is copied to `settled` when its revision leaves history, so
   * that one long-lived value does not keep a whole slab of dead neighbours.
   */
  private values = new ByteSlabs(VALUE_SLAB_BYTES, OWN_VALUE_BUFFER_FROM);
  private settled = new ByteSlabs(VALUE_SLAB_BYTES, OWN_VALUE_BUFFER_FROM);
  observer: StoreObserver = {};

  constructor(private readonly options: StoreOptions) {
    assert(options.historyRevisions >= 1, 'historyRevisions must be at least 1');
    this.replicated = settingsFromOptions(options);
  }

  /** The replicated settings in effect (settings.ts); null until the cluster's first leader set them. */
  get settings(): Readonly<ReplicatedSettings> | null {
    return this.replicated;
  }

  /** A store for a new cluster's bootstrap snapshot: empty, its settings not yet decided. */
  static founding(options: StoreOptions): Store {
    const store = new Store(options);
    store.replicated = null;
    return store;
  }

  get rev(): number {
    return this.revision;
  }

  /** Access control as applied so far (access.ts). Read it; only `acl` commands change it. */
  get access(): AccessTable {
    return this.accessTable;
  }

  get oldestRev(): number {
    return this.oldest;
  }

  /** The term of the last leader no-op applied (0 before any). */
  get noopTerm(): number {
    return this.lastNoopTerm;
  }

  /**
   * What TOO_LATE reports as `oldestRev`, one meaning for every request: the oldest revision
   * that both a read (at it) and a WAIT or WATCH (from it) accept now. The state at oldestRev - 1
   * is readable too, but its events are gone.
   */
  get oldestKeptRev(): number {
    return this.oldest + 1;
  }

  /** Bytes of paths and values in the kept history (what historyBytes bounds). */
  get historyBytes(): number {
    return this.history.bytes;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  session(sid: string): SessionState | undefined {
    return this.sessions.get(sid);
  }

  sessionIds(): string[] {
    return [...this.sessions.ids()];
  }

  // ---------------------------------------------------------------- applying commands

  apply(cmd: Command): WriteOutcome {
    switch (cmd.t) {
      case 'txn':
        return this.applyTxn(cmd);
      case 'open':
        return this.applyOpen(cmd.sid, cmd.secret, cmd.ttlMs, cmd.user);
      case 'close':
        return this.applyEnd(cmd.sid, 'close');
      case 'expire':
        // A deposed leader's decision: the leader since then gave every session a fresh TTL.
        if (cmd.term !== undefined && cmd.term < this.lastNoopTerm) return { ok: true, rev: this.revision, changed: 0 };
        return this.applyEnd(cmd.sid, 'expire');
      case 'noop':
        if (cmd.term !== undefined) this.lastNoopTerm = Math.max(this.lastNoopTerm, cmd.term);
        return { ok: true, rev: this.revision, changed: 0 };
      case 'settings':
        return this.applySettings(cmd.settings);
      case 'acl':
        return this.exactlyOnce(cmd, () => {
          const refusal = this.accessTable.apply(cmd.change, cmd.user);
          return refusal === null ? { ok: true, rev: this.revision, changed: 0 } : { ok: false, error: refusal };
        });
      default:
        return unreachable(cmd);
    }
  }

  private applyOpen(sid: string, secret: string, ttlMs: number, user: string | undefined): WriteOutcome {
    if (this.sessions.get(sid) === undefined) {
      const s = this.sessions.open(sid, secret, ttlMs, user);
      this.observer.sessionOpened?.(s);
    }
    return { ok: true, rev: this.revision, changed: 0 };
  }

  /** Ends a session: its ephemeral files go in one revision (none if it owned nothing). */
  private applyEnd(sid: string, reason: 'close' | 'expire'): WriteOutcome {
    const s = this.sessions.get(sid);
    if (s === undefined) return { ok: true, rev: this.revision, changed: 0 };
    const paths = [...s.ephemerals].sort();
    this.sessions.remove(sid);
    if (paths.length === 0) {
      this.observer.sessionEnded?.(s, reason, paths, this.revision);
      return { ok: true, rev: this.revision, changed: 0 };
    }
    const rev = this.revision + 1;
    const events: Event[] = [];
    const nodes: TreeNode[] = [];
    for (const path of paths) {
      const node = this.tree.find(path);
      assert(node?.isFileNow() && node.owner === sid, `ephemeral ${path} not owned by ${sid}`);
      this.tree.write(node!, { rev, value: null, owner: null });
      events.push({ path, rev, kind: 'delete' });
      nodes.push(node!);
    }
    this.commitRevision(rev, events, nodes);
    this.observer.sessionEnded?.(s, reason, paths, rev);
    return { ok: true, rev, changed: paths.length };
  }

  private applyTxn(cmd: Extract<Command, { t: 'txn' }>): WriteOutcome {
    return this.exactlyOnce(cmd, () => this.permitted(cmd) ?? this.write(cmd.conds, cmd.ops, cmd.sid));
  }

  /**
   * With access control on, a write whose sender (cmd.user) may not read a condition's path or
   * write an op's path is refused whole, against the rules as they are at this point in the log.
   */
  private permitted(cmd: Extract<Command, { t: 'txn' }>): WriteOutcome | null {
    const access = this.accessTable;
    if (access.unrestricted(cmd.user)) return null;
    const user = cmd.user ?? '';
    const who = cmd.user === undefined ? 'a token that names no user' : `user ${cmd.user}`;
    for (const c of cmd.conds) {
      if (!access.permits(user, c.path, false)) return failure(ErrorCode.PERMISSION_DENIED, `${who} may not read ${c.path}`, { path: c.path });
    }
    for (const op of cmd.ops) {
      if (!access.permits(user, op.path, true)) return failure(ErrorCode.PERMISSION_DENIED, `${who} may not write ${op.path}`, { path: op.path });
    }
    return null;
  }

  /**
   * The REV_MISMATCH that applying `cmd` now would answer, when that is what it would answer
   * (not a session's end, a remembered retry, an access refusal or another error first); else
   * null. Changes nothing: the leader answers such a write as a read (refusal-by-read.ts).
   */
  revMismatchNow(cmd: Extract<Command, { t: 'txn' }>): ErrorBody | null {
    if (cmd.sid !== undefined) {
      const s = this.sessions.get(cmd.sid);
      if (s === undefined) return null;
      if (cmd.seq !== undefined && (s.results.has(cmd.seq) || cmd.seq < s.floor)) return null;
    }
    if (this.permitted(cmd) !== null) return null;
    const refused = this.failedCondition(cmd.conds) ?? this.plan(cmd.ops, cmd.sid);
    return !Array.isArray(refused) && !refused.ok && refused.error.code === ErrorCode.REV_MISMATCH ? refused.error : null;
  }

  /** The REV_MISMATCH of the first TXN condition that does not hold now, or null. */
  private failedCondition(conds: TxnCondition[]): WriteOutcome | null {
    for (const c of conds) {
      const fileRev = this.fileRevNow(c.path);
      const holds = c.exact === true ? fileRev === c.rev : c.rev === -1 || c.rev >= fileRev;
      if (!holds) return mismatch(c.path, c.rev, fileRev, c.exact === true);
    }
    return null;
  }

  /**
   * Applies a session's write at most once: a retry of a seq already applied gets the result
   * remembered for it, and a new one's result is remembered (session-table.ts).
   */
  private exactlyOnce(cmd: WriteOrigin, apply: () => WriteOutcome): WriteOutcome {
    let session: SessionState | undefined;
    if (cmd.sid !== undefined) {
      session = this.sessions.get(cmd.sid);
      if (session === undefined) {
        return failure(ErrorCode.SESSION_EXPIRED, `session ${cmd.sid} has ended`);
      }
      if (cmd.seq !== undefined) {
        const prior = session.results.get(cmd.seq);
        if (prior !== undefined) return prior;
        if (cmd.seq < session.floor) {
          return failure(
            ErrorCode.OUTCOME_UNKNOWN,
            `seq ${cmd.seq} was answered before and its result is no longer kept ` +
              `(this session's floor is ${session.floor}): it may or may not have been applied; re-read`,
            { seq: cmd.seq, floor: session.floor },
          );
        }
      }
    }
    const outcome = apply();
    if (session !== undefined && cmd.seq !== undefined) {
      this.sessions.remember(session, cmd.seq, cmd.seqFloor, outcome, this.replicated?.dedupeResultsPerSession ?? Infinity);
    }
    return outcome;
  }

  /** Checks every condition and op first, then applies all of them in one revision, or none. */
  private write(conds: TxnCondition[], ops: TxnOp[], sid: string | undefined): WriteOutcome {
    const failed = this.failedCondition(conds);
    if (failed !== null) return failed;
    const planned = this.plan(ops, sid);
    if (!Array.isArray(planned)) return planned;
    if (planned.length === 0) return { ok: true, rev: this.revision, changed: 0 };
    const rev = this.revision + 1;
    // In path order, as events are delivered (and the history lists a revision's nodes).
    if (planned.length > 1) planned.sort((a, b) => (a.path < b.path ? -1 : 1));
    const events: Event[] = [];
    const nodes: TreeNode[] = [];
    for (const op of planned) {
      if (op.op === 'set') {
        const owner = op.ephemeral === true ? sid! : null;
        const value = this.values.copy(op.value);
        const node = this.tree.findOrCreate(op.path);
        this.writeFile(node, op.path, { rev, value, owner });
        events.push({ path: op.path, rev, kind: 'set', value });
        nodes.push(node);
      } else {
        const node = this.tree.find(op.path)!;
        this.writeFile(node, op.path, { rev, value: null, owner: null });
        events.push({ path: op.path, rev, kind: 'delete' });
        nodes.push(node);
      }
    }
    this.commitRevision(rev, events, nodes);
    return { ok: true, rev, changed: events.length };
  }

  /**
   * A dry run of `ops` in order, against the tree as the earlier ops would leave it. Returns the
   * ops that change something (a DEL of a missing file does not), or the first refusal.
   */
  private plan(ops: TxnOp[], sid: string | undefined): TxnOp[] | WriteOutcome {
    const fileAfter = new Map<string, boolean>();
    const deltaBelow = new Map<string, number>();
    const isFile = (p: string): boolean => fileAfter.get(p) ?? this.tree.find(p)?.isFileNow() ?? false;
    const isDir = (p: string): boolean => {
      if (p === '/') return true;
      const n = this.tree.find(p);
      const now = n === undefined ? 0 : n.liveFiles - (n.isFileNow() ? 1 : 0);
      return now + (deltaBelow.get(p) ?? 0) > 0;
    };
    const adjustAncestors = (p: string, d: number): void => {
      for (let a = parentPath(p); ; a = parentPath(a)) {
        deltaBelow.set(a, (deltaBelow.get(a) ?? 0) + d);
        if (a === '/') break;
      }
    };
    const effective: TxnOp[] = [];
    const seen = new Set<string>();
    for (const op of ops) {
      const p = op.path;
      // Two writes to one path would share a revision: refuse it here, since a committed
      // command that fails an assertion would stop every replica, on every replay.
      if (seen.has(p)) return failure(ErrorCode.BAD_REQUEST, `${p} appears twice in one txn`, { path: p });
      seen.add(p);
      for (let a = parentPath(p); a !== '/'; a = parentPath(a)) {
        if (isFile(a)) return failure(ErrorCode.NOTDIR, `${a} is a file, so ${p} cannot exist`, { path: a });
      }
      if (isDir(p)) return failure(ErrorCode.ISDIR, `${p} is a directory`, { path: p });
      const fileRev = this.fileRevNow(p);
      if (op.rev !== undefined && op.rev !== -1 && op.rev < fileRev) return mismatch(p, op.rev, fileRev);
      if (op.op === 'set') {
        if (op.ephemeral === true && sid === undefined) {
          return failure(ErrorCode.BAD_REQUEST, `ephemeral ${p} needs a session`);
        }
        if (!isFile(p)) adjustAncestors(p, +1);
        fileAfter.set(p, true);
        effective.push(op);
      } else if (isFile(p)) {
        adjustAncestors(p, -1);
        fileAfter.set(p, false);
        effective.push(op);
      }
    }
    return effective;
  }

  /** Writes a version at `path`, moving ephemeral ownership from the old owner to the new one. */
  private writeFile(node: TreeNode, path: string, version: Version): void {
    if (node.value !== null && node.owner !== null) {
      this.sessions.get(node.owner)?.ephemerals.delete(path);
    }
    this.tree.write(node, version);
    if (version.owner !== null) {
      const s = this.sessions.get(version.owner);
      assert(s !== undefined, `ephemeral owner ${version.owner} is not a session`);
      s.ephemerals.add(path);
    }
  }

  private fileRevNow(path: string): number {
    const node = this.tree.find(path);
    return node !== undefined && node.isFileNow() ? node.rev : 0;
  }

  /** `events` are what observers hear now; `nodes`, the same files in the same order, what history keeps. */
  private commitRevision(rev: number, events: Event[], nodes: TreeNode[]): void {
    assert(rev === this.revision + 1, `revision ${rev} does not follow ${this.revision}`);
    this.revision = rev;
    this.history.append(rev, nodes);
    this.maybeCompact();
    this.observer.revision?.(rev, events);
  }

  /**
   * New replicated settings: no revision (no file changes), but a smaller history window takes
   * effect at once. A bad value is refused whole, so replicas never disagree on it.
   */
  private applySettings(settings: Partial<ReplicatedSettings>): WriteOutcome {
    const bad = checkSettings(settings);
    if (bad !== null) return { ok: false, error: { code: ErrorCode.BAD_REQUEST, message: bad } };
    // The first settings of a cluster are whole (node.ts proposes every value then).
    let next = this.replicated ?? settingsFromOptions(this.options);
    const known: (keyof ReplicatedSettings)[] = ['historyRevisions', 'historyBytes', 'dedupeResultsPerSession'];
    for (const k of known) if (settings[k] !== undefined) next = { ...next, [k]: settings[k] };
    this.replicated = next;
    this.maybeCompact();
    return { ok: true, rev: this.revision, changed: 0 };
  }

  /** Keeps history within both bounds: historyRevisions revisions and historyBytes bytes. */
  private maybeCompact(): void {
    if (this.replicated === null) return;
    let oldest = Math.max(this.oldest, this.revision - this.replicated.historyRevisions);
    const maxBytes = this.replicated.historyBytes;
    if (this.history.bytes > maxBytes) {
      // Events are kept from oldest + 1, and the newest revision always stays.
      oldest = Math.max(oldest, this.history.lastToDropFor(maxBytes, this.revision - 1));
    }
    if (oldest > this.oldest) this.compactTo(oldest);
  }

  private compactTo(oldest: number): void {
    // Versions a snapshot in progress needs stay; they are pruned the next time their file's
    // history is compacted (reads below `oldest` are refused, so they are never seen).
    const keepFrom = Math.min(oldest, ...this.captureFloors);
    this.history.dropBefore(oldest + 1, (node) => {
      this.tree.compact(node, keepFrom);
      this.settle(node, keepFrom);
    });
    this.oldest = oldest;
  }

  /** Moves a current value no kept revision sees being written to the settled slabs. */
  private settle(node: TreeNode, oldest: number): void {
    const value = node.value;
    if (value === null || node.rev > oldest || node.past !== null) return;
    if (this.settled.holds(value) || this.settled.ownsBufferFor(value)) return;
    node.value = this.settled.copy(value);
  }

  // ---------------------------------------------------------------- reads

  /** The revision a read at `rev` uses; TOO_LATE below the history. Future revs: the caller waits. */
  private readRev(rev: number | undefined): number {
    if (rev === undefined) return this.revision;
    assert(rev <= this.revision, `read at ${rev} before it was applied (head ${this.revision})`);
    if (rev < this.oldest) {
      throw new CoordError(
        ErrorCode.TOO_LATE,
        `revision ${rev} is older than the history kept (oldest kept: ${this.oldestKeptRev})`,
        { oldestRev: this.oldestKeptRev },
      );
    }
    return rev;
  }

  get(path: string, rev?: number): GetResult {
    const at = this.readRev(rev);
    const node = this.tree.find(path);
    const v = node?.fileAt(at);
    if (v !== undefined) return { value: v.value, rev: v.rev, at };
    if (node !== undefined && node.isDirAt(at, this.revision)) {
      throw new CoordError(ErrorCode.ISDIR, `${path} is a directory`, { path });
    }
    return { value: null, rev: 0, at };
  }

  stat(path: string, rev?: number): StatResult {
    const at = this.readRev(rev);
    const node = this.tree.find(path);
    const v = node?.fileAt(at);
    if (v !== undefined) {
      return { kind: 'file', rev: v.rev, length: v.value!.byteLength, ephemeral: v.owner !== null, at };
    }
    if (node !== undefined && node.isDirAt(at, this.revision)) {
      return { kind: 'dir', rev: 0, children: this.liveChildCount(node, at), at };
    }
    return { kind: 'missing', rev: 0, at };
  }

  getdir(path: string, rev?: number, after?: string, limit: number = limits.pageEntriesDefault): GetdirResult {
    const at = this.readRev(rev);
    const node = this.tree.find(path);
    if (node?.fileAt(at) !== undefined) {
      throw new CoordError(ErrorCode.NOTDIR, `${path} is a file`, { path });
    }
    if (node === undefined || !node.isDirAt(at, this.revision)) {
      throw new CoordError(ErrorCode.NOENT, `${path} does not exist`, { path });
    }
    // A page ends at `limit` names or once it holds limits.pageBytesMax bytes of them.
    const names: string[] = [];
    let bytes = 0;
    const atHead = at === this.revision;
    const sorted = atHead ? node.liveNames : node.sortedNames();
    for (let i = after === undefined ? 0 : upperBound(sorted, after); i < sorted.length; i++) {
      const name = sorted[i]!;
      if (!atHead && !node.children!.get(name)!.liveAt(at, this.revision)) continue;
      if (names.length === limit || bytes >= limits.pageBytesMax) return { names, at, more: true };
      names.push(name);
      bytes += name.length;
    }
    return { names, at, more: false };
  }

  private liveChildCount(node: TreeNode, at: number): number {
    if (at === this.revision) return node.liveNames.length;
    let n = 0;
    if (node.children !== null) for (const child of node.children.values()) if (child.liveAt(at, this.revision)) n++;
    return n;
  }


  /**
   * Every file matching `glob`, in tree order (depth first, children sorted), starting after the
   * path `after`, up to `limit` files or limits.pageBytesMax bytes of paths and values.
   * Directories that cannot hold a match are not entered.
   */
  walk(globSource: string, rev?: number, after?: string, limit: number = limits.pageEntriesDefault): WalkResult {
    const at = this.readRev(rev);
    const glob = compileGlob(globSource);
    const files: WalkEntry[] = [];
    let bytes = 0;
    let more = false;
    const visit = (node: TreeNode, path: string): boolean => {
      if (after === undefined || treeOrderAfter(path, after)) {
        const v = node.fileAt(at);
        if (v !== undefined && glob.matches(path)) {
          if (files.length === limit || bytes >= limits.pageBytesMax) {
            more = true;
            return false;
          }
          files.push({ path, rev: v.rev, value: v.value! });
          bytes += path.length + v.value!.byteLength;
        }
      } else if (!isUnder(after, path)) {
        return true; // the whole subtree comes before `after`
      }
      if (node.children === null || !glob.mayMatchBelow(path)) return true;
      const prefix = path === '/' ? '/' : `${path}/`;
      // At the head only live children can hold a match; at an older revision any child may.
      for (const name of at === this.revision ? node.liveNames : node.sortedNames()) {
        if (!visit(node.children.get(name)!, prefix + name)) return false;
      }
      return true;
    };
    const start = this.tree.find(glob.literalPrefix);
    if (start !== undefined) visit(start, glob.literalPrefix);
    return { files, at, more };
  }

  /**
   * The first event at revision ≥ fromRev (at least 1) matching `glob`, or undefined if none has
   * happened yet. TOO_LATE if events from fromRev are no longer kept.
   */
  firstEvent(glob: Glob, fromRev: number): Event | undefined {
    const from = this.checkEventsFrom(fromRev);
    const matches = (path: string): boolean => glob.matches(path);
    for (let r = from; r <= this.revision; r++) {
      const events = this.history.at(r, matches);
      if (events.length > 0) return events[0];
    }
    return undefined;
  }

  /**
   * The events of revision `rev` (kept: oldestRev < rev ≤ rev) whose path `matches` accepts (all,
   * without it), built anew for each call.
   */
  eventsAt(rev: number, matches?: (path: string) => boolean): Event[] {
    return this.history.at(rev, matches);
  }

  /** The first revision events can be read from for a WAIT/WATCH from `fromRev`; TOO_LATE. */
  checkEventsFrom(fromRev: number): number {
    const from = Math.max(fromRev, 1);
    if (from <= this.oldest) {
      throw new CoordError(
        ErrorCode.TOO_LATE,
        `events from revision ${from} are no longer kept (oldest kept: ${this.oldestKeptRev})`,
        { oldestRev: this.oldestKeptRev },
      );
    }
    return from;
  }

  // ---------------------------------------------------------------- snapshots

  /** The whole store at once (see captureSnapshot for one taken over time). */
  toSnapshot(): StoreSnapshot {
    const { nodes, paths } = this.filesWithVersions();
    const files = nodes.map((n, i): SnapshotFile => [paths[i]!, n.versions()]);
    return {
      format: 1, rev: this.revision, oldest: this.oldest, files, sessions: this.sessionRecords(), noopTerm: this.lastNoopTerm,
      settings: this.replicated === null ? null : { ...this.replicated },
      access: this.accessTable.toSnapshot(),
    };
  }

  /** Every node holding a version, with its path. */
  private filesWithVersions(): { nodes: TreeNode[]; paths: string[] } {
    const nodes: TreeNode[] = [];
    const paths: string[] = [];
    const collect = (node: TreeNode, path: string): void => {
      if (node.hasVersions()) {
        nodes.push(node);
        paths.push(path);
      }
      if (node.children === null) return;
      const prefix = path === '/' ? '/' : `${path}/`;
      for (const [name, c] of node.children) collect(c, prefix + name);
    };
    collect(this.tree.root, '/');
    return { nodes, paths };
  }

  private sessionRecords(): SnapshotSession[] {
    const sessions: SnapshotSession[] = [];
    for (const s of this.sessions.all()) {
      const record: SnapshotSession = [s.id, s.secret, s.ttlMs, s.floor, [...s.results]];
      if (s.user !== undefined) record.push(s.user);
      sessions.push(record);
    }
    return sessions;
  }

  /**
   * Starts a snapshot of the store as it is now, to be read out in pieces (SnapshotCapture).
   * Versions are never changed once written, and compaction keeps every version from this
   * snapshot's oldest revision on, so each file's versions up to this revision can be read out
   * exactly as they are now until finish().
   */
  captureSnapshot(): SnapshotCapture {
    const rev = this.revision;
    const oldest = this.oldest;
    const { nodes, paths } = this.filesWithVersions();
    this.captureFloors.push(oldest);
    let finished = false;
    return {
      rev,
      oldest,
      sessions: this.sessionRecords(),
      noopTerm: this.lastNoopTerm,
      settings: this.replicated === null ? null : { ...this.replicated },
      access: this.accessTable.toSnapshot(),
      fileCount: nodes.length,
      files: (from, to) => {
        assert(!finished, 'snapshot capture read after finish()');
        const out: SnapshotFile[] = [];
        for (let i = from; i < Math.min(to, nodes.length); i++) {
          // Later versions were written since; earlier ones compaction may have dropped are
          // ones no revision from `oldest` on can see.
          const versions = nodes[i]!.versions().filter((v) => v.rev <= rev);
          if (versions.length > 0) out.push([paths[i]!, versions]);
        }
        return out;
      },
      finish: () => {
        if (finished) return;
        finished = true;
        this.captureFloors.splice(this.captureFloors.indexOf(oldest), 1);
      },
    };
  }

  /**
   * Replaces this store's whole state by a snapshot's, in place (a follower installing its
   * leader's snapshot: watchers and the node keep their reference to this store). The observer
   * hears `restored`; snapshots being captured from the old state go on reading it.
   */
  restore(snap: StoreSnapshot, unpack?: (chunk: Uint8Array) => unknown): void {
    const from = Store.fromSnapshot(snap, this.options, unpack);
    const fromRev = this.revision;
    this.tree = from.tree;
    this.sessions = from.sessions;
    this.history = from.history;
    this.revision = from.revision;
    this.oldest = from.oldest;
    this.lastNoopTerm = from.lastNoopTerm;
    this.replicated = from.replicated;
    // Past every version of the old table: whoever cached a decision under it decides again.
    from.accessTable.version = this.accessTable.version + 1;
    this.accessTable = from.accessTable;
    this.observer.restored?.(fromRev);
  }

  static fromSnapshot(snap: StoreSnapshot, options: StoreOptions, unpack?: (chunk: Uint8Array) => unknown): Store {
    assert(snap.format === 1 || snap.format === 2, `unknown snapshot format ${String((snap as { format: unknown }).format)}`);
    let files: SnapshotFile[];
    if (snap.format === 1) {
      files = snap.files;
    } else {
      assert(unpack !== undefined, 'a chunked snapshot needs an unpack function');
      files = snap.fileChunks.flatMap((chunk) => unpack(chunk) as SnapshotFile[]);
    }
    const store = new Store(options);
    store.revision = snap.rev;
    store.oldest = snap.oldest;
    store.lastNoopTerm = snap.noopTerm ?? 0;
    // A snapshot from before replicated settings keeps the options' values, as then.
    if (snap.settings !== undefined) store.replicated = snap.settings === null ? null : { ...snap.settings };
    store.accessTable = AccessTable.fromSnapshot(snap.access);
    for (const [id, secret, ttlMs, floor, results, user] of snap.sessions) {
      const s = store.sessions.open(id, secret, ttlMs, user);
      s.floor = floor;
      for (const [seq, r] of results) s.results.set(seq, r);
    }
    const byRev = new Map<number, [path: string, node: TreeNode][]>();
    for (const [path, versions] of files) {
      const node = store.tree.findOrCreate(path);
      for (const v of versions) {
        // Values are copied out of the snapshot's bytes, which can then be freed.
        const value = v.value === null ? null : (v.rev <= snap.oldest ? store.settled : store.values).copy(v.value);
        store.tree.write(node, { rev: v.rev, value, owner: v.owner });
        if (v.rev > snap.oldest) {
          const list = byRev.get(v.rev);
          if (list === undefined) byRev.set(v.rev, [[path, node]]);
          else list.push([path, node]);
        }
      }
      if (node.value !== null && node.owner !== null) {
        const owner = store.sessions.get(node.owner);
        assert(owner !== undefined, `snapshot: ${path} owned by unknown session ${node.owner}`);
        owner.ephemerals.add(path);
      }
    }
    store.history = new History(snap.oldest + 1);
    for (let r = snap.oldest + 1; r <= snap.rev; r++) {
      const changed = byRev.get(r);
      assert(changed !== undefined, `snapshot: no events for revision ${r}`);
      changed.sort((a, b) => (a[0] < b[0] ? -1 : 1));
      store.history.append(r, changed.map(([, node]) => node));
    }
    return store;
  }
}

/** True if `path` comes after `after` in tree order (depth first, children sorted). */
function treeOrderAfter(path: string, after: string): boolean {
  const a = path === '/' ? [] : path.slice(1).split('/');
  const b = after === '/' ? [] : after.slice(1).split('/');
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! > b[i]!;
  }
  return a.length > b.length;
}
