/**
 * The Node transport: a WebSocket from the ws package, its socket corked so that the frames of
 * one turn go out in one write. The seam itself (Link, Transport) is in link.ts; a browser uses
 * browser-transport.ts instead, and nothing it imports reaches this file.
 */
import WebSocket from 'ws';
import { corkForThisTurn } from '../protocol/cork.ts';
import { closeAnswerMs, endpoint, type Link, type Transport } from './link.ts';

export { connectFailure, endpoint, type Link, type Transport } from './link.ts';

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
          return;
        }
        const timer = setTimeout(() => ws.terminate(), closeAnswerMs);
        (timer as { unref?: () => void }).unref?.();
        ws.once('close', () => clearTimeout(timer));
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
      if (!opened) reject(new Error(`closed before it opened (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`));
      else link.onClose(code, reason.toString());
    });
  });
