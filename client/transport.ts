/**
 * The transport seam: the only thing the client needs from a socket. The WebSocket
 * implementation below is the real one; tests may supply another.
 */
import WebSocket from 'ws';
import { corkForThisTurn } from '../protocol/cork.ts';
import { WS_PATH } from '../protocol/limits.ts';

export interface Link {
  send(frame: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** Set once by the client: every binary frame received. */
  onFrame: (frame: Uint8Array) => void;
  /** Set once by the client: called once when the link is gone, for whatever reason. */
  onClose: (code: number, reason: string) => void;
}

export type Transport = (url: string, timeoutMs: number) => Promise<Link>;

/** `ws://host:port` (the versioned path is added) or a full `ws://host:port/v1/ws`. */
export function endpoint(url: string): string {
  const u = new URL(url);
  if (u.pathname === '/' || u.pathname === '') u.pathname = WS_PATH;
  return u.toString();
}

export const webSocketTransport: Transport = (url, timeoutMs) =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(endpoint(url), { handshakeTimeout: timeoutMs, perMessageDeflate: false });
    let opened = false;
    const link: Link = {
      send: (frame) => {
        corkForThisTurn(ws);
        ws.send(frame, { binary: true });
      },
      close: (code, reason) => {
        try {
          ws.close(code, reason);
        } catch {
          ws.terminate();
        }
      },
      onFrame: () => {},
      onClose: () => {},
    };
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => {
      opened = true;
      resolve(link);
    });
    ws.on('message', (data) => link.onFrame(data as Buffer));
    ws.on('error', (err) => {
      if (!opened) reject(err);
    });
    ws.on('close', (code, reason) => {
      if (!opened) reject(new Error(`connection to ${url} closed: ${code} ${reason.toString()}`));
      else link.onClose(code, reason.toString());
    });
  });
