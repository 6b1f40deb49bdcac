/**
 * A minimal raw protocol client for tests that must send exact frames: one `ws` socket to
 * `${url}/v1/ws`, msgpack via protocol/codec.ts, no retries, no session logic. It records every
 * message the server sends (responses and watch pushes, in arrival order) and how the socket
 * closed, and lets a test wait for any of these with a deadline (never a fixed sleep).
 */
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { encode } from '../../protocol/codec.ts';
import type { ErrorBody } from '../../protocol/errors.ts';
import { limits, PROTOCOL_VERSION, WS_PATH } from '../../protocol/limits.ts';
import type { Event, HelloResult } from '../../protocol/messages.ts';

export type RawMessage = Record<string, unknown>;
export interface RawResponse { id: number; result?: unknown; error?: ErrorBody }
/** A watch push: one revision's matching events, or the end of the watch. */
export interface RawPush { watch: number; events?: Event[]; end?: ErrorBody }
export interface RawClose { code: number; reason: string }

/** Thrown when a response carries an error; `body` is the server's error body. */
export class RawError extends Error {
  constructor(readonly body: ErrorBody) {
    super(`${body.code}: ${body.message}`);
    this.name = 'RawError';
  }
  get code(): string {
    return this.body.code;
  }
}

interface Waiter {
  check(): boolean;
  fail(err: Error): void;
}

const defaultTimeoutMs = 10_000;

// Server frames may be larger than frameBytesMax (that limit is for what the server accepts), so
// they are decoded without protocol/codec.ts's size check, with the same msgpack options.
const serverFrames = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', moreTypes: false, bundleStrings: false });

