/**
 * Access control on three nodes: the rules are changed through a follower (forwarded to the
 * leader like any write), and every node then takes the same tokens and refuses the same paths,
 * including a watch on a follower, which ends when its grant is revoked on another node. After
 * a restart of the whole cluster the rules come back from each node's log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, PermissionDeniedError, UnauthorizedError, type CoordClient } from '../../client/index.ts';
import { eventually } from '../helpers/raw-client.ts';
import { TestCoord } from '../helpers/test-coord.ts';

/** The cluster's own token: access control needs it (or mutual TLS) to guard the peer links. */
const CLUSTER = 'cluster-server-token-0123456789';
const ROOT = 'cluster-root-token-0123456789';
const SVC = 'cluster-svc-token-0123456789';
let cluster: TestCoord;
const clients: CoordClient[] = [];

async function on(url: string, token?: string): Promise<CoordClient> {
  const c = await connect({ urls: url, ...(token !== undefined ? { token } : {}), connectTimeoutMs: 5000 });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  cluster = await TestCoord.start({ token: CLUSTER }, 3);
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await cluster?.stop();
});

describe('access control in a cluster', () => {
  it('is set through a follower and holds on every node', async () => {
    const admin = await on(cluster.nextUrl(), CLUSTER); // a follower
    await admin.acl({ action: 'user-add', user: 'admin', token: ROOT, roles: ['root'] });
    await admin.acl({ action: 'role-add', role: 'app' });
    await admin.acl({ action: 'role-grant', role: 'app', prefix: '/app', access: 'readwrite' });
    await admin.acl({ action: 'user-add', user: 'svc', token: SVC, roles: ['app'] });
    await admin.acl({ action: 'enable' });
    for (const url of cluster.urls) {
      // Each node applies the enable in its own time: wait until it turns a user-less token away.
      await eventually(() => connect({ urls: url, token: 'not-a-user-token-0123456789', connectTimeoutMs: 2000 }).then(
        async (c) => { await c.close(); return undefined; },
        (err) => (err instanceof UnauthorizedError ? true : undefined)), `${url} to apply the rules`);
      const svc = await on(url, SVC);
      const rev = await svc.set('/app/x', url);
      expect((await svc.get('/app/x')).rev).toBe(rev);
      await expect(svc.set('/other', 'x')).rejects.toBeInstanceOf(PermissionDeniedError);
      await expect(svc.get('/other')).rejects.toBeInstanceOf(PermissionDeniedError);
    }
  });

  it('a watch on one node ends when its grant is revoked through another', async () => {
    const [a, b] = [cluster.nextUrl(), cluster.nextUrl()];
    const svc = await on(a, SVC);
    const root = await on(b, ROOT);
    const stream = svc.watch('/app/**');
    const it = stream[Symbol.asyncIterator]();
    // Written on the watch's own connection, so it comes after the watch's start ("now").
    const seen = await svc.set('/app/seen', '1');
    expect((await it.next()).value).toMatchObject({ path: '/app/seen', rev: seen });
    await root.acl({ action: 'role-revoke', role: 'app', prefix: '/app' });
    await root.set('/app/hidden', '2');
    await expect(it.next()).rejects.toBeInstanceOf(PermissionDeniedError);
    await root.acl({ action: 'role-grant', role: 'app', prefix: '/app', access: 'readwrite' });
  });

  it('comes back after every node restarts', async () => {
    for (const c of clients.splice(0)) await c.close().catch(() => {});
    await cluster.restart();
    for (const url of cluster.urls) {
      await expect(connect({ urls: url, token: 'not-a-user-token-0123456789', connectTimeoutMs: 5000 })).rejects.toBeInstanceOf(UnauthorizedError);
      const svc = await on(url, SVC);
      await expect(svc.get('/other')).rejects.toBeInstanceOf(PermissionDeniedError);
      expect((await svc.get('/app/seen')).value).not.toBeNull();
    }
  });
});
