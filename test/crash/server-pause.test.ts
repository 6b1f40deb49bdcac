/**
 * A pause of the server's own process (here SIGSTOP; in life a major GC, a slow fsync on the
 * loop, a frozen VM) must not expire the sessions of clients that kept talking: when it wakes,
 * its liveness check runs late, and the deadlines move forward by the pause.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { removeDir, spawnServer, tempDir, type ChildServer } from '../helpers/server.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
let dir: string;
let server: ChildServer;

beforeAll(async () => {
  dir = tempDir();
  server = await spawnServer(dir);
});

afterAll(async () => {
  server.proc.kill('SIGCONT');
  server.proc.kill('SIGTERM');
  await server.exited;
  removeDir(dir);
});

describe('a server paused for longer than the TTLs', () => {
  it('expires no session whose client talks as soon as the server wakes', async () => {
    const { client, hello } = await RawClient.connect(server.url, { ttlMs: 1500 });
    await client.call({ op: 'set', path: '/pause/e', value: bytes('alive'), ephemeral: true });
    server.proc.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 4000)); // well past the 1.5 s TTL
    server.proc.kill('SIGCONT');
    await client.call({ op: 'ping' });
    await new Promise((r) => setTimeout(r, 500));
    const { client: reader } = await RawClient.connect(server.url);
    expect(await reader.call({ op: 'stat', path: '/pause/e' })).toMatchObject({ kind: 'file', ephemeral: true });
    expect(client.closeInfo).toBeNull();
    // And a client that really went silent still expires.
    await client.terminate();
    for (const deadline = Date.now() + 8000; ;) {
      const st = await reader.call<{ kind: string }>({ op: 'stat', path: '/pause/e' });
      if (st.kind === 'missing') break;
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
