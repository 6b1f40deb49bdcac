/**
 * `npm run expiry -- [--rounds 30] [--ttl 3000] [--with-leader-kill]`: how long a dead client's
 * ephemeral files (here a lock it held) outlive it on a three-node cluster of real processes.
 *
 * Each round, `coord --ttl T lock /expiry/rN -- sleep …` takes a lock; once the lock's file
 * exists, that coord process is SIGKILLed (its supervisor ends `sleep`), and with
 * --with-leader-kill the cluster's leader is SIGKILLed at the same moment. A client watching
 * the lock directory measures when the file goes. The claim to check (README): within the TTL
 * after the client's last word, plus the election time when the leader dies too (a new leader
 * gives every session a fresh TTL before it may expire any).
 */
import { parseArgs } from 'node:util';
import { connect } from '../../client/index.ts';
import { spawnCoord } from '../helpers/cli-run.ts';
import { TestCluster } from '../helpers/cluster.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '30' },
    ttl: { type: 'string', default: '3000' },
    'with-leader-kill': { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const ttl = Number(values.ttl);
const killLeader = values['with-leader-kill'] === true;

const cluster = await TestCluster.start({ args: ['--election-ms', '1000', '--heartbeat-ms', '100'] });
const client = await connect({ urls: cluster.urls, requestTimeoutMs: 30_000 });
const gaps: number[] = [];
try {
  for (let r = 0; r < rounds; r++) {
    await cluster.waitReady(30_000);
    const dir = `/expiry/r${r}`;
    const holder = spawnCoord(['--ttl', String(ttl), 'lock', dir, '--', 'sleep', '1000'], { url: cluster.urls.join(',') });
    // Wait until it holds the lock (its file is under the directory).
    for (;;) {
      if ((await client.getdir(dir).catch(() => ({ names: [] as string[] }))).names.length > 0) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    await new Promise((res) => setTimeout(res, 200));
    const leader = killLeader ? await cluster.waitReady(30_000) : null;
    const t0 = performance.now();
    holder.kill('SIGKILL');
    if (leader !== null) await cluster.kill(leader);
    for (;;) {
      // A directory exists only while it has files: NOENT once the lock file is gone.
      const names = (await client.getdir(dir).catch((err: { code?: string }) => {
        if (err.code === 'NOENT') return { names: [] as string[] };
        throw err;
      })).names;
      if (names.length === 0) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    const gap = performance.now() - t0;
    gaps.push(gap);
    process.stderr.write(`round ${r + 1}/${rounds}: lock file gone ${gap.toFixed(0)} ms after its holder${leader !== null ? ` and the leader (${leader})` : ''} died\n`);
    if (leader !== null) await cluster.startNode(leader);
  }
} finally {
  await client.close().catch(() => {});
  await cluster.stop();
}
const sorted = [...gaps].sort((a, b) => a - b);
const q = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
process.stdout.write(`${JSON.stringify({ rounds, ttlMs: ttl, leaderKilled: killLeader, minMs: q(0), p50Ms: q(0.5), p90Ms: q(0.9), maxMs: Math.round(sorted[sorted.length - 1]!) })}\n`);
