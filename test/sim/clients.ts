/**
 * Simulated clients. Each talks to one node at a time directly (no WebSocket), the way the API
 * layer would on its behalf: it opens or resumes a session (node.session), keeps it alive
 * (node.touch, on every request and on a timer a third of a TTL apart), writes, compares and
 * sets, deletes, reads linearizably (node.readAt, then node.store.get at the revision it gives),
 * and takes a fenced lock with the SDK recipe's protocol (client/recipes/lock.ts) done in store
 * commands: an ephemeral contender file created with rev 0, the lowest rev holds the lock, the
 * token is that rev, and a write guarded by the contender file's exact rev.
 *
 * The link between a client and a node is simulated too: requests and answers take time, are
 * lost while a partition cuts the node off from clients, and a node that crashes closes its
 * connections (the client learns it after a moment; what it had in flight has an unknown
 * outcome). A client gives an attempt a deadline; when it passes, the outcome is unknown.
 *
 * Writes are exactly-once: each carries the session and a sequence number, and every retry
 * (after UNAVAILABLE, a lost answer or an unknown outcome) sends the same command to the leader
 * the refusal names, or to another node. The first definite answer is the write's outcome,
 * whichever attempt it came from. Only if the session ended meanwhile (SESSION_EXPIRED after an
 * attempt that may have landed) or the result was forgotten (OUTCOME_UNKNOWN) does the outcome
 * stay unknown.
 *
 * Every read and plain write is recorded, per key, for the linearizability checker
 * (linearizability.ts): call and return are stamps from one counter that rises with every call
 * and every answer, so "A returned before B was called" is exact. An unknown outcome is
 * recorded with return null. Acknowledged writes and lock grants go to the checker as they
 * happen (checks.ts).
 */
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import type { ErrorBody } from '../../protocol/errors.ts';
import type { Event, GetResult, TxnCondition, TxnOp, WalkResult } from '../../protocol/messages.ts';
import { Watch, type WatchHub, type WatchSink } from '../../server/watch/hub.ts';
import type { Command, WriteOutcome } from '../../server/store/commands.ts';
import type { HistoryOp } from './linearizability.ts';
import type { Process, Rng, World } from './world.ts';

/** What a client needs from a node: the part of CoordNode the API layer uses. */
export interface ClientNodeApi {
  propose(cmd: Command): Promise<WriteOutcome>;
  readAt(rev?: number): Promise<number>;
  readonly store: {
    get(path: string, rev?: number): GetResult;
    walk(glob: string, rev?: number): WalkResult;
  };
  session(ttlMs?: number, resume?: { id: string; secret: string }): Promise<{ id: string; secret: string; ttlMs: number; resumed: boolean }>;
  touch(sid: string): void;
  readonly hub: WatchHub;
}

/** How clients reach nodes; the cluster provides it. */
export interface ClientSide {
  readonly world: World;
  nodeIds(): readonly string[];
  /** The live, started incarnation of node `id`, if any. */
  target(id: string): { api: ClientNodeApi; process: Process } | null;
  /** Whether traffic between clients and node `id` gets through now. */
  clientsReach(id: string): boolean;
}

/** What the checker hears from clients as it happens. */
export interface ClientObserver {
  /** A write was acknowledged: at `rev`, `path` was set to `value` (null: deleted). */
  acked(client: string, rev: number, path: string, value: Uint8Array | null): void;
  /** A client believes it holds the lock with `token` (it saw its file lowest at revision `at`). */
  lockHeld(client: string, token: number, at: number): void;
  /** A guarded write under the lock with `token` was applied at `rev`. */
  guardedWrite(client: string, token: number, rev: number): void;
  /**
   * An operation called when the highest revision any client had been told was `floor` answered
   * with revision `rev` (a read's, or a write's new one): real time order says rev >= floor.
   */
  revisionOrder(client: string, what: string, floor: number, rev: number): void;
  /** A watch on '/**' was sent the events of one revision; `expected` is the revision it was due. */
  watchEvents(watcher: string, node: string, expected: number, events: readonly Event[]): void;
}

