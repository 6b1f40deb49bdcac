/**
 * One client connection: frames in, responses and watch events out. It enforces the hello, the
 * per-connection limits and the request-id rules, keeps the session alive on any traffic, and is
 * the WatchSink for its watches (tracking how many bytes wait in the socket so watches pause
 * instead of piling up memory).
 *
 * Bad input never reaches past here: a frame that is not msgpack, or has no id to answer to,
 * closes the connection with a reason; a request with a bad argument gets a coded error.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import { decode, encode, encodeWatchPush, FrameError } from '../../protocol/codec.ts';
import { corkForThisTurn } from '../../protocol/cork.ts';
import { truncateUtf8 } from '../../protocol/describe.ts';
import { CloseCode, CoordError, ErrorCode, type ErrorBody } from '../../protocol/errors.ts';
import { limits, PROTOCOL_VERSION } from '../../protocol/limits.ts';
import { ops, type Event, type HelloRequest, type ProgressRequest, type Request } from '../../protocol/messages.ts';
import { parseRequest, requestId } from '../../protocol/validate.ts';
import { AssertionError } from '../assert.ts';
import type { CoordNode, SessionGrant } from '../node.ts';
import { Watch, type WatchSink } from '../watch/hub.ts';
import { acl } from './acl.ts';
import { AccessGate } from './access-gate.ts';
import { describeWho } from './credentials.ts';
import { ProgressTimer } from './progress-timer.ts';
import * as handlers from './handlers.ts';

/**
 * Told of every request answered (for /metrics): its op ('invalid' when it did not parse), its
 * result code ('OK' or the error code), and when it arrived (performance.now()). A WAIT or WATCH
 * counts when it is accepted. Must be cheap: it runs once per request.
 */
export interface RequestObserver {
  answered(op: string, code: string, arrivedMs: number): void;
}

export interface ConnectionContext {
  node: CoordNode;
  log: FastifyBaseLogger;
  /** True once the server is shutting down: new requests get UNAVAILABLE. */
  draining(): boolean;
  /** The shared secret a hello must carry, or null when the server takes anyone. */
  token: string | null;
  /** The client's address, for log lines. */
  remote: string | undefined;
  /**
   * True when this server's peer port takes only its own cluster (a token, or mutual TLS):
   * access control is refused otherwise, as a peer link could forward any command past it.
   */
  peersGuarded: boolean;
  onFatal(err: unknown): void;
  requests?: RequestObserver;
}

export class Connection implements WatchSink {
  private session: SessionGrant | null = null;
  /** Who the hello's token makes this connection, and what it may do (access control). */
  private readonly gate: AccessGate;
  /** The access rules' version this connection's watches were last checked against. */
  private watchesCheckedVersion = 0;
  /** The hello being answered: requests pipelined behind it wait for it. */
  private helloInFlight: Promise<unknown> | null = null;
  /** Ids of requests not yet answered (a WAIT stays here until its event). */
  private readonly inflight = new Set<number>();
  /** Open WAITs and WATCH streams by request id (a WATCH stays after its answer). */
  private readonly watches = new Map<number, Watch>();
  /** WAIT/WATCH ids cancelled before they started. */
  private readonly cancelledEarly = new Set<number>();
  /**
   * Linearizable reads not yet answered, and WAITs and WATCHes "from now" (no revision given) not
   * yet started, on this connection: a write sent after one waits for it, so it never sees that
   * write, as on a single node. On a follower the read barrier is a round trip to the leader
   * while a write pipelined behind it is forwarded at once; had the write been applied here
   * before the barrier returned, `watch(); await set()` would have missed its own write, and the
   * SDK's `wait()` (a REV, then WAIT from REV + 1) would have waited past it, for ever.
   */
  private readonly readsBeforeWrites = new Set<Promise<void>>();
  private pendingBytes = 0;
  congested = false;
  /** Responses and watch ends waiting for the congested socket to drain, in order. */
  private readonly held: unknown[] = [];
  private closed = false;
  private readonly helloTimer: NodeJS.Timeout;
  /** Periodic progress for the watches that asked (WATCH progressMs). */
  private readonly progressTimer = new ProgressTimer({
    canPush: () => !this.congested,
    pushProgress: (w) => this.sendFrame(encode({ watch: w.id, progress: this.ctx.node.store.rev })),
  });

