/**
 * The `acl` op: changes to access control go through the log as `acl` commands (the store checks
 * again, when one applies, that its sender may make it); `list` and `whoami` read this node's
 * applied rules after the same barrier a linearizable read takes.
 */
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import type { AclAction, AclRequest, AclWhoamiResult } from '../../protocol/messages.ts';
import type { CoordNode } from '../node.ts';
import type { AclChange } from '../store/access.ts';
import type { WriteOrigin } from '../store/commands.ts';
import { describeWho, tokenHash, type Who } from './credentials.ts';

export async function acl(node: CoordNode, origin: WriteOrigin, who: Who, req: AclRequest, peersGuarded: boolean): Promise<unknown> {
  if (req.action === 'whoami') {
    await node.readAt(undefined);
    return whoami(node, who);
  }
  // Refused here without a log entry when it surely would be when applied; the store decides.
  const refuse = () => new CoordError(ErrorCode.PERMISSION_DENIED, `${describeWho(who)} may not ${req.action === 'list' ? 'list' : 'change'} access control (it needs the role root)`);
  if (node.access.enabled && !who.unrestricted) throw refuse();
  if (req.action === 'list') {
    await node.readAt(undefined);
    // Again after the barrier: this node may have been behind on the rules (`who` was decided
    // under them), and a list is answered from here, not checked by the log.
    if (node.access.enabled && !node.access.unrestricted(who.stamp)) throw refuse();
    return node.access.list();
  }
  if (req.action === 'enable' && !peersGuarded) {
    throw new CoordError(ErrorCode.BAD_REQUEST, 'access control needs the servers started with a token (--token or COORD_TOKEN) or with mutual TLS (--tls-ca): '
      + 'without one, anyone who reaches the port could open a peer link and send commands past the rules');
  }
  const outcome = await node.propose({ t: 'acl', change: toChange(req), ...origin });
  if (!outcome.ok) throw new CoordError(outcome.error.code, outcome.error.message, outcome.error.details);
  return { ok: true };
}

function whoami(node: CoordNode, who: Who): AclWhoamiResult {
  const access = node.access;
  return {
    enabled: access.enabled,
    user: who.user,
    root: who.unrestricted,
    grants: who.unrestricted ? [{ prefix: '/', access: 'readwrite' }] : access.grantsOf(who.user ?? ''),
  };
}

/** The command's form of a change: tokens become their hashes, so no log entry holds one. */
function toChange(req: AclRequest): AclChange {
  const { op: _op, seq: _seq, seqFloor: _floor, ...action } = req;
  const change = action as AclAction;
  if (change.action === 'list' || change.action === 'whoami') throw new Error(`${change.action} is a read`);
  if (change.action === 'user-add' || change.action === 'user-token') {
    const { token, ...rest } = change;
    return { ...rest, tokenHash: tokenHash(token) };
  }
  return change;
}
