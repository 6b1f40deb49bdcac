/**
 * The client's WATCH streams: each opened on the link in use, asked again from where it stopped
 * after a reconnect (resumeRev), and ended by the server's end push, a cancel or the client's
 * close; and stream.progress() calls, sent again with fresh ids whenever their watch is
 * re-opened. The connection (core.ts) hands this the frames that are its business.
 */
import type { ErrorBody } from '../protocol/errors.ts';
import type { Event, RequestBody } from '../protocol/messages.ts';
import { unavailableDelayMs } from './backoff.ts';
import { ClientClosedError, TimeoutError, fromErrorBody, type CoordClientError } from './errors.ts';
import { WatchStream, type ProgressOptions } from './watch-stream.ts';

type Timer = ReturnType<typeof setTimeout>;

interface ActiveWatch {
  stream: WatchStream;
  /** True once the server acknowledged it on the current connection. */
  open: boolean;
  /** True once it was sent to a server (answered or not). */
  sent: boolean;
  /** The revision after the newest one this client had seen when watch() was called. */
  floorRev: number;
  /** Periodic progress pushes asked of the server (WATCH progressMs). */
  progressMs?: number;
  /** progress() calls not answered yet; sent again (with fresh ids) whenever the watch is re-opened. */
  asks: Set<ProgressAsk>;
}

/** One stream.progress() call. */
interface ProgressAsk {
  serializable: boolean;
  /** The request id it went out under last (a re-sent ask gets a new one; late answers to old ones are dropped). */
  id: number;
  resolve(rev: number): void;
  reject(err: unknown): void;
  unavailable?: number;
}

export interface WatchOptions {
  /** The first revision to deliver (default: the next one). */
  fromRev?: number;
  signal?: AbortSignal;
  /**
   * Ask the server to push progress while the watch is idle, every this many ms (100 … 3 600 000):
   * the stream's progressRev then keeps up with the server's applied revision, which a reconnect
   * resumes after (see WatchStream). A server that predates progress ignores the option (unknown
   * keys are ignored) and sends none.
   */
  progressMs?: number;
}

export interface WatchesHooks {
  /** A fresh request id on this client. */
  nextId(): number;
  /** Sends a request on the link in use (or holds it until one is ready). */
  send(id: number, body: RequestBody): void;
  /** True while a link is up and its hello answered. */
  linkReady(): boolean;
  /** True once the client is closed. */
  closed(): boolean;
  /** The newest store revision any answer has shown. */
  headSeen(): number;
  requestTimeoutMs(): number;
}

export class Watches {
  private readonly active = new Map<number, ActiveWatch>();
  /** Progress requests in flight, by request id. */
  private readonly progressIds = new Map<number, { watchId: number; ask: ProgressAsk }>();

  constructor(private readonly hooks: WatchesHooks) {}

  /** A link is ready (its hello answered): every watch is asked again from where it stopped. */
  reopenAll(): void {
    for (const [id, w] of this.active) this.openWatch(id, w);
  }

  /** The link closed: no watch is open on a server any more. */
  linkClosed(): void {
    for (const w of this.active.values()) w.open = false;
  }

  /** A push `{watch: id, ...}`. */
  onPush(id: number, msg: Record<string, unknown>): void {
    this.onWatchPush(id, msg);
  }

  /** The answer to request `id`, if it is a WATCH or a PROGRESS: true if it was. */
  onAnswer(id: number, msg: Record<string, unknown>): boolean {
    const w = this.active.get(id);
    if (w !== undefined) {
      this.onWatchAnswer(id, w, msg);
      return true;
    }
    const asked = this.progressIds.get(id);
    if (asked !== undefined) {
      this.onProgressAnswer(id, asked.watchId, asked.ask, msg);
      return true;
    }
    return false;
  }

  /** The client closed: every stream ends with `reason`. */
  failAll(reason: Error): void {
    for (const [id, w] of [...this.active]) {
      this.dropWatch(id, w, reason);
      w.stream.fail(reason);
    }
    this.active.clear();
    this.progressIds.clear();
  }

  /**
   * Every event matching `glob` from `fromRev` on (default: from the next revision), in order,
   * exactly once, across reconnects. Fails with TooLateError if history no longer reaches the
   * revision it needs. `break` out of the loop, `cancel()`, or the signal stops it.
   */
  watch(glob: string, options: WatchOptions = {}): WatchStream {
    const id = this.hooks.nextId();
    const stream = new WatchStream(glob, options.fromRev, () => this.stopWatch(id), (o) => this.askProgress(id, o));
    if (this.hooks.closed()) {
      stream.fail(new ClientClosedError());
      return stream;
    }
    const w: ActiveWatch = { stream, open: false, sent: false, floorRev: this.hooks.headSeen() + 1, asks: new Set() };
    if (options.progressMs !== undefined) w.progressMs = options.progressMs;
    this.active.set(id, w);
    if (options.signal !== undefined) {
      if (options.signal.aborted) stream.cancel();
      else options.signal.addEventListener('abort', () => stream.cancel(), { once: true });
    }
    this.openWatch(id, w);
    return stream;
  }

