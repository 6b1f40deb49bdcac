/**
 * Access control as replicated state: users (a name, the SHA-256 of their token, their roles),
 * roles (grants of read or read-write on path prefixes) and whether checking is on. Changed only
 * by `acl` commands in the log and carried in snapshots, so every replica decides alike; the
 * edge (server/api/) checks reads and watches against it, and the store checks every write
 * again when it applies it, against the rules as they are at that point in the log.
 *
 * The model is etcd's RBAC with Consul's prefix rules: a grant on `/app` covers `/app` and all
 * below it; the built-in role `root` may do everything, including change these rules. Checking
 * starts only with `enable`, which needs a user holding `root` (so nobody is locked out), and
 * the last such user cannot be removed while it is on. Tokens are hashed at the edge, so no log
 * entry or snapshot holds one.
 */
import { ErrorCode, type ErrorBody } from '../../protocol/errors.ts';
import type { Access, AclAction, AclListResult, Grant } from '../../protocol/messages.ts';
import { isUnder, isValidPath } from '../../protocol/path.ts';

export const ROOT_ROLE = 'root';
/**
 * What commands carry as `user` for the server's own token (commands.ts): it may do everything.
 * No user can be called this (names are A-Z a-z 0-9 . _ -). A command with no `user` at all
 * came from a connection whose token names nobody.
 */
export const SERVER_TOKEN_USER = '*';

/** A protocol action with its token replaced by the token's SHA-256 (hex). */
type WithTokenHash<T> = T extends { token: string } ? Omit<T, 'token'> & { tokenHash: string } : T;
/** An ACL change as the log carries it: a changing action of the protocol, tokens as their hashes. */
export type AclChange = WithTokenHash<Exclude<AclAction, { action: 'list' | 'whoami' }>>;

export interface AccessSnapshot {
  enabled: boolean;
  users: [user: string, tokenHash: string, roles: string[]][];
  roles: [role: string, grants: [prefix: string, access: Access][]][];
}

const NAME_FIELDS: Record<AclChange['action'], string[]> = {
  'enable': [], 'disable': [], 'user-add': ['user', 'tokenHash'], 'user-delete': ['user'],
  'user-token': ['user', 'tokenHash'], 'user-grant': ['user', 'role'], 'user-revoke': ['user', 'role'],
  'role-add': ['role'], 'role-delete': ['role'], 'role-grant': ['role', 'prefix', 'access'], 'role-revoke': ['role', 'prefix'],
};

/**
 * Why `change` is not an AclChange, or null: for a change that arrives from a peer (forwarding.ts)
 * rather than through protocol/validate.ts.
 */
export function aclChangeProblem(change: unknown): string | null {
  const c = change as Record<string, unknown> | null;
  if (typeof c !== 'object' || c === null) return 'an acl command needs a change';
  const fields = NAME_FIELDS[c['action'] as AclChange['action']];
  if (fields === undefined || !Object.hasOwn(NAME_FIELDS, c['action'] as string)) return `unknown acl action ${JSON.stringify(c['action'])}`;
  for (const f of fields) if (typeof c[f] !== 'string') return `acl ${String(c['action'])} needs ${f}`;
  if (c['access'] !== undefined && c['access'] !== 'read' && c['access'] !== 'readwrite') return 'access must be read or readwrite';
  if (c['prefix'] !== undefined && !isValidPath(c['prefix'])) return 'prefix must be a path';
  if (c['roles'] !== undefined && !(Array.isArray(c['roles']) && c['roles'].every((r) => typeof r === 'string'))) return 'roles must be names';
  return null;
}

interface User {
  tokenHash: string;
  roles: Set<string>;
}

/** What a user may do: everything, or what its roles' grants allow. */
type Rights = 'root' | Grant[];

function refused(code: ErrorCode, message: string): ErrorBody {
  return { code, message };
}

export class AccessTable {
  private on = false;
  private readonly users = new Map<string, User>();
  private readonly userByHash = new Map<string, string>();
  private readonly roles = new Map<string, Map<string, Access>>();
  private readonly rightsCache = new Map<string, Rights>();
  /** Rises with every change: whoever caches a decision compares it. */
  version = 0;

