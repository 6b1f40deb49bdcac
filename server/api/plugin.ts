/**
 * The HTTP side: the versioned WebSocket route and the health endpoints, as one fastify plugin.
 * `socket.on('message')` is attached synchronously in the handler (inside Connection's
 * constructor), as @fastify/websocket advises, so no early frame is dropped.
 */
import type { FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { CloseCode } from '../../protocol/errors.ts';
import { limits, WS_PATH } from '../../protocol/limits.ts';
import type { CoordNode } from '../node.ts';
import { Connection, type RequestObserver } from './connection.ts';

export interface ApiOptions {
  node: CoordNode;
  /** A shared secret every hello must carry (null: none needed). */
  token: string | null;
  /** The peer port takes only this cluster (a token or mutual TLS): see ConnectionContext. */
  peersGuarded: boolean;
  onFatal(err: unknown): void;
  /** Told of every request answered (for /metrics). */
  requests?: RequestObserver;
}

export interface Api {
  /** Stops taking requests (they get UNAVAILABLE) before the node finishes its writes. */
  drain(): void;
  /** Closes every client connection with GOING_AWAY. */
  closeConnections(): void;
  /** Client connections open now. */
  connectionCount(): number;
}

export async function registerApi(app: FastifyInstance, options: ApiOptions): Promise<Api> {
  const connections = new Set<Connection>();
  let draining = false;
  let nextConnectionId = 1;

  await app.register(websocket, {
    options: { maxPayload: limits.frameBytesMax },
    // The default handler logs at error level and terminates the socket, which can cut off the
    // close frame ws is already sending (1009 for an oversized frame, 1007 for bad UTF-8).
    // Those are client mistakes: log them quietly and let ws finish its close.
    errorHandler: (err, socket, req) => {
      req.log.warn({ remote: req.socket.remoteAddress, reason: err.message }, 'protocol violation; closing the connection');
      if (socket.readyState === socket.OPEN) socket.close(CloseCode.INTERNAL, 'internal error');
    },
  });

  app.get('/healthz', async (_req, reply) => {
    reply.code(draining ? 503 : 200);
    return { ok: !draining };
  });

  app.get('/readyz', async (_req, reply) => {
    const ready = !draining && options.node.isReady;
    reply.code(ready ? 200 : 503);
    // A full disk is not "not ready": reads, waits and watches are still served.
    return { ready, rev: options.node.store.rev, leader: options.node.isLeader, disk: options.node.diskState };
  });

  // A connection whose session ended cannot do anything useful: close it, so its client learns
  // at once (and, with the SDK, opens a new session).
  options.node.sessionEndListeners.add((sid, reason) => {
    for (const c of connections) {
      if (c.sessionId === sid) {
        if (reason === 'expire') setImmediate(() => c.closeWith(CloseCode.POLICY, 'session expired'));
        else setImmediate(() => c.closeWith(CloseCode.NORMAL, 'session closed'));
      }
    }
  });

  app.get(WS_PATH, { websocket: true }, (socket, req) => {
    const log = app.log.child({ conn: nextConnectionId++, remote: req.socket.remoteAddress });
    if (connections.size >= limits.connectionsMax || draining) {
      if (!draining) log.warn({ connectionsMax: limits.connectionsMax }, 'connection refused: too many connections');
      socket.close(CloseCode.POLICY, draining ? 'server is shutting down' : 'too many connections');
      return;
    }
    log.debug('connection opened');
    const conn = new Connection(socket, {
      node: options.node, log, draining: () => draining, token: options.token, peersGuarded: options.peersGuarded, remote: req.socket.remoteAddress,
      onFatal: options.onFatal,
      ...(options.requests !== undefined ? { requests: options.requests } : {}),
    }, log);
    connections.add(conn);
    socket.on('close', () => connections.delete(conn));
  });

  return {
    drain: () => {
      draining = true;
    },
    connectionCount: () => connections.size,
    closeConnections: () => {
      for (const c of connections) c.closeWith(CloseCode.GOING_AWAY, 'server is shutting down');
    },
  };
}
