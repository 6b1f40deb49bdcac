/**
 * Builds a running coord server: opens the node (storage, log replay), then serves the API.
 * main.ts calls this with flags; tests call it with an ephemeral port and a temp directory.
 */
import { createServer } from 'node:http';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { registerAdmin } from './api/admin.ts';
import { registerBackup } from './api/backup.ts';
import { registerApi } from './api/plugin.ts';
import { CoordNode } from './node.ts';
import type { Clock } from './clock.ts';
import { productionEnv } from './consensus/env-production.ts';
import { limits } from '../protocol/limits.ts';
import { WebSocketPeers } from './peers/links.ts';
import { registerPeerRoute } from './peers/route.ts';

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
}

/** Raft's clock: every timeout is a whole number of these. */
const TICK_MS = 50;
/** Election timeout and heartbeat by default, as etcd's: they ride out a slow fsync. */
export const ELECTION_MS_DEFAULT = 1000;
export const HEARTBEAT_MS_DEFAULT = 100;

export interface RunningServer {
  app: FastifyInstance;
  node: CoordNode;
  /** ws://host:port — where clients connect. */
  url: string;
  port: number;
  /** Stops taking requests, finishes in-flight writes, closes connections and the database. */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const upgradeTimeoutMs = options.upgradeTimeoutMs ?? limits.upgradeTimeoutMs;
  const app = Fastify({
    // A connection that trickles its upgrade request (one header every few seconds) is dropped
    // once upgradeTimeoutMs has passed: Node checks header deadlines every
    // connectionsCheckingInterval, so that is kept well below the timeout.
    serverFactory: (handler) => createServer({
      headersTimeout: upgradeTimeoutMs,
      requestTimeout: upgradeTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(upgradeTimeoutMs / 4))),
    }, handler),
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
    selfUrl: options.advertiseUrl ?? options.peers?.[nodeId] ?? `ws://${options.host}:${options.port}`,
    token: options.token || null,
    log: app.log,
  });
  const env = await productionEnv({
    dataDir: options.dataDir, log: app.log, transport: peers, ...(options.clock ? { clock: options.clock } : {}),
  });
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
  let api;
  try {
    // Alone, it leads itself and has replayed its log before it listens. In a cluster it must
    // listen first: its peers elect a leader through this listener.
    if (!node.hasPeers) await node.whenReady();
    api = await registerApi(app, { node, onFatal, token: options.token || null });
    registerPeerRoute(app, { peers, token: options.token || null });
    registerAdmin(app, { node, token: options.token || null, selfUrl: () => peers.selfUrl });
    registerBackup(app, { node, token: options.token || null });
    await app.listen({ host: options.host, port: options.port });
  } catch (err) {
    clearInterval(membershipTimer);
    peers.close();
    await node.stop();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  if (options.advertiseUrl === undefined && options.peers?.[nodeId] === undefined) peers.advertise(`ws://${host}:${port}`);
  let closing: Promise<void> | null = null;
  return {
    app,
    node,
    port,
    url: `ws://${host}:${port}`,
    close: () => {
      closing ??= (async () => {
        // A leader hands over first (its clients are still served, then forwarded), so a rolling
        // restart costs no election timeout.
        const to = await node.handOver(electionMs).catch(() => null);
        if (to !== null) app.log.info({ to }, 'leadership handed over');
        api.drain();
        clearInterval(membershipTimer);
        await node.stop();
        peers.close();
        api.closeConnections();
        await app.close();
      })();
      return closing;
    },
  };
}