export interface WorkloadProfile {
  clients: number;
  keys: string[];
  /** Relative weights of the operations. */
  mix: { read: number; set: number; create: number; cas: number; exact: number; del: number; lock: number; renew: number; crash: number };
  sessionTtlMs: number;
  /** Deadline of one attempt, and of a whole operation with its retries (virtual ms). */
  attemptTimeoutMs: number;
  opDeadlineMs: number;
  /** Mean pause between a client's operations. */
  thinkMs: number;
  /** One-way latency between a client and a node: base + exponential part. */
  linkBaseMs: number;
  linkJitterMs: number;
}

export function randomWorkload(rng: Rng): WorkloadProfile {
  const nkeys = rng.between(1, 4);
  return {
    clients: rng.between(2, 5),
    keys: Array.from({ length: nkeys }, (_, i) => `/k/${String.fromCharCode(97 + i)}`),
    mix: {
      read: rng.between(2, 6),
      set: rng.between(1, 4),
      create: rng.between(0, 2),
      cas: rng.between(1, 4),
      exact: rng.between(0, 2),
      del: rng.between(0, 2),
      lock: rng.pick([0, 1, 2, 4]),
      renew: rng.pick([0, 0.2, 0.5]),
      crash: rng.pick([0, 0.1, 0.3, 1]),
    },
    sessionTtlMs: rng.pick([1000, 1500, 2500]),
    attemptTimeoutMs: rng.pick([300, 600, 1000]),
    opDeadlineMs: 4000,
    thinkMs: rng.real(2, 40),
    linkBaseMs: rng.real(0.1, 1),
    linkJitterMs: rng.real(0.1, 3),
  };
}

/** One recorded operation's extra facts, for failure reports. */
export interface OpMeta {
  callMs: number;
  returnMs: number | null;
  nodes: string[];
}

/** The clients' histories: every read and plain write, with stamps from one counter. */
export class ClientLog {
  readonly ops: HistoryOp[] = [];
  readonly meta: OpMeta[] = [];
  private stamp = 0;
  /** Requests a node is working on (called, not settled), for the quiet tail's check. */
  readonly inflight = new Map<number, { what: string; process: Process; sinceMs: number }>();
  private inflightSeq = 0;
  /** The highest revision any client has been told (a write's, a read's), for real-time order. */
  maxToldRev = 0;
  /** Operations by outcome, for the summary. */
  readonly counts = { ok: 0, failed: 0, unknown: 0, reads: 0, locks: 0, lockTimeouts: 0, sessions: 0, expired: 0 };

  next(): number {
    return ++this.stamp;
  }

  /** A node took a request; call the function returned once it settles. */
  serving(what: string, process: Process, nowMs: number): () => void {
    const id = ++this.inflightSeq;
    this.inflight.set(id, { what, process, sinceMs: nowMs });
    return () => this.inflight.delete(id);
  }

  add(op: HistoryOp, meta: OpMeta): void {
    this.ops.push(op);
    this.meta.push(meta);
  }

  told(rev: number): void {
    if (rev > this.maxToldRev) this.maxToldRev = rev;
  }
}

type Rpc<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'error'; error: unknown }
  /** Nothing was listening: the request was not delivered. */
  | { kind: 'refused' }
  /** No answer: the request may or may not have been acted on. */
  | { kind: 'lost'; why: string };

type WriteResult =
  | { kind: 'done'; outcome: WriteOutcome; nodes: string[] }
  | { kind: 'failed'; code: string; nodes: string[] }
  | { kind: 'unknown'; why: string; nodes: string[] };

const enc = new TextEncoder();
const dec = new TextDecoder();

function errorCode(err: unknown): string {
  if (err instanceof CoordError) return err.code;
  return (err as { code?: string })?.code ?? 'ERROR';
}

