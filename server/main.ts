/**
 * `coord server`: runs a single-node server until SIGTERM or SIGINT, then stops cleanly
 * (in-flight writes finish, connections close, the database closes).
 */
import { resolve } from 'node:path';
import { limits } from '../protocol/limits.ts';
import { ELECTION_MS_DEFAULT, HEARTBEAT_MS_DEFAULT, startServer } from './server.ts';
import { describeStartError } from './start-error.ts';
import { loadServerTls, type ServerTls } from './tls.ts';

export interface ServerFlags {
  host: string;
  port: number;
  data: string;
  history: number;
  historyBytes: number;
  snapshotEvery: number;
  logLevel: string;
  id: string;
  peers?: Record<string, string>;
  advertise?: string;
  electionMs: number;
  heartbeatMs: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsClientCerts?: string;
}

export const serverDefaults: ServerFlags = {
  host: '127.0.0.1',
  port: 7070,
  data: './coord-data',
  history: limits.historyRevisionsDefault,
  historyBytes: limits.historyBytesDefault,
  snapshotEvery: 50_000,
  logLevel: 'info',
  id: 'n1',
  electionMs: ELECTION_MS_DEFAULT,
  heartbeatMs: HEARTBEAT_MS_DEFAULT,
};

export async function runServer(flags: ServerFlags): Promise<void> {
  let server;
  try {
    const tls: ServerTls | undefined = loadServerTls({
      ...(flags.tlsCert !== undefined ? { cert: flags.tlsCert } : {}),
      ...(flags.tlsKey !== undefined ? { key: flags.tlsKey } : {}),
      ...(flags.tlsCa !== undefined ? { ca: flags.tlsCa } : {}),
      ...(flags.tlsClientCerts !== undefined ? { clientCerts: flags.tlsClientCerts } : {}),
    });
    checkPeerSchemes(flags, tls !== undefined);
    server = await startServer({
      ...(tls !== undefined ? { tls } : {}),
      host: flags.host,
      port: flags.port,
      dataDir: resolve(flags.data),
      historyRevisions: flags.history,
      historyBytes: flags.historyBytes,
      snapshotEveryEntries: flags.snapshotEvery,
      logLevel: flags.logLevel,
      nodeId: flags.id,
      electionMs: flags.electionMs,
      heartbeatMs: flags.heartbeatMs,
      ...(flags.peers !== undefined ? { peers: flags.peers } : {}),
      ...(flags.advertise !== undefined ? { advertiseUrl: flags.advertise } : {}),
      // A shared secret clients must present; from the environment, so it stays out of `ps`.
      ...(process.env.COORD_TOKEN ? { token: process.env.COORD_TOKEN } : {}),
    });
  } catch (err) {
    const message = describeStartError(err, { host: flags.host, port: flags.port, data: resolve(flags.data) });
    process.stderr.write(`coord server: cannot start: ${message}\n`);
    process.exit(1);
  }
  server.app.log.info(
    { url: server.url, data: resolve(flags.data), rev: server.node.store.rev, id: flags.id },
    'coord server started',
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.app.log.info({ signal }, 'stopping');
    await server.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/**
 * A TLS node's peers are TLS nodes too (one cluster, one listener each): a ws:// url among
 * --peers/--advertise would be dialled in the clear and refused, so it is refused here instead.
 */
function checkPeerSchemes(flags: ServerFlags, tls: boolean): void {
  const want = tls ? 'wss' : 'ws';
  const urls = [...Object.values(flags.peers ?? {}), ...(flags.advertise !== undefined ? [flags.advertise] : [])];
  const wrong = urls.find((u) => !u.toLowerCase().startsWith(`${want}://`));
  if (wrong !== undefined) {
    throw new Error(tls
      ? `"${wrong}": with --tls-cert, peers listen on wss:// (use wss:// in --peers and --advertise)`
      : `"${wrong}": wss:// needs TLS on every node (--tls-cert and --tls-key); without it use ws://`);
  }
}
