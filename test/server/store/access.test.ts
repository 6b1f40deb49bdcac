/**
 * Access control as replicated state (server/store/access.ts): the rules' edge cases, a property
 * test of `permits` against a dumb model (a path is covered by a grant on itself or an ancestor
 * directory), and the store checking writes when they apply, remembering the refusals for
 * retries, and carrying the rules and session owners through snapshots.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccessTable, type AclChange } from '../../../server/store/access.ts';
import type { Command } from '../../../server/store/commands.ts';
import { Store } from '../../../server/store/store.ts';

const bytes = (s: string) => Buffer.from(s);

function table(...changes: AclChange[]): AccessTable {
  const t = new AccessTable();
  for (const c of changes) expect(t.apply(c, undefined)).toBeNull();
  return t;
}

describe('the access table', () => {
  it('grants cover a prefix and what is below it, on component boundaries', () => {
    const t = table(
      { action: 'role-add', role: 'app' }, { action: 'role-grant', role: 'app', prefix: '/app', access: 'readwrite' },
      { action: 'role-add', role: 'cfg' }, { action: 'role-grant', role: 'cfg', prefix: '/config', access: 'read' },
      { action: 'user-add', user: 'svc', tokenHash: 'h1', roles: ['app', 'cfg'] },
    );
    expect(t.permits('svc', '/app', true)).toBe(true);
    expect(t.permits('svc', '/app/a/b', true)).toBe(true);
    expect(t.permits('svc', '/apple', false)).toBe(false);
    expect(t.permits('svc', '/config/x', false)).toBe(true);
    expect(t.permits('svc', '/config/x', true)).toBe(false);
    expect(t.permits('svc', '/', false)).toBe(false);
    expect(t.permits('nobody', '/app', false)).toBe(false);
    expect(t.permits('', '/app', false)).toBe(false);
    expect(t.grantsOf('svc')).toEqual([{ prefix: '/app', access: 'readwrite' }, { prefix: '/config', access: 'read' }]);
  });

  it('the stronger of two grants on one prefix wins; root may do everything', () => {
    const t = table(
      { action: 'role-add', role: 'r' }, { action: 'role-grant', role: 'r', prefix: '/a', access: 'read' },
      { action: 'role-add', role: 'w' }, { action: 'role-grant', role: 'w', prefix: '/a', access: 'readwrite' },
      { action: 'user-add', user: 'u', tokenHash: 'h', roles: ['r', 'w'] },
      { action: 'user-add', user: 'admin', tokenHash: 'hr', roles: ['root'] },
    );
    expect(t.permits('u', '/a/x', true)).toBe(true);
    expect(t.isRoot('admin')).toBe(true);
    expect(t.permits('admin', '/anything/at/all', true)).toBe(true);
    expect(t.userWithTokenHash('hr')).toBe('admin');
  });

  it('enable needs a root user, and the last one stays while it is on', () => {
    const t = new AccessTable();
    expect(t.apply({ action: 'enable' }, undefined)?.message).toMatch(/role root first/);
    expect(t.enabled).toBe(false);
    expect(t.apply({ action: 'user-add', user: 'admin', tokenHash: 'h', roles: ['root'] }, undefined)).toBeNull();
    expect(t.apply({ action: 'enable' }, undefined)).toBeNull();
    expect(t.apply({ action: 'user-delete', user: 'admin' }, '*')?.message).toMatch(/last user with the role root/);
    expect(t.apply({ action: 'user-revoke', user: 'admin', role: 'root' }, 'admin')?.message).toMatch(/last user/);
    expect(t.apply({ action: 'disable' }, 'admin')).toBeNull();
    expect(t.apply({ action: 'user-delete', user: 'admin' }, undefined)).toBeNull();
  });

  it('once on, only root (or the server\'s token, \'*\') changes the rules; a refusal changes nothing', () => {
    const t = table(
      { action: 'user-add', user: 'admin', tokenHash: 'h0', roles: ['root'] },
      { action: 'user-add', user: 'svc', tokenHash: 'h1' },
      { action: 'enable' },
    );
    const v = t.version;
    expect(t.apply({ action: 'role-add', role: 'x' }, 'svc')?.code).toBe('PERMISSION_DENIED');
    // No sender at all: a token that names nobody (never the server's own, which says '*').
    expect(t.apply({ action: 'role-add', role: 'x' }, undefined)?.code).toBe('PERMISSION_DENIED');
    expect(t.version).toBe(v);
    expect(t.list().roles.map((r) => r.role)).toEqual(['root']);
    expect(t.apply({ action: 'role-add', role: 'x' }, 'admin')).toBeNull();
    expect(t.apply({ action: 'role-add', role: 'y' }, '*')).toBeNull();
    expect(t.version).toBe(v + 2);
  });

  it('refuses what makes no sense, with a message', () => {
    const t = table({ action: 'user-add', user: 'a', tokenHash: 'h' }, { action: 'role-add', role: 'r' });
    const msg = (c: AclChange) => t.apply(c, undefined)?.message;
    expect(msg({ action: 'user-add', user: 'a', tokenHash: 'h2' })).toMatch(/exists/);
    expect(msg({ action: 'user-add', user: 'b', tokenHash: 'h' })).toMatch(/already another user's/);
    expect(msg({ action: 'user-add', user: 'b', tokenHash: 'h3', roles: ['nope'] })).toMatch(/no role nope/);
    expect(msg({ action: 'user-grant', user: 'zz', role: 'r' })).toMatch(/no user zz/);
    expect(msg({ action: 'user-revoke', user: 'a', role: 'r' })).toMatch(/does not have/);
    expect(msg({ action: 'role-add', role: 'root' })).toMatch(/built in/);
    expect(msg({ action: 'role-delete', role: 'root' })).toMatch(/built in/);
    expect(msg({ action: 'role-grant', role: 'root', prefix: '/', access: 'read' })).toMatch(/already grants/);
    expect(msg({ action: 'role-revoke', role: 'r', prefix: '/x' })).toMatch(/no grant on \/x/);
  });

  it('a deleted role leaves its users; a new token replaces the old', () => {
    const t = table(
      { action: 'role-add', role: 'r' }, { action: 'role-grant', role: 'r', prefix: '/a', access: 'read' },
      { action: 'user-add', user: 'u', tokenHash: 'old', roles: ['r'] },
    );
    expect(t.permits('u', '/a', false)).toBe(true);
    expect(t.apply({ action: 'role-delete', role: 'r' }, undefined)).toBeNull();
    expect(t.permits('u', '/a', false)).toBe(false);
    expect(t.list().users).toEqual([{ user: 'u', roles: [] }]);
    expect(t.apply({ action: 'user-token', user: 'u', tokenHash: 'new' }, undefined)).toBeNull();
    expect(t.userWithTokenHash('old')).toBeUndefined();
    expect(t.userWithTokenHash('new')).toBe('u');
  });

  it('a snapshot round-trips the rules', () => {
    const t = table(
      { action: 'role-add', role: 'r' }, { action: 'role-grant', role: 'r', prefix: '/a', access: 'readwrite' },
      { action: 'user-add', user: 'admin', tokenHash: 'h0', roles: ['root'] },
      { action: 'user-add', user: 'u', tokenHash: 'h1', roles: ['r'] }, { action: 'enable' },
    );
    const back = AccessTable.fromSnapshot(structuredClone(t.toSnapshot()));
    expect(back.list()).toEqual(t.list());
    expect(back.userWithTokenHash('h1')).toBe('u');
    expect(back.permits('u', '/a/b', true)).toBe(true);
  });

  it('permits agrees with a dumb model on random rules and paths', () => {
    const name = fc.constantFrom('a', 'b', 'ab', 'c');
    const path = fc.array(name, { minLength: 0, maxLength: 3 }).map((p) => `/${p.join('/')}`);
    const grant = fc.record({ role: fc.constantFrom('r1', 'r2', 'r3'), prefix: path, access: fc.constantFrom('read' as const, 'readwrite' as const) });
    fc.assert(fc.property(fc.array(grant, { maxLength: 8 }), fc.subarray(['r1', 'r2', 'r3']), path, fc.boolean(), (grants, roles, p, write) => {
      const t = table({ action: 'role-add', role: 'r1' }, { action: 'role-add', role: 'r2' }, { action: 'role-add', role: 'r3' });
      const model = new Map<string, Map<string, string>>();
      for (const g of grants) {
        expect(t.apply({ action: 'role-grant', ...g }, undefined)).toBeNull();
        if (!model.has(g.role)) model.set(g.role, new Map());
        model.get(g.role)!.set(g.prefix, g.access); // a later grant on one prefix replaces the earlier
      }
      expect(t.apply({ action: 'user-add', user: 'u', tokenHash: 'h', roles }, undefined)).toBeNull();
      const covered = (prefix: string) => prefix === '/' || p === prefix || p.startsWith(`${prefix}/`);
      const expected = roles.some((r) => [...(model.get(r) ?? [])].some(([prefix, access]) =>
        covered(prefix) && (!write || access === 'readwrite')));
      return t.permits('u', p, write) === expected;
    }), { numRuns: 500 });
  });
});

describe('the store with access control', () => {
  function storeWithRules(): Store {
    const s = new Store({ historyRevisions: 100 });
    const acl = (change: AclChange) => expect(s.apply({ t: 'acl', change })).toMatchObject({ ok: true });
    acl({ action: 'role-add', role: 'app' });
    acl({ action: 'role-grant', role: 'app', prefix: '/app', access: 'readwrite' });
    acl({ action: 'user-add', user: 'admin', tokenHash: 'h0', roles: ['root'] });
    acl({ action: 'user-add', user: 'svc', tokenHash: 'h1', roles: ['app'] });
    acl({ action: 'enable' });
    return s;
  }
  const set = (path: string, user?: string, extra: Partial<Extract<Command, { t: 'txn' }>> = {}): Command =>
    ({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: bytes('v'), rev: -1 }], ...(user !== undefined ? { user } : {}), ...extra });

  it('checks a write against the rules when it applies; a refusal takes no revision', () => {
    const s = storeWithRules();
    expect(s.rev).toBe(0);
    expect(s.apply(set('/app/x', 'svc'))).toMatchObject({ ok: true, rev: 1 });
    expect(s.apply(set('/other', 'svc'))).toMatchObject({ ok: false, error: { code: 'PERMISSION_DENIED', details: { path: '/other' } } });
    expect(s.apply(set('/other'))).toMatchObject({ ok: false, error: { code: 'PERMISSION_DENIED' } }); // nobody
    expect(s.apply(set('/other', 'admin'))).toMatchObject({ ok: true, rev: 2 });
    expect(s.apply(set('/other', '*'))).toMatchObject({ ok: true, rev: 3 }); // the server's own token
    // A transaction is refused whole, conditions included.
    const mixed: Command = { t: 'txn', user: 'svc', conds: [{ path: '/secret', rev: -1 }], ops: [{ op: 'set', path: '/app/y', value: bytes('v') }] };
    expect(s.apply(mixed)).toMatchObject({ ok: false, error: { code: 'PERMISSION_DENIED', details: { path: '/secret' } } });
    expect(s.rev).toBe(3);
    expect(s.get('/app/y').rev).toBe(0);
    // Off again: nothing is checked.
    expect(s.apply({ t: 'acl', change: { action: 'disable' }, user: 'admin' })).toMatchObject({ ok: true });
    expect(s.apply(set('/other', 'svc'))).toMatchObject({ ok: true, rev: 4 });
    expect(s.apply(set('/other'))).toMatchObject({ ok: true, rev: 5 });
  });

  it('remembers an acl change\'s result for a retry, as for any write', () => {
    const s = storeWithRules();
    s.apply({ t: 'open', sid: 's1', secret: 'x', ttlMs: 5000, user: 'admin' });
    const add: Command = { t: 'acl', change: { action: 'role-add', role: 'new' }, user: 'admin', sid: 's1', seq: 1 };
    expect(s.apply(add)).toMatchObject({ ok: true });
    expect(s.apply(add)).toMatchObject({ ok: true }); // not "role new exists"
    const denied: Command = { t: 'acl', change: { action: 'role-add', role: 'n2' }, user: 'svc', sid: 's1', seq: 2 };
    expect(s.apply(denied)).toMatchObject({ ok: false, error: { code: 'PERMISSION_DENIED' } });
  });

  it('a snapshot carries the rules and who opened each session', () => {
    const s = storeWithRules();
    s.apply({ t: 'open', sid: 's1', secret: 'x', ttlMs: 5000, user: 'svc' });
    s.apply({ t: 'open', sid: 's2', secret: 'y', ttlMs: 5000 });
    const back = Store.fromSnapshot(structuredClone(s.toSnapshot()), { historyRevisions: 100 });
    expect(back.access.enabled).toBe(true);
    expect(back.access.list()).toEqual(s.access.list());
    expect(back.session('s1')?.user).toBe('svc');
    expect(back.session('s2')?.user).toBeUndefined();
    expect(back.apply(set('/other', 'svc'))).toMatchObject({ ok: false, error: { code: 'PERMISSION_DENIED' } });
    // Installed over a store whose rules were at some version, the new rules' version is past it
    // (connections compare versions to know when to decide again).
    const v = back.access.version;
    const other = Store.fromSnapshot(structuredClone(s.toSnapshot()), { historyRevisions: 100 });
    for (let i = 0; i < 3; i++) other.apply({ t: 'acl', change: { action: 'role-add', role: `r${i}` }, user: '*' });
    other.restore(structuredClone(s.toSnapshot()));
    expect(other.access.version).toBeGreaterThan(v + 3);
    // A snapshot from before access control: none, off.
    const old = s.toSnapshot();
    delete old.access;
    expect(Store.fromSnapshot(old, { historyRevisions: 100 }).access.enabled).toBe(false);
  });
});
