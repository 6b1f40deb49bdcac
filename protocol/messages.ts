/**
 * The messages of protocol version 1, as TypeScript types. Every message is one msgpack map in
 * one binary WebSocket frame. protocol/README.md describes each with examples.
 *
 * Client → server: a Request `{ id, op, ...args }`. `id` is a non-negative integer the client
 * picks, unique among its requests in flight on this connection.
 * Server → client: a Response `{ id, result }` or `{ id, error }`, exactly one per request, in
 * any order; and, for a WATCH, pushes `{ watch: id, events }` after its response (one push per
 * revision, holding that revision's matching events in path order), ended by one
 * `{ watch: id, end: error }`. A WATCH opened with `progressMs` may also get
 * `{ watch: id, progress: rev }` pushes while idle; PROGRESS asks for the same on request.
 */
import type { ErrorBody } from './errors.ts';

export type Value = Uint8Array;

/** Revision arguments: -1 means unconditional; otherwise a non-negative integer. */
export type Rev = number;

export interface HelloRequest {
  op: 'hello';
  version: number;
  /** Resume this session instead of opening a new one. */
  session?: { id: string; secret: string };
  /** TTL for a new session; ignored on resume (a session keeps its TTL). */
  ttlMs?: number;
  /** The shared secret, when the server was started with one. */
  token?: string;
}

/** Writes may carry a sequence number so a retry after a reconnect is applied at most once. */
export interface Sequenced {
  /** Positive integer, rising per session for each write the client sends. */
  seq?: number;
  /** Every write of this session with a seq below this one has been answered (may be forgotten). */
  seqFloor?: number;
}

/**
 * A read without `rev` is linearizable (it sees every write acknowledged before it was sent);
 * `serializable: true` answers from the replica the client is connected to, as far as it has
 * applied (faster, may be a little behind). A read with `rev` is the same everywhere.
 */
interface Consistency { serializable?: boolean }
export interface GetRequest extends Consistency { op: 'get'; path: string; rev?: number }
export interface SetRequest extends Sequenced {
  op: 'set'; path: string; value: Value; rev?: Rev; ephemeral?: boolean;
}
export interface DelRequest extends Sequenced { op: 'del'; path: string; rev?: Rev }
export interface RevRequest extends Consistency { op: 'rev' }
export interface StatRequest extends Consistency { op: 'stat'; path: string; rev?: number }
export interface GetdirRequest extends Consistency {
  op: 'getdir'; path: string; rev?: number; after?: string; limit?: number;
}
export interface WalkRequest extends Consistency { op: 'walk'; glob: string; rev?: number; after?: string; limit?: number }
export interface WaitRequest { op: 'wait'; glob: string; rev?: number }
export interface WatchRequest {
  op: 'watch'; glob: string; fromRev?: number;
  /**
   * While the watch is live and nothing was pushed on it for this long, the server pushes
   * `{ watch, progress: rev }` (its applied revision: every event of the watch ≤ rev was sent).
   */
  progressMs?: number;
}
/**
 * How far is WATCH `target` known complete? Answered `{ rev }` once every event of the watch at
 * or below rev was pushed (before this answer); rev is linearizable (≥ every write acknowledged
 * before the request was sent) unless `serializable`, then this server's applied revision.
 */
export interface ProgressRequest extends Consistency { op: 'progress'; target: number }
export interface CancelRequest { op: 'cancel'; target: number }
export interface PingRequest { op: 'ping' }
export interface CloseRequest { op: 'close' }

/**
 * Access control (ACL): what a role grants on a path prefix. A grant on `/app` covers `/app`
 * and everything below it (not `/apple`); `/` covers everything.
 */
export type Access = 'read' | 'readwrite';
export interface Grant { prefix: string; access: Access }
/**
 * ACL changes (root only once access control is enabled; anyone the server takes before), and
 * two reads: `list` (root only when enabled) and `whoami` (anyone). User and role names:
 * 1–64 of `A-Z a-z 0-9 . _ -`. Tokens: 16–256 printable ASCII characters; the server keeps only
 * their SHA-256. The role `root` is built in: it may do everything, including these changes.
 */
export type AclAction =
  | { action: 'enable' }
  | { action: 'disable' }
  | { action: 'user-add'; user: string; token: string; roles?: string[] }
  | { action: 'user-delete'; user: string }
  | { action: 'user-token'; user: string; token: string }
  | { action: 'user-grant'; user: string; role: string }
  | { action: 'user-revoke'; user: string; role: string }
  | { action: 'role-add'; role: string }
  | { action: 'role-delete'; role: string }
  | { action: 'role-grant'; role: string; prefix: string; access: Access }
  | { action: 'role-revoke'; role: string; prefix: string }
  | { action: 'list' }
  | { action: 'whoami' };
