/**
 * A client that pipelines many large reads and never reads the answers must not make the server
 * buffer all of them: once its socket is over socketBufferedBytesHigh the server stops reading its
 * requests and holds (unencoded) the answers already due. When the client reads again, every
 * answer arrives, once, in full. And the history is bounded in bytes (`historyBytes`) whatever
 * the value sizes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limits } from '../../protocol/limits.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

let server: Awaited<ReturnType<typeof startTestServer>>;
const VALUE_BYTES = 256 * 1024;
const GETS = 1000;

beforeAll(async () => {
  server = await startTestServer({ historyBytes: 4 * 1024 * 1024 });
});

afterAll(async () => {
  await server.close();
  removeDir(server.dataDir);
});

/** Bytes the server has queued for its clients' sockets (ws's own queue and the socket's). */
function serverQueuedBytes(): number {
  let n = 0;
  for (const ws of (server.app as unknown as { websocketServer: { clients: Set<{ bufferedAmount: number }> } }).websocketServer.clients) {
    n += ws.bufferedAmount;
  }
  return n;
}

describe('a client that asks and does not read', () => {
  it(`costs the server about socketBufferedBytesHigh, not ${GETS} × 256 KiB, and later gets every answer`, async () => {
    const { client } = await RawClient.connect(server.url);
    await client.call({ op: 'set', path: '/big', value: new Uint8Array(VALUE_BYTES).fill(7) });
    client.ws.pause(); // reads nothing from now on
    const ids = Array.from({ length: GETS }, () => client.request({ op: 'get', path: '/big' }));
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 50));
      peak = Math.max(peak, serverQueuedBytes());
    }
    // Unbounded, this would be ~250 MiB; the kernel's socket buffers hold a few MiB more.
    expect(peak).toBeLessThan(limits.socketBufferedBytesHigh + 4 * VALUE_BYTES);
    client.ws.resume();
    const answers = await Promise.all(ids.map((id) => client.response(id, 30_000)));
    for (const a of answers) {
      expect(a.error).toBeUndefined();
      expect((a.result as { value: Uint8Array }).value.byteLength).toBe(VALUE_BYTES);
    }
    expect(client.untaken((m) => typeof m.id === 'number')).toHaveLength(0);
    await client.close();
  });
});

describe('history bounded in bytes', () => {
  it('keeps at most historyBytes of values: older revisions are TOO_LATE, current values all there', async () => {
    const { client } = await RawClient.connect(server.url);
    const first = (await client.call<{ rev: number }>({ op: 'set', path: '/hb/0', value: new Uint8Array(VALUE_BYTES) })).rev;
    for (let i = 1; i < 40; i++) await client.call({ op: 'set', path: `/hb/${i % 4}`, value: new Uint8Array(VALUE_BYTES).fill(i) });
    const late = await client.callError({ op: 'get', path: '/hb/0', rev: first });
    expect(late.code).toBe('TOO_LATE');
    const oldest = late.details!.oldestRev as number;
    const head = (await client.call<{ rev: number }>({ op: 'rev' })).rev;
    // 4 MiB of 256 KiB values: at most 16 revisions of events kept.
    expect(head - oldest + 1).toBeLessThanOrEqual(16);
    expect(head - oldest + 1).toBeGreaterThanOrEqual(14);
    for (let k = 0; k < 4; k++) {
      const { value } = await client.call<{ value: Uint8Array }>({ op: 'get', path: `/hb/${k}` });
      expect(value.byteLength).toBe(VALUE_BYTES);
    }
    await client.close();
  });
});
