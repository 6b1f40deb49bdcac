/**
 * Who a token makes its bearer: the server's own token (`--token` / COORD_TOKEN, which may do
 * everything, as before access control existed), a user of access control (server/store/
 * access.ts) by the SHA-256 of its token, or nobody. One place decides it for the WebSocket API
 * (a connection's hello) and for the HTTP endpoints an operator uses (/status, /sessions,
 * /members, /leader/transfer, /snapshot, /metrics).
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '../../protocol/errors.ts';
import { secretsEqual } from '../node.ts';
import { SERVER_TOKEN_USER, type AccessTable } from '../store/access.ts';

/** What the log and the access table keep of a token: its SHA-256, hex. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** What a connection presented: the server's own token, or another (by hash), or none. */
export interface Credential {
  serverToken: boolean;
  hash: string | null;
}

export function credentialOf(token: string | undefined, serverToken: string | null): Credential {
  if (token === undefined) return { serverToken: false, hash: null };
  if (serverToken !== null && secretsEqual(token, serverToken)) return { serverToken: true, hash: null };
  return { serverToken: false, hash: tokenHash(token) };
}

export interface Who {
  /**
   * What this bearer's writes carry as `user` (commands.ts), checked again when they apply:
   * the user's name, '*' for the server's token, undefined for a token naming nobody.
   */
  stamp: string | undefined;
  /** May do everything now: the server's token, a user with the role root, anyone while checking is off. */
  unrestricted: boolean;
  /** The user the token names, or null. */
  user: string | null;
}

export function identify(access: AccessTable, cred: Credential): Who {
  if (cred.serverToken) return { stamp: SERVER_TOKEN_USER, unrestricted: true, user: null };
  const user = cred.hash === null ? undefined : access.userWithTokenHash(cred.hash);
  return { stamp: user, unrestricted: access.unrestricted(user), user: user ?? null };
}

/** How a refusal names the bearer in messages and log lines. */
export function describeWho(who: Who): string {
  return who.user !== null ? `user ${who.user}` : 'a token that names no user';
}

/**
 * Whether a hello with this credential is let in: while access control is on, the server's
 * token or any user's; while it is off, as before it existed (the server's token when it has
 * one, else anyone). Returns the refusal's message, or null.
 */
export function helloRefusal(access: AccessTable, cred: Credential, serverToken: string | null, gaveToken: boolean): string | null {
  if (cred.serverToken) return null;
  if (access.enabled) {
    if (cred.hash !== null && access.userWithTokenHash(cred.hash) !== undefined) return null;
    return gaveToken ? 'access control is on and this token names no user' : 'access control is on: send a user\'s token in the hello';
  }
  if (serverToken === null) return null;
  return gaveToken ? 'the token in the hello is not the one this server takes' : 'this server requires a token in the hello';
}

/** Checks an HTTP request's bearer token; false once it has answered 401 or 403. */
export type HttpGuard = (req: FastifyRequest, reply: FastifyReply) => boolean;

/**
 * The guard of the operator's HTTP endpoints: while access control is on, the server's token or
 * a root user's (another user's: 403 PERMISSION_DENIED); while it is off, the server's token
 * when it has one, else anyone.
 */
export function operatorGuard(serverToken: string | null, access: () => AccessTable): HttpGuard {
  return (req, reply) => {
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const table = access();
    const cred = credentialOf(given, serverToken);
    if (cred.serverToken || (!table.enabled && serverToken === null)) return true;
    if (table.enabled) {
      const who = identify(table, cred);
      if (who.unrestricted) return true;
      if (who.user !== null) {
        void reply.code(403).send({ error: { code: ErrorCode.PERMISSION_DENIED, message: `${describeWho(who)} may not use this endpoint (it needs the role root)` } });
        return false;
      }
    }
    void reply.code(401).send({ error: { code: ErrorCode.UNAUTHORIZED, message: table.enabled
      ? 'access control is on: send the server\'s token or a root user\'s (Authorization: Bearer …)'
      : 'this server needs its token (Authorization: Bearer …)' } });
    return false;
  };
}
