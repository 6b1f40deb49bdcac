/**
 * The transport seam: the only thing the client needs from a socket, and what every transport
 * shares. Nothing here touches a socket, so the browser build can import it: the Node transport
 * (ws) is in transport.ts, the browser one (the browser's own WebSocket) in browser-transport.ts,
 * and tests may supply another.
 */
import { WS_PATH } from '../protocol/limits.ts';

export interface Link {
  send(frame: Uint8Array): void;
  /** Closes the link; a peer that does not answer the close is not waited for long. */
  close(code?: number, reason?: string): void;
  /** Set once by the client: every binary frame received. */
  onFrame: (frame: Uint8Array) => void;
  /** Set once by the client: called once when the link is gone, for whatever reason. */
  onClose: (code: number, reason: string) => void;
}

/**
 * Opens a link to `url`, rejecting if it cannot (an error whose message says why, for
 * `connectFailure`), or if it takes longer than `timeoutMs`.
 */
export type Transport = (url: string, timeoutMs: number) => Promise<Link>;

/**
 * Why a connection attempt failed, in one line: `ECONNREFUSED 127.0.0.1:7070`, `getaddrinfo
 * ENOTFOUND db-1`, `Unexpected server response: 404`. (A host with several addresses, tried in
 * turn, fails with an AggregateError whose own message is empty: its parts are listed.)
 */
export function connectFailure(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; errors?: unknown };
  if (!e?.message && Array.isArray(e?.errors) && e.errors.length > 0) {
    return [...new Set(e.errors.map(connectFailure))].join(', ');
  }
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : typeof e?.code === 'string' ? e.code : String(err);
  return message.replace(/^connect /, '');
}

/** `ws://host:port` (the versioned path is added) or a full `ws://host:port/v1/ws`. */
export function endpoint(url: string): string {
  const u = new URL(url);
  if (u.pathname === '/' || u.pathname === '') u.pathname = WS_PATH;
  return u.toString();
}

/** How long a close waits for the peer's answer before dropping the socket (ws alone waits 30 s). */
export const closeAnswerMs = 1000;