  /** True once `enable` was applied (and not undone by `disable`). */
  get enabled(): boolean {
    return this.on;
  }

  /** The user whose token has this SHA-256, if any. */
  userWithTokenHash(hash: string): string | undefined {
    return this.userByHash.get(hash);
  }

  isRoot(user: string): boolean {
    return this.users.get(user)?.roles.has(ROOT_ROLE) ?? false;
  }

  /** What `user` may read or write: its roles' grants, the stronger one where two name one prefix. */
  grantsOf(user: string): Grant[] {
    const rights = this.rights(user);
    return rights === 'root' ? [{ prefix: '/', access: 'readwrite' }] : rights;
  }

  /** True if `user` may read `path` (write: also write it). An unknown user may do nothing. */
  permits(user: string, path: string, write: boolean): boolean {
    const rights = this.rights(user);
    if (rights === 'root') return true;
    for (const g of rights) {
      if ((!write || g.access === 'readwrite') && isUnder(path, g.prefix)) return true;
    }
    return false;
  }

  private rights(user: string): Rights {
    let rights = this.rightsCache.get(user);
    if (rights !== undefined) return rights;
    const u = this.users.get(user);
    if (u?.roles.has(ROOT_ROLE)) {
      rights = 'root';
    } else {
      const byPrefix = new Map<string, Access>();
      for (const role of u?.roles ?? []) {
        for (const [prefix, access] of this.roles.get(role) ?? []) {
          if (byPrefix.get(prefix) !== 'readwrite') byPrefix.set(prefix, access);
        }
      }
      rights = [...byPrefix].sort(([a], [b]) => (a < b ? -1 : 1)).map(([prefix, access]) => ({ prefix, access }));
    }
    this.rightsCache.set(user, rights);
    return rights;
  }

  list(): AclListResult {
    const names = (m: Map<string, unknown>) => [...m.keys()].sort();
    return {
      enabled: this.on,
      users: names(this.users).map((user) => ({ user, roles: [...this.users.get(user)!.roles].sort() })),
      roles: [
        { role: ROOT_ROLE, grants: [{ prefix: '/', access: 'readwrite' as Access }] },
        ...names(this.roles).map((role) => ({
          role,
          grants: [...this.roles.get(role)!].sort(([a], [b]) => (a < b ? -1 : 1)).map(([prefix, access]) => ({ prefix, access })),
        })),
      ],
    };
  }

  /** True if `user` (a command's sender: a name, SERVER_TOKEN_USER, or undefined) may do everything. */
  unrestricted(user: string | undefined): boolean {
    return !this.on || user === SERVER_TOKEN_USER || (user !== undefined && this.isRoot(user));
  }

  /**
   * Applies a change sent by `by` (a user's name, SERVER_TOKEN_USER, or undefined for a token
   * that names nobody). Returns the refusal, or null once applied. A refusal changes nothing.
   */
  apply(change: AclChange, by: string | undefined): ErrorBody | null {
    if (!this.unrestricted(by)) {
      return refused(ErrorCode.PERMISSION_DENIED, `${by === undefined ? 'a token that names no user' : `user ${by}`} may not change access control (it needs the role root)`);
    }
    const problem = aclChangeProblem(change) ?? this.check(change);
    if (problem !== null) return refused(ErrorCode.BAD_REQUEST, problem);
    this.change(change);
    this.version++;
    this.rightsCache.clear();
    return null;
  }

