/**
 * The Node transport: a WebSocket from the ws package, its socket corked so that the frames of
 * one turn go out in one write. The seam itself (Link, Transport) is in link.ts; a browser uses
 * browser-transport.ts instead, and nothing it imports reaches this file.
 */
import WebSocket from 'ws';
import { corkForThisTurn } from '../protocol/cork.ts';
import { closeAnswerMs, endpoint, type Link, type Transport } from './link.ts';

export { connectFailure, endpoint, type Link, type Transport } from './link.ts';

/**
 * TLS settings for wss:// urls (Node only): PEM text or bytes, as node:tls takes them.
 * `ca`: the CA(s) to trust instead of the system's (a private CA, as most clusters use);
 * `cert` and `key`: a client certificate, for a server started with --tls-client-certs
 * require (or request, to be known by it).
 */
export interface TlsOptions {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
}

export const webSocketTransport: Transport = (url, timeoutMs) => openWebSocket(url, timeoutMs, undefined);

/** The ws transport with TLS settings for wss:// urls. */
export function webSocketTransportWithTls(tls: TlsOptions): Transport {
  return (url, timeoutMs) => openWebSocket(url, timeoutMs, tls);
}

/** Certificate errors from node:tls, for which a hint says what to pass. */
const CERT_UNTRUSTED = /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_UNTRUSTED)$/;

/**
 * The error of a failed connect, with what to do when TLS is the cause: a server certificate
 * this client does not trust, a ws:// url to a TLS server (it hangs up on the plain request), a
 * wss:// url to a plain one, a server that demands a client certificate.
 */
export function explainTlsFailure(url: string, err: Error): Error {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  // OpenSSL's messages carry a file name, a line and a newline: its reason alone says it.
  const reason = (err as { reason?: unknown }).reason;
  const why = typeof reason === 'string' && reason !== '' ? reason : err.message.replace(/\s*\n\s*/g, ' ').trim();
  const secure = url.toLowerCase().startsWith('wss:');
  let hint: string | null = null;
  if (CERT_UNTRUSTED.test(code)) {
    hint = `TLS: the server's certificate is not trusted (${code}: ${why}); pass the CA that signed it (SDK: tls.ca; CLI: --cacert or COORD_CACERT)`;
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    hint = `TLS: the server's certificate does not fit (${code}: ${why})`;
  } else if (secure && /wrong version number|packet length too long|http request/i.test(err.message)) {
    hint = `TLS: the server does not speak TLS (${why}); use ws:// for it, or start it with --tls-cert/--tls-key`;
  } else if (secure && /certificate required|alert number 116|handshake failure|alert number 40/i.test(err.message)) {
    hint = `TLS: the server refused us: it requires a client certificate signed by its CA (SDK: tls.cert/tls.key; CLI: --cert/--key or COORD_CERT/COORD_KEY) (${why})`;
  } else if (secure && /bad certificate|unknown ca|alert number 4[28]|certificate unknown/i.test(err.message)) {
    hint = `TLS: the server refused our client certificate: it must be signed by the server's --tls-ca (${why})`;
  } else if (secure && (code === 'ECONNRESET' || /socket hang up/i.test(err.message))) {
    // With TLS 1.3 the server checks a client certificate after the client's handshake is done:
    // a refused one shows as a hang-up, not as an alert.
    hint = `${why}: the server hung up on our TLS connection; if it requires client certificates, ours must be signed by its --tls-ca`;
  } else if (!secure && (code === 'ECONNRESET' || /socket hang up/i.test(err.message))) {
    hint = `${err.message}: the server hung up on a plain connection; if it serves TLS, use wss:// instead of ws://`;
  }
  return hint === null ? err : Object.assign(new Error(hint, { cause: err }), { code });
}

const openWebSocket = (url: string, timeoutMs: number, tls: TlsOptions | undefined): Promise<Link> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(endpoint(url), { handshakeTimeout: timeoutMs, perMessageDeflate: false, ...tls });
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
      if (!opened) reject(explainTlsFailure(url, err));
    });
    ws.on('close', (code, reason) => {
      if (!opened) reject(new Error(`closed before it opened (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`));
      else link.onClose(code, reason.toString());
    });
  });
