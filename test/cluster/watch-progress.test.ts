/**
 * Watch progress on a follower of a real three-process cluster: the answer to `progress()` is
 * linearizable — at least the revision of a write the leader acknowledged before it was asked,
 * with that write's event already in the stream — even when the follower had not applied the
 * write when asked (it was frozen with SIGSTOP while the leader and the other follower
 * committed it). `serializable: true` answers from the follower's own replica: it still answers
 * when the follower is cut off from any leader (the others frozen), where the linearizable one
 * cannot.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.ts';
import { TestCluster } from '../helpers/cluster.ts';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

describe('progress on a follower\'s watch', { timeout: 60_000 }, () => {
  it('is linearizable: ≥ a write acknowledged by the leader, whose event is already in the stream', async () => {
    cluster = await TestCluster.start();
    const leader = await cluster.leader();
    const [follower, other] = cluster.nodes.filter((n) => n.id !== leader);
    const watcher = await connect({ urls: follower!.url, requestTimeoutMs: 15_000 });
    const writer = await connect({ urls: cluster.node(leader).url });
    const stream = watcher.watch('/cp/**');
    await stream.progress(); // the watch is open on the follower

    // The follower misses the write while frozen; the leader and the other follower commit it.
    const frozen = follower!.server!.proc;
    frozen.kill('SIGSTOP');
    let written: number;
    try {
      written = await writer.set('/cp/a', 'while-frozen');
    } finally {
      frozen.kill('SIGCONT');
    }
    const rev = await stream.progress();
    expect(rev).toBeGreaterThanOrEqual(written);
    // Nothing has read the stream: the event came before the answer.
    expect(stream.buffered).toBe(1);
    expect(await stream.nextRevision()).toMatchObject({ rev: written, events: [{ path: '/cp/a', kind: 'set' }] });
    expect(stream.progressRev).toBe(rev);

    // Cut off from any leader, the follower answers serializable progress from its replica; a
    // linearizable one cannot be answered.
    const others = [cluster.node(leader).server!.proc, other!.server!.proc];
    for (const p of others) p.kill('SIGSTOP');
    try {
      const local = await stream.progress({ serializable: true, timeoutMs: 10_000 });
      expect(local).toBeGreaterThanOrEqual(written);
      const linear = await stream.progress({ timeoutMs: 1500 }).catch((e: unknown) => e);
      expect((linear as { code?: string }).code).toBe('TIMEOUT');
    } finally {
      for (const p of others) p.kill('SIGCONT');
    }
    stream.cancel();
    await watcher.close();
    await writer.close();
  });
});