  private openWatch(id: number, w: ActiveWatch): void {
    // "From the next revision" means next when watch() was called. If the request cannot go out
    // now, or went out and its answer was lost with the connection, the server's "next" would be
    // later and skip what happened meanwhile: start after the newest revision seen at the call
    // instead (the stream may then include a few changes from just before the call, never a gap).
    if (w.stream.fromRev === undefined && (w.sent || !this.hooks.linkReady())) w.stream.fromRev = w.floorRev;
    if (this.hooks.linkReady()) w.sent = true;
    const fromRev = w.stream.resumeRev();
    this.hooks.send(id, {
      op: 'watch', glob: w.stream.glob,
      ...(fromRev !== undefined ? { fromRev } : {}),
      ...(w.progressMs !== undefined ? { progressMs: w.progressMs } : {}),
    });
    // Behind the WATCH on the same connection, so the server knows the target when they arrive.
    for (const ask of w.asks) this.sendAsk(id, ask);
  }

  /** stream.progress(): a PROGRESS request for watch `id`, kept across reconnects. */
  private askProgress(id: number, options: ProgressOptions): Promise<number> {
    const w = this.active.get(id);
    if (w === undefined) return Promise.reject(watchCancelled());
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<number>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.hooks.requestTimeoutMs();
      let timer: Timer | null = null;
      const done = () => {
        w.asks.delete(ask);
        this.progressIds.delete(ask.id);
        if (timer !== null) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        done();
        reject(signal!.reason);
      };
      const ask: ProgressAsk = {
        serializable: options.serializable === true, id: -1,
        resolve: (rev) => { done(); resolve(rev); },
        reject: (err) => { done(); reject(err); },
      };
      if (timeoutMs > 0) {
        timer = setTimeout(() => ask.reject(new TimeoutError(`no answer to progress within ${timeoutMs} ms`)), timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      w.asks.add(ask);
      this.sendAsk(id, ask);
    });
  }

  private sendAsk(watchId: number, ask: ProgressAsk): void {
    if (!this.hooks.linkReady()) return; // sent when the watch is re-opened
    this.progressIds.delete(ask.id);
    ask.id = this.hooks.nextId();
    this.progressIds.set(ask.id, { watchId, ask });
    this.hooks.send(ask.id, { op: 'progress', target: watchId, ...(ask.serializable ? { serializable: true } : {}) });
  }

  private onProgressAnswer(id: number, watchId: number, ask: ProgressAsk, msg: Record<string, unknown>): void {
    this.progressIds.delete(id);
    const w = this.active.get(watchId);
    if (w === undefined || !w.asks.has(ask)) return;
    if (msg.error !== undefined) {
      const err = fromErrorBody(msg.error as ErrorBody);
      if (err.code === 'UNAVAILABLE') {
        // No leader to confirm the read barrier for a moment: ask again a little later.
        ask.unavailable = (ask.unavailable ?? 0) + 1;
        setTimeout(() => {
          if (w.asks.has(ask) && this.active.get(watchId) === w) this.sendAsk(watchId, ask);
        }, unavailableDelayMs(ask.unavailable)).unref?.();
        return;
      }
      return ask.reject(err);
    }
    // The pushes of every event up to rev came before this answer, so they are queued already.
    const rev = (msg.result as { rev: number }).rev;
    w.stream.noteProgress(rev);
    ask.resolve(rev);
  }

  /** The watch is over: forget it, and fail the progress calls still waiting on it. */
  private dropWatch(id: number, w: ActiveWatch, err: unknown): void {
    if (this.active.get(id) === w) this.active.delete(id);
    for (const ask of [...w.asks]) ask.reject(err);
  }

  private stopWatch(id: number): void {
    const w = this.active.get(id);
    if (w === undefined) return;
    this.dropWatch(id, w, watchCancelled());
    if (this.hooks.linkReady()) this.hooks.send(this.hooks.nextId(), { op: 'cancel', target: id });
  }

  private onWatchAnswer(id: number, w: ActiveWatch, msg: Record<string, unknown>): void {
    if (msg.error !== undefined) {
      const err = fromErrorBody(msg.error as ErrorBody);
      this.dropWatch(id, w, err);
      return w.stream.fail(err);
    }
    w.open = true;
    if (w.stream.fromRev === undefined) w.stream.fromRev = (msg.result as { fromRev: number }).fromRev;
  }

  private onWatchPush(id: number, msg: Record<string, unknown>): void {
    const w = this.active.get(id);
    if (w === undefined) return;
    if (Array.isArray(msg.events)) return w.stream.push(msg.events as Event[]);
    if (typeof msg.progress === 'number') return w.stream.noteProgress(msg.progress);
    // A push of a kind this client does not know (a newer server's) is not an end: ignore it.
    if (typeof msg.end !== 'object' || msg.end === null) return;
    const end = msg.end as ErrorBody;
    if (end.code === 'SLOW_CONSUMER') {
      // The server stopped sending because we read too slowly; everything is still in its
      // history, so ask again from where we are.
      return this.openWatch(id, w);
    }
    const err = fromErrorBody(end);
    this.dropWatch(id, w, err);
    if (end.code === 'CANCELLED') w.stream.finish();
    else w.stream.fail(err);
  }
}

/** What a progress() call learns when its watch was cancelled (or had ended) first. */
function watchCancelled(): CoordClientError {
  return fromErrorBody({ code: 'CANCELLED', message: 'the watch was cancelled' });
}