  /** Why `change` cannot be applied now, or null. */
  private check(c: AclChange): string | null {
    const noUser = (user: string) => (this.users.has(user) ? null : `there is no user ${user}`);
    const noRole = (role: string) => (role === ROOT_ROLE || this.roles.has(role) ? null : `there is no role ${role}`);
    const tokenTaken = (hash: string, user: string) => {
      const holder = this.userByHash.get(hash);
      return holder !== undefined && holder !== user ? 'that token is already another user\'s; pick another' : null;
    };
    switch (c.action) {
      case 'enable':
        return this.rootUsers().length > 0 ? null
          : `add a user with the role ${ROOT_ROLE} first (coord acl user add NAME --role root): with none, nobody could change the rules once they are on`;
      case 'disable':
        return null;
      case 'user-add':
        if (this.users.has(c.user)) return `user ${c.user} exists`;
        for (const role of c.roles ?? []) { const p = noRole(role); if (p !== null) return p; }
        return tokenTaken(c.tokenHash, c.user);
      case 'user-delete':
        return noUser(c.user) ?? this.lastRoot(c.user, `delete user ${c.user}`);
      case 'user-token':
        return noUser(c.user) ?? tokenTaken(c.tokenHash, c.user);
      case 'user-grant':
        return noUser(c.user) ?? noRole(c.role);
      case 'user-revoke':
        if (noUser(c.user) !== null) return noUser(c.user);
        if (!this.users.get(c.user)!.roles.has(c.role)) return `user ${c.user} does not have the role ${c.role}`;
        return c.role === ROOT_ROLE ? this.lastRoot(c.user, `take the role ${ROOT_ROLE} from ${c.user}`) : null;
      case 'role-add':
        if (c.role === ROOT_ROLE) return `${ROOT_ROLE} is built in`;
        return this.roles.has(c.role) ? `role ${c.role} exists` : null;
      case 'role-delete':
        if (c.role === ROOT_ROLE) return `${ROOT_ROLE} is built in and cannot be deleted`;
        return noRole(c.role);
      case 'role-grant':
        if (c.role === ROOT_ROLE) return `${ROOT_ROLE} already grants everything`;
        return noRole(c.role);
      case 'role-revoke':
        if (c.role === ROOT_ROLE) return `${ROOT_ROLE} is built in`;
        if (noRole(c.role) !== null) return noRole(c.role);
        return this.roles.get(c.role)!.has(c.prefix) ? null : `role ${c.role} has no grant on ${c.prefix}`;
    }
  }

  private rootUsers(): string[] {
    return [...this.users].filter(([, u]) => u.roles.has(ROOT_ROLE)).map(([name]) => name);
  }

  /** While checking is on, the last root user stays: without one nobody could change the rules. */
  private lastRoot(user: string, what: string): string | null {
    const roots = this.rootUsers();
    if (!this.on || roots.length !== 1 || roots[0] !== user) return null;
    return `cannot ${what}: it is the last user with the role ${ROOT_ROLE} while access control is on (add another, or disable it first)`;
  }

  private change(c: AclChange): void {
    switch (c.action) {
      case 'enable': this.on = true; return;
      case 'disable': this.on = false; return;
      case 'user-add':
        this.users.set(c.user, { tokenHash: c.tokenHash, roles: new Set(c.roles ?? []) });
        this.userByHash.set(c.tokenHash, c.user);
        return;
      case 'user-delete':
        this.userByHash.delete(this.users.get(c.user)!.tokenHash);
        this.users.delete(c.user);
        return;
      case 'user-token': {
        const u = this.users.get(c.user)!;
        this.userByHash.delete(u.tokenHash);
        u.tokenHash = c.tokenHash;
        this.userByHash.set(c.tokenHash, c.user);
        return;
      }
      case 'user-grant': this.users.get(c.user)!.roles.add(c.role); return;
      case 'user-revoke': this.users.get(c.user)!.roles.delete(c.role); return;
      case 'role-add': this.roles.set(c.role, new Map()); return;
      case 'role-delete':
        this.roles.delete(c.role);
        for (const u of this.users.values()) u.roles.delete(c.role);
        return;
      case 'role-grant': this.roles.get(c.role)!.set(c.prefix, c.access); return;
      case 'role-revoke': this.roles.get(c.role)!.delete(c.prefix); return;
    }
  }

  toSnapshot(): AccessSnapshot {
    return {
      enabled: this.on,
      users: [...this.users].map(([name, u]) => [name, u.tokenHash, [...u.roles]]),
      roles: [...this.roles].map(([name, grants]) => [name, [...grants]]),
    };
  }

  static fromSnapshot(snap: AccessSnapshot | undefined): AccessTable {
    const table = new AccessTable();
    if (snap === undefined) return table;
    table.on = snap.enabled;
    for (const [name, grants] of snap.roles) table.roles.set(name, new Map(grants));
    for (const [name, tokenHash, roles] of snap.users) {
      table.users.set(name, { tokenHash, roles: new Set(roles) });
      table.userByHash.set(tokenHash, name);
    }
    return table;
  }
}
