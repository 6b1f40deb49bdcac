/**
 * The listener side of peer links: PEER_PATH on the server's own port. A peer names itself in
 * PEER_ID_HEADER and, when the cluster has a token, presents it as a bearer token; anything else
 * is refused before the upgrade (401 / 400), with a log line an operator can act on. Over TLS
 * with a cluster CA (and client certificates not off), a peer must also present a certificate
 * that chains to that CA (403 otherwise).
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { secretsEqual } from '../node.ts';
import type { AccessTable } from '../store/access.ts';
import type { WebSocketPeers } from './links.ts';
import { NODE_ID, PEER_ID_HEADER, PEER_PATH, PEER_URL, PEER_URL_HEADER } from './wire.ts';

export interface PeerRouteOptions {
  peers: WebSocketPeers;
  token: string | null;
  /** TLS with a cluster CA: a peer must present a certificate that chains to it (mutual TLS). */
  requireClientCert?: boolean;
  /** A token or mutual TLS tells this cluster's peers from anyone else. */
  guarded: boolean;
  /** Access control: while it is on, an unguarded peer port takes no link (it would be a way round it). */
  access(): AccessTable;
}

export function registerPeerRoute(app: FastifyInstance, options: PeerRouteOptions): void {
  app.get(PEER_PATH, {
    websocket: true,
    preValidation: async (req, reply) => {
      const id = req.headers[PEER_ID_HEADER];
      if (!options.guarded && options.access().enabled) {
        req.log.error({ remote: req.socket.remoteAddress }, 'peer link refused: access control is on, and this server has neither a token nor mutual TLS to tell its peers from anyone');
        return reply.code(403).send({ error: 'access control is on: peers need the cluster token or mutual TLS' });
      }
      if (typeof id !== 'string' || !NODE_ID.test(id)) {
        req.log.warn({ remote: req.socket.remoteAddress }, `peer link refused: no node id in ${PEER_ID_HEADER}`);
        return reply.code(400).send({ error: `a peer names itself in the ${PEER_ID_HEADER} header` });
      }
      if (options.requireClientCert === true && !(req.raw.socket as TLSSocket).authorized) {
        const why = String((req.raw.socket as TLSSocket).authorizationError ?? 'no client certificate');
        req.log.warn({ remote: req.socket.remoteAddress, peer: id, reason: why }, 'peer link refused: no trusted client certificate');
        return reply.code(403).send({ error: `a peer must present a certificate signed by this cluster's --tls-ca (${why})` });
      }
      if (options.token !== null) {
        const auth = req.headers.authorization ?? '';
        const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
        if (!secretsEqual(given, options.token)) {
          req.log.warn({ remote: req.socket.remoteAddress, peer: id }, 'peer link refused: wrong or missing token');
          return reply.code(401).send({ error: 'this cluster needs its token' });
        }
      }
      return undefined;
    },
  }, (socket, req) => {
    const url = req.headers[PEER_URL_HEADER];
    options.peers.accept(socket, req.headers[PEER_ID_HEADER] as string, typeof url === 'string' && PEER_URL.test(url) ? url : null);
  });
}