/** UNAVAILABLE with details.outcome 'unknown': the write may or may not have been applied. */
function isOutcomeUnknown(err: unknown): boolean {
  return err instanceof CoordError && err.details?.['outcome'] === 'unknown';
}

function leaderHint(err: unknown): string | null {
  if (!(err instanceof CoordError)) return null;
  const leader = err.details?.['leader'];
  return typeof leader === 'string' ? leader : null;
}

/** Errors that say the request was not acted on and another node (or later) may take it. */
const RETRY_ELSEWHERE = new Set<string>([ErrorCode.UNAVAILABLE, ErrorCode.LIMIT, ErrorCode.TIMEOUT, ErrorCode.NOSPACE]);
/** Errors that say the outcome is unknown. */
const UNKNOWN = new Set<string>([ErrorCode.OUTCOME_UNKNOWN, ErrorCode.INTERNAL]);

interface Session {
  id: string;
  secret: string;
  ttlMs: number;
  /** Where it was last confirmed alive (opened or resumed). */
  node: string;
}

export class SimClient {
  private node: string;
  private session: Session | null = null;
  private seq = 0;
  private n = 0;
  private contenders = 0;
  private stopKeepalive: (() => void) | null = null;
  /** Set when the workload ends: no new operations. */
  stopped = false;
  /** The operation in progress, for the quiet-tail report. */
  current: { what: string; sinceMs: number } | null = null;

  constructor(
    readonly name: string,
    private readonly side: ClientSide,
    private readonly rng: Rng,
    private readonly profile: WorkloadProfile,
    private readonly log: ClientLog,
    private readonly observer: ClientObserver,
  ) {
    this.node = rng.pick(side.nodeIds());
  }

  private get world(): World {
    return this.side.world;
  }

  private note(line: string): void {
    this.world.note(`${this.name}@${this.node} ${line}`);
  }

  // ---------------------------------------------------------------- the link

  private linkDelay(): number {
    return this.profile.linkBaseMs + this.rng.exp(this.profile.linkJitterMs);
  }

  /**
   * One request to `nodeId`, answered, refused, or lost (the deadline passed, or the node's
   * connection closed). `fn` runs inside the node's process (a paused node takes it late).
   */
  private rpc<T>(nodeId: string, what: string, fn: (api: ClientNodeApi) => Promise<T> | T, timeoutMs = this.profile.attemptTimeoutMs): Promise<Rpc<T>> {
    const world = this.world;
    return new Promise<Rpc<T>>((resolve) => {
      let done = false;
      let stopListening = (): void => {};
      const finish = (r: Rpc<T>): void => {
        if (done) return;
        done = true;
        cancelTimeout();
        stopListening();
        resolve(r);
      };
      const cancelTimeout = world.after(timeoutMs, `${this.name} timeout ${what}`, () => finish({ kind: 'lost', why: `no answer within ${timeoutMs} ms` }));
      world.after(this.linkDelay(), `${this.name}>${nodeId} ${what}`, () => {
        const target = this.side.target(nodeId);
        if (target === null) {
          finish({ kind: 'refused' });
          return;
        }
        if (!this.side.clientsReach(nodeId)) return;
        const proc = target.process;
        stopListening = proc.onDeath(() => {
          world.after(this.linkDelay(), `${this.name} disconnected from ${nodeId}`, () => finish({ kind: 'lost', why: `${nodeId} crashed` }));
        });
        proc.runNow(`${nodeId} serves ${this.name} ${what}`, () => {
          if (this.session !== null) target.api.touch(this.session.id);
          const settled = this.log.serving(`${this.name} ${what} on ${proc.name}`, proc, world.now);
          let p: Promise<T>;
          try {
            p = Promise.resolve(fn(target.api));
          } catch (err) {
            p = Promise.reject(err);
          }
          const reply = (r: Rpc<T>): void => {
            if (!proc.alive) return;
            world.after(this.linkDelay(), `${nodeId}>${this.name} ${r.kind === 'ok' ? 'ok' : `error ${errorCode((r as { error: unknown }).error)}`}`, () => {
              if (this.side.clientsReach(nodeId)) finish(r);
            });
          };
          p.then((value) => {
            settled();
            reply({ kind: 'ok', value });
          }, (error: unknown) => {
            settled();
            reply({ kind: 'error', error });
          });
        });
      });
    });
  }

