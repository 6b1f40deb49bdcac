/**
 * The coord client in Node: the client of core.ts, whose default transport is ws (transport.ts).
 * A browser loads browser.ts instead, which never imports this file or ws.
 */
import { CoordClient, setDefaultTransport, type ConnectOptions } from './core.ts';
import { webSocketTransport, webSocketTransportWithTls, type TlsOptions } from './transport.ts';

export type { TlsOptions } from './transport.ts';

/** connect()'s options in Node: those of core.ts, and TLS settings for wss:// urls. */
export interface NodeConnectOptions extends ConnectOptions {
  /** For wss:// urls: the CA to trust, a client certificate and key (see TlsOptions). */
  tls?: TlsOptions;
}

export {
  CoordClient,
  type CallOptions, type ClientState, type ConnectOptions, type ReadOptions, type SetOptions, type TxnWrite,
  type Value, type WriteOptions,
} from './core.ts';

setDefaultTransport(webSocketTransport);

/**
 * Connects and opens a session (see CoordClient.connect), over ws unless `options.transport` says
 * otherwise; `options.tls` gives wss:// urls a CA to trust and a client certificate.
 */
export function connect(options: NodeConnectOptions): Promise<CoordClient> {
  const { tls, ...rest } = options;
  const transport = options.transport ?? (tls !== undefined ? webSocketTransportWithTls(tls) : webSocketTransport);
  return CoordClient.connect({ ...rest, transport });
}
