// Method: the SDK's first connect() against a port nothing listens on, and against a real server
// that starts on that port while connect() is retrying. With failFast, connect() must reject as
// soon as every url was refused once, with a ConnectionError naming each url and its cause, long
// before connectTimeoutMs (20 s here); without it, connect() keeps trying until the deadline
// (and then says what the last failure was), and so reaches a server that comes up meanwhile.
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { ConnectionError, connect, type CoordClient } from '../../client/index.ts';
import { TestCoord } from '../helpers/test-coord.ts';

const cleanups: (() => Promise<unknown> | unknown)[] = [];

afterAll(async () => {
  for (const f of cleanups.reverse()) await f();
});

async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

async function rejection(p: Promise<CoordClient>): Promise<Error> {
  return p.then(async (c) => {
    await c.close();
    throw new Error('connect() succeeded');
  }, (err: Error) => err);
}

describe('connect()', () => {
  it('with failFast, rejects once every url was refused, naming each cause', async () => {
    const [a, b] = [await deadPort(), await deadPort()];
    const started = Date.now();
    const err = await rejection(connect({
      urls: [`ws://127.0.0.1:${a}`, `ws://127.0.0.1:${b}`], failFast: true, connectTimeoutMs: 20_000,
    }));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toBe(
      `cannot connect to ws://127.0.0.1:${a}: ECONNREFUSED 127.0.0.1:${a}; ws://127.0.0.1:${b}: ECONNREFUSED 127.0.0.1:${b}`,
    );
  });

  it('by default, keeps trying until connectTimeoutMs and then names the last failure', async () => {
    const port = await deadPort();
    const err = await rejection(connect({ urls: `ws://127.0.0.1:${port}`, connectTimeoutMs: 500 }));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toBe(
      `no coord server reachable at ws://127.0.0.1:${port} within 500 ms (last error: ws://127.0.0.1:${port}: ECONNREFUSED 127.0.0.1:${port})`,
    );
  });

  it('by default, reaches a server that starts while it is trying', async () => {
    const port = await deadPort();
    const connecting = connect({ urls: `ws://127.0.0.1:${port}`, connectTimeoutMs: 20_000, backoffMs: [0, 50, 100] });
    await new Promise((r) => setTimeout(r, 300));
    // With COORD_TEST_CLUSTER=3, a cluster whose first node takes that port.
    const server = await TestCoord.start({ port });
    cleanups.push(() => server.stop());
    const client = await connecting;
    cleanups.push(() => client.close());
    expect(client.state).toBe('connected');
    expect(await client.rev()).toBe(0);
  });
});