export class RawClient {
  /** Every decoded server message, in arrival order. */
  readonly messages: RawMessage[] = [];
  /** Frames from the server that were not binary msgpack maps (should never happen). */
  readonly malformed: unknown[] = [];
  /** Set once the socket has closed. */
  closeInfo: RawClose | null = null;
  private readonly consumed = new Set<RawMessage>();
  private readonly waiters = new Set<Waiter>();
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.malformed.push(data);
      } else {
        try {
          const msg: unknown = serverFrames.unpack(data as Buffer);
          if (typeof msg === 'object' && msg !== null && !Array.isArray(msg)) this.messages.push(msg as RawMessage);
          else this.malformed.push(msg);
        } catch (err) {
          this.malformed.push(err);
        }
      }
      this.poke();
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
      this.poke();
    });
    ws.on('error', () => {
      // A close follows; the close code says what happened.
    });
  }

  /** Opens a socket to `url` (`ws://host:port`) at the versioned path. */
  static open(url: string, timeoutMs = defaultTimeoutMs): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url}${WS_PATH}`, {
        perMessageDeflate: false, handshakeTimeout: timeoutMs, maxPayload: 64 * 1024 * 1024,
      });
      ws.binaryType = 'nodebuffer';
      const client = new RawClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  /**
   * Opens a socket and says hello; returns the client and the hello result. A raw client sends
   * no pings, so unless the test asks for a TTL its session gets the longest one allowed.
   */
  static async connect(url: string, hello: { ttlMs?: number; session?: { id: string; secret: string }; token?: string } = {}): Promise<{ client: RawClient; hello: HelloResult }> {
    const client = await RawClient.open(url);
    const result = await client.call<HelloResult>({
      op: 'hello', version: PROTOCOL_VERSION, ttlMs: limits.sessionTtlMsMax, ...hello,
    });
    return { client, hello: result };
  }

  /** A fresh request id for this connection. */
  id(): number {
    return this.nextId++;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Encodes `obj` as msgpack and sends it in one binary frame, as is. */
  send(obj: unknown): void {
    this.sendBytes(encode(obj));
  }

  /** Sends exact bytes in one binary frame. */
  sendBytes(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }

  /** Sends a text frame (a string, or raw bytes that need not be valid UTF-8). */
  sendText(text: string | Uint8Array): void {
    this.ws.send(text, { binary: false });
  }

  /** Sends `body` with a fresh id (unless it has one) and returns that id. */
  request(body: Record<string, unknown>): number {
    const id = typeof body.id === 'number' ? body.id : this.id();
    this.send({ ...body, id });
    return id;
  }

  /** Sends a request and resolves with its result, or rejects with a RawError. */
  async call<T = Record<string, unknown>>(body: Record<string, unknown>, timeoutMs = defaultTimeoutMs): Promise<T> {
    const res = await this.response(this.request(body), timeoutMs);
    if (res.error !== undefined) throw new RawError(res.error);
    return res.result as T;
  }

  /** Sends a request and resolves with its error body (fails if it succeeded). */
  async callError(body: Record<string, unknown>, timeoutMs = defaultTimeoutMs): Promise<ErrorBody> {
    const res = await this.response(this.request(body), timeoutMs);
    if (res.error === undefined) throw new Error(`expected an error for ${String(body.op)}, got ${JSON.stringify(res.result)}`);
    return res.error;
  }

  /** The next not-yet-taken response with this id. */
  response(id: number, timeoutMs = defaultTimeoutMs): Promise<RawResponse> {
    return this.take<RawResponse>((m) => m.id === id && m.watch === undefined, `response to request ${id}`, timeoutMs);
  }

  /** The next not-yet-taken push of watch `watchId` (an event or the end). */
  push(watchId: number, timeoutMs = defaultTimeoutMs): Promise<RawPush> {
    return this.take<RawPush>((m) => m.watch === watchId, `push for watch ${watchId}`, timeoutMs);
  }

  /** Events of watch `watchId`, flattened, until (and including) the push at revision ≥ `rev`. */
  async eventsUntil(watchId: number, rev: number, timeoutMs = defaultTimeoutMs): Promise<Event[]> {
    const out: Event[] = [];
    for (;;) {
      const p = await this.push(watchId, timeoutMs);
      if (p.end !== undefined) throw new RawError(p.end);
      out.push(...p.events!);
      if (p.events!.some((e) => e.rev >= rev)) return out;
    }
  }

  /** Messages with this id or watch id not yet taken by response()/push(). */
  untaken(filter: (m: RawMessage) => boolean = () => true): RawMessage[] {
    return this.messages.filter((m) => !this.consumed.has(m) && filter(m));
  }

  /** Resolves once the socket is closed, with its code and reason. */
  closed(timeoutMs = defaultTimeoutMs): Promise<RawClose> {
    return this.until(() => this.closeInfo ?? undefined, 'the socket to close', timeoutMs);
  }

  /** Resolves with `pick()`'s value as soon as it is defined (checked on every frame and close). */
  until<T>(pick: () => T | undefined, what: string, timeoutMs = defaultTimeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter: Waiter = {
        check: () => {
          const v = pick();
          if (v === undefined) return false;
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(v);
          return true;
        },
        fail: (err) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          reject(err);
        },
      };
      this.waiters.add(waiter);
      try {
        waiter.check();
      } catch (err) {
        waiter.fail(err as Error);
      }
    });
  }

  private take<T>(match: (m: RawMessage) => boolean, what: string, timeoutMs: number): Promise<T> {
    return this.until<T>(() => {
      const m = this.messages.find((x) => !this.consumed.has(x) && match(x));
      if (m !== undefined) {
        this.consumed.add(m);
        return m as unknown as T;
      }
      if (this.closeInfo !== null) {
        throw new Error(`socket closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${what}`);
      }
      return undefined;
    }, what, timeoutMs);
  }

  private poke(): void {
    for (const w of [...this.waiters]) {
      try {
        w.check();
      } catch (err) {
        w.fail(err as Error);
      }
    }
  }

  /** Closes the socket (code 1000 by default) and waits for the close to finish. */
  async close(code = 1000, reason = ''): Promise<void> {
    if (this.closeInfo !== null) return;
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    await this.closed().catch(() => this.ws.terminate());
  }

  /** Drops the TCP connection without a close handshake (as a crashed client or cut cable would). */
  async terminate(): Promise<void> {
    if (this.closeInfo !== null) return;
    this.ws.terminate();
    await this.closed();
  }
}

/** Polls `check` until it returns a defined value or `timeoutMs` passes. For conditions a socket cannot signal. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** UTF-8 bytes of a string, for values. */
export const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8');

/** A value's text. */
export const utf8 = (v: unknown): string | null => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v === null ? null : String(v));
