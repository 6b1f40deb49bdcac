/**
 * Access control on a live server, over real WebSockets: off by default (today's behaviour);
 * once on, hellos need a user's token or the server's; reads, writes, transactions, WALK, WAIT
 * and WATCH are checked against the user's prefixes; a watch whose grant is revoked ends with
 * PERMISSION_DENIED before it delivers anything more; sessions stay their user's; the rules
 * survive a restart (from the log, and from a snapshot); the operator's HTTP endpoints take the
 * server's token or a root user's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, PermissionDeniedError, UnauthorizedError, type CoordClient } from '../../client/index.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { removeDir, startTestServer, tempDir } from '../helpers/server.ts';

const SERVER_TOKEN = 'server-token-0123456789';
const ROOT = 'root-token-0123456789abcdef';
const SVC = 'svc-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcd';

type Server = Awaited<ReturnType<typeof startTestServer>>;
let server: Server;
const dataDir = tempDir();
const clients: CoordClient[] = [];

async function as(token: string | undefined): Promise<CoordClient> {
  const c = await connect({ urls: server.url, ...(token !== undefined ? { token } : {}), connectTimeoutMs: 3000 });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = await startTestServer({ dataDir, token: SERVER_TOKEN, snapshotEveryEntries: 20 });
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await server?.close();
  removeDir(dataDir);
});

describe('access control', () => {
  it('is off by default: the server\'s token does everything, as before', async () => {
    const admin = await as(SERVER_TOKEN);
    expect(await admin.acl({ action: 'whoami' })).toEqual({ enabled: false, user: null, root: true, grants: [{ prefix: '/', access: 'readwrite' }] });
    await admin.set('/other/x', 'before');
    await expect(as(ROOT)).rejects.toBeInstanceOf(UnauthorizedError); // not a user yet, not the server's token
  });

  it('is set up and enabled from the SDK', async () => {
    const admin = await as(SERVER_TOKEN);
    await expect(admin.acl({ action: 'enable' })).rejects.toThrow(/role root first/);
    await admin.acl({ action: 'user-add', user: 'admin', token: ROOT, roles: ['root'] });
    await admin.acl({ action: 'role-add', role: 'app' });
    await admin.acl({ action: 'role-grant', role: 'app', prefix: '/app', access: 'readwrite' });
    await admin.acl({ action: 'role-add', role: 'viewer' });
    await admin.acl({ action: 'role-grant', role: 'viewer', prefix: '/app', access: 'read' });
    await admin.acl({ action: 'user-add', user: 'svc', token: SVC, roles: ['app'] });
    await admin.acl({ action: 'user-add', user: 'viewer', token: VIEWER, roles: ['viewer'] });
    await admin.acl({ action: 'enable' });
    expect(await admin.acl({ action: 'list' })).toEqual({
      enabled: true,
      users: [{ user: 'admin', roles: ['root'] }, { user: 'svc', roles: ['app'] }, { user: 'viewer', roles: ['viewer'] }],
      roles: [
        { role: 'root', grants: [{ prefix: '/', access: 'readwrite' }] },
        { role: 'app', grants: [{ prefix: '/app', access: 'readwrite' }] },
        { role: 'viewer', grants: [{ prefix: '/app', access: 'read' }] },
      ],
    });
  });

  it('lets in only a user\'s token or the server\'s', async () => {
    await expect(connect({ urls: server.url, connectTimeoutMs: 3000 })).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(connect({ urls: server.url, token: 'no-such-token-0123456789', connectTimeoutMs: 3000 })).rejects.toThrow(/names no user/);
    const svc = await as(SVC);
    expect(await svc.acl({ action: 'whoami' })).toEqual({ enabled: true, user: 'svc', root: false, grants: [{ prefix: '/app', access: 'readwrite' }] });
    await expect((await as(ROOT)).acl({ action: "whoami" })).resolves.toMatchObject({ user: "admin", root: true });
  });

  it('checks reads and writes against the user\'s prefixes', async () => {
    const svc = await as(SVC);
    const viewer = await as(VIEWER);
    const rev = await svc.set('/app/mode', 'fast');
    expect((await viewer.get('/app/mode')).rev).toBe(rev);
    const refusals = [
      svc.get('/other/x'), svc.set('/apple', 'x'), svc.del('/other/x'), svc.stat('/other/x'), svc.getdir('/'),
      viewer.set('/app/mode', 'slow'), viewer.del('/app/mode'),
      svc.txn({ conds: [{ path: '/other/x', rev: -1 }], ops: [{ op: 'set', path: '/app/y', value: 'v' }] }),
      svc.txn({ ops: [{ op: 'set', path: '/app/y', value: 'v' }, { op: 'set', path: '/elsewhere', value: 'v' }] }),
    ];
    for (const r of await Promise.allSettled(refusals)) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(PermissionDeniedError);
    }
    // Nothing of the refused writes was applied, and they took no revision.
    expect(await svc.rev()).toBe(rev);
    expect((await svc.get('/app/y')).value).toBeNull();
    expect((await viewer.getdir('/app')).names).toEqual(['mode']);
  });

  it('checks WALK, WAIT and WATCH by everything their glob can match', async () => {
    const svc = await as(SVC);
    await expect(svc.walk('/**')).rejects.toThrow(/needs read on \//);
    await expect(svc.walk('/app*')).rejects.toBeInstanceOf(PermissionDeniedError);
    expect((await svc.walk('/app/**')).files.map((f) => f.path)).toContain('/app/mode');
    await expect(svc.wait('/**', { rev: 1 })).rejects.toBeInstanceOf(PermissionDeniedError);
    const all = svc.watch('/*/mode');
    await expect(all[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(PermissionDeniedError);
    const w = svc.watch('/app/**');
    const it = w[Symbol.asyncIterator]();
    const rev = await svc.set('/app/w', '1');
    expect((await it.next()).value).toMatchObject({ path: '/app/w', rev });
    w.cancel();
  });

  it('ends a watch and a WAIT whose grant is revoked before delivering anything more', async () => {
    const root = await as(ROOT);
    const viewer = await RawClient.connect(server.url, { token: VIEWER });
    const watchId = viewer.client.request({ op: 'watch', glob: '/app/**' });
    await viewer.client.response(watchId);
    const waitId = viewer.client.request({ op: 'wait', glob: '/app/never', rev: (await root.rev()) + 1 });
    const before = await root.set('/app/seen', 'yes');
    expect((await viewer.client.eventsUntil(watchId, before)).map((e) => e.path)).toEqual(['/app/seen']);
    await root.acl({ action: 'role-revoke', role: 'viewer', prefix: '/app' });
    await root.set('/app/never', 'secret');
    const end = await viewer.client.push(watchId);
    expect(end.end).toMatchObject({ code: 'PERMISSION_DENIED', details: { glob: '/app/**' } });
    expect(end.events).toBeUndefined();
    expect((await viewer.client.response(waitId)).error).toMatchObject({ code: 'PERMISSION_DENIED' });
    // The secret write reached the viewer in no frame at all.
    expect(JSON.stringify(viewer.client.untaken())).not.toContain('/app/never');
    await expect(viewer.client.callError({ op: 'get', path: '/app/seen' })).resolves.toMatchObject({ code: 'PERMISSION_DENIED' });
    await viewer.client.close();
    await root.acl({ action: 'role-grant', role: 'viewer', prefix: '/app', access: 'read' });
  });

  it('keeps a session its user\'s', async () => {
    const svc = await RawClient.connect(server.url, { token: SVC });
    const session = { id: svc.hello.session.id, secret: svc.hello.session.secret };
    await svc.client.terminate();
    const other = await RawClient.open(server.url);
    const refused = await other.callError({ op: 'hello', version: 1, token: VIEWER, session });
    expect(refused).toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringMatching(/another user/) });
    const mine = await other.call<{ resumed: boolean }>({ op: 'hello', version: 1, token: SVC, session });
    expect(mine.resumed).toBe(true);
    await other.close();
    // One the server's token opened is not a user's to take either (root's and the server's only).
    const byServer = await RawClient.connect(server.url, { token: SERVER_TOKEN });
    const theirs = { id: byServer.hello.session.id, secret: byServer.hello.session.secret };
    const svc2 = await RawClient.open(server.url);
    expect(await svc2.callError({ op: 'hello', version: 1, token: SVC, session: theirs })).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect((await svc2.call<{ resumed: boolean }>({ op: 'hello', version: 1, token: ROOT, session: theirs })).resumed).toBe(true);
    await svc2.close();
    await byServer.client.close();
  });

  it('checks a read again once its revision is reached (access revoked while it waited)', async () => {
    const root = await as(ROOT);
    const viewer = await RawClient.connect(server.url, { token: VIEWER });
    const head = await root.rev();
    const waiting = viewer.client.request({ op: 'get', path: '/app/later', rev: head + 1 });
    await root.acl({ action: 'role-revoke', role: 'viewer', prefix: '/app' });
    await root.set('/app/later', 'written after the revocation');
    expect((await viewer.client.response(waiting)).error).toMatchObject({ code: 'PERMISSION_DENIED' });
    await viewer.client.close();
    await root.acl({ action: 'role-grant', role: 'viewer', prefix: '/app', access: 'read' });
  });

  it('a deleted user\'s connection keeps nothing alive: its pings are refused and its session expires', async () => {
    const root = await as(ROOT);
    await root.acl({ action: 'user-add', user: 'gone', token: 'gone-token-0123456789', roles: ['app'] });
    const gone = await RawClient.connect(server.url, { token: 'gone-token-0123456789', ttlMs: 1000 });
    await gone.client.call({ op: 'set', path: '/app/held-by-gone', value: 'x', ephemeral: true });
    await root.acl({ action: 'user-delete', user: 'gone' });
    expect(await gone.client.callError({ op: 'ping' })).toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringMatching(/may only close/) });
    const deadline = Date.now() + 4000;
    while ((await root.get('/app/held-by-gone')).value !== null && Date.now() < deadline) {
      await gone.client.callError({ op: 'ping' }); // every frame it sends is refused, and keeps nothing alive
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await root.get('/app/held-by-gone')).value).toBeNull();
    await gone.client.close();
  });

  it('only root changes or lists the rules', async () => {
    const svc = await as(SVC);
    await expect(svc.acl({ action: 'list' })).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(svc.acl({ action: 'role-grant', role: 'app', prefix: '/', access: 'readwrite' })).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(svc.acl({ action: 'disable' })).rejects.toBeInstanceOf(PermissionDeniedError);
    expect((await (await as(ROOT)).acl({ action: 'list' })).enabled).toBe(true);
  });

  it('a new token or a deleted user takes effect at once, on open connections too', async () => {
    const root = await as(ROOT);
    await root.acl({ action: 'user-add', user: 'temp', token: 'temp-token-0123456789', roles: ['app'] });
    const temp = await as('temp-token-0123456789');
    await temp.set('/app/t', '1');
    await root.acl({ action: 'user-token', user: 'temp', token: 'temp-token-new-0123456789' });
    await expect(temp.get('/app/t')).rejects.toThrow(/names no user/);
    const again = await as('temp-token-new-0123456789');
    expect((await again.get('/app/t')).value).not.toBeNull();
    await root.acl({ action: 'user-delete', user: 'temp' });
    await expect(again.set('/app/t', '2')).rejects.toBeInstanceOf(PermissionDeniedError);
  });

  it('is refused on a server whose peer port anyone may use (no token, no mutual TLS)', async () => {
    const open = await startTestServer();
    try {
      const c = await connect({ urls: open.url });
      await c.acl({ action: 'user-add', user: 'admin', token: ROOT, roles: ['root'] });
      await expect(c.acl({ action: 'enable' })).rejects.toThrow(/needs the servers started with a token/);
      expect((await c.acl({ action: 'whoami' })).enabled).toBe(false);
      await c.close();
    } finally {
      await open.close();
      removeDir(open.dataDir);
    }
  });

  it('guards the operator\'s HTTP endpoints: the server\'s token or a root user\'s', async () => {
    const base = server.url.replace('ws://', 'http://');
    const get = (token?: string) => fetch(`${base}/status`, token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {});
    expect((await get()).status).toBe(401);
    expect((await get(SVC)).status).toBe(403);
    expect((await get(ROOT)).status).toBe(200);
    expect((await get(SERVER_TOKEN)).status).toBe(200);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${SVC}` } })).status).toBe(403);
  });

  it('survives a restart: the rules come back from the log and the snapshots', async () => {
    const svc = await as(SVC);
    for (let i = 0; i < 30; i++) await svc.set(`/app/n/${i}`, String(i)); // past a snapshot (every 20 entries)
    for (const c of clients.splice(0)) await c.close().catch(() => {});
    await server.close();
    server = await startTestServer({ dataDir, token: SERVER_TOKEN, snapshotEveryEntries: 20 });
    await expect(connect({ urls: server.url, connectTimeoutMs: 3000 })).rejects.toBeInstanceOf(UnauthorizedError);
    const back = await as(SVC);
    expect((await back.get('/app/n/29')).value).not.toBeNull();
    await expect(back.get('/other/x')).rejects.toBeInstanceOf(PermissionDeniedError);
    const root = await as(ROOT);
    expect((await root.acl({ action: 'list' })).users.map((u) => u.user)).toEqual(['admin', 'svc', 'viewer']);
    await root.acl({ action: 'disable' });
    expect((await back.get('/other/x')).value).not.toBeNull();
  });
});