  /** Another node than the current one (or the one a refusal named). */
  private moveTo(hint: string | null): void {
    const ids = this.side.nodeIds();
    const next = hint !== null && hint !== this.node && ids.includes(hint)
      ? hint
      : this.rng.pick(ids.length > 1 ? ids.filter((id) => id !== this.node) : ids);
    if (next !== this.node) this.note(`moves to ${next}`);
    this.node = next;
  }

  private backoff(): Promise<void> {
    return this.world.sleep(this.rng.real(2, 30), `${this.name} backoff`);
  }

  // ---------------------------------------------------------------- sessions

  /** Opens a session (a committed entry), trying other nodes until one does. */
  private async openSession(evenIfStopped = false): Promise<boolean> {
    const deadline = this.world.now + this.profile.opDeadlineMs;
    while (this.world.now < deadline && (evenIfStopped || !this.stopped)) {
      const r = await this.rpc(this.node, 'open', (api) => api.session(this.profile.sessionTtlMs));
      if (r.kind === 'ok') {
        this.session = { id: r.value.id, secret: r.value.secret, ttlMs: r.value.ttlMs, node: this.node };
        this.seq = 0;
        this.log.counts.sessions++;
        this.note(`opened session ${r.value.id}`);
        this.startKeepalive();
        return true;
      }
      // A lost open may have made a session nobody will use: it expires.
      this.moveTo(r.kind === 'error' ? leaderHint(r.error) : null);
      await this.backoff();
    }
    return false;
  }

  /** After moving to another node, resume the session there (the hello a reconnect sends). */
  private async resume(): Promise<'ok' | 'expired' | 'failed'> {
    const s = this.session!;
    if (s.node === this.node) return 'ok';
    const r = await this.rpc(this.node, 'resume', (api) => api.session(undefined, { id: s.id, secret: s.secret }));
    if (r.kind === 'ok') {
      s.node = this.node;
      return 'ok';
    }
    if (r.kind === 'error' && errorCode(r.error) === ErrorCode.SESSION_EXPIRED) return 'expired';
    return 'failed';
  }

  private startKeepalive(): void {
    this.stopKeepalive?.();
    const s = this.session!;
    let cancel = (): void => {};
    const ping = (): void => {
      if (this.session !== s || this.stopped) return;
      void this.rpc(this.node, 'ping', (api) => {
        api.touch(s.id);
        return true;
      }, s.ttlMs / 3);
      cancel = this.world.after(s.ttlMs / 3, `${this.name} keepalive`, ping);
    };
    cancel = this.world.after(s.ttlMs / 3, `${this.name} keepalive`, ping);
    this.stopKeepalive = () => cancel();
  }

  private dropSession(why: string): void {
    if (this.session !== null) this.note(`drops session ${this.session.id}: ${why}`);
    this.stopKeepalive?.();
    this.stopKeepalive = null;
    this.session = null;
  }

  // ---------------------------------------------------------------- writes

