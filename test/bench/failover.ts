/**
 * `npm run failover -- [--kills 50] [--signal KILL|TERM] [--election-ms 1000]`: how long a
 * three-node cluster of real `coord server` processes stops acknowledging writes when its leader
 * dies (SIGKILL) or is stopped (SIGTERM: it hands leadership over first).
 *
 * A writer (the SDK, connected to all three urls) sets a key in a loop, one write at a time. Each
 * round: wait until every node is ready, note the time, signal the leader, and measure until the
 * first write acknowledged after that moment — what an application sees as the pause. The killed
 * node is restarted on its data (no --peers) and the next round starts once it has caught up.
 * Every acknowledged value is read back at the end (nothing acknowledged may be lost).
 */
import { parseArgs } from 'node:util';
import { connect } from '../../client/index.ts';
import { TestCluster } from '../helpers/cluster.ts';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '50' },
    signal: { type: 'string', default: 'KILL' },
    'election-ms': { type: 'string', default: '1000' },
  },
});
const kills = Number(values.kills);
const signal = `SIG${values.signal.toUpperCase().replace(/^SIG/, '')}` as NodeJS.Signals;
if (!(kills >= 1) || (signal !== 'SIGKILL' && signal !== 'SIGTERM')) {
  process.stderr.write('usage: npm run failover -- [--kills N] [--signal KILL|TERM] [--election-ms MS]\n');
  process.exit(2);
}
const electionMs = Number(values['election-ms']);

const cluster = await TestCluster.start({ args: ['--election-ms', String(electionMs), '--heartbeat-ms', String(Math.max(10, Math.round(electionMs / 10)))] });
const client = await connect({ urls: cluster.urls, requestTimeoutMs: 30_000 });
/** When the last acknowledged write was sent, and acknowledged. */
let lastSent = 0;
let lastAck = 0;
let acked = 0;
let stop = false;
const values_: Map<string, string> = new Map();
let writerFailed: unknown = null;
const writer = (async () => {
  for (let i = 0; !stop; i++) {
    const key = `/failover/${i % 100}`;
    const value = `v${i}`;
    const sent = performance.now();
    await client.set(key, value);
    values_.set(key, value);
    lastSent = sent;
    lastAck = performance.now();
    acked++;
  }
})().catch((err: unknown) => {
  writerFailed = err;
});

const pauses: number[] = [];
try {
  for (let round = 0; round < kills; round++) {
    const leader = await cluster.waitReady(30_000);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    await cluster.kill(leader, signal);
    // The first write sent after the signal and acknowledged (one sent before it may have been
    // committed already, and says nothing about the pause).
    while (!(lastSent > t0)) {
      if (writerFailed !== null) throw writerFailed;
      await new Promise((r) => setTimeout(r, 1));
    }
    const pause = lastAck - t0;
    pauses.push(pause);
    process.stderr.write(`round ${round + 1}/${kills}: ${leader} ${signal}, first ack after ${pause.toFixed(0)} ms\n`);
    await cluster.startNode(leader);
  }
  stop = true;
  await writer;
  if (writerFailed !== null) throw writerFailed;
  for (const [k, v] of values_) {
    const got = await client.get(k);
    if (got.value === null || new TextDecoder().decode(got.value) !== v) throw new Error(`${k}: acknowledged ${v}, read ${got.value === null ? 'nothing' : new TextDecoder().decode(got.value)}`);
  }
} finally {
  stop = true;
  await client.close().catch(() => {});
  await cluster.stop();
}

const sorted = [...pauses].sort((a, b) => a - b);
const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const summary = {
  signal, kills, electionMs, writes: acked,
  minMs: Math.round(sorted[0]!), p50Ms: Math.round(q(0.5)), p90Ms: Math.round(q(0.9)), p99Ms: Math.round(q(0.99)), maxMs: Math.round(sorted[sorted.length - 1]!),
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
