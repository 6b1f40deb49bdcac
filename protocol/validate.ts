/**
 * Turns a decoded frame into a typed Request, or throws a CoordError saying exactly what is
 * wrong. This is the edge: nothing past it sees an unchecked argument.
 */
import { CoordError, ErrorCode } from './errors.ts';
import { limits, PROTOCOL_VERSION } from './limits.ts';
import {
  aclActions, ops, type AclAction, type Op, type Request, type RequestBody, type TxnCondition, type TxnOp,
} from './messages.ts';
import { describe } from './describe.ts';
import { checkPath, globProblem, tooLong } from './path.ts';

type Fields = Record<string, unknown>;

function bad(message: string): CoordError {
  return new CoordError(ErrorCode.BAD_REQUEST, message);
}

/** The request id of a decoded frame, or null when the frame has none we could answer to. */
export function requestId(msg: unknown): number | null {
  if (!isPlainMap(msg)) return null;
  const id = msg.id;
  return Number.isSafeInteger(id) && (id as number) >= 0 ? (id as number) : null;
}

function isPlainMap(x: unknown): x is Fields {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function int(f: Fields, name: string, min: number): number | undefined {
  const v = f[name];
  if (v === undefined || v === null) return undefined;
  if (!Number.isSafeInteger(v) || (v as number) < min) {
    throw bad(`${name} must be an integer ≥ ${min}, got ${describe(v)}`);
  }
  return v as number;
}

function requiredInt(f: Fields, name: string, min: number): number {
  const v = int(f, name, min);
  if (v === undefined) throw bad(`${name} is required`);
  return v;
}

/** A write condition: -1 (unconditional) or a non-negative revision. */
function writeRev(f: Fields, name = 'rev'): number | undefined {
  const v = f[name];
  if (v === undefined || v === null) return undefined;
  if (!Number.isSafeInteger(v) || (v as number) < -1) {
    throw bad(`${name} must be -1 (unconditional) or a revision ≥ 0, got ${describe(v)}`);
  }
  return v as number;
}

function bool(f: Fields, name: string): boolean | undefined {
  const v = f[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(`${name} must be a boolean`);
  return v;
}

function str(f: Fields, name: string): string | undefined {
  const v = f[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${name} must be a string`);
  return v;
}

function path(f: Fields, name = 'path'): string {
  if (f[name] === undefined) throw bad(`${name} is required`);
  if (typeof f[name] !== 'string') throw bad(`${name} must be a string`);
  return checkPath(f[name]);
}

function glob(f: Fields): string {
  if (f.glob === undefined) throw bad('glob is required');
  // A glob of the wrong type is a malformed request, as for every other argument.
  if (typeof f.glob !== 'string') throw bad('glob must be a string');
  const problem = globProblem(f.glob);
  if (problem !== null) {
    const code = tooLong(f.glob) ? ErrorCode.TOO_LARGE : ErrorCode.BAD_GLOB;
    throw new CoordError(code, `${problem}: ${describe(f.glob)}`);
  }
  return f.glob as string;
}

/** Values are msgpack bin; a string is accepted too and stored as its UTF-8 bytes. */
function value(f: Fields): Uint8Array {
  const v = f.value;
  let bytes: Uint8Array;
  // A copy: a decoded bin is a view into the whole received frame, which the store would then
  // keep alive for as long as it keeps the value.
  if (v instanceof Uint8Array) bytes = new Uint8Array(v);
  else if (typeof v === 'string') bytes = Buffer.from(v, 'utf8');
  else throw bad('value must be binary (msgpack bin) or a string');
  if (bytes.byteLength > limits.valueBytesMax) {
    throw new CoordError(
      ErrorCode.TOO_LARGE,
      `value of ${bytes.byteLength} bytes is over ${limits.valueBytesMax}`,
    );
  }
  return bytes;
}

function limit(f: Fields): number | undefined {
  const v = int(f, 'limit', 1);
  if (v !== undefined && v > limits.pageEntriesMax) {
    throw new CoordError(ErrorCode.TOO_LARGE, `limit ${v} is over ${limits.pageEntriesMax}`);
  }
  return v;
}

function progressMs(f: Fields): number | undefined {
  const v = f.progressMs;
  if (v === undefined || v === null) return undefined;
  const { watchProgressMsMin: min, watchProgressMsMax: max } = limits;
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) {
    throw bad(`progressMs must be an integer from ${min} to ${max} (milliseconds), got ${describe(v)}`);
  }
  return v as number;
}

function sequenced(f: Fields): { seq?: number; seqFloor?: number } {
  const seq = int(f, 'seq', 1);
  const seqFloor = int(f, 'seqFloor', 0);
  if (seqFloor !== undefined && seq === undefined) throw bad('seqFloor needs seq');
  if (seq !== undefined && seqFloor !== undefined && seqFloor > seq) {
    throw bad('seqFloor must not be above seq');
  }
  return omitUndefined({ seq, seqFloor });
}

/**
 * `o` without its undefined fields, as a new object: deleting them instead would turn every
 * request object into a slow dictionary-mode object for the rest of its life.
 */
function omitUndefined<T extends object>(o: T): T {
  const out = {} as T;
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function txnConds(f: Fields): TxnCondition[] {
  const conds = f.conds ?? [];
  if (!Array.isArray(conds)) throw bad('conds must be an array');
  if (conds.length > limits.txnOpsMax) {
    throw new CoordError(ErrorCode.TOO_LARGE, `txn has over ${limits.txnOpsMax} conditions`);
  }
  return conds.map((c, i) => {
    if (!isPlainMap(c)) throw bad(`conds[${i}] must be a map`);
    const rev = writeRev(c);
    if (rev === undefined) throw bad(`conds[${i}].rev is required`);
    const exact = bool(c, 'exact');
    if (exact === true && rev < 1) throw bad(`conds[${i}]: an exact condition needs a rev ≥ 1 (a file's rev)`);
    return exact === true ? { path: path(c), rev, exact } : { path: path(c), rev };
  });
}

function txnOps(f: Fields): TxnOp[] {
  const list = f.ops;
  if (!Array.isArray(list)) throw bad('ops must be an array');
  if (list.length > limits.txnOpsMax) {
    throw new CoordError(ErrorCode.TOO_LARGE, `txn has over ${limits.txnOpsMax} ops`);
  }
  const seen = new Set<string>();
  return list.map((o, i): TxnOp => {
    if (!isPlainMap(o)) throw bad(`ops[${i}] must be a map`);
    const p = path(o);
    if (seen.has(p)) throw bad(`ops[${i}]: path ${p} appears twice in one txn`);
    seen.add(p);
    if (o.op === 'set') {
      return omitUndefined({
        op: 'set' as const, path: p, value: value(o), rev: writeRev(o), ephemeral: bool(o, 'ephemeral'),
      });
    }
    if (o.op === 'del') return omitUndefined({ op: 'del' as const, path: p, rev: writeRev(o) });
    throw bad(`ops[${i}].op must be "set" or "del"`);
  });
}

/** User and role names: what `coord acl` prints and log lines quote, so nothing surprising. */
const ACL_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** Tokens: long enough not to be guessed (the server keeps their SHA-256), printable ASCII. */
const ACL_TOKEN = /^[\x21-\x7e]{16,256}$/;
const ACL_ROLES_MAX = 64;

function aclName(f: Fields, name: 'user' | 'role'): string {
  const v = f[name];
  if (v === undefined || v === null) throw bad(`${name} is required`);
  if (typeof v !== 'string' || !ACL_NAME.test(v)) {
    throw bad(`${name} must be 1–64 characters of A-Z a-z 0-9 . _ -, got ${describe(v)}`);
  }
  return v;
}

function aclToken(f: Fields): string {
  const v = f.token;
  if (v === undefined || v === null) throw bad('token is required');
  // The value itself is never echoed: it is a secret.
  if (typeof v !== 'string' || !ACL_TOKEN.test(v)) {
    throw bad('token must be 16–256 printable ASCII characters (no spaces)');
  }
  return v;
}

function aclBody(f: Fields): AclAction {
  const action = f.action;
  if (typeof action !== 'string' || !(aclActions as readonly string[]).includes(action)) {
    throw bad(`action must be one of ${aclActions.join(', ')}; got ${describe(action)}`);
  }
  switch (action as AclAction['action']) {
    case 'enable': case 'disable': case 'list': case 'whoami':
      return { action } as AclAction;
    case 'user-add': {
      const roles = f.roles ?? [];
      if (!Array.isArray(roles)) throw bad('roles must be an array of role names');
      if (roles.length > ACL_ROLES_MAX) throw new CoordError(ErrorCode.TOO_LARGE, `over ${ACL_ROLES_MAX} roles`);
      const names = roles.map((r) => aclName({ role: r }, 'role'));
      return { action: 'user-add', user: aclName(f, 'user'), token: aclToken(f), ...(names.length > 0 ? { roles: names } : {}) };
    }
    case 'user-delete':
      return { action: 'user-delete', user: aclName(f, 'user') };
    case 'user-token':
      return { action: 'user-token', user: aclName(f, 'user'), token: aclToken(f) };
    case 'user-grant': case 'user-revoke':
      return { action: action as 'user-grant', user: aclName(f, 'user'), role: aclName(f, 'role') };
    case 'role-add': case 'role-delete':
      return { action: action as 'role-add', role: aclName(f, 'role') };
    case 'role-grant': {
      const access = f.access;
      if (access !== 'read' && access !== 'readwrite') throw bad(`access must be "read" or "readwrite", got ${describe(access)}`);
      return { action: 'role-grant', role: aclName(f, 'role'), prefix: path(f, 'prefix'), access };
    }
    case 'role-revoke':
      return { action: 'role-revoke', role: aclName(f, 'role'), prefix: path(f, 'prefix') };
  }
}

/**
 * Validates a decoded frame. Throws CoordError: BAD_REQUEST for a wrong shape or argument,
 * UNKNOWN_OP, BAD_PATH, BAD_GLOB, TOO_LARGE, BAD_VERSION.
 */
export function parseRequest(msg: unknown): Request {
  if (!isPlainMap(msg)) throw bad('a request must be a msgpack map');
  const id = requestId(msg);
  if (id === null) throw bad('id must be a non-negative integer');
  const op = msg.op;
  if (typeof op !== 'string') throw bad('op must be a string');
  if (!(ops as readonly string[]).includes(op)) {
    throw new CoordError(ErrorCode.UNKNOWN_OP, `unknown op ${describe(op)}`);
  }
  return { id, ...parseBody(op as Op, msg) } as Request;
}

function parseBody(op: Op, f: Fields): RequestBody {
  switch (op) {
    case 'hello': {
      const version = requiredInt(f, 'version', 0);
      if (version !== PROTOCOL_VERSION) {
        throw new CoordError(
          ErrorCode.BAD_VERSION,
          `protocol version ${version} is not supported; this server speaks ${PROTOCOL_VERSION}`,
        );
      }
      const ttlMs = int(f, 'ttlMs', limits.sessionTtlMsMin);
      if (ttlMs !== undefined && ttlMs > limits.sessionTtlMsMax) {
        throw bad(`ttlMs must be at most ${limits.sessionTtlMsMax}`);
      }
      let session: { id: string; secret: string } | undefined;
      if (f.session !== undefined && f.session !== null) {
        if (!isPlainMap(f.session)) throw bad('session must be a map {id, secret}');
        const sid = str(f.session, 'id');
        const secret = str(f.session, 'secret');
        if (sid === undefined || secret === undefined) throw bad('session needs id and secret');
        session = { id: sid, secret };
      }
      return omitUndefined({ op, version, session, ttlMs, token: str(f, 'token') });
    }
    case 'get':
    case 'stat':
      return omitUndefined({ op, path: path(f), rev: int(f, 'rev', 0), serializable: bool(f, 'serializable') });
    case 'set':
      return omitUndefined({
        op, path: path(f), value: value(f), rev: writeRev(f), ephemeral: bool(f, 'ephemeral'),
        ...sequenced(f),
      });
    case 'del':
      return omitUndefined({ op, path: path(f), rev: writeRev(f), ...sequenced(f) });
    case 'getdir': {
      const after = str(f, 'after');
      return omitUndefined({ op, path: path(f), rev: int(f, 'rev', 0), after, limit: limit(f), serializable: bool(f, 'serializable') });
    }
    case 'walk': {
      const after = str(f, 'after');
      return omitUndefined({ op, glob: glob(f), rev: int(f, 'rev', 0), after, limit: limit(f), serializable: bool(f, 'serializable') });
    }
    case 'wait':
      return omitUndefined({ op, glob: glob(f), rev: int(f, 'rev', 0) });
    case 'watch':
      return omitUndefined({ op, glob: glob(f), fromRev: int(f, 'fromRev', 0), progressMs: progressMs(f) });
    case 'progress':
      return omitUndefined({ op, target: requiredInt(f, 'target', 0), serializable: bool(f, 'serializable') });
    case 'cancel':
      return { op, target: requiredInt(f, 'target', 0) };
    case 'txn':
      return omitUndefined({ op, conds: txnConds(f), ops: txnOps(f), ...sequenced(f) });
    case 'rev':
      return omitUndefined({ op, serializable: bool(f, 'serializable') });
    case 'ping':
    case 'close':
      return { op };
    case 'acl':
      return { op, ...aclBody(f), ...sequenced(f) };
  }
}