  /**
   * Proposes a txn under the session, exactly once: retries with the same seq until a definite
   * answer or the deadline.
   */
  private async write(conds: TxnCondition[], ops: TxnOp[], what: string): Promise<WriteResult> {
    const s = this.session!;
    const seq = ++this.seq;
    const cmd: Command = { t: 'txn', conds, ops, sid: s.id, seq, seqFloor: seq };
    const deadline = this.world.now + this.profile.opDeadlineMs;
    let ambiguous = false;
    const nodes: string[] = [];
    for (;;) {
      if (this.world.now >= deadline || this.session !== s) {
        return ambiguous ? { kind: 'unknown', why: 'out of time', nodes } : { kind: 'failed', code: 'DEADLINE', nodes };
      }
      if ((await this.resume()) === 'expired') {
        this.dropSession('expired (resume)');
        this.log.counts.expired++;
        return ambiguous ? { kind: 'unknown', why: 'session expired', nodes } : { kind: 'failed', code: 'SESSION_EXPIRED', nodes };
      }
      nodes.push(this.node);
      const r = await this.rpc(this.node, `${what} seq ${seq}`, (api) => api.propose(cmd));
      if (r.kind === 'ok') {
        const o = r.value;
        if (!o.ok && o.error.code === ErrorCode.SESSION_EXPIRED) {
          this.dropSession('expired (write)');
          this.log.counts.expired++;
          return ambiguous ? { kind: 'unknown', why: 'session expired', nodes } : { kind: 'failed', code: o.error.code, nodes };
        }
        if (!o.ok && o.error.code === ErrorCode.OUTCOME_UNKNOWN) return { kind: 'unknown', why: 'result forgotten', nodes };
        return { kind: 'done', outcome: o, nodes };
      }
      if (r.kind === 'error') {
        const code = errorCode(r.error);
        if (UNKNOWN.has(code) || isOutcomeUnknown(r.error)) ambiguous = true;
        else if (!RETRY_ELSEWHERE.has(code)) {
          // Refused before it was proposed (a bad request: the simulator's own bug).
          return ambiguous ? { kind: 'unknown', why: code, nodes } : { kind: 'failed', code, nodes };
        }
        this.moveTo(leaderHint(r.error));
      } else {
        if (r.kind === 'lost') ambiguous = true;
        this.moveTo(null);
      }
      await this.backoff();
    }
  }

  private value(): Uint8Array {
    return enc.encode(`${this.name}.${++this.n}`);
  }

  /** A SET or DEL of one key, recorded for the linearizability checker. */
  private async plainWrite(kind: 'set' | 'create' | 'cas' | 'exact' | 'del'): Promise<void> {
    const key = this.rng.pick(this.profile.keys);
    let cond = -1;
    let exact = false;
    if (kind === 'create') cond = 0;
    if (kind === 'cas' || kind === 'exact' || (kind === 'del' && this.rng.chance(0.5))) {
      // The rev this client last saw (a recent read), or a guess near it.
      const seen = this.lastSeen.get(key) ?? 0;
      cond = this.rng.chance(0.8) ? seen : Math.max(0, seen + this.rng.between(-3, 3));
      exact = kind === 'exact';
    }
    const value = kind === 'del' ? null : this.value();
    const ops: TxnOp[] = value === null
      ? [{ op: 'del', path: key, ...(exact ? {} : { rev: cond }) }]
      : [{ op: 'set', path: key, value, ...(exact ? {} : { rev: cond }) }];
    const conds: TxnCondition[] = exact ? [{ path: key, rev: cond, exact: true }] : [];
    const callMs = this.world.now;
    const call = this.log.next();
    const floor = this.log.maxToldRev;
    const res = await this.write(conds, ops, `${kind} ${key}`);
    const input = { cond, ...(exact ? { exact: true } : {}) };
    const base = { clientId: this.name, key, call };
    if (res.kind === 'failed') {
      this.log.counts.failed++;
      return;
    }
    const ret = res.kind === 'done' ? this.log.next() : null;
    const meta: OpMeta = { callMs, returnMs: ret === null ? null : this.world.now, nodes: res.nodes };
    if (res.kind === 'unknown') {
      this.log.counts.unknown++;
      this.note(`${kind} ${key} outcome unknown (${res.why})`);
      if (value === null) this.log.add({ ...base, op: 'del', input, return: null, output: null }, meta);
      else this.log.add({ ...base, op: 'set', input: { ...input, value }, return: null, output: null }, meta);
      return;
    }
    const o = res.outcome;
    this.log.counts.ok++;
    if (!o.ok) {
      if (o.error.code !== ErrorCode.REV_MISMATCH) throw new Error(`${this.name}: ${kind} ${key} failed with ${o.error.code}: ${o.error.message}`);
      const rev = o.error.details?.['rev'];
      const output = { ok: false as const, error: 'REV_MISMATCH' as const, ...(typeof rev === 'number' ? { rev } : {}) };
      if (typeof rev === 'number') this.lastSeen.set(key, rev);
      this.note(`${kind} ${key} REV_MISMATCH`);
      if (value === null) this.log.add({ ...base, op: 'del', input, return: ret, output }, meta);
      else this.log.add({ ...base, op: 'set', input: { ...input, value }, return: ret, output }, meta);
      return;
    }
    this.note(`${kind} ${key} ok rev ${o.rev}${o.changed === 0 ? ' (no change)' : ''}`);
    this.observer.revisionOrder(this.name, `${kind} ${key}`, floor, o.rev);
    this.log.told(o.rev);
    if (value === null) {
      if (o.changed > 0) {
        this.observer.acked(this.name, o.rev, key, null);
        this.log.add({ ...base, op: 'del', input, return: ret, output: { ok: true, deleted: true, rev: o.rev } }, meta);
      } else {
        this.log.add({ ...base, op: 'del', input, return: ret, output: { ok: true, deleted: false, rev: o.rev } }, meta);
      }
      this.lastSeen.set(key, 0);
    } else {
      this.observer.acked(this.name, o.rev, key, value);
      this.log.add({ ...base, op: 'set', input: { ...input, value }, return: ret, output: { ok: true, rev: o.rev } }, meta);
      this.lastSeen.set(key, o.rev);
    }
  }

