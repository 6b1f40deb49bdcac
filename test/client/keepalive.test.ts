// Method: an SDK client talks to a real in-process server through a TCP relay that, on cue,
// silently drops every byte both ways without closing anything (a server that hangs, a network
// that black-holes). The client must notice from its own pings that nothing comes back, give
// the link up without waiting for a close handshake nobody will answer, and tell its users:
// `suspended`, then `expired` once its session TTL has passed since it last heard the server,
// and a lock it held reports itself lost, all within a few TTLs (ws alone would wait 30 s for
// the close). The deadline only bounds a hung test.
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecipeEnv, eventually } from '../helpers/recipe-env.ts';

let env: RecipeEnv;

beforeAll(async () => {
  env = await RecipeEnv.start();
});

afterAll(async () => {
  await env.stop();
});

/** A relay to the server that, once `silence()` is called, drops every byte both ways. */
async function blackHole(target: number): Promise<{ url: string; silence(): void; close(): Promise<void> }> {
  let silent = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d) => void (silent || upstream.write(d)));
    upstream.on('data', (d) => void (silent || client.write(d)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    silence: () => void (silent = true),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('a server that stops answering', () => {
  it('is noticed by the pings: the client suspends, presumes its session lost after the TTL, and a held lock is lost', async () => {
    const hole = await blackHole(env.port);
    env.defer(() => hole.close());
    const client = await env.client({ urls: hole.url, sessionTtlMs: 1500 });
    const lock = await client.lock('/keepalive/lock');
    const states: string[] = [];
    client.onState((s) => states.push(s));
    hole.silence();
    await eventually(() => states.includes('expired'), 'the client to presume its session lost', 10_000);
    expect(states.slice(0, 2)).toEqual(['suspended', 'expired']);
    expect(lock.lost.aborted).toBe(true);
  });
});