  constructor(
    private readonly socket: WebSocket,
    private readonly ctx: ConnectionContext,
    private readonly log: FastifyBaseLogger,
  ) {
    this.gate = new AccessGate(() => ctx.node.access, ctx.token);
    socket.on('message', (data, isBinary) => this.onFrame(data as Buffer, isBinary));
    socket.on('close', (code, reason) => this.onClose(code, reason.toString()));
    // Frames that break RFC 6455 (too big, bad UTF-8, bad opcode) are a client's protocol
    // violation, worth a warn line; resets and the like are ordinary network life.
    socket.on('error', (err: Error & { code?: string }) => {
      if (err.code?.startsWith('WS_ERR_')) {
        this.log.warn({ reason: err.message, wsCode: err.code }, 'protocol violation; closing the connection');
      } else {
        this.log.debug({ err }, 'socket error');
      }
    });
    this.helloTimer = setTimeout(() => {
      if (this.session === null) this.closeForViolation(CloseCode.POLICY, 'no hello within the time allowed');
    }, limits.helloTimeoutMs);
  }

  get sessionId(): string | null {
    return this.session?.id ?? null;
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary) return this.closeForViolation(CloseCode.PROTOCOL_ERROR, 'text frames are not supported; send msgpack in binary frames');
    let msg: unknown;
    try {
      msg = decode(data);
    } catch (err) {
      const e = err as FrameError;
      return this.closeForViolation(e.tooBig ? CloseCode.TOO_BIG : CloseCode.PROTOCOL_ERROR, e.message);
    }
    const id = requestId(msg);
    if (id === null) {
      return this.closeForViolation(CloseCode.PROTOCOL_ERROR, 'each message must be a map with a non-negative integer id');
    }
    if (this.session !== null && this.gate.mayKeepAlive()) this.ctx.node.touch(this.session.id);
    if (this.inflight.has(id) || this.watches.has(id)) {
      // An answer under this id could not be told from the first request's: a client bug.
      return this.closeForViolation(CloseCode.PROTOCOL_ERROR, `request id ${id} is already in flight`);
    }
    const arrived = performance.now();
    const observer = this.ctx.requests;
    if (this.inflight.size >= limits.requestsInflightPerConnectionMax) {
      observer?.answered(opOf(msg), ErrorCode.LIMIT, arrived);
      return this.respondError(id, new CoordError(
        ErrorCode.LIMIT, `over ${limits.requestsInflightPerConnectionMax} requests in flight on this connection`,
      ), false);
    }
    let req: Request;
    try {
      req = parseRequest(msg);
    } catch (err) {
      observer?.answered('invalid', errorBody(err).code, arrived);
      return this.respondError(id, err, false);
    }
    this.inflight.add(id);
    this.dispatch(req).then(
      (result) => {
        observer?.answered(req.op, 'OK', arrived);
        if (result !== KEEP) this.respond(id, result);
      },
      (err) => {
        const code = err instanceof CoordError ? err.code : ErrorCode.INTERNAL;
        observer?.answered(req.op, code, arrived);
        if (code === ErrorCode.PERMISSION_DENIED) this.logDenied(req.op, (err as CoordError).message);
        this.respondError(id, err, true);
      },
    );
  }

  private async dispatch(req: Request): Promise<unknown> {
    if (this.ctx.draining()) throw new CoordError(ErrorCode.UNAVAILABLE, 'the server is shutting down');
    if (req.op === 'hello') return this.hello(req);
    if (this.session === null && this.helloInFlight !== null) await this.helloInFlight.catch(() => {});
    if (this.session === null) {
      throw new CoordError(ErrorCode.HELLO_REQUIRED, `send a hello (protocol version ${PROTOCOL_VERSION}) first`);
    }
    const node = this.ctx.node;
    const sid = this.session.id;
    if (req.op !== 'close' && !this.gate.mayKeepAlive()) {
      throw new CoordError(ErrorCode.PERMISSION_DENIED, 'access control is on and this connection\'s token names no user (any more): it may only close its session');
    }
    switch (req.op) {
      case 'get': case 'stat': case 'getdir': this.gate.authorize(req.path, false); break;
      case 'walk': case 'wait': case 'watch': this.gate.authorizeGlob(req.glob); break;
      case 'set': case 'del': this.gate.authorize(req.path, true); break;
      case 'txn':
        for (const c of req.conds) this.gate.authorize(c.path, false);
        for (const o of req.ops) this.gate.authorize(o.path, true);
        break;
    }
    switch (req.op) {
      case 'get': return this.readInOrder(req, handlers.get(node, req, () => this.gate.authorize(req.path, false)));
      case 'stat': return this.readInOrder(req, handlers.stat(node, req, () => this.gate.authorize(req.path, false)));
      case 'getdir': return this.readInOrder(req, handlers.getdir(node, req, () => this.gate.authorize(req.path, false)));
      case 'walk': return this.readInOrder(req, handlers.walk(node, req, () => this.gate.authorizeGlob(req.glob)));
      case 'rev': return this.readInOrder(req, handlers.rev(node, req));
      // A ping is answered only once the leader has had the session's keepalive and confirmed
      // (read-index) that it still leads and this node reaches it: a server cut off from the
      // leader must not tell a client its session is alive while the majority may be expiring it
      // (partition.test.ts: a lock holder on a cut-off server would go on believing it holds the
      // lock). It then answers UNAVAILABLE, or nothing, and the SDK moves on to another server.
      case 'ping': await node.confirmSession(sid); return { rev: node.store.rev };
      case 'set': case 'del': case 'txn': case 'acl': {
        if (this.readsBeforeWrites.size > 0) await Promise.all(this.readsBeforeWrites);
        const sender = { sid, user: this.gate.who.stamp };
        if (req.op === 'set') return handlers.set(node, sender, req);
        if (req.op === 'del') return handlers.del(node, sender, req);
        if (req.op === 'acl') return this.aclChange(req, sender);
        return handlers.txn(node, sender, req);
      }
      case 'wait': return this.startWatch(req.id, req.glob, req.rev, true);
      case 'watch': return this.startWatch(req.id, req.glob, req.fromRev, false, req.progressMs);
      case 'progress': return this.progress(req);
      case 'cancel': return this.cancel(req.target);
      case 'close': return this.closeSession();
    }
  }

  private async hello(req: HelloRequest & { id: number }): Promise<unknown> {
    if (this.session !== null || this.helloInFlight !== null) {
      throw new CoordError(ErrorCode.HELLO_REQUIRED, 'hello was already sent on this connection');
    }
    const refusal = this.gate.admit(req.token);
    if (refusal !== null) {
      this.log.warn({ reason: refusal }, 'authentication failed');
      throw new CoordError(ErrorCode.UNAUTHORIZED, refusal);
    }
    const who = this.gate.who;
    const owner = who.stamp !== undefined ? { user: who.stamp, unrestricted: who.unrestricted } : { unrestricted: who.unrestricted };
    const granting = this.ctx.node.session(req.ttlMs, req.session, { remote: this.ctx.remote, ...(who.user !== null ? { user: who.user } : {}) }, owner);
    this.helloInFlight = granting;
    try {
      const grant = await granting;
      this.session = grant;
      clearTimeout(this.helloTimer);
      this.log.debug({ session: grant.id, resumed: grant.resumed }, 'session ready');
      return {
        version: PROTOCOL_VERSION,
        session: { id: grant.id, secret: grant.secret, ttlMs: grant.ttlMs },
        resumed: grant.resumed,
        rev: this.ctx.node.store.rev,
      };
    } finally {
      this.helloInFlight = null;
    }
  }

  /**
   * Starts a WAIT (`once`) or a WATCH. Registered before anything is awaited, so a cancel sent
   * right behind it finds it. A WATCH is answered with `{ fromRev }` before its first events.
   */
  private async startWatch(id: number, glob: string, fromRev: number | undefined, once: boolean, progressMs?: number): Promise<unknown> {
    if (this.watches.size >= limits.watchesPerConnectionMax) {
      throw new CoordError(ErrorCode.LIMIT, `over ${limits.watchesPerConnectionMax} watches on this connection`);
    }
    const w = new Watch(id, glob, this, once);
    this.watches.set(id, w);
    const hub = this.ctx.node.hub;
    let started = (): void => {};
    if (fromRev === undefined) this.readBeforeWrites(new Promise<void>((resolve) => (started = resolve)));
    try {
      // "From now" needs now: a read barrier, as for a linearizable read. From a revision the
      // client names, the events are the same whenever the watch starts (the hub waits for a
      // revision not yet applied here), so no round trip to the leader is needed.
      if (fromRev === undefined) await this.ctx.node.readAt(undefined);
      // The connection may have closed while the barrier was awaited (with a cluster, that is
      // a round trip): registering the watch now would leak it.
      if (this.closed) {
        hub.remove(w);
        return KEEP;
      }
      if (this.cancelledEarly.delete(id)) throw new CoordError(ErrorCode.CANCELLED, 'cancelled by the client');
      // Again, as of now: the rules may have changed, or come in, while the barrier was awaited.
      this.gate.authorizeGlob(glob);
      const from = Math.max(1, fromRev ?? this.ctx.node.store.rev + 1);
      if (once) {
        hub.wait(w, from);
        return KEEP;
      }
      // The answer goes first, then the events from history (sent synchronously by watch()).
      this.respond(id, { fromRev: from });
      hub.watch(w, from);
      if (progressMs !== undefined) this.progressTimer.add(w, progressMs);
      return KEEP;
    } catch (err) {
      hub.remove(w);
      if (once || !this.inflightAnswered(id)) {
        this.watches.delete(id);
        throw err;
      }
      this.end(w, errorBody(err));
      return KEEP;
    } finally {
      started();
    }
  }

  // ------------------------------------------------------------ access control

  private async aclChange(req: Extract<Request, { op: 'acl' }>, sender: handlers.Sender): Promise<unknown> {
    // Who asked, as they were before the change (it may delete or re-token the sender).
    const who = this.gate.who;
    const by = this.gate.name;
    const result = await acl(this.ctx.node, handlers.origin(sender, req), who, req, this.ctx.peersGuarded);
    if (req.action !== 'list' && req.action !== 'whoami') {
      const { action, user, role, roles, prefix, access } = req as { action: string; user?: string; role?: string; roles?: string[]; prefix?: string; access?: string };
      this.log.info({ action, user, role, roles, prefix, access, by, session: this.session?.id }, 'access control changed');
    }
    return result;
  }

  private logDenied(op: string, reason: string): void {
    this.log.warn({ op, user: this.gate.who.user, reason, session: this.session?.id, remote: this.ctx.remote }, 'permission denied');
  }

  /**
   * Once the access rules change, this connection's WAITs and WATCHes are checked again before
   * anything more is delivered on them: one whose glob is no longer readable ends with
   * PERMISSION_DENIED, so no event reaches a token that may no longer read it.
   */
  private revoked(w: Watch): boolean {
    const version = this.gate.version;
    if (version === this.watchesCheckedVersion) return false;
    this.watchesCheckedVersion = version;
    for (const other of [...this.watches.values()]) {
      if (this.gate.may(other.glob.literalPrefix, false)) continue;
      const error = {
        code: ErrorCode.PERMISSION_DENIED,
        message: `${describeWho(this.gate.who)} may no longer read everything ${other.glob.source} can match`,
        details: { glob: other.glob.source },
      };
      this.logDenied(other.once ? 'wait' : 'watch', error.message);
      this.ctx.node.hub.remove(other, error);
      this.end(other, error);
    }
    return !this.watches.has(w.id) || this.watches.get(w.id) !== w;
  }

  /** Holds this connection's later writes until a linearizable read (no rev, not serializable) is answered. */
  private readInOrder<T>(req: { rev?: number; serializable?: boolean }, answer: Promise<T>): Promise<T> {
    if (req.rev === undefined && req.serializable !== true) this.readBeforeWrites(answer);
    return answer;
  }

  private readBeforeWrites(done: Promise<unknown>): void {
    const settled = done.then(() => {}, () => {});
    this.readsBeforeWrites.add(settled);
    void settled.then(() => this.readsBeforeWrites.delete(settled));
  }

  /** True once the request `id` has been answered (it left `inflight`). */
  private inflightAnswered(id: number): boolean {
    return !this.inflight.has(id);
  }

  private cancel(target: number): unknown {
    const w = this.watches.get(target);
    if (w === undefined) return { cancelled: false };
    if (!w.live && !w.started) {
      // Still being set up (its start awaits a read barrier): it will answer CANCELLED itself.
      this.cancelledEarly.add(target);
      return { cancelled: true };
    }
    const cancelled = { code: ErrorCode.CANCELLED, message: 'cancelled by the client' };
    this.ctx.node.hub.remove(w, cancelled);
    this.end(w, cancelled);
    return { cancelled: true };
  }

  /**
   * PROGRESS: a revision R through which WATCH `target` is complete — R from the same read
   * barrier a read uses (linearizable), or this server's applied revision (serializable) — once
   * every event of the watch at or below R has been pushed. A live watch already has; a lagging
   * one (catching up, or paused by a congested socket) is waited for. The answer is sent after
   * those pushes on this connection, so the client has them before it learns R.
   */
  private async progress(req: ProgressRequest): Promise<unknown> {
    const w = this.watches.get(req.target);
    if (w === undefined || w.once) {
      throw new CoordError(ErrorCode.BAD_REQUEST, w === undefined
        ? `no open WATCH with id ${req.target} on this connection`
        : `request ${req.target} is a WAIT; progress is for a WATCH`);
    }
    const rev = await this.ctx.node.readAt(undefined, req.serializable === true ? { serializable: true } : {});
    await this.ctx.node.hub.whenDelivered(w, rev);
    return { rev };
  }

  private async closeSession(): Promise<unknown> {
    const sid = this.session!.id;
    const outcome = await this.ctx.node.propose({ t: 'close', sid });
    if (!outcome.ok) throw new CoordError(outcome.error.code, outcome.error.message);
    return { rev: outcome.rev };
  }

  // ------------------------------------------------------------ WatchSink

  sendEvents(w: Watch, events: Event[]): void {
    if (this.revoked(w)) return;
    // One push per revision (a client never sees half of a transaction); the events are encoded
    // once however many watchers receive them.
    this.sendFrame(encodeWatchPush(w.id, encodedEvents(events)));
    this.progressTimer.pushed(w);
  }

  answerWait(w: Watch, events: Event[]): void {
    if (this.revoked(w)) return;
    this.watches.delete(w.id);
    this.respond(w.id, { event: events[0], events });
  }

  end(w: Watch, error: ErrorBody): void {
    if (!this.watches.has(w.id)) return;
    this.watches.delete(w.id);
    this.progressTimer.forget(w);
    if (w.once) this.respondError(w.id, new CoordError(error.code, error.message, error.details), true);
    else this.send({ watch: w.id, end: error });
  }

  // ------------------------------------------------------------ output

  private respond(id: number, result: unknown): void {
    this.inflight.delete(id);
    this.send({ id, result });
  }

  private respondError(id: number, err: unknown, wasInflight: boolean): void {
    if (wasInflight) this.inflight.delete(id);
    if (err instanceof AssertionError) return this.ctx.onFatal(err);
    const body = errorBody(err);
    if (body.code === ErrorCode.INTERNAL) this.log.error({ err }, 'request failed');
    this.send({ id, error: body });
    if (body.code === ErrorCode.HELLO_REQUIRED && this.session === null) {
      this.closeForViolation(CloseCode.POLICY, body.message);
    }
  }

  /**
   * Sends a response or a watch end. While the socket is congested it is held, unencoded (a
   * result mostly points at values the store keeps anyway), and sent once the socket drains:
   * a client that pipelines big reads and never reads the answers costs the server about
   * socketBufferedBytesHigh, not the sum of everything it asked for.
   */
  private send(message: unknown): void {
    if (this.closed) return;
    if (this.congested) this.held.push(message);
    else this.sendFrame(encode(message));
  }

  private sendFrame(frame: Uint8Array): void {
    if (this.closed) return;
    this.pendingBytes += frame.byteLength;
    if (this.pendingBytes > limits.socketBufferedBytesHigh && !this.congested) {
      this.congested = true;
      // No new requests are read (so none can add to what waits) until the socket drains.
      this.socket.pause();
    }
    corkForThisTurn(this.socket);
    this.socket.send(frame, { binary: true }, () => this.onSent(frame.byteLength));
  }

  private onSent(bytes: number): void {
    this.pendingBytes -= bytes;
    // Bytes leaving means the client is reading: that is traffic, even while its own frames
    // (its pings among them) wait unread behind the paused socket.
    if (this.session !== null && this.congested && this.gate.mayKeepAlive()) this.ctx.node.touch(this.session.id);
    if (!this.congested || this.pendingBytes > limits.socketBufferedBytesHigh / 2 || this.closed) return;
    this.congested = false;
    // Held answers first (a WATCH's answer comes before its events), then reading, then watches.
    while (this.held.length > 0 && !this.congested) this.sendFrame(encode(this.held.shift()));
    if (this.congested) return;
    this.socket.resume();
    for (const w of [...this.watches.values()]) if (!w.once) this.ctx.node.hub.resume(w);
  }

  /** Closes the connection for something the client did wrong, with a warn line saying what. */
  private closeForViolation(code: number, reason: string): void {
    if (this.closed) return;
    this.log.warn({ code, reason, session: this.session?.id }, 'protocol violation; closing the connection');
    this.closeWith(code, reason);
  }

  closeWith(code: number, reason: string): void {
    if (this.closed) return;
    this.log.debug({ code, reason }, 'closing connection');
    // A close reason may be at most 123 bytes of UTF-8; ws throws past that.
    this.socket.close(code, truncateUtf8(reason, 123));
    this.onClose(code, reason);
  }

  private onClose(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.helloTimer);
    this.progressTimer.close();
    for (const w of this.watches.values()) this.ctx.node.hub.remove(w);
    this.watches.clear();
    this.inflight.clear();
    this.held.length = 0;
    this.log.info({ code, reason, session: this.session?.id }, 'connection closed');
  }
}

/** Encoded event lists, shared by every watcher that receives the same list. */
const encodedCache = new WeakMap<Event[], Uint8Array>();

function encodedEvents(events: Event[]): Uint8Array {
  let bytes = encodedCache.get(events);
  if (bytes === undefined) encodedCache.set(events, (bytes = encode(events)));
  return bytes;
}

const KNOWN_OPS: ReadonlySet<string> = new Set(ops);

/** A request's op for /metrics, from a message not yet parsed: one of the known ops, else 'invalid'. */
function opOf(msg: unknown): string {
  const op = (msg as { op?: unknown }).op;
  return typeof op === 'string' && KNOWN_OPS.has(op) ? op : 'invalid';
}

/** Marks a dispatch whose answer is sent later (a WAIT) or already sent (a WATCH). */
const KEEP = Symbol('keep');

function errorBody(err: unknown): ErrorBody {
  if (err instanceof CoordError) return err.toBody();
  return { code: ErrorCode.INTERNAL, message: (err as Error)?.message ?? String(err) };
}
