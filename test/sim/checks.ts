/**
 * The simulator's invariants, checked as the run goes (after every event) and at its end.
 *
 * What it sees. The Raft core of every node through a probe on RaftCore.prototype.ready (the
 * entries each core hands out to persist and to apply, its role and term); every node's store
 * (revision, events per revision, sessions) by looking at it after each event; what clients were
 * told (acknowledged writes, lock grants, guarded writes); and, at the end, the clients'
 * histories.
 *
 * Safety, after every event:
 * - election safety: at most one leader per term;
 * - log matching: an (index, term) names one entry everywhere, with the same entry before it
 *   (so, by induction, the same log up to it);
 * - committed entries are never lost or changed: every entry any node applies at an index is
 *   the one every other node applies there, and a new leader holds every entry committed so far
 *   (leader completeness);
 * - applied in order: each node applies index after index, no gaps but a snapshot's;
 * - replicas agree: every node's store has the same events at every revision (a restarted node
 *   too, for the history it rebuilt), and a replay of the committed log through a fresh store
 *   gives those same revisions;
 * - revisions never go back on a node while it runs, but for a node whose disk filled and which
 *   went back to what it had saved, as a restart does (counted: `rollbacks`); a restarted node's
 *   store may come back lower than it was (its commit index is not synced: counted,
 *   `restartRegressions`), and the real-time order below is what clients can see of either;
 * - no acknowledged write lost: the revision a client was told holds its write, on every node;
 * - real-time order of revisions, across keys: an operation called after some client was told
 *   revision R answers with a revision of at least R (so a restarted or lagging node never
 *   serves an older state, whatever key is read);
 * - sessions: an ephemeral file goes only with its session's close or expiry, or a write that
 *   deletes or replaces it; an expiry takes effect only if decided in the log's current term
 *   (a stale leader's word is ignored);
 * - watches: a watch of '/**' is sent every revision, in order, once, with the events every
 *   replica has at it (after TOO_LATE it resumes where the error says);
 * - locks: at every revision the holder is the lowest contender file, its token (the file's
 *   create rev) never falls, a client is told it holds the lock only when it is the holder at
 *   the revision it read, and a guarded write lands only while its writer holds the lock.
 * Liveness, in the quiet tail (run.ts): a leader within a bound, every client makes progress,
 * no request to a live node is left pending. At the end: linearizability of every key's
 * history (linearizability.ts).
 */
import type { Event } from '../../protocol/messages.ts';
import type { RaftCore } from '../../server/consensus/core/core.ts';
import type { Ready } from '../../server/consensus/core/ready.ts';
import { EntryType, type Entry } from '../../server/consensus/core/types.ts';
import { decodeCommand, type Command } from '../../server/store/commands.ts';
import type { Store } from '../../server/store/store.ts';
import type { ClientObserver } from './clients.ts';

export class Violation extends Error {
  constructor(readonly check: string, message: string, readonly atMs: number) {
    super(`${check}: ${message}`);
    this.name = 'Violation';
  }
}

const dec = new TextDecoder();

/** A readable, exact rendering of one revision's events. */
export function describeEvents(events: readonly Event[]): string {
  return events.map((e) => (e.kind === 'set' ? `set ${e.path}=${dec.decode(e.value!)}` : `del ${e.path}`)).join(', ');
}

function fnv(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 16777619);
  return h >>> 0;
}

/** A short fingerprint of an entry's type and payload. */
function entryDigest(e: Entry): string {
  return `${e.type}:${e.data.byteLength}:${fnv(e.data).toString(16)}`;
}

/**
 * The term a core has at `index`, or undefined. Guarded: it may read the node's storage, which
 * throws after a failed write until it is reopened, and the checker must never disturb a node.
 */
function termAt(core: RaftCore, index: number): number | undefined {
  try {
    return core.logTerm(index);
  } catch {
    return undefined;
  }
}

function describeEntry(e: Entry): string {
  if (e.type === EntryType.Noop) return `noop@${e.term}`;
  if (e.type === EntryType.Config) return `config@${e.term}`;
  try {
    return `${JSON.stringify(decodeCommand(e.data), (_k, v: unknown) => (v instanceof Uint8Array ? dec.decode(v) : v))}@${e.term}`;
  } catch {
    return `undecodable@${e.term}`;
  }
}

/** What the checker needs to know about one node now. */
export interface NodeView {
  id: string;
  /** Counts restarts: 1 for the first process. */
  incarnation: number;
  /** Running and started (CoordNode.start resolved). */
  up: boolean;
  store: Store | null;
  /** Its disk is full (NOSPACE mode). */
  diskFull?: boolean;
}

