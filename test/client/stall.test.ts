// Method: SDK clients in child processes (test/helpers/sdk-child.ts) against real in-process
// servers, frozen with SIGSTOP and thawed with SIGCONT, as a GC pause or a stalled VM would
// freeze them. Each child sets an ephemeral file, makes one more request and says `ready`.
//
// Connected: with a 3 s TTL, the child idles for a third of the TTL (its next ping is due: the
// SDK pings a third of a TTL after its last message) or for nearly two thirds (just before the
// ping after that), is frozen for half the TTL, and the test waits past the TTL again. The
// session must have lived: the file is still there at its rev, the child still has its session
// id, and its connection never went down (no state change at all: a client that was frozen must
// not call a healthy link dead, nor presume its session lost).
//
// Disconnected: the child's connection is cut (a proxy refuses it), the child is frozen, the
// server restarts (a new leader gives every session a fresh TTL) and is reachable again, and the
// child is thawed after its own TTL clock ran out. It must ask the server rather than presume:
// it resumes the same session, never reporting `expired`.
//
// The sleeps are the scenario itself, not assertions on timing; the margins are hundreds of ms.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordClient } from '../../client/index.ts';
import { RecipeEnv, sleep } from '../helpers/recipe-env.ts';
import { killAllChildren, spawnSdkChild, type SdkChild } from '../helpers/sdk-child-run.ts';

let env: RecipeEnv;
let admin: CoordClient;

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
});

afterAll(async () => {
  await killAllChildren();
  await env.stop();
});

async function check(child: SdkChild) {
  const from = child.lines.length;
  child.send('check');
  return child.line('check', from);
}

const states = (child: SdkChild) => child.lines.filter((l) => l.ev === 'state').map((l) => l.state);

describe('a connected client frozen for half its session TTL', () => {
  const ttlMs = 3000;

  async function frozen(path: string, idleMs: number): Promise<void> {
    const child = spawnSdkChild({ url: env.url, ttlMs, path });
    const ready = await child.line('ready');
    expect((await admin.stat(path)).kind).toBe('file');

    await sleep(idleMs);
    child.stop();
    await sleep(ttlMs / 2);
    child.resume();
    await sleep(ttlMs + 500); // an expired session would be gone by now

    expect(await check(child)).toMatchObject({ sessionId: ready.sessionId, state: 'connected' });
    expect(await admin.get(path)).toMatchObject({ value: Buffer.from('child'), rev: ready.rev });
    expect(states(child)).toEqual([]);
    await child.kill();
  }

  it('keeps its session, its ephemeral file and its connection, whenever the stall starts', async () => {
    await Promise.all([
      frozen('/stall/ping-due', ttlMs / 3),
      frozen('/stall/ping-nearly-due-again', ttlMs * 0.63),
    ]);
  });
});

describe('a disconnected client frozen past its session TTL', () => {
  it('resumes its session if the server kept it, instead of presuming it lost', async () => {
    const ttlMs = 6000;
    const path = '/stall/suspended';
    const proxy = await env.proxy();
    const child = spawnSdkChild({ url: proxy.url, ttlMs, path });
    const ready = await child.line('ready');

    await check(child); // last heard from the server: now
    const lastHeard = Date.now();
    proxy.block();
    await child.line('state', 0, 'the child to see its connection drop');
    child.stop();
    await sleep(3500);
    await env.restart(); // the server gives every session a fresh TTL from now
    proxy.unblock();
    // The child's own clock says its session ran out 6 s after it last heard the server; the
    // server will keep it until 6 s after its restart.
    await sleep(Math.max(0, lastHeard + ttlMs + 2500 - Date.now()));
    child.resume();

    expect(await check(child)).toMatchObject({ sessionId: ready.sessionId, state: 'connected' });
    expect(states(child)).toEqual(['suspended', 'connected']);
    expect(await admin.get(path)).toMatchObject({ value: Buffer.from('child'), rev: ready.rev });
    await child.kill();
  });
});
