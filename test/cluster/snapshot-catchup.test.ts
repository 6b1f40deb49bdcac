/**
 * A member that missed more history than the leader keeps in its log catches up from a snapshot,
 * on three real processes: with snapshots every 100 entries (and the 5,000 entries a member keeps
 * before its snapshot for followers a little behind), a follower is SIGKILLed while 6,000 writes
 * go in, then restarted. The leader says it sends a snapshot, the follower says it installed one,
 * and afterwards the follower serves every write at its revision from its own replica. A member
 * added later logs the membership change on every node.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, text } from '../../client/index.ts';
import { coord, killAllCli } from '../helpers/cli-run.ts';
import { TestCluster } from '../helpers/cluster.ts';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
  await killAllCli();
});

interface Line { msg: string; to?: string; index?: number; voters?: string[]; learners?: string[] }
const lines = (c: TestCluster, id: string): Line[] =>
  c.node(id).server!.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);

async function until(cond: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('catching up from a snapshot', { timeout: 120_000 }, () => {
  it('a follower that missed compacted history installs the leader\'s snapshot and serves every write', async () => {
    cluster = await TestCluster.start({ args: ['--election-ms', '600', '--heartbeat-ms', '50', '--snapshot-every', '100'] });
    const leader = await cluster.leader();
    const behind = cluster.nodes.find((n) => n.id !== leader)!.id;
    await cluster.kill(behind);

    const client = await connect({ urls: cluster.node(leader).url });
    const N = 6000;
    const revs = new Map<string, number>();
    let next = 0;
    await Promise.all(Array.from({ length: 64 }, async () => {
      for (let i = next++; i < N; i = next++) revs.set(`/catchup/k${i}`, await client.set(`/catchup/k${i}`, `v${i}`));
    }));
    const last = Math.max(...revs.values());
    await client.close();

    await cluster.startNode(behind);
    await until(async () => (await cluster!.readyz(behind))?.ready === true && (await cluster!.readyz(behind))!.rev >= last);
    await until(() => lines(cluster!, behind).some((l) => l.msg === "installed the leader's snapshot"));
    expect(lines(cluster, leader).some((l) => l.msg === 'sending a snapshot' && l.to === behind)).toBe(true);

    // Its own replica (serializable reads) holds every write at the revision it was acknowledged.
    const local = await connect({ urls: cluster.node(behind).url });
    const sample = [...revs.entries()].filter((_, i) => i % 97 === 0 || i === N - 1);
    for (const [path, rev] of sample) {
      const got = await local.get(path, { consistency: 'serializable' });
      expect({ path, value: text(got.value), rev: got.rev }).toEqual({ path, value: `v${path.slice('/catchup/k'.length)}`, rev });
    }
    const all = await local.walk('/catchup/*', { consistency: 'serializable' });
    expect(all.files.length).toBe(N);
    await local.close();
  });

  it('every member logs a membership change when it takes effect', async () => {
    cluster = await TestCluster.start();
    await cluster.leader();
    const n4 = await cluster.startJoiner('n4');
    const add = await coord(['member', 'add', 'n4', n4.url], { url: cluster.urls[0]! });
    expect(add.stderr).toBe('');
    for (const id of ['n1', 'n2', 'n3']) {
      await until(() => lines(cluster!, id).some((l) => l.msg === 'membership changed' && (l.learners ?? []).includes('n4')));
    }
    // Promoted once caught up: a second change, to four voters.
    await until(() => lines(cluster!, 'n1').some((l) => l.msg === 'membership changed' && (l.voters ?? []).includes('n4')));
  });
});
