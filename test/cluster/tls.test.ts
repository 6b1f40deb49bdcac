// Method: three real `coord server` processes serving TLS with throwaway openssl certificates
// (one CA; every node's certificate is good for 127.0.0.1 and for client auth). The peers must
// form the cluster over wss:// with mutual TLS (a peer link without a certificate from the CA is
// refused: checked directly), elect a leader, forward a client's write from a follower, and the
// real CLI's `coord status` must reach every member over https and list their wss:// urls, and
// `coord leader transfer` must move leadership over https.
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.ts';
import { coord, killAllCli } from '../helpers/cli-run.ts';
import { TestCluster } from '../helpers/cluster.ts';
import { removeDir, spawnServer, tempDir } from '../helpers/server.ts';
import { makeTestCerts, type TestCerts } from '../helpers/tls-certs.ts';

let certs: TestCerts;
let cluster: TestCluster | null = null;

beforeAll(() => {
  certs = makeTestCerts();
});

afterAll(async () => {
  await killAllCli();
  await cluster?.stop();
  removeDir(certs.dir);
});

/** The status code a peer-link upgrade gets (101 if it was accepted). */
function peerUpgrade(url: string, tls: { ca: string; cert?: string; key?: string }): Promise<number | string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}/coord/peer/v1`, { headers: { 'x-coord-node': 'n9' }, ...tls });
    ws.on('unexpected-response', (_req, r) => {
      resolve(r.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', (err) => resolve(err.message));
  });
}

describe('a three-node TLS cluster', { timeout: 90_000 }, () => {
  it('elects a leader over mutual TLS, forwards a follower\'s write, and `coord status` lists wss:// members', async () => {
    const ca = certs.pem(certs.caCert);
    cluster = await TestCluster.start({
      args: ['--election-ms', '600', '--heartbeat-ms', '50',
        '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-ca', certs.caCert],
      tls: { ca },
    });
    const leader = await cluster.leader();
    expect(cluster.urls.every((u) => u.startsWith('wss://'))).toBe(true);

    // A write sent to a follower only: it forwards it to the leader.
    const follower = cluster.nodes.find((n) => n.id !== leader)!;
    const c = await connect({ urls: follower.url, tls: { ca }, failFast: true, connectTimeoutMs: 10_000 });
    const rev = await c.set('/tls/forwarded', 'via-follower');
    await c.close();
    const atLeader = await connect({ urls: cluster.node(leader).url, tls: { ca }, failFast: true, connectTimeoutMs: 10_000 });
    const got = await atLeader.get('/tls/forwarded');
    await atLeader.close();
    expect(Buffer.from(got.value!).toString()).toBe('via-follower');
    expect(got.rev).toBe(rev);

    // The CLI over https: every member reachable, by its wss:// url, one leader.
    const status = await coord(['--url', follower.url, '--cacert', certs.caCert, 'status', '--json']);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    const st = JSON.parse(status.stdout) as { leader: string; members: Array<{ id: string; url: string; reachable: boolean; role: string }> };
    expect(st.leader).toBe(leader);
    expect(st.members.map((m) => [m.id, m.url, m.reachable]).sort()).toEqual(
      cluster.nodes.map((n) => [n.id, n.url, true]).sort());
    const text = await coord(['--url', follower.url, '--cacert', certs.caCert, 'status']);
    expect(text.code).toBe(0);
    for (const n of cluster.nodes) expect(text.stdout).toContain(n.url);

    // A change over https: leadership moves to the follower we name.
    const moved = await coord(['--url', follower.url, '--cacert', certs.caCert, 'leader', 'transfer', follower.id]);
    expect(moved.stderr).toBe('');
    expect(moved.code).toBe(0);
    expect(JSON.parse(moved.stdout)).toEqual({ leader: follower.id });
    expect(await cluster.leader()).toBe(follower.id);

    // Peers must prove themselves: a peer link with no client certificate, or one from another
    // CA, is refused; one with a certificate from the cluster's CA gets through the TLS check
    // (and then to the id check: 101 for this well-formed stranger id).
    const any = cluster.node(follower.id).url;
    expect(await peerUpgrade(any, { ca })).toBe(403);
    expect(await peerUpgrade(any, { ca, cert: certs.pem(certs.strangerCert), key: certs.pem(certs.strangerKey) })).toBe(403);
    expect(await peerUpgrade(any, { ca, cert: certs.pem(certs.clientCert), key: certs.pem(certs.clientKey) })).toBe(101);
  });

  it('a TLS node refuses ws:// peer urls at start, and a plain node wss:// ones, saying why', async () => {
    const dir = tempDir('coord-tls-peers-');
    try {
      await expect(spawnServer(dir, ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey,
        '--id', 'n1', '--peers', 'n1=ws://127.0.0.1:1,n2=ws://127.0.0.1:2'])).rejects.toThrow(/use wss:\/\/ in --peers/);
      await expect(spawnServer(dir, ['--id', 'n1', '--peers', 'n1=wss://127.0.0.1:1,n2=wss://127.0.0.1:2']))
        .rejects.toThrow(/wss:\/\/ needs TLS on every node/);
      await expect(spawnServer(dir, ['--tls-cert', certs.serverCert, '--tls-key', certs.clientKey]))
        .rejects.toThrow(/does not belong to the certificate/);
    } finally {
      removeDir(dir);
    }
  });
});
