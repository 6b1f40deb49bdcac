// The simulator's world and network on their own: events in (time, insertion) order, promise
// continuations settled inside the event that caused them, a crashed process's timers dropped
// and a paused one's deferred, a seed replaying to the same trace hash, and a network that
// delays, loses, duplicates, partitions (one way too) and never shares objects between nodes.
import { describe, expect, it } from 'vitest';
import type { PeerMessage } from '../../server/consensus/env.ts';
import { calmProfile, SimNetwork, type NetworkProfile } from './network.ts';
import { Process, Rng, World } from './world.ts';

describe('Rng', () => {
  it('replays a seed and forks independent streams', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const xs = Array.from({ length: 50 }, () => a.u32());
    expect(Array.from({ length: 50 }, () => b.u32())).toEqual(xs);
    expect(new Rng(8).u32()).not.toBe(new Rng(7).u32());
    const r = new Rng(1);
    for (let i = 0; i < 1000; i++) {
      const f = r.float();
      expect(f >= 0 && f < 1).toBe(true);
      const k = r.between(3, 5);
      expect(k >= 3 && k <= 5).toBe(true);
    }
    expect(r.sample([1, 2, 3, 4], 4).sort()).toEqual([1, 2, 3, 4]);
  });
});

describe('World', () => {
  it('runs events by time, then by insertion, and settles promises inside each event', async () => {
    const w = new World(1);
    const seen: string[] = [];
    w.after(5, 'b', () => seen.push('b5'));
    w.after(1, 'a', () => {
      seen.push('a1');
      void Promise.resolve().then(() => Promise.resolve()).then(() => seen.push('a1 then'));
    });
    w.after(5, 'c', () => seen.push('c5'));
    const cancel = w.after(3, 'x', () => seen.push('x3'));
    cancel();
    void w.sleep(4).then(() => seen.push('slept 4'));
    expect(await w.run({ until: 100 })).toBe('idle');
    expect(seen).toEqual(['a1', 'a1 then', 'slept 4', 'b5', 'c5']);
    expect(w.now).toBe(5);
  });

  it('stops at `until` with the clock there, and on a string from `after`', async () => {
    const w = new World(1);
    for (let t = 10; t <= 50; t += 10) w.at(t, `t${t}`, () => {});
    expect(await w.run({ until: 25 })).toBe('until');
    expect(w.now).toBe(25);
    expect(await w.run({ until: 100, after: () => (w.now >= 40 ? 'enough' : null) })).toBe('enough');
    expect(w.now).toBe(40);
  });

  it('drops a dead process callbacks and defers a paused one to its wake-up', async () => {
    const w = new World(1);
    const p = new Process(w, 'n1');
    const seen: string[] = [];
    const s = p.scheduler();
    s.after(10, () => seen.push(`timer at ${w.now}`));
    p.pausedUntil = 30;
    s.soon(() => seen.push(`soon at ${w.now}`));
    await w.run({ until: 100 });
    expect(seen).toEqual(['soon at 30', 'timer at 30']);
    const q = new Process(w, 'n1#2');
    q.scheduler().after(10, () => seen.push('dead'));
    q.alive = false;
    await w.run({ until: 200 });
    expect(seen).toHaveLength(2);
  });

  it('runs what came due during a pause, in order, when the pause is cut short', async () => {
    const w = new World(1);
    const p = new Process(w, 'n1');
    const seen: string[] = [];
    p.pause(1000);
    p.scheduler().after(10, () => seen.push(`a at ${w.now}`));
    p.scheduler().after(20, () => seen.push(`b at ${w.now}`));
    const cancel = p.scheduler().after(25, () => seen.push('cancelled'));
    w.at(30, 'resume', () => {
      cancel();
      p.resume();
    });
    await w.run({ until: 2000 });
    expect(seen).toEqual(['a at 30', 'b at 30']);
  });

  it('gives a drifting clock its own time and timers', async () => {
    const w = new World(1);
    const fast = new Process(w, 'n1', 2, 1000);
    let firedAt = -1;
    fast.scheduler().after(100, () => {
      firedAt = w.now;
    });
    await w.run({ until: 1000 });
    expect(firedAt).toBe(50);
    expect(fast.now()).toBe(1000 + 2 * w.now);
  });

  it('replays a seed to the same trace hash', async () => {
    const run = async (seed: number) => {
      const w = new World(seed);
      const rng = w.rng.fork();
      const tick = (): void => {
        if (w.now < 1000) w.after(rng.exp(10), `tick ${rng.int(100)}`, tick);
      };
      tick();
      await w.run({ until: 2000 });
      return { hash: w.trace.hash, events: w.events };
    };
    const a = await run(42);
    expect(await run(42)).toEqual(a);
    expect((await run(43)).hash).not.toBe(a.hash);
    expect(a.hash).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('SimNetwork', () => {
  const msg = (n: number): PeerMessage => ({ kind: 'keepalive', sessions: [`s${n}`] });

  function setup(profile: NetworkProfile = calmProfile) {
    const w = new World(3);
    const net = new SimNetwork(w, w.rng.fork(), profile);
    const got: Record<string, string[]> = { a: [], b: [], c: [] };
    const procs: Record<string, Process> = {};
    const transports = Object.fromEntries(['a', 'b', 'c'].map((id) => {
      procs[id] = new Process(w, id);
      const t = net.attach(id, procs[id]!);
      t.onMessage = (from, m) => got[id]!.push(`${from}:${(m as { sessions: string[] }).sessions[0]}`);
      return [id, t];
    }));
    return { w, net, got, procs, transports };
  }

  it('delivers copies, never the sent object', async () => {
    const { w, net, transports } = setup();
    const sent: PeerMessage = { kind: 'snap-chunk', index: 5, term: 2, offset: 0, data: new Uint8Array([1, 2, 3]), total: 3, crc: 9 };
    let received: PeerMessage | null = null;
    const c = net.attach('c', new Process(w, 'c#2'));
    c.onMessage = (_from, m) => {
      received = m;
    };
    transports['a']!.send('c', sent);
    (sent as { data: Uint8Array }).data[0] = 99;
    await w.run({ until: 100 });
    expect(received).not.toBe(sent);
    expect(Array.from((received as unknown as { data: Uint8Array }).data)).toEqual([1, 2, 3]);
  });

  it('cuts links one way, isolates, partitions and heals', async () => {
    const { w, net, got, transports } = setup();
    net.cut('a', 'b');
    transports['a']!.send('b', msg(1));
    transports['b']!.send('a', msg(2));
    await w.run({ until: 100 });
    expect(got['b']).toEqual([]);
    expect(got['a']).toEqual(['b:s2']);
    net.heal();
    net.partition([['a'], ['b', 'c']]);
    transports['b']!.send('c', msg(3));
    transports['c']!.send('a', msg(4));
    await w.run({ until: 200 });
    expect(got['c']).toEqual(['b:s3']);
    expect(got['a']).toEqual(['b:s2']);
    // In flight when the link is cut: dropped on arrival.
    net.heal();
    transports['a']!.send('c', msg(5));
    net.isolate('c', ['a', 'b', 'c']);
    transports['b']!.send('a', msg(6));
    await w.run({ until: 300 });
    expect(got['c']).toEqual(['b:s3']);
    expect(got['a']).toEqual(['b:s2', 'b:s6']);
  });

  it('loses, duplicates and reorders by the profile, and a crashed process neither sends nor receives', async () => {
    const { w, net, got, procs, transports } = setup({ baseMs: 1, jitterMs: 20, tailChance: 0, tailMs: 0, loss: 0.2, dup: 0.2 });
    for (let i = 0; i < 200; i++) transports['a']!.send('b', msg(i));
    await w.run({ until: 10_000 });
    const b = got['b']!.map((s) => Number(s.slice(3)));
    expect(net.stats.lost).toBeGreaterThan(10);
    expect(net.stats.duplicated).toBeGreaterThan(10);
    expect(b.length).toBe(200 - net.stats.lost + net.stats.duplicated);
    expect(b.some((x, i) => i > 0 && x < b[i - 1]!)).toBe(true);
    procs['a']!.alive = false;
    procs['c']!.alive = false;
    transports['a']!.send('b', msg(1000));
    transports['b']!.send('c', msg(1001));
    await w.run({ until: 20_000 });
    expect(got['b']!.length).toBe(b.length);
    expect(got['c']).toEqual([]);
  });
});
