/**
 * The commands the store applies: the payload of every log entry. They are the only way the
 * tree or the sessions change, so replaying the same commands gives the same state everywhere.
 * Everything a command needs (ids, secrets) is decided before it is proposed: applying one reads
 * no clock and draws no random number.
 */
import { ByteSlabs } from '../byte-slabs.ts';
import type { ErrorBody } from '../../protocol/errors.ts';
import type { TxnCondition, TxnOp } from '../../protocol/messages.ts';
import type { AclChange } from './access.ts';
import type { ReplicatedSettings } from './settings.ts';
import { msgpack as packr } from '../../protocol/msgpack.ts';

/** Who sent a write, for exactly-once retries, ephemeral ownership and access control. */
export interface WriteOrigin {
  sid?: string;
  seq?: number;
  seqFloor?: number;
  /**
   * Who sent it, for access control (access.ts), checked again when the write applies: the user
   * its sender's token names, '*' for the server's own token, absent for a token (or none) that
   * names nobody. A server without a token and without users adds nothing to its log.
   */
  user?: string;
}

export type Command =
  | ({ t: 'txn'; conds: TxnCondition[]; ops: TxnOp[] } & WriteOrigin)
  | { t: 'open'; sid: string; secret: string; ttlMs: number; user?: string }
  | { t: 'close'; sid: string }
  /**
   * The leader ended a silent session. `term` is the term of the leader that decided it: the
   * store ignores an expire older than the last leader no-op it applied (a deposed leader's
   * decision, committed after a newer leader took over and re-timed every session). Absent in
   * logs written before clusters: always applied.
   */
  | { t: 'expire'; sid: string; term?: number }
  /** A leader's no-op (the first entry of its term): `term` is that leader's term. */
  | { t: 'noop'; term?: number }
  /** New values for the cluster's replicated settings (settings.ts); no revision. */
  | { t: 'settings'; settings: Partial<ReplicatedSettings> }
  /** A change to access control (access.ts); no revision. */
  | ({ t: 'acl'; change: AclChange } & WriteOrigin);

/**
 * What applying a write gave. `rev` is the store revision after it (the new one if the write
 * changed anything); `changed` counts the files it set or deleted.
 */
export type WriteOutcome =
  | { ok: true; rev: number; changed: number }
  | { ok: false; error: ErrorBody };


/** Encoded commands, kept by the log's tail cache until they age out of it (byte-slabs.ts). */
const encoded = new ByteSlabs(256 * 1024, 32 * 1024);

export function encodeCommand(cmd: Command): Uint8Array {
  // A copy: msgpackr packs into a buffer shared by the whole process (4 MiB or more, and larger
  // after a snapshot), of which the bytes returned are a view; the tail cache would keep a whole
  // one alive for each entry it holds from it.
  return encoded.copy(packr.pack(cmd));
}

export function decodeCommand(bytes: Uint8Array): Command {
  return packr.unpack(bytes) as Command;
}
