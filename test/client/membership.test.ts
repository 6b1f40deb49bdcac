// Method: membership (client/recipes/membership.ts) against a real in-process server. Members
// register from their own clients while a separate client follows members(); the test takes one
// step at a time (join, join, update, close, deregister), waits until the follower has seen it,
// and at the end compares the whole sequence of changes with the steps taken, and each update's
// member set with the tree. A registration must vanish when its client closes, and its `lost`
// signal must fire when someone else removes it. Conditions are polled with deadlines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text, type CoordClient, type MembersUpdate } from '../../client/index.ts';
import { RecipeEnv, eventually } from '../helpers/recipe-env.ts';

let env: RecipeEnv;
let admin: CoordClient;

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
});

afterAll(async () => {
  await env.stop();
});

describe('membership', () => {
  it('reports join, update and leave in order, and a member vanishes when its client closes', async () => {
    const [a, b, follower] = await Promise.all([env.client(), env.client(), env.client()]);
    const dir = '/mb/www';
    const updates: { changes: string[]; members: Record<string, string> }[] = [];
    const stop = new AbortController();
    const following = (async () => {
      for await (const u of follower.members(dir, { signal: stop.signal })) updates.push(summary(u));
    })();
    const seen = (n: number, what: string) => eventually(() => updates.length >= n, what);
    await seen(1, 'the first (empty) update');
    expect(updates[0]).toEqual({ changes: [], members: {} });

    const ra = await a.register(dir, 'host-a', 'a:8080');
    await seen(2, 'a to join');
    const rb = await b.register(dir, 'host-b', 'b:8080');
    await seen(3, 'b to join');
    await ra.update('a:9090');
    await seen(4, 'a to update');
    expect(ra.rev).toBe((await admin.get(ra.path)).rev);
    expect((await admin.stat(rb.path)).kind).toBe('file');
    await b.close();
    await seen(5, 'b to leave with its client');
    expect((await admin.stat('/mb/www/host-b')).kind).toBe('missing');
    await ra.deregister();
    await seen(6, 'a to leave');
    stop.abort();
    await following;

    expect(updates.map((u) => u.changes)).toEqual([
      [],
      ['join host-a a:8080'],
      ['join host-b b:8080'],
      ['update host-a a:9090'],
      ['leave host-b'],
      ['leave host-a'],
    ]);
    expect(updates.map((u) => u.members)).toEqual([
      {},
      { 'host-a': 'a:8080' },
      { 'host-a': 'a:8080', 'host-b': 'b:8080' },
      { 'host-a': 'a:9090', 'host-b': 'b:8080' },
      { 'host-a': 'a:9090' },
      {},
    ]);
    expect(ra.lost.aborted).toBe(false); // deregistering is not losing
  });

  it('lists members already present as joins, and fires lost when someone else removes a registration', async () => {
    const [a, b] = await Promise.all([env.client(), env.client()]);
    const ra = await a.register('/mb/db', 'primary', 'p');
    await b.register('/mb/db', 'replica', 'r');
    const view = admin.members('/mb/db');
    const first = (await view.next()).value as MembersUpdate;
    expect(summary(first)).toEqual({
      changes: ['join primary p', 'join replica r'],
      members: { primary: 'p', replica: 'r' },
    });
    await admin.del(ra.path);
    await eventually(() => ra.lost.aborted, 'lost to fire');
    const second = (await view.next()).value as MembersUpdate;
    expect(summary(second)).toEqual({ changes: ['leave primary'], members: { replica: 'r' } });
    await view.return(undefined);
  });
  it('an old instance whose id was taken over loses it, and its deregister() leaves the new registration alone', async () => {
    const [old, fresh] = await Promise.all([env.client(), env.client()]);
    const r1 = await old.register('/mb/jobs', 'worker-1', 'old');
    const r2 = await fresh.register('/mb/jobs', 'worker-1', 'new'); // a restarted instance, same id
    await eventually(() => r1.lost.aborted, 'the old instance to learn it was replaced');
    expect(String((r1.lost.reason as Error).message)).toMatch(/overwritten/);
    await r1.deregister();
    expect(await admin.get('/mb/jobs/worker-1')).toMatchObject({ value: Buffer.from('new'), rev: r2.rev });
    await old.close(); // its session owned nothing any more
    expect(await admin.get('/mb/jobs/worker-1')).toMatchObject({ value: Buffer.from('new'), rev: r2.rev });
    expect(r2.lost.aborted).toBe(false);
    await r2.deregister();
    expect((await admin.stat('/mb/jobs/worker-1')).kind).toBe('missing');
  });
});

function summary(u: MembersUpdate): { changes: string[]; members: Record<string, string> } {
  return {
    changes: u.changes.map((c) => `${c.kind} ${c.id}${c.info !== undefined ? ` ${text(c.info)}` : ''}`).sort(),
    members: Object.fromEntries([...u.members].map(([id, info]) => [id, text(info)!])),
  };
}
