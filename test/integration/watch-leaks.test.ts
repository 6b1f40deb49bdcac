/**
 * WAITs and WATCHes whose connection closes while they are being set up (their start awaits a
 * read barrier; in a cluster that is a round trip to the leader) are never registered: nothing
 * is left in the hub to be delivered to a closed socket. The barrier is slowed on purpose so the
 * close lands inside it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

let server: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  server = await startTestServer();
  const node = server.node;
  const readAt = node.readAt.bind(node);
  node.readAt = async (rev) => {
    await new Promise((r) => setTimeout(r, 100));
    return readAt(rev);
  };
});

afterAll(async () => {
  await server.close();
  removeDir(server.dataDir);
});

const settled = () => new Promise((r) => setTimeout(r, 300));

describe('a connection closed while its WAIT or WATCH starts', () => {
  it('leaves no watch behind, live or lagging', async () => {
    for (const op of [{ op: 'wait', glob: '/leak/**' }, { op: 'watch', glob: '/leak/**' }, { op: 'watch', glob: '/leak/**', fromRev: 1 }]) {
      const { client } = await RawClient.connect(server.url);
      client.request(op);
      await client.terminate();
      await settled();
      expect(server.node.hub.liveCount, JSON.stringify(op)).toBe(0);
      expect(server.node.hub.laggingCount, JSON.stringify(op)).toBe(0);
    }
  });
});
