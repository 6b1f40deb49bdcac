/**
 * A watch on a cluster survives the loss of the server it is on: the SDK reconnects to another
 * member and resumes the watch from the revision after the last one it delivered, so the
 * watcher sees every revision exactly once, in order, across the move.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.ts';
import { TestCluster } from '../helpers/cluster.ts';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

describe('a watch across the loss of its server', { timeout: 60_000 }, () => {
  it('resumes on another member with no gap and no repeat', async () => {
    cluster = await TestCluster.start();
    const leader = await cluster.leader();
    const follower = cluster.nodes.find((n) => n.id !== leader)!;
    const others = cluster.nodes.filter((n) => n.id !== follower.id).map((n) => n.url);
    const watcher = await connect({ urls: [follower.url, ...others] });
    const writer = await connect({ urls: others });
    const seen: number[] = [];
    const stream = watcher.watch('/w/**', { fromRev: 1 });
    const watching = (async () => {
      for await (const ev of stream) {
        seen.push(ev.rev);
        if (seen.length === 60) break;
      }
    })();
    const revs: number[] = [];
    for (let i = 0; i < 60; i++) {
      revs.push(await writer.set(`/w/${i % 7}`, `v${i}`));
      if (i === 25) await cluster.kill(follower.id);
    }
    await watching;
    expect(seen).toEqual(revs);
    await watcher.close();
    await writer.close();
  });
});
