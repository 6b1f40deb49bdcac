/**
 * Slow and greedy clients: a connection that trickles its upgrade request is dropped once
 * upgradeTimeoutMs has passed (not held for as long as it trickles), and a server-wide cap on
 * writes in flight answers LIMIT past it, writing nothing for the refused ones.
 */
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WS_PATH } from '../../protocol/limits.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
let server: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  server = await startTestServer({ upgradeTimeoutMs: 1000, writesInflightMax: 8 });
});

afterAll(async () => {
  await server.close();
  removeDir(server.dataDir);
});

describe('an upgrade request sent one header at a time', () => {
  it('is cut off within about upgradeTimeoutMs, while it still trickles', async () => {
    const sock = tcpConnect(server.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const started = Date.now();
    sock.write(`GET ${WS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
    let n = 0;
    const trickle = setInterval(() => {
      if (!sock.destroyed) sock.write(`X-Slow-${n++}: a\r\n`);
    }, 200);
    let reply = '';
    sock.on('data', (d) => (reply += d));
    sock.on('error', () => {});
    await new Promise((r) => sock.once('close', r));
    clearInterval(trickle);
    const heldMs = Date.now() - started;
    // Without the bound, Node's default (60 s headers timeout) would hold it for the whole test.
    expect(heldMs).toBeLessThan(5000);
    expect(n).toBeGreaterThan(2); // it was still trickling when cut off
    expect(reply === '' || reply.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('a normal client connects as usual', async () => {
    const { client } = await RawClient.connect(server.url);
    expect(await client.call({ op: 'ping' })).toMatchObject({ rev: expect.any(Number) });
    await client.close();
  });
});

describe('writes in flight on the whole server', () => {
  it('past writesInflightMax are refused with LIMIT, and nothing of them is written', async () => {
    const clients = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(server.url)));
    // 4 connections × 10 pipelined SETs in one turn: far more than 8 can be in flight.
    const sent = clients.flatMap(({ client }, c) =>
      Array.from({ length: 10 }, (_, i) => ({ client, path: `/cap/${c}-${i}`, id: client.request({ op: 'set', path: `/cap/${c}-${i}`, value: bytes('v') }) })));
    const answers = await Promise.all(sent.map(async (s) => ({ ...s, res: await s.client.response(s.id) })));
    const refused = answers.filter((a) => a.res.error !== undefined);
    const done = answers.filter((a) => a.res.error === undefined);
    expect(refused.length).toBeGreaterThan(0);
    expect(done.length).toBeGreaterThanOrEqual(8);
    for (const r of refused) expect(r.res.error).toMatchObject({ code: 'LIMIT' });
    const reader = clients[0]!.client;
    const { files } = await reader.call<{ files: { path: string }[] }>({ op: 'walk', glob: '/cap/*', limit: 100 });
    expect(files.map((f) => f.path).sort()).toEqual(done.map((d) => d.path).sort());
    // Once they are answered, writes go through again.
    expect(await reader.call({ op: 'set', path: '/cap/after', value: bytes('ok') })).toMatchObject({ rev: expect.any(Number) });
    for (const { client } of clients) await client.close();
  });
});
