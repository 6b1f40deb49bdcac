/**
 * The coord client: one session kept across reconnects. On a dropped connection it reconnects
 * (backoff with jitter, across the listed urls), resumes the session, re-sends every request
 * still unanswered (writes carry a sequence number, so the server applies each at most once) and
 * re-establishes every watch from where it stopped.
 *
 * States: `connecting` (before the first hello), `connected`, `suspended` (no connection; the
 * session may still be alive), `expired` (the session is gone: its ephemeral files are deleted,
 * and locks built on it are lost; the client goes on with a new session), `closed`.
 *
 * This file runs in Node and in browsers alike: it knows sockets only through the Transport seam
 * (link.ts). The entries supply the default transport: client.ts (Node, ws) and browser.ts (the
 * browser's own WebSocket).
 */
import { decode, encode } from '../protocol/codec.ts';
import type { ErrorBody } from '../protocol/errors.ts';
import { PROTOCOL_VERSION } from '../protocol/limits.ts';
import { utf8Bytes } from '../protocol/utf8.ts';
import type {
  AclAction, AclChangeResult, AclListResult, AclWhoamiResult, DelResult, Event, GetResult, HelloResult,
  RequestBody, StatResult, TxnCondition, TxnOp, WalkEntry,
} from '../protocol/messages.ts';
import { backoffDelay, defaultBackoffMs, unavailableDelayMs } from './backoff.ts';
import {
  ClientClosedError, ConnectionError, CoordClientError, SessionExpiredError, TimeoutError,
  fromErrorBody,
} from './errors.ts';
import { FirstConnect } from './first-connect.ts';
import { Keepalive, pingPeriodMs } from './keepalive.ts';
import { reachesLeader, SessionClock } from './session-clock.ts';
import { connectFailure, type Link, type Transport } from './link.ts';
import type { WatchStream } from './watch-stream.ts';
import { Watches, type WatchOptions } from './watches.ts';
import { watchConfig, type ConfigSnapshot } from './recipes/config.ts';
import { elect, type Election } from './recipes/election.ts';
import { lock, tryLock, withLock, type Lock, type LockOptions } from './recipes/lock.ts';
import { members, register, type MembersUpdate, type Registration } from './recipes/membership.ts';
import { claimSlot, type ClaimOptions, type SlotClaim } from './recipes/slot.ts';

export type Value = Uint8Array | string;
export type ClientState = 'connecting' | 'connected' | 'suspended' | 'expired' | 'closed';

export interface ConnectOptions {
  /** Server urls (`ws://host:port`), tried in turn. */
  urls: string | string[];
  /** Session TTL: how long the server keeps the session (and its ephemeral files) without traffic. */
  sessionTtlMs?: number;
  /** The shared secret, for a server started with COORD_TOKEN. */
  token?: string;
  /** Give up the first connection after this long (ConnectionError). Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * Give up the first connection as soon as every url has failed once (refused, not resolvable,
   * not a coord server), with a ConnectionError naming each url and its cause (`cannot connect
   * to ws://127.0.0.1:7070: ECONNREFUSED 127.0.0.1:7070`), instead of retrying until
   * connectTimeoutMs. For command-line tools; services usually want the default (false), which
   * waits for a server that is still starting. Reconnects later on are not affected.
   */
  failFast?: boolean;
  /** Default time limit for a request, reconnects included (not for wait/watch). Default 30 s. */
  requestTimeoutMs?: number;
  /** Reconnect delays (the last repeats), each jittered. */
  backoffMs?: readonly number[];
  transport?: Transport;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides requestTimeoutMs; 0 means no limit. */
  timeoutMs?: number;
}

export interface ReadOptions extends CallOptions {
  /** Read the tree as it stood at this revision (answered by any node that has applied it). */
  rev?: number;
  /**
   * 'linearizable' (default): the read sees every write acknowledged before it was called, on
   * whichever node answers (a follower asks the leader how far it must have applied).
   * 'serializable': the node answers from what it has applied, with no round trip to the leader:
   * faster, and it may miss the latest writes (never shows a state that was not committed).
   */
  consistency?: 'linearizable' | 'serializable';
}

