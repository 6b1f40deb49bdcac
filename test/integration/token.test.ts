/**
 * A server started with a shared token takes only hellos that carry it: over the raw protocol
 * (UNAUTHORIZED, connection left open for another hello), through the SDK (connect() rejects
 * with UnauthorizedError, or works with the token) and through the CLI (COORD_TOKEN).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, UnauthorizedError } from '../../client/index.ts';
import { decode, encode } from '../../protocol/codec.ts';
import { removeDir, repoRoot, startTestServer } from '../helpers/server.ts';

const run = promisify(execFile);
let server: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  server = await startTestServer({ token: 's3cret' });
});

afterAll(async () => {
  await server.close();
  removeDir(server.dataDir);
});

describe('a server with a token', () => {
  it('refuses a hello without it or with another, and takes one with it on the same connection', async () => {
    const ws = new WebSocket(`${server.url}/v1/ws`);
    const replies: Record<string, any>[] = [];
    ws.on('message', (d) => replies.push(decode(d as Buffer) as Record<string, any>));
    await new Promise((r) => ws.once('open', r));
    const ask = async (msg: Record<string, unknown>) => {
      ws.send(encode(msg));
      for (;;) {
        const found = replies.find((r) => r.id === msg.id);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    expect((await ask({ id: 1, op: 'hello', version: 1 })).error.code).toBe('UNAUTHORIZED');
    expect((await ask({ id: 2, op: 'hello', version: 1, token: 'guess' })).error.code).toBe('UNAUTHORIZED');
    expect((await ask({ id: 3, op: 'hello', version: 1, token: 's3cret' })).result.session.id).toEqual(expect.any(String));
    ws.close();
  });

  it('the SDK needs the token', async () => {
    await expect(connect({ urls: server.url, connectTimeoutMs: 3000 })).rejects.toBeInstanceOf(UnauthorizedError);
    const client = await connect({ urls: server.url, token: 's3cret' });
    expect(await client.set('/t', 'x')).toBeGreaterThan(0);
    await client.close();
  });

  it('the CLI takes it from COORD_TOKEN', async () => {
    const bin = join(repoRoot, 'bin/coord.mjs');
    const env = { ...process.env, COORD_URL: server.url };
    const refused = await run(process.execPath, [bin, 'rev'], { env }).then(() => null, (e) => e);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^UNAUTHORIZED: /);
    const ok = await run(process.execPath, [bin, 'rev'], { env: { ...env, COORD_TOKEN: 's3cret' } });
    expect(Number(ok.stdout.trim())).toBeGreaterThanOrEqual(0);
  });
});