/** How the checker applies a committed entry to its own replica (the driver's apply path). */
export type ApplyCommitted = (store: Store, entry: Entry) => void;

interface RevRecord {
  events: string;
  /** The node that first applied it, for messages. */
  node: string;
}

interface NodeState {
  incarnation: number;
  store: Store | null;
  /** Revisions checked against the table, through this one. */
  checkedRev: number;
  /** The highest revision this node's store has shown, in this incarnation. */
  maxRev: number;
  /** The highest revision it showed before its last crash. */
  revBeforeCrash: number;
  /** The last index its core handed out to apply (null: unknown since a restart). */
  applied: number | null;
  /** Terms it led, for messages. */
  core: RaftCore | null;
}

export class Checker implements ClientObserver {
  violation: Violation | null = null;
  /** term → leader id. */
  private readonly leaders = new Map<number, string>();
  /** `index:term` → digest and the term of the entry before it (log matching). */
  private readonly entries = new Map<string, { digest: string; prevTerm: number | undefined; node: string }>();
  /**
   * index → the committed entry (its term, digest, and a description), and `by`: the lowest term
   * a node applying it was in, so it was committed in that term or earlier.
   */
  private readonly committed = new Map<number, { term: number; digest: string; text: string; node: string; by: number }>();
  private maxCommitted = 0;
  /** revision → its events, as the first node to apply it had them. */
  private readonly revs = new Map<number, RevRecord>();
  private maxRev = 0;
  private readonly nodes = new Map<string, NodeState>();
  /** Acknowledged writes not yet seen in the revision table. */
  private pendingAcks: { client: string; rev: number; path: string; value: Uint8Array | null }[] = [];
  private acks = 0;
  /** Lock state, replayed from the revision table in order. */
  private lockCursor = 0;
  private readonly contenders = new Map<string, number>();
  /** revision → the holder's token at that revision (0: nobody). */
  private readonly holderAt: number[] = [0];
  private pendingLockClaims: { client: string; token: number; at: number }[] = [];
  /** The checker's own replica: the committed log replayed in order. */
  private oracle: Store | null = null;
  private oracleIndex: number;
  /** The term of the last leader no-op the oracle applied. */
  private oracleNoopTerm = 0;
  /** Reported, not failed: a restarted node's store came back below where it was. */
  restartRegressions = 0;
  /** Reported, not failed: a node whose disk filled went back to what it had saved. */
  rollbacks = 0;
  readonly stats = { leaders: 0, committed: 0, revisions: 0, acked: 0, lockGrants: 0, guardedWrites: 0, watchRevisions: 0, expiries: 0, staleExpiriesIgnored: 0 };

  constructor(
    private readonly now: () => number,
    private readonly options: { oracle?: { store: Store; applied: number; apply: ApplyCommitted } } = {},
  ) {
    this.oracle = options.oracle?.store ?? null;
    this.oracleIndex = options.oracle?.applied ?? 0;
  }

  fail(check: string, message: string): void {
    if (this.violation === null) this.violation = new Violation(check, message, this.now());
  }

  private node(id: string): NodeState {
    let s = this.nodes.get(id);
    if (s === undefined) {
      s = { incarnation: 0, store: null, checkedRev: 0, maxRev: 0, revBeforeCrash: 0, applied: null, core: null };
      this.nodes.set(id, s);
    }
    return s;
  }

  // ---------------------------------------------------------------- the core probe

  /** Every Ready a core hands out (probes.ts calls this). */
  coreReady(core: RaftCore, rd: Ready): void {
    const id = core.id;
    const n = this.node(id);
    n.core = core;
    if (rd.softState?.role === 'leader') this.newLeader(id, core);
    if (rd.snapshot !== null) n.applied = rd.snapshot.index;
    for (let k = 0; k < rd.entries.length; k++) {
      const e = rd.entries[k]!;
      this.logEntry(id, e, k > 0 ? rd.entries[k - 1]!.term : e.index > 1 ? termAt(core, e.index - 1) : 0);
    }
    for (const e of rd.committed) this.appliedEntry(id, n, e, core.currentTerm);
  }

