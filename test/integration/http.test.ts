// Method: a real server on an ephemeral port; plain HTTP requests (Node's fetch) to the health
// endpoints, checked against the store revision a raw WebSocket client sees, and a WebSocket
// upgrade on a path that is not the versioned one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RawClient, bytes } from '../helpers/raw-client.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

let server: Awaited<ReturnType<typeof startTestServer>>;
let base: string;

beforeAll(async () => {
  server = await startTestServer();
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.close();
  removeDir(server.dataDir);
});

describe('HTTP endpoints', () => {
  it('GET /healthz answers 200 {ok: true}', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/json/);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('GET /readyz answers 200 with the store revision and leadership', async () => {
    const { client } = await RawClient.connect(server.url);
    const r = (await client.call<{ rev: number }>({ op: 'set', path: '/http/a', value: bytes('a') })).rev;
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ready: true, rev: r, leader: true, disk: 'ok' });
    await client.close();
  });

  it('does not upgrade a WebSocket on an unversioned path', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
    const outcome = await new Promise<string>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_req, res) => resolve(`http ${res.statusCode}`));
      ws.once('error', (err) => resolve(`error ${err.message}`));
    });
    ws.terminate();
    expect(outcome).toBe('http 404');
  });
});
