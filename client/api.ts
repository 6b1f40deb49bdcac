/**
 * Everything the SDK exports except `connect`, shared by its two entries: index.ts (Node, whose
 * `connect` speaks over ws) and browser.ts (whose `connect` uses the browser's WebSocket).
 */
import { utf8Text } from '../protocol/utf8.ts';

export { CoordClient } from './core.ts';
export type {
  CallOptions, ClientState, ConnectOptions, ReadOptions, SetOptions, TxnWrite, Value, WriteOptions,
} from './core.ts';
export type { WatchOptions } from './watches.ts';
export { WatchStream, type ProgressOptions, type RevisionEvents } from './watch-stream.ts';
export * from './errors.ts';
export * from './recipes/index.ts';
export type {
  Event, GetResult, StatResult, WalkEntry, DelResult,
  Access, AclAction, AclChangeResult, AclListResult, AclWhoamiResult, Grant,
} from '../protocol/messages.ts';
export { ErrorCode } from '../protocol/errors.ts';

/** A value's UTF-8 text (null stays null). */
export function text(value: Uint8Array | null | undefined): string | null {
  return value === null || value === undefined ? null : utf8Text(value);
}
