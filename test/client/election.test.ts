// Method: leader election (client/recipes/election.ts) against a real in-process server. Three
// candidates on separate clients campaign in a known order (each queued, as the tree shows,
// before the next starts); a fourth client observes. Each candidate counts itself in a shared
// "leading" tally when its campaign resolves and out when it steps down, so two leaders at once
// would show. Leadership passes by resign() and by a leader's client closing; at every step
// leader() and the observer must name the right candidate with the right token, and the observed
// sequence must be exactly the sequence of leaders. Conditions are polled, never timed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordClient, Leader, Leadership } from '../../client/index.ts';
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

const queued = async (path: string) => (await admin.walk(`${path}/*`)).files.length;

describe('election', () => {
  it('has one leader at a time; resign and close hand over; observe() and leader() follow', async () => {
    const [c1, c2, c3, watcher] = await Promise.all([env.client(), env.client(), env.client(), env.client()]);
    const path = '/el/sched';
    const observed: (Leader | null)[] = [];
    const stopObserving = new AbortController();
    const observing = (async () => {
      for await (const l of watcher.elect(path, 'observer').observe({ signal: stopObserving.signal })) observed.push(l);
    })();
    await eventually(() => observed.length === 1, 'the first observation');
    expect(observed[0]).toBeNull();
    expect(await watcher.elect(path, 'observer').leader()).toBeNull();

    let leading = 0;
    let mostLeading = 0;
    const campaign = async (c: CoordClient, id: string): Promise<Leadership> => {
      const l = await c.elect(path, id).campaign();
      mostLeading = Math.max(mostLeading, ++leading);
      return l;
    };
    const lastObserved = () => observed[observed.length - 1];

    const one = await campaign(c1, 'one');
    await eventually(() => lastObserved()?.id === 'one', 'one observed as leader');
    expect(await admin.elect(path, 'x').leader()).toEqual({ id: 'one', token: one.token });

    const two = campaign(c2, 'two');
    await eventually(async () => (await queued(path)) === 2, 'two to queue');
    const three = campaign(c3, 'three');
    await eventually(async () => (await queued(path)) === 3, 'three to queue');

    leading--;
    await one.resign();
    const l2 = await two;
    expect(l2.token).toBeGreaterThan(one.token);
    await eventually(() => lastObserved()?.id === 'two', 'two observed as leader');
    expect(await admin.elect(path, 'x').leader()).toEqual({ id: 'two', token: l2.token });

    leading--;
    await c2.close(); // the session ends; its candidate file goes with it
    await eventually(() => l2.lost.aborted, 'two to learn it lost leadership');
    const l3 = await three;
    expect(l3.token).toBeGreaterThan(l2.token);
    await eventually(() => lastObserved()?.id === 'three', 'three observed as leader');
    expect(await admin.elect(path, 'x').leader()).toEqual({ id: 'three', token: l3.token });
    expect(l3.lost.aborted).toBe(false);

    leading--;
    await l3.resign();
    await eventually(() => observed.length === 5, 'the end of leadership observed');
    stopObserving.abort();
    await observing;

    expect(mostLeading).toBe(1);
    expect(observed).toEqual([
      null,
      { id: 'one', token: one.token },
      { id: 'two', token: l2.token },
      { id: 'three', token: l3.token },
      null,
    ]);
    expect(await admin.elect(path, 'x').leader()).toBeNull();
  });

  it('fires lost for the leader whose file someone else deletes, and the next candidate leads', async () => {
    const [a, b] = await Promise.all([env.client(), env.client()]);
    const la = await a.elect('/el/del', 'a').campaign();
    const pb = b.elect('/el/del', 'b').campaign();
    await eventually(async () => (await queued('/el/del')) === 2, 'b to queue');
    const { files } = await admin.walk('/el/del/*');
    const aFile = files.find((f) => f.rev === la.token)!;
    await admin.del(aFile.path);
    await eventually(() => la.lost.aborted, 'a to learn it lost leadership');
    const lb = await pb;
    expect(await admin.elect('/el/del', 'x').leader()).toEqual({ id: 'b', token: lb.token });
    await lb.resign();
  });
});