  /** The rev each key had when this client last saw it. */
  private readonly lastSeen = new Map<string, number>();

  // ---------------------------------------------------------------- reads

  private async read(): Promise<void> {
    const key = this.rng.pick(this.profile.keys);
    const callMs = this.world.now;
    const call = this.log.next();
    const floor = this.log.maxToldRev;
    const r = await this.rpc(this.node, `read ${key}`, async (api) => {
      const at = await api.readAt();
      return api.store.get(key, at);
    });
    if (r.kind !== 'ok') {
      // A read that failed had no effect: left out of the history.
      this.moveTo(r.kind === 'error' ? leaderHint(r.error) : null);
      return;
    }
    const ret = this.log.next();
    const { value, rev, at } = r.value;
    this.log.counts.reads++;
    this.lastSeen.set(key, rev);
    this.note(`read ${key} = ${value === null ? 'missing' : dec.decode(value)} rev ${rev} at ${at}`);
    this.observer.revisionOrder(this.name, `read ${key} on ${this.node}`, floor, at);
    this.log.told(at);
    this.log.add(
      { clientId: this.name, key, op: 'get', call, return: ret, output: { value, rev, at } },
      { callMs, returnMs: this.world.now, nodes: [this.node] },
    );
  }

  // ---------------------------------------------------------------- the lock

