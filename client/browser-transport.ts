/**
 * The browser transport: the browser's own WebSocket (globalThis.WebSocket), binary frames as
 * ArrayBuffers handed to the client as Uint8Arrays. The same Link contract as the Node transport
 * (transport.ts): onFrame for every frame, onClose exactly once, close(code, reason) that does
 * not wait long for a peer that never answers, a connect that gives up after `timeoutMs`.
 *
 * Browsers differ from ws in two ways this file absorbs: a failed connect carries no cause (the
 * error event is bare, the close code 1006, whatever happened), and close() accepts only 1000
 * or 3000–4999 with a reason of at most 123 bytes, and cannot drop a socket at once.
 */
import { utf8Bytes } from '../protocol/utf8.ts';
import { closeAnswerMs, endpoint, type Link, type Transport } from './link.ts';

/**
 * The browser's WebSocket, as much of it as is used here (declared, not taken from the DOM
 * library, so that the SDK's types need neither the DOM's nor Node's).
 */
interface BrowserWebSocket {
  binaryType: string;
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: (() => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** Why a browser's WebSocket failed to open: the browser will not say, so say that, and what it usually is. */
function refused(url: string, code: number): Error {
  return new Error(
    `the browser could not open a WebSocket to ${url} (close ${code}; browsers do not tell a page why: ` +
      'no server there, a wrong address, a blocked origin, mixed content or a proxy; the browser console may say more)',
  );
}

export const browserTransport: Transport = (url, timeoutMs) =>
  new Promise<Link>((resolve, reject) => {
    const WebSocketImpl = (globalThis as { WebSocket?: new (url: string) => BrowserWebSocket }).WebSocket;
    if (typeof WebSocketImpl !== 'function') {
      reject(new Error('no WebSocket here: the browser transport needs globalThis.WebSocket'));
      return;
    }
    let target: string;
    let ws: BrowserWebSocket;
    try {
      target = endpoint(url);
      ws = new WebSocketImpl(target);
    } catch (err) {
      // A malformed url (SyntaxError), or a ws: url the page may not open (SecurityError).
      reject(err);
      return;
    }
    ws.binaryType = 'arraybuffer';
    let opened = false;
    let gone = false;
    let answerTimer: ReturnType<typeof setTimeout> | null = null;

    /** The link is gone: stop listening, and tell the client once. */
    const finish = (code: number, reason: string): void => {
      if (gone) return;
      gone = true;
      if (answerTimer !== null) clearTimeout(answerTimer);
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      link.onClose(code, reason);
    };

    const link: Link = {
      send: (frame) => {
        // A socket already closing drops what is sent (the browser does not throw); the client
        // re-sends what went unanswered on its next link.
        if (!gone) ws.send(frame);
      },
      close: (code = 1000, reason = '') => {
        if (gone || answerTimer !== null) return;
        try {
          ws.close(code, reason);
        } catch {
          // A code a browser may not send (1002 and the like) or an over-long reason: close plainly.
          try {
            ws.close(1000);
          } catch {
            // Already closing.
          }
        }
        // A peer that does not answer the close: the browser may wait far longer; do not.
        answerTimer = setTimeout(() => finish(1006, 'no answer to the close'), closeAnswerMs);
      },
      onFrame: () => {},
      onClose: () => {},
    };

    const connectTimer = setTimeout(() => {
      if (opened) return;
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        ws.close();
      } catch {
        // Nothing to close.
      }
      reject(new Error(`no WebSocket to ${target} within ${timeoutMs} ms`));
    }, timeoutMs);

    ws.onopen = () => {
      opened = true;
      clearTimeout(connectTimer);
      resolve(link);
    };
    ws.onmessage = (event) => {
      if (gone) return;
      const data: unknown = event.data;
      // The server sends binary frames only; a text frame goes to the decoder as its bytes (and
      // fails there, as it does over ws).
      link.onFrame(data instanceof ArrayBuffer ? new Uint8Array(data) : utf8Bytes(String(data)));
    };
    // The error event carries nothing; the close event that always follows it says the rest.
    ws.onerror = () => {};
    ws.onclose = (event) => {
      if (!opened) {
        clearTimeout(connectTimer);
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
        reject(
          event.code === 1006
            ? refused(target, event.code)
            : new Error(`closed before it opened (${event.code}${event.reason ? ` ${event.reason}` : ''})`),
        );
        return;
      }
      finish(event.code, event.reason);
    };
  });