export type AclRequest = { op: 'acl' } & AclAction & Sequenced;
export const aclActions: readonly AclAction['action'][] = [
  'enable', 'disable', 'user-add', 'user-delete', 'user-token', 'user-grant', 'user-revoke',
  'role-add', 'role-delete', 'role-grant', 'role-revoke', 'list', 'whoami',
];

/**
 * A TXN condition. By default Doozer's rule: the file's rev must be ≤ `rev` (-1: always true;
 * a missing file has rev 0). With `exact`, the file must exist and its rev be exactly `rev`:
 * "only while this file is still the one I wrote", the check a lock holder's writes need.
 */
export interface TxnCondition { path: string; rev: Rev; exact?: boolean }
export type TxnOp =
  | { op: 'set'; path: string; value: Value; rev?: Rev; ephemeral?: boolean }
  | { op: 'del'; path: string; rev?: Rev };
export interface TxnRequest extends Sequenced { op: 'txn'; conds: TxnCondition[]; ops: TxnOp[] }

export type RequestBody =
  | HelloRequest | GetRequest | SetRequest | DelRequest | RevRequest | StatRequest
  | GetdirRequest | WalkRequest | WaitRequest | WatchRequest | CancelRequest | TxnRequest
  | PingRequest | CloseRequest | ProgressRequest | AclRequest;

export type Op = RequestBody['op'];
export type Request = RequestBody & { id: number };

export const ops: readonly Op[] = [
  'hello', 'get', 'set', 'del', 'rev', 'stat', 'getdir', 'walk', 'wait', 'watch', 'cancel',
  'txn', 'ping', 'close', 'progress', 'acl',
];

/** One change to one file, at the store revision that made it. */
export interface Event {
  path: string;
  rev: number;
  kind: 'set' | 'delete';
  /** The new value, for a set. */
  value?: Value;
}

export interface HelloResult {
  version: number;
  session: { id: string; secret: string; ttlMs: number };
  resumed: boolean;
  rev: number;
}
/** `rev` is the file's rev (0 when missing); `at` is the store revision the read saw. */
export interface GetResult { value: Value | null; rev: number; at: number }
export interface WriteResult { rev: number }
export interface DelResult { rev: number; deleted: boolean }
export interface RevResult { rev: number }
/** Directories have no version of their own: their rev is always 0, as for a missing file. */
export type StatResult = (
  | { kind: 'file'; rev: number; length: number; ephemeral: boolean }
  | { kind: 'dir'; rev: 0; children: number }
  | { kind: 'missing'; rev: 0 }
) & { at: number };
export interface GetdirResult { names: string[]; at: number; more: boolean }
export interface WalkEntry { path: string; rev: number; value: Value }
export interface WalkResult { files: WalkEntry[]; at: number; more: boolean }
/** `event` is the first of `events`: every matching event of the revision that had any. */
export interface WaitResult { event: Event; events: Event[] }
export interface WatchResult { fromRev: number }
export interface CancelResult { cancelled: boolean }
export interface TxnResult { rev: number }
/** Every event of the watch at or below `rev` was pushed before this answer. */
export interface ProgressResult { rev: number }

/** ACL `list`: whether access control is on, every user with its roles, every role's grants. */
export interface AclListResult {
  enabled: boolean;
  users: { user: string; roles: string[] }[];
  roles: { role: string; grants: Grant[] }[];
}
/**
 * ACL `whoami`: who this connection's token makes it. `user` is null for the server's own token
 * (or no token while access control is off); `root` says it may do everything.
 */
export interface AclWhoamiResult { enabled: boolean; user: string | null; root: boolean; grants: Grant[] }
/** Any other ACL action: the change was applied (it consumes no revision). */
export interface AclChangeResult { ok: true }

export interface ResultByOp {
  hello: HelloResult; get: GetResult; set: WriteResult; del: DelResult; rev: RevResult;
  stat: StatResult; getdir: GetdirResult; walk: WalkResult; wait: WaitResult;
  watch: WatchResult; cancel: CancelResult; txn: TxnResult; ping: RevResult; close: RevResult;
  progress: ProgressResult; acl: AclListResult | AclWhoamiResult | AclChangeResult;
}

export type Response =
  | { id: number; result: unknown }
  | { id: number; error: ErrorBody };

export type Push =
  | { watch: number; events: Event[] }
  | { watch: number; end: ErrorBody }
  /** Only on a WATCH opened with progressMs: idle, and complete through `progress`. */
  | { watch: number; progress: number };

export type ServerMessage = Response | Push;
