/**
 * Builds a running coord server: opens the node (storage, log replay), then serves the API.
 * main.ts calls this with flags; tests call it with an ephemeral port and a temp directory.
 */
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { registerAdmin } from './api/admin.ts';
import { registerBackup } from './api/backup.ts';
import { registerUi } from './api/ui.ts';
import { operatorGuard } from './api/credentials.ts';
import { registerApi } from './api/plugin.ts';
import { CoordNode } from './node.ts';
import { startIdleCollector } from './idle-collector.ts';
import type { Clock } from './clock.ts';
import { productionEnv } from './consensus/env-production.ts';
import { limits } from '../protocol/limits.ts';
import { WebSocketPeers } from './peers/links.ts';
import { registerPeerRoute } from './peers/route.ts';
import { ServerMetrics } from './metrics/metrics.ts';
import { registerMetricsRoute } from './metrics/route.ts';
import { observeAppends } from './metrics/storage.ts';
import type { ServerTls } from './tls.ts';

export interface ServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  dataDir: string;
  historyRevisions?: number;
  snapshotEveryEntries?: number;
  /** pino level: 'info' by default; 'silent' in tests. */
  logLevel?: string;
  /** A shared secret clients must present in their hello. */
  token?: string;
  clock?: Clock;
  /** Overrides limits.upgradeTimeoutMs (tests use a short one). */
  upgradeTimeoutMs?: number;
  /** Overrides limits.writesInflightMax (tests use a small one). */
  writesInflightMax?: number;
  /** History bytes kept (default limits.historyBytesDefault). */
  historyBytes?: number;
  /** Called on an unrecoverable error (failed fsync, broken invariant). Default: exit(1). */
  onFatal?(err: unknown): void;
  /** This node's id (default 'n1': a single node). */
  nodeId?: string;
  /**
   * The cluster's members and where they listen (`--peers`): with this node's id among them it
   * is a founder; without, a blank node waiting to be added (`coord member add`). Only read on
   * the first start: afterwards the membership is in the log.
   */
  peers?: Record<string, string>;
  /** Where peers reach this node (default: its own entry in peers, else ws://host:port). */
  advertiseUrl?: string;
  /** Milliseconds without a leader before a follower campaigns (default 1000). */
  electionMs?: number;
  /** Milliseconds between a leader's heartbeats (default 100). */
  heartbeatMs?: number;
  /**
   * Serve wss:// and https:// on the one port (tls.ts: loadServerTls reads and checks the files).
   * With `ca`, peer links dial with it and present this node's certificate.
   */
  tls?: ServerTls;
}

/** Raft's clock: every timeout is a whole number of these. */
const TICK_MS = 50;
/** Election timeout and heartbeat by default, as etcd's: they ride out a slow fsync. */
export const ELECTION_MS_DEFAULT = 1000;
export const HEARTBEAT_MS_DEFAULT = 100;

