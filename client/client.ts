/**
 * The coord client in Node: the client of core.ts, whose default transport is ws (transport.ts).
 * A browser loads browser.ts instead, which never imports this file or ws.
 */
import { CoordClient, setDefaultTransport, type ConnectOptions } from './core.ts';
import { webSocketTransport } from './transport.ts';

export {
  CoordClient,
  type CallOptions, type ClientState, type ConnectOptions, type ReadOptions, type SetOptions, type TxnWrite,
  type Value, type WriteOptions,
} from './core.ts';

setDefaultTransport(webSocketTransport);

/** Connects and opens a session (see CoordClient.connect), over ws unless `options.transport` says otherwise. */
export function connect(options: ConnectOptions): Promise<CoordClient> {
  return CoordClient.connect({ ...options, transport: options.transport ?? webSocketTransport });
}
