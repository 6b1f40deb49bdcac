// Method: registrations (client/recipes/membership.ts) against a real in-process server, their
// sessions made to expire for real: an SDK client behind a TCP proxy (test/helpers/recipe-proxy.ts)
// is cut off and kept away until the server has deleted its file with its session, or an SDK
// client in a child process (test/helpers/sdk-child.ts) is frozen with SIGSTOP past its TTL, so
// that it learns of the expiry from the delete event and the server closing its connection.
// Each registration must come back under the client's new session with the same id and info,
// its state going registered → re-registering → registered, its `rev` that of the new file, and
// its `lost` signal untouched; a follower sees it leave and join again. It must not fight: when
// someone else registered the id while its session was gone, or deletes its file, it is lost.
// Conditions are polled with deadlines, never timed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text, type CoordClient, type MembersUpdate } from '../../client/index.ts';
import { RecipeEnv, eventually, sleep } from '../helpers/recipe-env.ts';
import { killAllChildren, spawnSdkChild } from '../helpers/sdk-child-run.ts';

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

const ttlMs = 1000;

/** A client behind a proxy, with a registration whose state changes are recorded. */
async function registered(dir: string, id: string, info: string) {
  const proxy = await env.proxy();
  const client = await env.client({ urls: proxy.url, sessionTtlMs: ttlMs });
  const registration = await client.register(dir, id, info);
  const states: string[] = [];
  registration.onState((s) => states.push(s));
  return { proxy, client, registration, states };
}

const gone = (path: string) => eventually(async () => (await admin.stat(path)).kind === 'missing', `${path} to go with its session`);

function follow(dir: string) {
  const updates: string[][] = [];
  const stop = new AbortController();
  const done = (async () => {
    for await (const u of admin.members(dir, { signal: stop.signal })) updates.push(changes(u));
  })().catch(() => {});
  return { updates, stop: async () => { stop.abort(); await done; } };
}

describe('a registration whose session expired', () => {
  it('registers again under the new session, with the same id and info', async () => {
    const dir = '/rr/www';
    const follower = follow(dir);
    await eventually(() => follower.updates.length >= 1, 'the follower to start');
    const { proxy, client, registration: r, states } = await registered(dir, 'host-a', 'a:8080');
    const firstRev = r.rev;
    const firstSession = client.sessionId;
    proxy.block();
    await gone(r.path);
    proxy.unblock();
    await eventually(() => states.length >= 2, 'the registration to come back');

    expect(states).toEqual(['re-registering', 'registered']);
    expect(r.state).toBe('registered');
    expect(r.lost.aborted).toBe(false);
    expect(client.sessionId).not.toBe(firstSession);
    expect(r.rev).toBeGreaterThan(firstRev);
    expect(await admin.get(r.path)).toMatchObject({ value: Buffer.from('a:8080'), rev: r.rev });
    expect(await admin.stat(r.path)).toMatchObject({ kind: 'file', ephemeral: true });
    await eventually(() => follower.updates.length >= 4, 'the follower to see it back');
    expect(follower.updates).toEqual([[], ['join host-a a:8080'], ['leave host-a'], ['join host-a a:8080']]);
    await follower.stop();

    // The new file belongs to the new session, and the registration follows it as before.
    await admin.del(r.path);
    await eventually(() => r.state === 'lost', 'a delete by someone else to be a loss');
    expect(r.lost.aborted).toBe(true);
    expect((await admin.stat(r.path)).kind).toBe('missing');
  });

  it('keeps the info of an update made while it was away', async () => {
    const { proxy, client, registration: r, states } = await registered('/rr/upd', 'host-u', 'old');
    proxy.block();
    await gone(r.path);
    await eventually(() => client.state === 'expired', 'the client to know its session is gone');
    const updated = r.update('new');
    proxy.unblock();
    await updated;
    expect(states).toEqual(['re-registering', 'registered']);
    expect(await admin.get(r.path)).toMatchObject({ value: Buffer.from('new'), rev: r.rev });
    await r.deregister();
    expect(r.state).toBe('deregistered');
    expect((await admin.stat(r.path)).kind).toBe('missing');
  });

  it('is lost, and leaves the file alone, if someone else registered the id meanwhile', async () => {
    const { proxy, registration: r, states } = await registered('/rr/db', 'primary', 'mine');
    proxy.block();
    await gone(r.path);
    const other = await env.client();
    const theirs = await other.register('/rr/db', 'primary', 'theirs');
    proxy.unblock();
    await eventually(() => r.state === 'lost', 'the registration to be lost');

    expect(states).toEqual(['re-registering', 'lost']);
    expect(r.lost.aborted).toBe(true);
    expect(String((r.lost.reason as Error).message)).toMatch(/taken by someone else/);
    expect(await admin.get(r.path)).toMatchObject({ value: Buffer.from('theirs'), rev: theirs.rev });
    await r.deregister(); // a lost registration deletes nothing
    expect(await admin.get(r.path)).toMatchObject({ value: Buffer.from('theirs'), rev: theirs.rev });
  });

  it('registers again when a frozen client learns of the expiry from the delete itself', async () => {
    const child = spawnSdkChild({ url: env.url, ttlMs, dir: '/rr/frozen', id: 'worker-1', info: 'w1' });
    const ready = await child.line('ready');
    const path = '/rr/frozen/worker-1';
    child.stop();
    await gone(path);
    await sleep(200); // the server has closed the connection too
    child.resume();
    await eventually(() => child.lines.filter((l) => l.ev === 'registration').length >= 2, 'the child to register again');

    const regs = child.lines.filter((l) => l.ev === 'registration');
    expect(regs.map((l) => l.state)).toEqual(['re-registering', 'registered']);
    const from = child.lines.length;
    child.send('check');
    const check = await child.line('check', from);
    expect(check.sessionId).not.toBe(ready.sessionId);
    expect(await admin.get(path)).toMatchObject({ value: Buffer.from('w1'), rev: check.rev });
    await child.kill();
  });
});

describe('a registration someone else removes', () => {
  it('is lost, and not registered again', async () => {
    const { registration: r, states } = await registered('/rr/rm', 'host-r', 'r');
    await admin.del(r.path);
    await eventually(() => r.state === 'lost', 'the registration to be lost');
    expect(states).toEqual(['lost']);
    expect(String((r.lost.reason as Error).message)).toMatch(/deleted/);
    await expect(r.update('again')).rejects.toThrow(/deleted/);
    expect((await admin.stat(r.path)).kind).toBe('missing');
  });
});

function changes(u: MembersUpdate): string[] {
  return u.changes.map((c) => `${c.kind} ${c.id}${c.info !== undefined ? ` ${text(c.info)}` : ''}`).sort();
}