  /**
   * One round of the lock recipe: queue a contender file, wait (polling linearizable reads)
   * until it is the lowest, write the protected key under the guard, release.
   */
  private async lockCycle(): Promise<void> {
    const s = this.session!;
    const key = `/lock/${s.id}-${++this.contenders}`;
    const created = await this.write([], [{ op: 'set', path: key, value: enc.encode(this.name), rev: 0, ephemeral: true }], `contend ${key}`);
    if (created.kind !== 'done') {
      // The file may be there (an unknown outcome): it would block the queue until the session
      // ends, so end it now, as the SDK's claimWrite cleans up.
      if (created.kind === 'unknown') await this.closeSession();
      return;
    }
    if (!created.outcome.ok) return;
    const token = created.outcome.rev;
    const giveUpAt = this.world.now + 2 * this.profile.opDeadlineMs;
    for (;;) {
      if (this.session !== s) return;
      if (this.world.now > giveUpAt) {
        this.log.counts.lockTimeouts++;
        this.note(`gives up waiting for the lock (${key})`);
        await this.write([], [{ op: 'del', path: key, rev: token }], `leave ${key}`);
        return;
      }
      const r = await this.rpc(this.node, 'walk /lock', async (api) => {
        const at = await api.readAt();
        return api.store.walk('/lock/*', at);
      });
      if (r.kind !== 'ok') {
        this.moveTo(r.kind === 'error' ? leaderHint(r.error) : null);
        await this.backoff();
        continue;
      }
      const { files, at } = r.value;
      const mine = files.find((f) => f.path === key);
      if (mine === undefined || mine.rev !== token) {
        this.note(`lost its place in the lock queue (${key})`);
        return;
      }
      const lowest = files.reduce((m, f) => (f.rev < m.rev ? f : m), mine);
      if (lowest.path === key) {
        this.note(`holds the lock, token ${token} (seen at ${at})`);
        this.log.counts.locks++;
        this.observer.lockHeld(this.name, token, at);
        break;
      }
      await this.world.sleep(this.rng.real(5, 40), `${this.name} lock wait`);
    }
    const writes = this.rng.between(1, 2);
    for (let i = 0; i < writes && this.session === s; i++) {
      const w = await this.write(
        [{ path: key, rev: token, exact: true }],
        [{ op: 'set', path: '/lockres', value: enc.encode(`${this.name}:${token}:${++this.n}`) }],
        `guarded write token ${token}`,
      );
      if (w.kind === 'done' && w.outcome.ok) this.observer.guardedWrite(this.name, token, w.outcome.rev);
      if (w.kind !== 'done' || !w.outcome.ok) break;
    }
    if (this.session === s) await this.write([], [{ op: 'del', path: key, rev: token }], `release ${key}`);
  }

  private async closeSession(): Promise<void> {
    const s = this.session;
    if (s === null) return;
    const r = await this.rpc(this.node, 'close', (api) => api.propose({ t: 'close', sid: s.id }));
    this.dropSession(r.kind === 'ok' ? 'closed' : 'abandoned (close failed)');
  }

  // ---------------------------------------------------------------- the workload

  private pickOp(): keyof WorkloadProfile['mix'] {
    const mix = this.profile.mix;
    const total = Object.values(mix).reduce((a, b) => a + b, 0);
    let x = this.rng.float() * total;
    for (const [k, w] of Object.entries(mix) as [keyof WorkloadProfile['mix'], number][]) {
      x -= w;
      if (x < 0) return k;
    }
    return 'read';
  }

  /** Runs operations one after another until `stopped`. */
  async run(): Promise<void> {
    await this.world.sleep(this.rng.real(0, 50), `${this.name} starts`);
    while (!this.stopped) {
      if (this.session === null && !(await this.openSession())) {
        await this.backoff();
        continue;
      }
      const op = this.pickOp();
      this.current = { what: op, sinceMs: this.world.now };
      switch (op) {
        case 'read':
          await this.read();
          break;
        case 'set':
        case 'create':
        case 'cas':
        case 'exact':
        case 'del':
          await this.plainWrite(op);
          break;
        case 'lock':
          await this.lockCycle();
          break;
        case 'renew':
          await this.closeSession();
          break;
        case 'crash':
          // The client process dies: its session is left to expire.
          this.dropSession('client crashed');
          this.moveTo(null);
          break;
      }
      this.current = null;
      await this.world.sleep(this.rng.exp(this.profile.thinkMs), `${this.name} thinks`);
    }
    this.stopKeepalive?.();
  }

