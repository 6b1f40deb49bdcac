/**
 * /metrics on every node of a three-node cluster of real `coord server` processes: the leader
 * says is_leader 1 and the followers 0, all are in the same term, the leader's bytes sent to each
 * follower rise with the writes it replicates, followers catch up to the leader's commit index,
 * and a write taken by a follower (forwarded to the leader) is counted where it arrived.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.ts';
import { TestCluster } from '../helpers/cluster.ts';
import { scrape, type Scrape } from '../helpers/prom-text.ts';

let cluster: TestCluster | null = null;
afterAll(async () => {
  await cluster?.stop();
});

const v = (m: Scrape, name: string, labels?: Record<string, string>): number => m.value(name, labels) ?? 0;

async function eventually<T>(read: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const got = await read();
    if (got !== undefined) return got;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('/metrics on a cluster', { timeout: 60_000 }, () => {
  it('leader and followers each report their role, one term, replication bytes per peer and the commit index', async () => {
    cluster = await TestCluster.start();
    const c = cluster;
    const leader = await c.leader();
    const followers = c.nodes.map((n) => n.id).filter((id) => id !== leader);
    const scrapeOf = (id: string) => scrape(c.node(id).port);

    const first = new Map<string, Scrape>();
    for (const n of c.nodes) first.set(n.id, await scrapeOf(n.id));
    expect(v(first.get(leader)!, 'coord_raft_is_leader')).toBe(1);
    for (const f of followers) expect(v(first.get(f)!, 'coord_raft_is_leader')).toBe(0);
    const term = v(first.get(leader)!, 'coord_raft_term');
    expect(term).toBeGreaterThanOrEqual(1);
    for (const n of c.nodes) {
      expect(v(first.get(n.id)!, 'coord_raft_term'), n.id).toBe(term);
      expect(v(first.get(n.id)!, 'coord_raft_leader_changes_total'), n.id).toBeGreaterThanOrEqual(1);
    }
    // The leader has been sending heartbeats to both followers; each follower to the leader.
    for (const f of followers) expect(v(first.get(leader)!, 'coord_peer_sent_bytes_total', { peer: f })).toBeGreaterThan(0);
    for (const f of followers) expect(v(first.get(f)!, 'coord_peer_sent_bytes_total', { peer: leader })).toBeGreaterThan(0);

    // Writes through a follower: counted there, forwarded, replicated to both followers.
    const via = c.node(followers[0]!);
    const client = await connect({ urls: via.url });
    const value = 'x'.repeat(2000);
    let rev = 0;
    try {
      for (let i = 0; i < 20; i++) rev = await client.set(`/cm/${i}`, value);
    } finally {
      await client.close();
    }
    const leaderAfter = await scrapeOf(leader);
    for (const f of followers) {
      const sent = v(leaderAfter, 'coord_peer_sent_bytes_total', { peer: f }) - v(first.get(leader)!, 'coord_peer_sent_bytes_total', { peer: f });
      expect(sent, `bytes to ${f}`).toBeGreaterThan(20 * 2000);
    }
    const viaAfter = await scrapeOf(via.id);
    expect(v(viaAfter, 'coord_requests_total', { op: 'set', code: 'OK' })).toBe(20);
    expect(v(viaAfter, 'coord_write_duration_seconds_count')).toBe(20);
    expect(v(leaderAfter, 'coord_requests_total', { op: 'set', code: 'OK' })).toBe(0);
    // Forwarded writes were proposed and appended on the leader, in batches.
    expect(v(leaderAfter, 'coord_storage_append_entries_sum') - v(first.get(leader)!, 'coord_storage_append_entries_sum')).toBeGreaterThanOrEqual(20);

    // Every node reaches the leader's commit index and applies it; still one leader, one term.
    const commit = v(leaderAfter, 'coord_raft_commit_index');
    for (const n of c.nodes) {
      const m = await eventually(async () => {
        const s = await scrapeOf(n.id);
        return v(s, 'coord_raft_applied_index') >= commit && v(s, 'coord_store_revision') >= rev ? s : undefined;
      }, `${n.id} to apply ${commit}`);
      expect(v(m, 'coord_raft_commit_index'), n.id).toBeGreaterThanOrEqual(commit);
      expect(v(m, 'coord_raft_term'), n.id).toBe(term);
      expect(v(m, 'coord_raft_is_leader'), n.id).toBe(n.id === leader ? 1 : 0);
      expect(v(m, 'coord_history_bytes'), n.id).toBeGreaterThanOrEqual(20 * 2000);
    }
  });
});