export interface RunningServer {
  app: FastifyInstance;
  node: CoordNode;
  metrics: ServerMetrics;
  /** ws://host:port (wss:// with TLS) — where clients connect. */
  url: string;
  port: number;
  /** Stops taking requests, finishes in-flight writes, closes connections and the database. */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const tls = options.tls;
  const scheme = tls === undefined ? 'ws' : 'wss';
  const upgradeTimeoutMs = options.upgradeTimeoutMs ?? limits.upgradeTimeoutMs;
  const app = Fastify({
    // A connection that trickles its upgrade request (one header every few seconds) is dropped
    // once upgradeTimeoutMs has passed: Node checks header deadlines every
    // connectionsCheckingInterval, so that is kept well below the timeout.
    serverFactory: (handler) => {
      const timeouts = {
        headersTimeout: upgradeTimeoutMs,
        requestTimeout: upgradeTimeoutMs,
        connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(upgradeTimeoutMs / 4))),
      };
      if (tls === undefined) return createServer(timeouts, handler);
      return createHttpsServer({
        ...timeouts,
        cert: tls.cert,
        key: tls.key,
        ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
        requestCert: tls.clientCerts !== 'off',
        rejectUnauthorized: tls.clientCerts === 'require',
      }, handler) as unknown as ReturnType<typeof createServer>;
    },
    logger: { level: options.logLevel ?? 'info' },
    // One log line per connection and per error, not two per HTTP request.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
  });
  const onFatal = options.onFatal ?? ((err: unknown) => {
    app.log.fatal({ err }, 'unrecoverable error; stopping');
    process.exit(1);
  });
  const nodeId = options.nodeId ?? 'n1';
  const cluster = options.peers !== undefined;
  const peers = new WebSocketPeers({
    self: nodeId,
    selfUrl: options.advertiseUrl ?? options.peers?.[nodeId] ?? `${scheme}://${options.host}:${options.port}`,
    token: options.token || null,
    log: app.log,
    // With a cluster CA, peers trust only it and prove who they are with their own certificate.
    ...(tls !== undefined ? { tls: tls.ca !== undefined ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {} } : {}),
  });
  const env = await productionEnv({
    dataDir: options.dataDir, log: app.log, transport: peers, ...(options.clock ? { clock: options.clock } : {}),
  });
  const metrics = new ServerMetrics();
  observeAppends(env.storage, metrics.storage);
  const electionMs = options.electionMs ?? ELECTION_MS_DEFAULT;
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS_DEFAULT;
  let node: CoordNode;
  try {
    node = await CoordNode.start(env, {
      nodeId,
      // A founder bootstraps with every member of --peers; a node not among them starts blank.
      ...(cluster ? { initialMembers: Object.keys(options.peers!), initialUrls: options.peers! } : {}),
      historyRevisions: options.historyRevisions ?? limits.historyRevisionsDefault,
      historyBytes: options.historyBytes ?? limits.historyBytesDefault,
      snapshotEveryEntries: options.snapshotEveryEntries ?? 50_000,
      sessionCheckIntervalMs: 100,
      tickMs: TICK_MS,
      electionTicks: Math.max(2, Math.round(electionMs / TICK_MS)),
      heartbeatTicks: Math.max(1, Math.round(heartbeatMs / TICK_MS)),
      ...(options.writesInflightMax !== undefined ? { writesInflightMax: options.writesInflightMax } : {}),
      snapshotHooks: metrics.snapshots,
      onFatal,
    });
  } catch (err) {
    await env.storage.close();
    throw err;
  }
  // Links follow the membership in the log (and --peers until the log holds addresses).
  const followMembership = (): void => {
    const m = node.status().membership;
    peers.setPeers([...m.voters, ...m.learners], { ...options.peers, ...m.urls });
  };
  followMembership();
  const membershipTimer = setInterval(followMembership, 250);
  membershipTimer.unref();
  const stopIdleCollector = startIdleCollector(() => node.status().applied);
  let api;
  try {
    // Alone, it leads itself and has replayed its log before it listens. In a cluster it must
    // listen first: its peers elect a leader through this listener.
    if (!node.hasPeers) await node.whenReady();
    if (tls?.clientCerts === 'request') refuseUntrustedClientCerts(app);
    const peersGuarded = Boolean(options.token) || (tls !== undefined && tls.clientCerts !== 'off' && tls.ca !== undefined);
    api = await registerApi(app, { node, onFatal, token: options.token || null, peersGuarded, requests: metrics.requests });
    const served = api;
    metrics.attach({ stats: () => node.stats(), connections: () => served.connectionCount(), peerBytes: () => peers.bytesSent() });
    const authorized = operatorGuard(options.token || null, () => node.access);
    registerMetricsRoute(app, { metrics, authorized });
    registerPeerRoute(app, { peers, token: options.token || null, requireClientCert: tls !== undefined && tls.clientCerts !== 'off', guarded: peersGuarded, access: () => node.access });
    registerAdmin(app, { node, authorized, selfUrl: () => peers.selfUrl });
    registerBackup(app, { node, authorized });
    registerUi(app);
    await app.listen({ host: options.host, port: options.port });
  } catch (err) {
    clearInterval(membershipTimer);
    stopIdleCollector();
    peers.close();
    await node.stop();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  if (options.advertiseUrl === undefined && options.peers?.[nodeId] === undefined) peers.advertise(`${scheme}://${host}:${port}`);
  let closing: Promise<void> | null = null;
  return {
    app,
    node,
    metrics,
    port,
    url: `${scheme}://${host}:${port}`,
    close: () => {
      closing ??= (async () => {
        // A leader hands over first (its clients are still served, then forwarded), so a rolling
        // restart costs no election timeout.
        const to = await node.handOver(electionMs).catch(() => null);
        if (to !== null) app.log.info({ to }, 'leadership handed over');
        api.drain();
        clearInterval(membershipTimer);
        stopIdleCollector();
        await node.stop();
        peers.close();
        api.closeConnections();
        await app.close();
      })();
      return closing;
    },
  };
}

/**
 * --tls-client-certs request: the handshake lets any client in (a certificate is optional), so a
 * certificate that was presented but does not chain to --tls-ca is refused here, before any
 * route or upgrade, rather than treated as no certificate at all.
 */
function refuseUntrustedClientCerts(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    const socket = req.raw.socket as TLSSocket;
    if (socket.authorized || Object.keys(socket.getPeerCertificate?.() ?? {}).length === 0) return;
    req.log.warn({ remote: socket.remoteAddress, reason: String(socket.authorizationError) }, 'client certificate refused');
    return reply.code(403).send({ error: `client certificate refused: ${String(socket.authorizationError)} (it must chain to the server's --tls-ca)` });
  });
}
