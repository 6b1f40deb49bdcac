/**
 * The `acl` op: changes to access control go through the log as `acl` commands (the store checks
 * again, when one applies, that its sender may make it); `list` and `whoami` read this node's
 * applied rules after the same barrier a linearizable read takes.
 */
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import type { AclRequest, AclWhoamiResult } from '../../protocol/messages.ts';
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
  switch (req.action) {
    case 'user-add': {
      const change: AclChange = { action: 'user-add', user: req.user, tokenHash: tokenHash(req.token) };
      if (req.roles !== undefined) change.roles = req.roles;
      return change;
    }
    case 'user-token':
      return { action: 'user-token', user: req.user, tokenHash: tokenHash(req.token) };
    case 'enable': case 'disable':
      return { action: req.action };
    case 'user-delete':
      return { action: req.action, user: req.user };
    case 'user-grant': case 'user-revoke':
      return { action: req.action, user: req.user, role: req.role };
    case 'role-add': case 'role-delete':
      return { action: req.action, role: req.role };
    case 'role-grant':
      return { action: req.action, role: req.role, prefix: req.prefix, access: req.access };
    case 'role-revoke':
      return { action: req.action, role: req.role, prefix: req.prefix };
    case 'list': case 'whoami':
      throw new Error(`${req.action} is a read`);
  }
}
