/**
 * Conditional writes the leader can see will fail are answered as reads (server/refusal-by-read
 * .ts), on a live server: a refused compare-and-set adds no log entry (the commit index stays),
 * is counted in /metrics, and answers what the log would have: a write pipelined right behind
 * another to the same path sees it (refused or applied in arrival order), a retry of a write
 * that succeeded gets its remembered success, and a conditional write that can succeed is
 * applied as usual. The simulator (test/sim) checks the same under crashes and partitions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

let server: Awaited<ReturnType<typeof startTestServer>>;
let c: RawClient;
const base = () => server.url.replace('ws://', 'http://');
const commit = async () => ((await (await fetch(`${base()}/status`)).json()) as { commit: number }).commit;
const refusedTotal = async () => Number(/^coord_writes_refused_as_reads_total (\d+)$/m.exec(await (await fetch(`${base()}/metrics`)).text())![1]);

beforeAll(async () => {
  server = await startTestServer();
  c = (await RawClient.connect(server.url)).client;
});

afterAll(async () => {
  await c?.close();
  await server?.close();
  removeDir(server.dataDir);
});

describe('a conditional write the leader can see will fail', () => {
  it('is refused without a log entry', async () => {
    const { rev } = await c.call<{ rev: number }>({ op: 'set', path: '/r/k', value: 'v1' });
    await c.call({ op: 'set', path: '/r/k', value: 'v2' });
    const before = await commit();
    const refusedBefore = await refusedTotal();
    for (let i = 0; i < 20; i++) {
      expect(await c.callError({ op: 'set', path: '/r/k', value: 'x', rev })).toMatchObject({ code: 'REV_MISMATCH', details: { path: '/r/k', rev: rev + 1 } });
      expect(await c.callError({ op: 'txn', conds: [{ path: '/r/k', rev, exact: true }], ops: [{ op: 'del', path: '/r/other' }] })).toMatchObject({ code: 'REV_MISMATCH' });
    }
    expect(await commit()).toBe(before);
    expect(await refusedTotal()).toBe(refusedBefore + 40);
    // One that can succeed is a write as ever.
    expect((await c.call<{ rev: number }>({ op: 'set', path: '/r/k', value: 'v3', rev: rev + 1 })).rev).toBe(rev + 2);
    expect(await commit()).toBe(before + 1);
  });

  it('sees the same connection\'s earlier write to its path, pipelined right before it', async () => {
    await c.call({ op: 'set', path: '/r/p', value: 'held' });
    for (let i = 0; i < 20; i++) {
      // A delete, then create-if-absent: in the log's order the create succeeds.
      const del = c.request({ op: 'del', path: '/r/p' });
      const create = c.request({ op: 'set', path: '/r/p', value: `again ${i}`, rev: 0 });
      expect((await c.response(del)).error).toBeUndefined();
      expect((await c.response(create)).error).toBeUndefined();
    }
  });

  it('answers a retry of a write that succeeded with its result, not REV_MISMATCH', async () => {
    const { rev } = await c.call<{ rev: number }>({ op: 'set', path: '/r/once', value: 'a' });
    const first = await c.call<{ rev: number }>({ op: 'set', path: '/r/once', value: 'b', rev, seq: 1 });
    // The file is now at first.rev > rev: the same seq again must get its remembered answer.
    expect(await c.call({ op: 'set', path: '/r/once', value: 'b', rev, seq: 1 })).toEqual(first);
    expect(await c.callError({ op: 'set', path: '/r/once', value: 'b', rev, seq: 2 })).toMatchObject({ code: 'REV_MISMATCH' });
  });
});
