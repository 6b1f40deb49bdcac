/**
 * coord's SDK: `connect()` gives a client with one session kept across reconnects; recipes for
 * locks, slot claims, elections, membership and config watching are built on it.
 *
 * This is the Node entry (its transport is ws). Bundlers targeting a browser pick browser.ts
 * instead (the package's "browser" export condition): the same exports, over the browser's own
 * WebSocket.
 */
export { connect, type NodeConnectOptions, type TlsOptions } from './client.ts';
export * from './api.ts';