const consistency = (o: ReadOptions): { serializable?: true } => (o.consistency === 'serializable' && o.rev === undefined ? { serializable: true } : {});

export interface WriteOptions extends CallOptions {
  /** -1 (default): unconditional; 0: create only; otherwise: only if the file's rev ≤ this. */
  rev?: number;
}

export interface SetOptions extends WriteOptions {
  /** Bind the file to this client's session: deleted when the session ends. */
  ephemeral?: boolean;
}

export type TxnWrite =
  | { op: 'set'; path: string; value: Value; rev?: number; ephemeral?: boolean }
  | { op: 'del'; path: string; rev?: number };

interface Pending {
  body: RequestBody;
  kind: 'read' | 'write' | 'control';
  resolve(result: unknown): void;
  reject(err: unknown): void;
  cleanup(): void;
  seq?: number;
  /** UNAVAILABLE answers so far (each one sends the request again, a little later). */
  unavailable?: number;
  /** When it was last sent (Date.now()). */
  sentMs?: number;
}

type StateListener = (state: ClientState, previous: ClientState) => void;

const toBytes = (v: Value): Uint8Array => (typeof v === 'string' ? utf8Bytes(v) : v);

type Timer = ReturnType<typeof setTimeout>;

let defaultTransport: Transport | null = null;

/**
 * The transport `CoordClient.connect` uses when the options name none. Set by the entry that was
 * loaded: ws in Node (client.ts), the browser's WebSocket in a browser (browser.ts).
 */
export function setDefaultTransport(transport: Transport): void {
  defaultTransport = transport;
}

export class CoordClient {
  private readonly urls: string[];
  private readonly options: Required<Omit<ConnectOptions, 'urls' | 'sessionTtlMs' | 'token'>> & { sessionTtlMs?: number };
  private readonly token: string | undefined;
  private link: Link | null = null;
  private linkReady = false;
  private urlIndex = 0;
  private attempt = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly watchStreams = new Watches({
    nextId: () => this.nextId++,
    send: (id, body) => this.sendFrame(id, body),
    linkReady: () => this.linkReady,
    closed: () => this.currentState === 'closed',
    headSeen: () => this.headSeen,
    requestTimeoutMs: () => this.options.requestTimeoutMs,
  });
  private seq = 0;
  private readonly writeSeqs = new Set<number>();
  private sessionInfo: { id: string; secret: string; ttlMs: number } | null = null;
  /** Set when the session is known (or presumed) gone: the next hello opens a new one. */
  private sessionLost = false;
  private currentState: ClientState = 'connecting';
  private readonly listeners = new Set<StateListener>();
  /** The newest store revision any answer has shown: a lower bound on the server's head. */
  private headSeen = 0;
  /** When the session was last heard of by the cluster, and when to presume it gone (session-clock.ts). */
  private readonly sessionClock = new SessionClock({
    ttlMs: () => this.sessionTtlMs,
    live: () => this.sessionInfo !== null && !this.sessionLost &&
      (this.currentState === 'suspended' || this.currentState === 'connected'),
    pingIfUp: () => {
      if (this.link !== null && this.linkReady) this.ping(this.link);
    },
    askServer: () => {
      if (this.link !== null && this.linkReady) this.ping(this.link);
      else this.redialNow();
    },
    timedOut: () => this.sessionTimedOut(),
  });
  private keepalive: Keepalive | null = null;
  private reconnectTimer: Timer | null = null;
  private firstConnect: FirstConnect | null = null;
  /** The url of the link being attached or in use. */
  private linkUrl = '';
  /** Why the hello on the link being attached failed, if it did. */
  private helloFailure: string | null = null;

