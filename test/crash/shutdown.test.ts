/**
 * Clean shutdown: a real `coord server` process that gets SIGTERM (or SIGINT) while writes are in
 * flight finishes them, closes its connections and database, and exits 0; every write it
 * acknowledged is there after a restart. Checked on a child process, as a user would run it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect, text } from '../../client/index.ts';
import { removeDir, spawnServer, tempDir } from '../helpers/server.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

describe.each(['SIGTERM', 'SIGINT'] as const)('%s', (signal) => {
  it('finishes in-flight writes and exits 0', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const server = await spawnServer(dir);
    const client = await connect({ urls: server.url, requestTimeoutMs: 3000, connectTimeoutMs: 3000 });
    const acked: { path: string; value: string }[] = [];
    const writes = Array.from({ length: 200 }, (_, i) =>
      client.set(`/s/${i}`, `v${i}`).then(() => acked.push({ path: `/s/${i}`, value: `v${i}` }), () => {}));
    await new Promise((r) => setTimeout(r, 5));
    server.proc.kill(signal);
    const exit = await server.exited;
    await Promise.all(writes);
    await client.close();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(acked.length).toBeGreaterThan(0);
    expect(server.stderr()).toBe('');

    const again = await spawnServer(dir);
    try {
      const c = await connect({ urls: again.url });
      for (const a of acked) expect(text((await c.get(a.path)).value)).toBe(a.value);
      await c.close();
    } finally {
      again.proc.kill('SIGTERM');
      await again.exited;
    }
  });
});
