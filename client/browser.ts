/**
 * coord's SDK for browsers: the same exports as the Node entry (index.ts), with a `connect` that
 * speaks over the browser's own WebSocket (browser-transport.ts). Nothing here imports ws or any
 * Node API. Bundlers pick this file through the package's "browser" export condition;
 * `npm run build` also bundles it, msgpackr included, into one ES module (dist/browser/coord.js)
 * that a page can import as it is.
 */
import { browserTransport } from './browser-transport.ts';
import { CoordClient, setDefaultTransport, type ConnectOptions } from './core.ts';

setDefaultTransport(browserTransport);

/** Connects and opens a session (see CoordClient.connect), over the browser's WebSocket. */
export function connect(options: ConnectOptions): Promise<CoordClient> {
  return CoordClient.connect({ ...options, transport: options.transport ?? browserTransport });
}

export * from './api.ts';