  private constructor(options: ConnectOptions) {
    this.urls = (Array.isArray(options.urls) ? options.urls : [options.urls])
      .flatMap((u) => u.split(','))
      .map((u) => u.trim())
      .filter((u) => u !== '');
    if (this.urls.length === 0) throw new TypeError('connect: urls must name at least one server');
    this.options = {
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      failFast: options.failFast ?? false,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      backoffMs: options.backoffMs ?? defaultBackoffMs,
      transport: options.transport ?? defaultTransport ?? noTransport(),
      sessionTtlMs: options.sessionTtlMs,
    };
    this.token = options.token;
  }

  /**
   * Connects and opens a session. Rejects with ConnectionError if no server answers in time (or,
   * with failFast, once every url has failed), or with the server's error if it refuses the hello.
   */
  static async connect(options: ConnectOptions): Promise<CoordClient> {
    const client = new CoordClient(options);
    const { connectTimeoutMs, failFast } = client.options;
    const first = new FirstConnect(client.urls, connectTimeoutMs, failFast, (err) => client.shutdown(err));
    client.firstConnect = first;
    client.dial();
    await first.done;
    return client;
  }

  get state(): ClientState {
    return this.currentState;
  }

  /** The current session id (it changes after an expiry). */
  get sessionId(): string | null {
    return this.sessionInfo?.id ?? null;
  }

  get sessionTtlMs(): number {
    return this.sessionInfo?.ttlMs ?? this.options.sessionTtlMs ?? 10_000;
  }

