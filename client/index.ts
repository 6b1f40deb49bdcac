/**
 * coord's SDK: `connect()` gives a client with one session kept across reconnects; recipes for
 * locks, slot claims, elections, membership and config watching are built on it.
 */
export { connect, CoordClient } from './client.ts';
export type {
  CallOptions, ClientState, ConnectOptions, ReadOptions, SetOptions, TxnWrite, Value, WriteOptions,
} from './client.ts';
export { WatchStream, type RevisionEvents } from './watch-stream.ts';
export * from './errors.ts';
export * from './recipes/index.ts';
export type { Event, GetResult, StatResult, WalkEntry, DelResult } from '../protocol/messages.ts';
export { ErrorCode } from '../protocol/errors.ts';

/** A value's UTF-8 text (null stays null). */
export function text(value: Uint8Array | null | undefined): string | null {
  return value === null || value === undefined ? null : Buffer.from(value).toString('utf8');
}
