/**
 * One function per operation: validated request in, result out (or a thrown CoordError). The
 * connection (connection.ts) owns framing, sessions, in-flight accounting and watches; these
 * only turn requests into node calls.
 */
import { CoordError } from '../../protocol/errors.ts';
import type {
  DelRequest, GetdirRequest, GetRequest, RevRequest, SetRequest, StatRequest, TxnOp, TxnRequest, WalkRequest,
} from '../../protocol/messages.ts';
import type { WriteOrigin, WriteOutcome } from '../store/commands.ts';
import type { CoordNode } from '../node.ts';

function unwrap(outcome: WriteOutcome): { rev: number; changed: number } {
  if (!outcome.ok) throw new CoordError(outcome.error.code, outcome.error.message, outcome.error.details);
  return outcome;
}

/** Who sends a write: its session, and the access-control user to check it against (commands.ts). */
export interface Sender {
  sid: string;
  user: string | undefined;
}

/** The command's WriteOrigin: the sender and the request's exactly-once numbers. */
export function origin(sender: Sender, req: { seq?: number; seqFloor?: number }): WriteOrigin {
  const o: WriteOrigin = { sid: sender.sid };
  if (req.seq !== undefined) o.seq = req.seq;
  if (req.seqFloor !== undefined) o.seqFloor = req.seqFloor;
  if (sender.user !== undefined) o.user = sender.user;
  return o;
}

async function write(node: CoordNode, sender: Sender, req: TxnRequest | SetRequest | DelRequest, conds: TxnRequest['conds'], ops: TxnOp[]) {
  return unwrap(await node.propose({ t: 'txn', conds, ops, ...origin(sender, req) }));
}

export async function set(node: CoordNode, sid: Sender, req: SetRequest) {
  const op: TxnOp = { op: 'set', path: req.path, value: req.value, rev: req.rev ?? -1 };
  if (req.ephemeral === true) op.ephemeral = true;
  const { rev } = await write(node, sid, req, [], [op]);
  return { rev };
}

export async function del(node: CoordNode, sid: Sender, req: DelRequest) {
  const { rev, changed } = await write(node, sid, req, [], [{ op: 'del', path: req.path, rev: req.rev ?? -1 }]);
  return { rev, deleted: changed > 0 };
}

export async function txn(node: CoordNode, sid: Sender, req: TxnRequest) {
  const { rev } = await write(node, sid, req, req.conds, req.ops);
  return { rev };
}

const readRev = (node: CoordNode, req: { rev?: number; serializable?: boolean }) =>
  node.readAt(req.rev, req.serializable === true ? { serializable: true } : {});

/**
 * Reads take `allowed`, run once the read's revision is reached (after a barrier, or a wait for
 * a future revision): access may have been revoked meanwhile, or this node may have been behind
 * on the rules when the request arrived (connection.ts checks first too).
 */
type Allowed = () => void;
const anyone: Allowed = () => {};

/** The revision a read is served at, once reached, and `allowed` asked again there. */
async function checkedRev(node: CoordNode, req: { rev?: number; serializable?: boolean }, allowed: Allowed): Promise<number> {
  const at = await readRev(node, req);
  allowed();
  return at;
}

export async function get(node: CoordNode, req: GetRequest, allowed = anyone) {
  return node.store.get(req.path, await checkedRev(node, req, allowed));
}

export async function stat(node: CoordNode, req: StatRequest, allowed = anyone) {
  return node.store.stat(req.path, await checkedRev(node, req, allowed));
}

export async function getdir(node: CoordNode, req: GetdirRequest, allowed = anyone) {
  return node.store.getdir(req.path, await checkedRev(node, req, allowed), req.after, req.limit);
}

export async function walk(node: CoordNode, req: WalkRequest, allowed = anyone) {
  return node.store.walk(req.glob, await checkedRev(node, req, allowed), req.after, req.limit);
}

export async function rev(node: CoordNode, req: RevRequest) {
  return { rev: await readRev(node, req) };
}
