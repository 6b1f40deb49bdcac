/**
 * Builds a running coord server: opens the node (storage, log replay), then serves the API.
 * main.ts calls this with flags; tests call it with an ephemeral port and a temp directory.
 */
import { createServer } from 'node:http';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { registerApi } from './api/plugin.ts';
import { CoordNode } from './node.ts';
import type { Clock } from './clock.ts';
import { productionEnv } from './consensus/env-production.ts';
import { limits } from '../protocol/limits.ts';

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
}

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
  // A single node: a cluster of one founder, 'n1', with no peers.
  const env = await productionEnv({ dataDir: options.dataDir, log: app.log, ...(options.clock ? { clock: options.clock } : {}) });
  let node: CoordNode;
  try {
    node = await CoordNode.start(env, {
      nodeId: 'n1',
      historyRevisions: options.historyRevisions ?? limits.historyRevisionsDefault,
      historyBytes: options.historyBytes ?? limits.historyBytesDefault,
      snapshotEveryEntries: options.snapshotEveryEntries ?? 50_000,
      sessionCheckIntervalMs: 100,
      ...(options.writesInflightMax !== undefined ? { writesInflightMax: options.writesInflightMax } : {}),
      onFatal,
    });
  } catch (err) {
    await env.storage.close();
    throw err;
  }
  let api;
  try {
    // It leads itself and has replayed its log before it listens.
    await node.whenReady();
    api = await registerApi(app, { node, onFatal, token: options.token || null });
    await app.listen({ host: options.host, port: options.port });
  } catch (err) {
    await node.stop();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  let closing: Promise<void> | null = null;
  return {
    app,
    node,
    port,
    url: `ws://${host}:${port}`,
    close: () => {
      closing ??= (async () => {
        api.drain();
        await node.stop();
        api.closeConnections();
        await app.close();
      })();
      return closing;
    },
  };
}
