// Method: the fair fenced lock (client/recipes/lock.ts) against a real in-process server over real
// WebSockets. Mutual exclusion is checked by what the holders do, not by timing: every holder
// does a read-modify-write of one coord file with an await between the read and the write, and
// bumps an in-memory "inside" count, so any overlap loses an increment or shows two inside.
// Waiting is observed through the contender files in the tree; aborts are caught in flight with
// a tapped transport that holds back the SET's answer; a holder that is a separate process
// (`coord lock`) is SIGKILLed; expiry is forced by a proxy that keeps the client away past its
// session TTL. Conditions are polled with generous deadlines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeoutError, text, type CoordClient, type Lock } from '../../client/index.ts';
import { killAllCli, spawnCoord } from '../helpers/cli-run.ts';
import { RecipeEnv, eventually, range, sleep } from '../helpers/recipe-env.ts';
import { tappedTransport } from '../helpers/recipe-transport.ts';

let env: RecipeEnv;
let admin: CoordClient;

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
});

afterAll(async () => {
  await killAllCli();
  await env.stop();
});

const contenders = async (path: string) => (await admin.walk(`${path}/*`)).files.map((f) => f.path);

describe('lock', () => {
  it('never lets two of 8 clients × 15 acquisitions hold it at once; tokens rise with every grant', async () => {
    const clients = await Promise.all(range(8).map(() => env.client()));
    await admin.set('/lk/counter', '0');
    let inside = 0;
    let mostInside = 0;
    const grants: number[] = [];
    await Promise.all(clients.map(async (c) => {
      for (let i = 0; i < 15; i++) {
        await c.withLock('/lk/mutex', async (l) => {
          mostInside = Math.max(mostInside, ++inside);
          grants.push(l.token);
          const n = Number(text((await c.get('/lk/counter')).value));
          await sleep(1); // widen the window a second holder would need
          await c.set('/lk/counter', String(n + 1));
          inside--;
        });
      }
    }));
    expect(mostInside).toBe(1);
    expect(text((await admin.get('/lk/counter')).value)).toBe('120');
    expect(grants).toHaveLength(120);
    for (let i = 1; i < grants.length; i++) expect(grants[i]).toBeGreaterThan(grants[i - 1]!);
    expect(await contenders('/lk/mutex')).toEqual([]);
  });

  it('gives a token equal to the rev of the holder file, and tryLock returns null while it is held', async () => {
    const [a, b] = await Promise.all([env.client(), env.client()]);
    const held = await a.lock('/lk/try', { info: 'a' });
    expect(await admin.get(held.key)).toMatchObject({ rev: held.token, value: Buffer.from('a') });
    expect(await b.tryLock('/lk/try')).toBeNull();
    expect(await contenders('/lk/try')).toEqual([held.key]); // tryLock left nothing behind
    await held.release();
    await held.release(); // safe twice
    const next = await b.tryLock('/lk/try');
    expect(next).not.toBeNull();
    expect(next!.token).toBeGreaterThan(held.token);
    await next!.release();
  });

  it('withLock releases the lock when the function throws', async () => {
    const [a, b] = await Promise.all([env.client(), env.client()]);
    await expect(a.withLock('/lk/throw', () => {
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(await contenders('/lk/throw')).toEqual([]);
    const l = await b.tryLock('/lk/throw');
    expect(l).not.toBeNull();
    await l!.release();
  });

  it('leaves the queue when a waiter aborts or times out, so the next waiter is not blocked', async () => {
    const [a, b, c] = await Promise.all([env.client(), env.client(), env.client()]);
    const held = await a.lock('/lk/abort');
    const controller = new AbortController();
    const aborted = b.lock('/lk/abort', { signal: controller.signal });
    await eventually(async () => (await contenders('/lk/abort')).length === 2, 'the waiter to queue');
    controller.abort(new Error('caller gave up'));
    await expect(aborted).rejects.toThrow('caller gave up');
    await eventually(async () => (await contenders('/lk/abort')).length === 1, 'the aborted waiter to leave');

    await expect(b.lock('/lk/abort', { timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
    await eventually(async () => (await contenders('/lk/abort')).length === 1, 'the timed-out waiter to leave');
    expect(await contenders('/lk/abort')).toEqual([held.key]);

    const waiting = c.lock('/lk/abort');
    await held.release();
    const next = await waiting;
    expect(next.token).toBeGreaterThan(held.token);
    await next.release();
  });

  it('removes its contender when aborted while the SET creating it is in flight (the answer comes after a reconnect)', async () => {
    let armed = true;
    const tap = tappedTransport((req) => {
      if (!armed || req.op !== 'set' || !String(req.path).startsWith('/lk/inflight/')) return false;
      armed = false;
      return true;
    });
    const a = await env.client({ transport: tap.transport });
    const controller = new AbortController();
    const p = a.lock('/lk/inflight', { signal: controller.signal });
    // The server has applied the SET; the client has not heard.
    await eventually(async () => (await contenders('/lk/inflight')).length === 1 && tap.held === 1, 'the contender SET to be applied');
    controller.abort(new Error('caller gave up'));
    await expect(p).rejects.toThrow('caller gave up');
    tap.cut(); // the client reconnects and re-sends the SET; the server answers it from its dedupe table
    await eventually(async () => (await contenders('/lk/inflight')).length === 0, 'the orphan contender to be removed');
    const b = await env.client();
    const l = await b.tryLock('/lk/inflight');
    expect(l).not.toBeNull();
    await l!.release();
  });

  it('passes to the next waiter when the holder process is SIGKILLed (within its session TTL)', async () => {
    const holder = spawnCoord(['--ttl', '1000', 'lock', '/lk/kill', '--', 'sh', '-c', 'echo "held $COORD_LOCK_TOKEN"; exec sleep 60'], { url: env.url });
    const line = await eventually(() => /held (\d+)/.exec(holder.stdout()) ?? undefined, 'the child to hold the lock');
    const holderToken = Number(line[1]);
    const b = await env.client();
    let killed = false;
    const waiting = b.lock('/lk/kill').then((l) => {
      expect(killed).toBe(true); // never granted while the holder process lived
      return l;
    });
    await eventually(async () => (await contenders('/lk/kill')).length === 2, 'the waiter to queue behind the child');
    killed = true;
    holder.kill('SIGKILL');
    expect((await holder.exited).signal).toBe('SIGKILL');
    const l = await waiting;
    expect(l.token).toBeGreaterThan(holderToken);
    expect(await contenders('/lk/kill')).toEqual([l.key]);
    await l.release();
  });

  it('fires lost when someone else deletes the holder file, and the lock can be taken again', async () => {
    const [a, b] = await Promise.all([env.client(), env.client()]);
    const held = await a.lock('/lk/del');
    expect(held.lost.aborted).toBe(false);
    await b.del(held.key);
    await eventually(() => held.lost.aborted, 'lost to fire');
    expect(String((held.lost.reason as Error).message)).toMatch(/deleted/);
    const next = await b.lock('/lk/del');
    expect(next.token).toBeGreaterThan(held.token);
    await held.release(); // the old holder's release must not remove the new holder's claim
    expect(await contenders('/lk/del')).toEqual([next.key]);
    await next.release();
  });

  it('fires lost when the session expires, and the server hands the lock on', async () => {
    const proxy = await env.proxy();
    const a = await env.client({ urls: proxy.url, sessionTtlMs: 1000 });
    const oldSession = a.sessionId;
    const held: Lock = await a.lock('/lk/expire');
    const b = await env.client();
    const waiting = b.lock('/lk/expire');
    await eventually(async () => (await contenders('/lk/expire')).length === 2, 'the waiter to queue');
    proxy.block(); // a can neither talk nor reconnect: its session runs out on the server
    await eventually(() => held.lost.aborted, 'lost to fire on expiry');
    const next = await waiting;
    expect(next.token).toBeGreaterThan(held.token);
    expect(await contenders('/lk/expire')).toEqual([next.key]);
    proxy.unblock();
    await eventually(() => a.state === 'connected' && a.sessionId !== oldSession, 'a to come back with a new session');
    await held.release();
    expect(await contenders('/lk/expire')).toEqual([next.key]);
    await next.release();
  });
});
