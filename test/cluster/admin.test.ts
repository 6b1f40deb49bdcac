/**
 * Running a cluster with the CLI, on three real processes: `coord status` (table and --json),
 * `coord leader transfer`, `coord member add` of a fourth server (a learner that is promoted
 * once caught up, and serves reads), `coord member remove`, and SIGTERM on the leader handing
 * over leadership before it exits (the term moves by one: no election timeout, no campaign).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.ts';
import { coord, killAllCli } from '../helpers/cli-run.ts';
import { TestCluster } from '../helpers/cluster.ts';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});
afterAll(killAllCli);

interface Member { id: string; role?: string; term?: number; applied?: number; reachable: boolean; lag?: number }

async function status(c: TestCluster, via?: string): Promise<{ leader: string | null; members: Member[] }> {
  const r = await coord(['status', '--json'], { url: via ?? c.urls.join(',') });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { leader: string | null; members: Member[] };
}

describe('cluster administration from the CLI', { timeout: 90_000 }, () => {
  it('status, leader transfer, member add (learner, promoted) and remove, hand-over on SIGTERM', async () => {
    cluster = await TestCluster.start();
    const first = await cluster.leader();
    let s = await status(cluster);
    expect(s.leader).toBe(first);
    expect(s.members.map((m) => m.id)).toEqual(['n1', 'n2', 'n3']);
    expect(s.members.every((m) => m.reachable)).toBe(true);
    const table = await coord(['status'], { url: cluster.urls[0]! });
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+URL\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+REV\s+LAG/);
    expect(table.stdout).toMatch(new RegExp(`${first}\\s+ws://127.0.0.1:\\d+\\s+leader`));

    // Hand leadership to a named voter.
    const target = ['n1', 'n2', 'n3'].find((id) => id !== first)!;
    const t = await coord(['leader', 'transfer', target], { url: cluster.urls.join(',') });
    expect(t.stderr).toBe('');
    expect(JSON.parse(t.stdout)).toEqual({ leader: target });
    expect(await cluster.leader()).toBe(target);

    // A fourth server joins: a learner first, a voter once caught up.
    const client = await connect({ urls: cluster.urls.slice(0, 3) });
    for (let i = 0; i < 20; i++) await client.set(`/before/${i}`, 'x');
    const n4 = await cluster.startJoiner('n4');
    const add = await coord(['member', 'add', 'n4', n4.url], { url: cluster.urls[0]! });
    expect(add.stderr).toBe('');
    expect(JSON.parse(add.stdout).learners).toEqual(['n4']);
    await until(async () => {
      const st = await status(cluster!);
      return st.members.find((m) => m.id === 'n4')?.role === 'follower' && st.members.every((m) => m.lag === 0);
    });
    const direct = await connect({ urls: n4.url });
    expect((await direct.get('/before/19')).value).not.toBeNull();
    await direct.close();

    // And leaves.
    const rm = await coord(['member', 'remove', 'n4'], { url: cluster.urls[1]! });
    expect(rm.stderr).toBe('');
    expect(JSON.parse(rm.stdout).voters).toEqual(['n1', 'n2', 'n3']);
    await cluster.kill('n4', 'SIGTERM');
    cluster.forget('n4');

    // SIGTERM on the leader: it hands over, and the term moves by exactly one.
    s = await status(cluster);
    const termBefore = s.members.find((m) => m.id === target)!.term!;
    await cluster.kill(target, 'SIGTERM');
    const next = await cluster.leader();
    expect(next).not.toBe(target);
    s = await status(cluster, cluster.nodes.filter((n) => n.id !== target).map((n) => n.url).join(','));
    expect(s.members.find((m) => m.id === next)!.term).toBe(termBefore + 1);
    expect(await client.set('/after', 'y')).toBeGreaterThan(20);
    await client.close();
  });

  it('refuses bad requests with a clear error', async () => {
    cluster = await TestCluster.start();
    const bad = await coord(['member', 'add', 'n9', 'http://x:1'], { url: cluster.urls[0]! });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/must be ws:\/\/host:port/);
    const notMember = await coord(['member', 'remove', 'n9'], { url: cluster.urls[0]! });
    expect(notMember.code).toBe(1);
    expect(notMember.stderr).toMatch(/n9 is not a member/);
    const notVoter = await coord(['leader', 'transfer', 'n9'], { url: cluster.urls[0]! });
    expect(notVoter.code).toBe(1);
    expect(notVoter.stderr).toMatch(/not another voter/);
  });
});

async function until(cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}