  /**
   * The quiet tail's proof of progress: one write and one read, each of which must succeed
   * (with retries) before the deadline. Returns what went wrong, or null.
   */
  async finalProbe(deadlineMs: number): Promise<string | null> {
    const until = this.world.now + deadlineMs;
    while (this.world.now < until) {
      if (this.session === null && !(await this.openSession(true))) {
        await this.backoff();
        continue;
      }
      const value = this.value();
      const res = await this.write([], [{ op: 'set', path: `/probe/${this.name}`, value }], 'probe write');
      if (res.kind === 'done' && res.outcome.ok) {
        this.observer.acked(this.name, res.outcome.rev, `/probe/${this.name}`, value);
        const r = await this.rpc(this.node, 'probe read', async (api) => api.readAt());
        if (r.kind === 'ok' && r.value >= res.outcome.rev) return null;
      }
      await this.backoff();
    }
    return `${this.name} made no progress within ${deadlineMs} ms of quiet`;
  }
}

/**
 * A client that watches everything ('/**') on one node and checks what it is sent: every
 * revision, in order, exactly once, with the events every replica has at it (ARCHITECTURE rule
 * 5). When the watch ends (the node crashed, TOO_LATE, SLOW_CONSUMER) it resumes on another node
 * from the revision after the last it saw, as the SDK does; after TOO_LATE, from the oldest
 * revision still kept (the gap is what TOO_LATE says).
 */
export class SimWatcher {
  private next = 1;
  private node: string;
  private watchId = 0;
  stopped = false;
  readonly stats = { revisions: 0, resumes: 0, tooLate: 0 };

  constructor(
    readonly name: string,
    private readonly side: ClientSide,
    private readonly rng: Rng,
    private readonly observer: ClientObserver,
  ) {
    this.node = rng.pick(side.nodeIds());
  }

  start(): void {
    if (this.stopped) return;
    const world = this.side.world;
    const target = this.side.target(this.node);
    if (target === null || !this.side.clientsReach(this.node)) {
      this.retry('no node to watch on');
      return;
    }
    const node = this.node;
    const proc = target.process;
    let ended = false;
    const end = (why: string): void => {
      if (ended) return;
      ended = true;
      stopListening();
      this.retry(why);
    };
    const stopListening = proc.onDeath(() => end(`${node} crashed`));
    const sink: WatchSink = {
      congested: false,
      sendEvents: (_w, events) => {
        if (ended) return;
        const rev = events[0]?.rev ?? -1;
        this.observer.watchEvents(this.name, node, this.next, events);
        this.stats.revisions++;
        this.next = rev + 1;
      },
      answerWait: () => {},
      end: (_w, error: ErrorBody) => {
        if (error.code === ErrorCode.TOO_LATE && typeof error.details?.['oldestRev'] === 'number') {
          this.stats.tooLate++;
          this.next = error.details['oldestRev'] as number;
        }
        end(`${error.code}`);
      },
    };
    const w = new Watch(++this.watchId, '/**', sink, false);
    proc.runNow(`${node} serves ${this.name} watch from ${this.next}`, () => {
      try {
        target.api.hub.watch(w, this.next);
      } catch (err) {
        if (err instanceof CoordError && err.code === ErrorCode.TOO_LATE && typeof err.details?.['oldestRev'] === 'number') {
          this.stats.tooLate++;
          this.next = err.details['oldestRev'] as number;
        }
        end(errorCode(err));
      }
    });
    this.stop = () => {
      ended = true;
      stopListening();
      if (proc.alive) target.api.hub.remove(w);
    };
    world.note(`${this.name} watches /** on ${node} from ${this.next}`);
  }

  /** The revision the watch is due next (one past the last it was sent). */
  get nextRev(): number {
    return this.next;
  }

  /** Ends the watch (the quiet tail's last look is done). */
  stop: () => void = () => {};

  private retry(why: string): void {
    if (this.stopped) return;
    this.stats.resumes++;
    const ids = this.side.nodeIds();
    this.node = this.rng.pick(ids);
    this.side.world.note(`${this.name} watch ended (${why}); resumes on ${this.node} from ${this.next}`);
    this.side.world.after(this.rng.real(5, 50), `${this.name} rewatch`, () => this.start());
  }
}