  private newLeader(id: string, core: RaftCore): void {
    const term = core.currentTerm;
    const other = this.leaders.get(term);
    if (other !== undefined && other !== id) {
      this.fail('election-safety', `${other} and ${id} both lead term ${term}`);
      return;
    }
    if (other === undefined) this.stats.leaders++;
    this.leaders.set(term, id);
    // Leader completeness: every entry committed in an earlier term is in the new leader's log (a
    // leader of an older term, which may learn of its election late, need not hold later ones).
    let last: number;
    try {
      last = core.status().lastIndex;
    } catch {
      return;
    }
    for (let i = this.maxCommitted; i >= 1; i--) {
      const c = this.committed.get(i);
      if (c === undefined || c.by >= term) continue;
      const t = termAt(core, i);
      if (t === undefined) {
        if (i > last) this.fail('leader-completeness', `${id} leads term ${term} with its log ending at ${last}, but ${i} is committed (${c.text})`);
        return; // compacted: so is everything before it
      }
      if (t !== c.term) {
        this.fail('leader-completeness', `${id} leads term ${term} with entry ${i} of term ${t}, but ${i} was committed with term ${c.term} (${c.text})`);
        return;
      }
    }
  }

  private logEntry(id: string, e: Entry, prevTerm: number | undefined): void {
    const key = `${e.index}:${e.term}`;
    const digest = entryDigest(e);
    const seen = this.entries.get(key);
    if (seen === undefined) {
      this.entries.set(key, { digest, prevTerm, node: id });
      return;
    }
    if (seen.digest !== digest) {
      this.fail('log-matching', `entry ${key} differs between ${seen.node} and ${id} (${describeEntry(e)})`);
    } else if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
      this.fail('log-matching', `entry ${key} follows an entry of term ${seen.prevTerm} on ${seen.node} but of term ${prevTerm} on ${id}`);
    } else if (seen.prevTerm === undefined) {
      seen.prevTerm = prevTerm;
    }
  }

  private appliedEntry(id: string, n: NodeState, e: Entry, term: number): void {
    if (n.applied !== null && e.index !== n.applied + 1) {
      this.fail('apply-order', `${id} applies entry ${e.index} after ${n.applied}`);
    }
    n.applied = e.index;
    const digest = entryDigest(e);
    const c = this.committed.get(e.index);
    if (c === undefined) {
      this.committed.set(e.index, { term: e.term, digest, text: describeEntry(e), node: id, by: term });
      if (this.oracle !== null && e.index > this.oracleIndex) this.committedEntries.set(e.index, e);
      this.stats.committed++;
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
      this.replayOracle();
    } else if (c.term !== e.term || c.digest !== digest) {
      this.fail('committed-changed', `${id} applies ${describeEntry(e)} at ${e.index}, where ${c.node} applied ${c.text}`);
    } else if (term < c.by) {
      c.by = term;
    }
  }

  // ---------------------------------------------------------------- the oracle replica

  /**
   * Applies newly known committed entries, in index order, to the checker's own store, and checks
   * the session rules on the way: which ephemeral files a command may remove, and that an expiry
   * decided in an older term than an entry already applied changes nothing.
   */
  private replayOracle(): void {
    const o = this.options.oracle;
    if (o === undefined || this.oracle === null) return;
    const store = this.oracle;
    for (;;) {
      const c = this.committed.get(this.oracleIndex + 1);
      if (c === undefined) return;
      const entry = this.committedEntries.get(this.oracleIndex + 1);
      this.oracleIndex++;
      if (entry === undefined) continue;
      this.committedEntries.delete(entry.index);
      let cmd: Command | null = null;
      if (entry.type === EntryType.Command) cmd = decodeCommand(entry.data);
      const before = store.rev;
      // What the command may delete: its own del ops' paths (txn), or the session's ephemeral
      // files (close, expire); nothing else.
      let mayDelete = new Set<string>();
      if (cmd !== null && cmd.t === 'txn') mayDelete = new Set(cmd.ops.filter((op) => op.op === 'del').map((op) => op.path));
      if (cmd !== null && (cmd.t === 'expire' || cmd.t === 'close')) mayDelete = new Set(store.session(cmd.sid)?.ephemerals ?? []);
      const sessionBefore = cmd !== null && cmd.t === 'expire' ? store.session(cmd.sid) : undefined;
      // Decided in an older term than a leader no-op already applied: a deposed leader's word
      // (the log's terms never fall, so only a stamp older than its entry can be stale).
      const stale = cmd !== null && cmd.t === 'expire' && (cmd.term ?? entry.term) < this.oracleNoopTerm;
      o.apply(store, entry);
      if (cmd !== null && cmd.t === 'expire' && sessionBefore !== undefined) {
        if (store.session(cmd.sid) === undefined) {
          this.stats.expiries++;
          if (stale) {
            this.fail('stale-expiry', `session ${cmd.sid} expired by entry ${entry.index}, decided in term ${cmd.term ?? entry.term}, after a leader no-op of term ${this.oracleNoopTerm}: a stale leader's expiry took effect`);
          }
        } else if (stale) {
          this.stats.staleExpiriesIgnored++;
        }
      }
      if (entry.type === EntryType.Noop && entry.term > this.oracleNoopTerm) this.oracleNoopTerm = entry.term;
      for (let r = before + 1; r <= store.rev; r++) {
        for (const ev of store.eventsAt(r)) {
          if (ev.kind === 'delete' && !mayDelete.has(ev.path)) {
            this.fail('ephemeral-removal', `${ev.path} deleted at revision ${r} by entry ${entry.index} (${c.text}), which does not remove it`);
          }
        }
      }
      // The revisions the replay made must be the replicas' revisions.
      for (let r = before + 1; r <= store.rev; r++) this.recordRev('oracle', r, store.eventsAt(r));
    }
  }

  /** Committed entries the oracle has yet to apply (their bytes). */
  private readonly committedEntries = new Map<number, Entry>();

  // ---------------------------------------------------------------- stores, after every event

  /** A node's process died: what it showed before is remembered. */
  crashed(id: string): void {
    const n = this.node(id);
    n.revBeforeCrash = Math.max(n.revBeforeCrash, n.maxRev);
    n.store = null;
    n.applied = null;
    n.core = null;
  }

  /** Looks at every node's store: new revisions, against the table. */
  poll(views: readonly NodeView[]): void {
    for (const v of views) {
      if (!v.up || v.store === null) continue;
      const n = this.node(v.id);
      const store = v.store;
      if (n.incarnation !== v.incarnation) {
        // A new process: its store was rebuilt from disk; check all the history it kept.
        n.incarnation = v.incarnation;
        n.store = store;
        n.maxRev = store.rev;
        n.checkedRev = store.oldestRev;
        if (store.rev < n.revBeforeCrash) this.restartRegressions++;
      } else if (n.store !== store) {
        // A snapshot installed: a new store object, never behind the old one.
        if (store.rev < n.maxRev) this.fail('revision-backwards', `${v.id} installed a store at revision ${store.rev} after showing ${n.maxRev}`);
        n.store = store;
        n.checkedRev = Math.max(store.oldestRev, Math.min(n.checkedRev, store.rev));
      }
      if (store.rev < n.maxRev) {
        if (v.diskFull !== true) {
          this.fail('revision-backwards', `${v.id}'s store went from revision ${n.maxRev} back to ${store.rev}`);
          return;
        }
        // After a failed write the driver goes back to what is on disk, as a restart would
        // (a leader's snapshot it had taken but could not save): re-check what it keeps.
        this.rollbacks++;
        n.checkedRev = store.oldestRev;
      }
      n.maxRev = store.rev;
      for (let r = n.checkedRev + 1; r <= store.rev; r++) {
        if (r <= store.oldestRev) continue;
        this.recordRev(v.id, r, store.eventsAt(r));
        if (this.violation !== null) return;
      }
      n.checkedRev = store.rev;
    }
    this.advance();
  }

  private recordRev(node: string, rev: number, events: readonly Event[]): void {
    const text = describeEvents(events);
    const seen = this.revs.get(rev);
    if (seen === undefined) {
      this.revs.set(rev, { events: text, node });
      this.stats.revisions++;
      if (rev > this.maxRev) this.maxRev = rev;
      return;
    }
    if (seen.events !== text) {
      this.fail('replicas-agree', `revision ${rev} is [${seen.events}] on ${seen.node} but [${text}] on ${node}`);
    }
  }

  /** Moves the lock replay and the acknowledged-write checks along the revision table. */
  private advance(): void {
    while (this.revs.has(this.lockCursor + 1)) {
      const r = ++this.lockCursor;
      this.lockStep(r, this.revs.get(r)!.events);
    }
    if (this.pendingAcks.length > 0) {
      this.pendingAcks = this.pendingAcks.filter((a) => !this.checkAck(a));
    }
    if (this.pendingLockClaims.length > 0) {
      this.pendingLockClaims = this.pendingLockClaims.filter((c) => !this.checkLockClaim(c));
    }
    if (this.pendingWatch.length > 0) {
      this.pendingWatch = this.pendingWatch.filter((w) => !this.checkWatch(w));
    }
  }

  // ---------------------------------------------------------------- what clients were told

  acked(client: string, rev: number, path: string, value: Uint8Array | null): void {
    this.acks++;
    this.stats.acked++;
    const a = { client, rev, path, value };
    if (!this.checkAck(a)) this.pendingAcks.push(a);
  }

  /** True once decided (checked, or failed). */
  private checkAck(a: { client: string; rev: number; path: string; value: Uint8Array | null }): boolean {
    const r = this.revs.get(a.rev);
    if (r === undefined) return false;
    const want = a.value === null ? `del ${a.path}` : `set ${a.path}=${dec.decode(a.value)}`;
    if (!r.events.split(', ').includes(want)) {
      this.fail('acked-write-lost', `${a.client} was told ${want} is revision ${a.rev}, which is [${r.events}]`);
    }
    return true;
  }

  lockHeld(client: string, token: number, at: number): void {
    this.stats.lockGrants++;
    const c = { client, token, at };
    if (!this.checkLockClaim(c)) this.pendingLockClaims.push(c);
  }

  private checkLockClaim(c: { client: string; token: number; at: number }): boolean {
    if (c.at > this.lockCursor) return false;
    const holder = this.holderAt[c.at] ?? 0;
    if (holder !== c.token) {
      this.fail('lock-holder', `${c.client} was told it holds the lock with token ${c.token} at revision ${c.at}, where the holder's token is ${holder || 'none'}`);
    }
    return true;
  }

  guardedWrite(_client: string, _token: number, _rev: number): void {
    this.stats.guardedWrites++;
  }

  /** Watch deliveries waiting for their revision to reach the table. */
  private pendingWatch: { watcher: string; node: string; rev: number; events: string }[] = [];

  watchEvents(watcher: string, node: string, expected: number, events: readonly Event[]): void {
    this.stats.watchRevisions++;
    const rev = events[0]?.rev ?? -1;
    if (events.some((e) => e.rev !== rev)) {
      this.fail('watch', `${watcher} on ${node} was sent events of several revisions at once: ${describeEvents(events)}`);
      return;
    }
    if (rev !== expected) {
      this.fail('watch', `${watcher}'s watch of /** on ${node} was sent revision ${rev} when ${expected} was due ` +
        `(${rev > expected ? `revisions ${expected}..${rev - 1} skipped` : 'a revision sent twice'})`);
      return;
    }
    const w = { watcher, node, rev, events: describeEvents(events) };
    if (!this.checkWatch(w)) this.pendingWatch.push(w);
  }

  private checkWatch(w: { watcher: string; node: string; rev: number; events: string }): boolean {
    const r = this.revs.get(w.rev);
    if (r === undefined) return false;
    if (r.events !== w.events) this.fail('watch', `${w.watcher} on ${w.node} was sent [${w.events}] for revision ${w.rev}, which is [${r.events}]`);
    return true;
  }

  revisionOrder(client: string, what: string, floor: number, rev: number): void {
    if (rev < floor) {
      this.fail('real-time-order', `${client}'s ${what} answered with revision ${rev}, but revision ${floor} had been acknowledged to a client before it was called (a stale read, or time going back)`);
    }
  }

  /**
   * Replays revision r's events into the lock state: a guarded write (a set of /lockres whose
   * value names its token) must come from the holder as of revision r - 1; the holder's token
   * never falls.
   */
  private lockStep(r: number, events: string): void {
    const holderBefore = this.holderAt[r - 1] ?? 0;
    if (events !== '') {
      for (const ev of events.split(', ')) {
        const m = /^(set|del) (\/lock\/[^=]+|\/lockres)(?:=(.*))?$/.exec(ev);
        if (m === null) continue;
        const [, kind, path, value] = m;
        if (path === '/lockres') {
          const token = Number((value ?? '').split(':')[1]);
          if (kind === 'set' && token !== holderBefore) {
            this.fail('lock-fencing', `a write under the lock with token ${token} landed at revision ${r}, when the holder's token was ${holderBefore || 'none'} (${ev})`);
          }
          continue;
        }
        if (kind === 'set') this.contenders.set(path!, r);
        else this.contenders.delete(path!);
      }
    }
    let holder = 0;
    for (const rev of this.contenders.values()) if (holder === 0 || rev < holder) holder = rev;
    if (holder !== 0 && holder < holderBefore) {
      this.fail('lock-token-order', `the lock's holder token went from ${holderBefore} down to ${holder} at revision ${r}`);
    }
    this.holderAt[r] = holder;
  }

  // ---------------------------------------------------------------- the end

  /** What must hold once the run is over and every node had time to catch up. */
  finish(): void {
    this.advance();
    for (const a of this.pendingAcks) {
      this.fail('acked-write-lost', `${a.client} was told its write of ${a.path} is revision ${a.rev}, which no node ever applied (highest: ${this.maxRev})`);
      break;
    }
  }

  get summary(): Record<string, number> {
    return { ...this.stats, maxRev: this.maxRev, maxCommitted: this.maxCommitted, restartRegressions: this.restartRegressions, rollbacks: this.rollbacks };
  }
}
