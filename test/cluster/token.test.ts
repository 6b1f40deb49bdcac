/**
 * A cluster with a shared secret (COORD_TOKEN in every server's environment): the peers present
 * it to each other and form the cluster; clients and the admin endpoints need it too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect } from '../../client/index.ts';
import { TestCluster } from '../helpers/cluster.ts';

let cluster: TestCluster | null = null;
const saved = process.env['COORD_TOKEN'];
beforeAll(() => {
  process.env['COORD_TOKEN'] = 'cluster-secret';
});
afterAll(async () => {
  await cluster?.stop();
  if (saved === undefined) delete process.env['COORD_TOKEN'];
  else process.env['COORD_TOKEN'] = saved;
});

describe('a cluster with a token', { timeout: 60_000 }, () => {
  it('forms with the token between peers, and refuses clients and admin calls without it', async () => {
    cluster = await TestCluster.start();
    const leader = await cluster.leader();
    const ok = await connect({ urls: cluster.urls, token: 'cluster-secret' });
    expect(await ok.set('/t', 'x')).toBeGreaterThan(0);
    await ok.close();
    await expect(connect({ urls: cluster.urls[0]!, token: 'wrong', failFast: true, connectTimeoutMs: 3000 })).rejects.toThrow(/token/i);
    const port = cluster.node(leader).port;
    expect((await fetch(`http://127.0.0.1:${port}/status`)).status).toBe(401);
    const status = await fetch(`http://127.0.0.1:${port}/status`, { headers: { authorization: 'Bearer cluster-secret' } });
    expect(status.status).toBe(200);
    expect(((await status.json()) as { role: string }).role).toBe('leader');
    // /metrics is guarded the same way, on every node.
    for (const n of cluster.nodes) {
      expect((await fetch(`http://127.0.0.1:${n.port}/metrics`)).status).toBe(401);
      const m = await fetch(`http://127.0.0.1:${n.port}/metrics`, { headers: { authorization: 'Bearer cluster-secret' } });
      expect(m.status).toBe(200);
      expect(await m.text()).toMatch(new RegExp(`^coord_raft_is_leader ${n.id === leader ? 1 : 0}$`, 'm'));
    }
    // A peer link without the token is refused before the upgrade.
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/coord/peer/v1`, { headers: { 'x-coord-node': 'n9' } });
      ws.on('unexpected-response', (_req, r) => {
        resolve(r.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => {
        resolve(101);
        ws.close();
      });
      ws.on('error', () => {});
    });
    expect(refused).toBe(401);
  });
});
