/**
 * Three real `coord server` processes on loopback, formed with --peers: clients talk to any
 * node; writes on followers are forwarded to the leader, reads on followers are linearizable,
 * watches on a follower see every write; a follower cut off from any leader still answers
 * serializable reads and reads at a revision; the leader SIGKILLed, the other two elect a new one and
 * lose no acknowledged write; the killed node restarts on its data directory without --peers and
 * catches up.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.ts';
import { TestCluster } from '../helpers/cluster.ts';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

const td = new TextDecoder();

describe('a three-node cluster of real processes', { timeout: 60_000 }, () => {
  it('forwards writes from followers, reads and watches on any node, survives the loss of its leader', async () => {
    cluster = await TestCluster.start();
    const leader = await cluster.leader();
    const followers = cluster.nodes.filter((n) => n.id !== leader);

    // A client on each follower: writes forwarded, reads linearizable there.
    const a = await connect({ urls: followers[0]!.url });
    const b = await connect({ urls: followers[1]!.url });
    // From revision 1: a watch from "now" starts wherever now is when the follower takes it.
    const watch = b.watch('/k/**', { fromRev: 1 });
    const seen: string[] = [];
    const watching = (async () => {
      for await (const ev of watch) {
        seen.push(`${ev.path}@${ev.rev}`);
        if (seen.length === 10) break;
      }
    })();
    const revs: number[] = [];
    for (let i = 0; i < 10; i++) revs.push(await a.set(`/k/${i}`, `v${i}`));
    for (let i = 0; i < 10; i++) {
      const got = await b.get(`/k/${i}`);
      expect(got.value === null ? null : td.decode(got.value)).toBe(`v${i}`);
      expect(got.rev).toBe(revs[i]);
    }
    await watching;
    expect(seen).toEqual(revs.map((r, i) => `/k/${i}@${r}`));

    // With the leader and the other follower frozen, b's server has no leader and cannot get
    // one: it still answers serializable reads and reads at a revision it has applied, from its
    // own replica, while a linearizable read cannot be answered.
    const frozen = [cluster.node(leader).server!.proc, cluster.node(followers[0]!.id).server!.proc];
    for (const p of frozen) p.kill('SIGSTOP');
    try {
      const local = await b.get('/k/9', { consistency: 'serializable', timeoutMs: 10_000 });
      expect(local.rev).toBe(revs[9]);
      const past = await b.get('/k/0', { rev: revs[5]!, timeoutMs: 10_000 });
      expect(past.rev).toBe(revs[0]);
      const linear = await b.get('/k/9', { timeoutMs: 1500 }).catch((e: unknown) => e);
      expect((linear as { code?: string }).code).toBe('TIMEOUT');
    } finally {
      for (const p of frozen) p.kill('SIGCONT');
    }
    await a.close();
    await b.close();

    // The leader dies; a client that knows every node carries on, and so does one that knows
    // only a follower (it answers UNAVAILABLE until a new leader is elected: the SDK sends the
    // write again on the same connection until it lands).
    const onFollower = await connect({ urls: followers[0]!.url, requestTimeoutMs: 15_000 });
    await onFollower.set('/via-follower', 'before');
    await cluster.kill(leader);
    const viaFollower = onFollower.set('/via-follower', 'after');
    const c = await connect({ urls: cluster.urls });
    const after = await c.set('/after', 'x');
    expect(await viaFollower).toBeGreaterThan(revs[9]!);
    await onFollower.close();
    expect(after).toBeGreaterThan(revs[9]!);
    const newLeader = await cluster.leader();
    expect(newLeader).not.toBe(leader);
    for (let i = 0; i < 10; i++) expect((await c.get(`/k/${i}`)).rev).toBe(revs[i]);

    // The old leader restarts on its data (no --peers) and catches up.
    await cluster.startNode(leader);
    await cluster.waitReady();
    const d = await connect({ urls: cluster.node(leader).url });
    const got = await d.get('/after');
    expect(got.rev).toBe(after);
    await c.close();
    await d.close();
  });
});