  /** Calls `listener` on every state change; returns a function that stops it. */
  onState(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setState(next: ClientState): void {
    const prev = this.currentState;
    if (prev === next || prev === 'closed') return;
    this.currentState = next;
    for (const l of [...this.listeners]) l(next, prev);
  }

  // ------------------------------------------------------------------ connection

  private dial(): void {
    if (this.currentState === 'closed') return;
    const url = this.urls[this.urlIndex % this.urls.length]!;
    this.options.transport(url, this.options.connectTimeoutMs).then(
      (link) => this.attach(link, url),
      (err: unknown) => {
        if (this.firstConnect?.attemptFailed(url, connectFailure(err))) return;
        this.scheduleReconnect();
      },
    );
  }

  private scheduleReconnect(): void {
    if (this.currentState === 'closed' || this.reconnectTimer !== null) return;
    // The attempt that was to tell whether the session outlived our stall failed.
    if (this.sessionClock.verifying && this.currentState === 'suspended') this.markSessionLost();
    this.urlIndex++;
    const delay = backoffDelay(this.attempt++, this.options.backoffMs);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.dial();
    }, delay);
  }

  /** Skips the backoff wait, if that is where we are (not while a connect or hello is under way). */
  private redialNow(): void {
    if (this.reconnectTimer === null) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.dial();
  }

  private attach(link: Link, url: string): void {
    if (this.currentState === 'closed') return link.close(1000, 'client closed');
    this.link = link;
    this.linkUrl = url;
    this.helloFailure = null;
    link.onFrame = (frame) => this.onFrame(frame);
    link.onClose = (code, reason) => this.onLinkClosed(link, code, reason);
    this.hello(link).catch((err: unknown) => {
      if (this.link === link) this.helloFailure = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
      link.close(1000, 'hello failed');
    });
  }

  private async hello(link: Link): Promise<void> {
    const resume = this.sessionInfo !== null && !this.sessionLost ? this.sessionInfo : undefined;
    let result: HelloResult;
    try {
      result = (await this.rawCall(link, {
        op: 'hello', version: PROTOCOL_VERSION,
        ...(resume ? { session: { id: resume.id, secret: resume.secret } } : {}),
        ...(this.options.sessionTtlMs !== undefined ? { ttlMs: this.options.sessionTtlMs } : {}),
        ...(this.token !== undefined ? { token: this.token } : {}),
      })) as HelloResult;
    } catch (err) {
      if (err instanceof SessionExpiredError) {
        this.markSessionLost();
        return this.hello(link);
      }
      if (err instanceof CoordClientError && this.firstConnect?.pending && err.code !== 'UNAVAILABLE') {
        this.firstConnect.failed(err);
        this.shutdown(err);
      }
      throw err;
    }
    if (this.link !== link) return;
    if (this.sessionInfo !== null && result.session.id !== this.sessionInfo.id) this.markSessionLost();
    this.sessionInfo = result.session;
    this.sessionLost = false;
    this.linkReady = true;
    this.attempt = 0;
    this.sessionClock.arm();
    this.startKeepalive(link);
    this.setState('connected');
    this.firstConnect?.succeeded();
    this.firstConnect = null;
    for (const [id, p] of [...this.pending]) this.sendFrame(id, p.body);
    this.watchStreams.reopenAll();
  }

  /** The session is gone: writes in flight under it cannot be confirmed; recipes must know. */
  private markSessionLost(): void {
    if (this.sessionLost) return;
    this.sessionLost = true;
    this.sessionClock.clear();
    for (const [id, p] of [...this.pending]) {
      if (p.kind === 'write') {
        p.reject(new SessionExpiredError(
          'the session ended before this write was confirmed; it may or may not have been applied',
        ));
        this.forget(id);
      }
    }
    this.setState('expired');
  }

  private onLinkClosed(link: Link, code: number, reason: string): void {
    if (this.link !== link) return;
    const beforeHello = !this.linkReady;
    this.link = null;
    this.linkReady = false;
    this.stopKeepalive();
    this.watchStreams.linkClosed();
    if (this.currentState === 'closed') return;
    if (this.currentState === 'connected') {
      this.setState('suspended');
      this.sessionClock.arm();
    }
    if (beforeHello) {
      const cause = this.helloFailure ?? `closed before the hello was answered (${code}${reason !== '' ? ` ${reason}` : ''})`;
      if (this.firstConnect?.attemptFailed(this.linkUrl, cause)) return;
    }
    this.scheduleReconnect();
  }

  /** The session outlived its TTL unheard: gone for us; a live link is dropped for a new hello. */
  private sessionTimedOut(): void {
    this.markSessionLost();
    const link = this.link;
    if (link !== null) {
      link.close(4001, 'session presumed expired');
      this.onLinkClosed(link, 4001, 'session presumed expired');
    }
  }

  private ping(link: Link): void {
    void this.rawCall(link, { op: 'ping' }).catch(() => {});
  }

  /** Keeps the session alive when idle, and notices a server that stopped answering. */
  private startKeepalive(link: Link): void {
    this.stopKeepalive();
    this.keepalive = new Keepalive(pingPeriodMs(this.sessionTtlMs), {
      ping: () => this.ping(link),
      dead: () => {
        // Done with it now, without waiting for a close handshake the server will not answer.
        link.close(4000, 'server not answering');
        this.onLinkClosed(link, 4000, 'server not answering');
      },
    });
  }

  private stopKeepalive(): void {
    this.keepalive?.stop();
    this.keepalive = null;
  }

  // ------------------------------------------------------------------ frames

  private readonly rawPending = new Map<number, { resolve(r: unknown): void; reject(e: unknown): void; sentMs: number; body: RequestBody }>();

  /** A request on one specific link, not retried (hello, ping). */
  private rawCall(link: Link, body: RequestBody): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.rawPending.set(id, { resolve, reject, sentMs: Date.now(), body });
      try {
        if (link === this.link) this.keepalive?.sent();
        link.send(encode({ id, ...body }));
      } catch (err) {
        this.rawPending.delete(id);
        reject(err);
      }
    });
  }

  private sendFrame(id: number, body: RequestBody): void {
    if (this.link === null || !this.linkReady) return;
    this.keepalive?.sent();
    const p = this.pending.get(id);
    if (p !== undefined) p.sentMs = Date.now();
    this.link.send(encode({ id, ...body }));
  }

  private onFrame(frame: Uint8Array): void {
    let msg: Record<string, unknown>;
    try {
      msg = decode(frame) as Record<string, unknown>;
    } catch {
      this.link?.close(1002, 'undecodable frame from server');
      return;
    }
    // An UNAVAILABLE answer is a server that cannot reach a leader: not a sign of life the
    // keepalive should count (see keepalive.ts), so the client moves to another server.
    if ((msg.error as ErrorBody | undefined)?.code !== 'UNAVAILABLE') this.keepalive?.heard();
    if (typeof msg.watch === 'number') return this.watchStreams.onPush(msg.watch, msg);
    this.noteRevision(msg.result);
    const id = msg.id as number;
    const raw = this.rawPending.get(id);
    const answered = raw ?? this.pending.get(id);
    if (answered?.sentMs !== undefined && msg.error === undefined && reachesLeader(answered.body)) {
      this.sessionClock.heard(answered.sentMs);
    }
    if (raw !== undefined) {
      this.rawPending.delete(id);
      return msg.error !== undefined ? raw.reject(fromErrorBody(msg.error as ErrorBody)) : raw.resolve(msg.result);
    }
    if (this.watchStreams.onAnswer(id, msg)) return;
    const p = this.pending.get(id);
    if (p === undefined) return;
    if (msg.error !== undefined) {
      const err = fromErrorBody(msg.error as ErrorBody);
      // No leader for a moment (an election), or the server is going away: a read, or a write
      // that carries its sequence number (so it is never applied twice), is sent again a little
      // later — on this connection if it is still up, else after reconnecting (which resends
      // everything pending). It ends at its timeout like any request.
      if (err.code === 'UNAVAILABLE' && (p.kind !== 'write' || p.seq !== undefined)) {
        p.unavailable = (p.unavailable ?? 0) + 1;
        setTimeout(() => {
          if (this.pending.get(id) === p) this.sendFrame(id, p.body);
        }, unavailableDelayMs(p.unavailable)).unref?.();
        return;
      }
      this.forget(id);
      p.reject(err);
      // The server no longer knows our session: start a new one on a fresh connection.
      if (err.code === 'SESSION_EXPIRED') {
        this.markSessionLost();
        this.link?.close(1000, 'session expired');
      }
    } else {
      this.forget(id);
      p.resolve(msg.result);
    }
  }

  private noteRevision(result: unknown): void {
    if (typeof result !== 'object' || result === null) return;
    const { rev, at } = result as { rev?: unknown; at?: unknown };
    for (const r of [rev, at]) if (typeof r === 'number' && r > this.headSeen) this.headSeen = r;
  }

  private forget(id: number): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    if (p.seq !== undefined) this.writeSeqs.delete(p.seq);
    p.cleanup();
  }

  /** Gives up on a request; a WAIT is also cancelled on the server so it does not linger. */
  private abandon(id: number): void {
    const p = this.pending.get(id);
    this.forget(id);
    if (p?.body.op === 'wait') this.sendFrame(this.nextId++, { op: 'cancel', target: id });
  }

  // ------------------------------------------------------------------ requests

  private call<T>(body: RequestBody, kind: Pending['kind'], options: CallOptions = {}): Promise<T> {
    if (this.currentState === 'closed') return Promise.reject(new ClientClosedError());
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.nextId++;
    if (kind === 'write') {
      const seq = ++this.seq;
      this.writeSeqs.add(seq);
      const floor = Math.min(...this.writeSeqs);
      body = { ...body, seq, seqFloor: floor } as RequestBody;
    }
    return new Promise<T>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
      let timer: Timer | null = null;
      const onAbort = () => {
        this.abandon(id);
        reject(signal!.reason);
      };
      const pending: Pending = {
        body, kind, resolve: resolve as (r: unknown) => void, reject,
        cleanup: () => {
          if (timer !== null) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      if (kind === 'write') pending.seq = (body as { seq: number }).seq;
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.abandon(id);
          reject(this.linkReady
            ? new TimeoutError(`no answer to ${body.op} within ${timeoutMs} ms`)
            : new ConnectionError(`no coord server reachable within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, pending);
      this.sendFrame(id, body);
    });
  }

  async get(path: string, options: ReadOptions = {}): Promise<GetResult> {
    return this.call<GetResult>({ op: 'get', path, ...(options.rev !== undefined ? { rev: options.rev } : {}), ...consistency(options) }, 'read', options);
  }

  /** Sets `path` to `value`; returns the new store revision (the file's rev). */
  async set(path: string, value: Value, options: SetOptions = {}): Promise<number> {
    const r = await this.call<{ rev: number }>({
      op: 'set', path, value: toBytes(value), rev: options.rev ?? -1,
      ...(options.ephemeral ? { ephemeral: true } : {}),
    }, 'write', options);
    return r.rev;
  }

  async del(path: string, options: WriteOptions = {}): Promise<DelResult> {
    return this.call<DelResult>({ op: 'del', path, rev: options.rev ?? -1 }, 'write', options);
  }

  /** The current store revision. */
  async rev(options: CallOptions & Pick<ReadOptions, 'consistency'> = {}): Promise<number> {
    return (await this.call<{ rev: number }>({ op: 'rev', ...consistency(options) }, 'read', options)).rev;
  }

  async stat(path: string, options: ReadOptions = {}): Promise<StatResult> {
    return this.call<StatResult>({ op: 'stat', path, ...(options.rev !== undefined ? { rev: options.rev } : {}), ...consistency(options) }, 'read', options);
  }

  /** All child names of a directory, sorted, read at one revision (`at`), across pages. */
  async getdir(path: string, options: ReadOptions = {}): Promise<{ names: string[]; at: number }> {
    const { items, at } = await this.allPages({ op: 'getdir', path }, 'names', (name: string) => name, options);
    return { names: items, at };
  }

  /** Every file matching `glob` with its value and rev, in tree order, read at one revision. */
  async walk(glob: string, options: ReadOptions = {}): Promise<{ files: WalkEntry[]; at: number }> {
    const { items, at } = await this.allPages({ op: 'walk', glob }, 'files', (f: WalkEntry) => f.path, options);
    return { files: items, at };
  }

  /**
   * Reads every page of a GETDIR or WALK: the first page fixes the revision (`at`), and each
   * next page starts after the last entry (`cursor`) of the one before.
   */
  private async allPages<T>(
    body: { op: 'getdir'; path: string } | { op: 'walk'; glob: string },
    key: 'names' | 'files',
    cursor: (item: T) => string,
    options: ReadOptions,
  ): Promise<{ items: T[]; at: number }> {
    const items: T[] = [];
    let rev = options.rev;
    let after: string | undefined;
    for (;;) {
      const page = await this.call<{ at: number; more: boolean } & Record<typeof key, T[]>>({
        ...body, ...(rev !== undefined ? { rev } : { ...consistency(options) }), ...(after !== undefined ? { after } : {}),
      } as RequestBody, 'read', options);
      const got = page[key];
      items.push(...got);
      rev = page.at;
      if (!page.more || got.length === 0) return { items, at: page.at };
      after = cursor(got[got.length - 1]!);
    }
  }

  /** The first event at revision ≥ `rev` (default: the next one) whose path matches `glob`. */
  async wait(glob: string, options: ReadOptions = {}): Promise<Event> {
    const rev = options.rev ?? (await this.rev(options)) + 1;
    const r = await this.call<{ event: Event }>({ op: 'wait', glob, rev }, 'read', { timeoutMs: 0, ...options, signal: options.signal });
    return r.event;
  }

  /** Conditions and writes applied together in one revision, or not at all. Returns the revision. */
  async txn(spec: { conds?: TxnCondition[]; ops: TxnWrite[] }, options: CallOptions = {}): Promise<number> {
    const ops: TxnOp[] = spec.ops.map((o) => (o.op === 'set' ? { ...o, value: toBytes(o.value) } : o));
    return (await this.call<{ rev: number }>({ op: 'txn', conds: spec.conds ?? [], ops }, 'write', options)).rev;
  }

  /**
   * Access control (protocol/README.md, "Access control"): `list` and `whoami` read the rules;
   * every other action changes them (needs the role root once they are enabled) and is applied
   * at most once across retries, as writes are.
   */
  acl(request: { action: 'list' }, options?: CallOptions): Promise<AclListResult>;
  acl(request: { action: 'whoami' }, options?: CallOptions): Promise<AclWhoamiResult>;
  acl(request: AclAction, options?: CallOptions): Promise<AclChangeResult>;
  acl(request: AclAction, options: CallOptions = {}): Promise<unknown> {
    const read = request.action === 'list' || request.action === 'whoami';
    return this.call({ op: 'acl', ...request }, read ? 'read' : 'write', options);
  }

  // ------------------------------------------------------------------ watches

  /**
   * Every event matching `glob` from `fromRev` on (default: from the next revision), in order,
   * exactly once, across reconnects (watches.ts). Fails with TooLateError if history no longer
   * reaches the revision it needs. `break` out of the loop, `cancel()`, or the signal stops it.
   */
  watch(glob: string, options: WatchOptions = {}): WatchStream {
    return this.watchStreams.watch(glob, options);
  }

  // ------------------------------------------------------------------ recipes (client/recipes/)

  /** Waits for and takes a fair, fenced lock (see recipes/lock.ts). */
  lock(path: string, options?: LockOptions): Promise<Lock> {
    return lock(this, path, options);
  }

  /** Takes the lock only if it is free now; null otherwise. */
  tryLock(path: string, options?: Pick<LockOptions, 'info' | 'signal'>): Promise<Lock | null> {
    return tryLock(this, path, options);
  }

  /** Runs `fn` holding the lock; releases it however `fn` ends. */
  withLock<T>(path: string, fn: (lock: Lock) => Promise<T> | T, options?: LockOptions): Promise<T> {
    return withLock(this, path, fn, options);
  }

  /** Claims one of `n` slots `prefix/0 … prefix/(n-1)`, waiting while all are held. */
  claimSlot(prefix: string, n: number, options?: ClaimOptions): Promise<SlotClaim> {
    return claimSlot(this, prefix, n, options);
  }

  /** An election at `path` for candidate `id`. */
  elect(path: string, id: string): Election {
    return elect(this, path, id);
  }

  /** Registers this process as `dir/id` (ephemeral) with `info`; registers again after a session expiry. */
  register(dir: string, id: string, info?: Value): Promise<Registration> {
    return register(this, dir, id, info);
  }

  /** The live member set of `dir`. */
  members(dir: string, options?: { signal?: AbortSignal }): AsyncGenerator<MembersUpdate> {
    return members(this, dir, options);
  }

  /** Whole snapshots of a config path or glob: now, then after each change. */
  watchConfig(pathOrGlob: string, options?: { signal?: AbortSignal }): AsyncGenerator<ConfigSnapshot> {
    return watchConfig(this, pathOrGlob, options);
  }

  // ------------------------------------------------------------------ closing

  /**
   * Ends the session (its ephemeral files are deleted at once), closes the connection and
   * rejects every pending call with ClientClosedError.
   */
  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    const link = this.link;
    if (link !== null && this.linkReady) {
      await Promise.race([
        this.rawCall(link, { op: 'close' }).catch(() => {}),
        new Promise((r) => (setTimeout(r, 2000) as { unref?: () => void }).unref?.()),
      ]);
    }
    this.shutdown(new ClientClosedError());
  }

  private shutdown(reason: Error): void {
    if (this.currentState === 'closed') return;
    this.setState('closed');
    this.stopKeepalive();
    this.sessionClock.clear();
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.link?.close(1000, 'client closed');
    this.link = null;
    for (const [id, p] of [...this.pending]) {
      this.forget(id);
      p.reject(reason);
    }
    for (const raw of this.rawPending.values()) raw.reject(reason);
    this.rawPending.clear();
    this.watchStreams.failAll(reason);
  }
}

/** When no entry set a default transport and the options gave none. */
function noTransport(): never {
  throw new TypeError('connect: no transport; import the SDK from its package entry (Node or browser), or pass options.transport');
}
