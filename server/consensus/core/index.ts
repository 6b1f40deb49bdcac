/** The Raft core's public surface: what a driver and its tests import. */
export { RaftCore, type CoreRestore } from './core.ts';
export type { LeadershipCause, Ready, SoftState, WriteMark } from './ready.ts';
export type { Message, MessageType } from './messages.ts';
export type { StableLog } from './stable-log.ts';
export { mulberry32, type Random } from './random.ts';
export {
  type ConfChange, encodeConfChange, decodeConfChange, applyConfChange, formatMembership,
} from './config.ts';
export {
  EntryType, Refused, type CoreOptions, type Entry, type HardState, type Membership, type MemberStatus, type NodeId,
  type ReadRefused, type ReadState, type RefusalCode, type Role, type SnapshotMeta, type Status,
} from './types.ts';
