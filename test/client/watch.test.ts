// Method: watchConfig (client/recipes/config.ts) and client.watch (client/watch-stream.ts) against
// a real in-process server. Every write's revision is recorded, so each config snapshot can be
// checked against the value actually written at the newest revision it claims to reflect, and a
// watch's whole received sequence can be compared with the writes made: none missing, none
// repeated, in order. Disconnects are real: a TCP proxy drops the connection (and keeps the
// client away while writes happen), and the server is stopped and a new one started on the same
// port and data directory. Conditions are polled with generous deadlines, never timed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveView, type ConfigSnapshot, type CoordClient, type Event, type ViewUpdate } from '../../client/index.ts';
import { RecipeEnv, eventually, range } from '../helpers/recipe-env.ts';
import { tappedTransport } from '../helpers/recipe-transport.ts';

let env: RecipeEnv;
let admin: CoordClient;

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
});

afterAll(async () => {
  await env.stop();
});

/** Consumes a watchConfig generator in the background. */
function follow(gen: AsyncGenerator<ConfigSnapshot>) {
  const snapshots: ConfigSnapshot[] = [];
  let failure: unknown;
  const done = (async () => {
    for await (const s of gen) snapshots.push(s);
  })().catch((err) => (failure = err));
  return {
    snapshots,
    last: () => snapshots[snapshots.length - 1],
    until: (pred: (s: ConfigSnapshot) => boolean, what: string) =>
      eventually(() => {
        if (failure !== undefined) throw failure;
        const s = snapshots[snapshots.length - 1];
        return s !== undefined && pred(s) ? s : undefined;
      }, what),
    done,
  };
}

describe('watchConfig', () => {
  it('delivers the current value first, then the final value after a burst of 200 sets, each snapshot true to its revision', async () => {
    const watcher = await env.client();
    const first = await admin.set('/cf/app', 'v-initial');
    const written = new Map<number, string>([[first, 'v-initial']]);
    const stop = new AbortController();
    const f = follow(watcher.watchConfig('/cf/app', { signal: stop.signal }));
    const s0 = await f.until(() => true, 'the first snapshot');
    expect(s0.text()).toBe('v-initial');
    expect(s0.rev).toBeGreaterThanOrEqual(first);

    const revs = await Promise.all(range(200).map((i) => admin.set('/cf/app', `v${i}`)));
    revs.forEach((rev, i) => written.set(rev, `v${i}`));
    const head = Math.max(...revs);
    await f.until((s) => s.rev >= head, 'the snapshot of the last write');
    expect(f.last()!.text()).toBe(written.get(head));

    // Every snapshot shows what was written at the newest write at or below its revision.
    const writeRevs = [...written.keys()].sort((a, b) => a - b);
    for (const s of f.snapshots) {
      const at = writeRevs.filter((r) => r <= s.rev).pop()!;
      expect(s.text()).toBe(written.get(at));
    }
    for (let i = 1; i < f.snapshots.length; i++) expect(f.snapshots[i]!.rev).toBeGreaterThan(f.snapshots[i - 1]!.rev);
    stop.abort();
    await f.done;
  });

  it('watches a glob as whole snapshots, and survives a dropped connection (writes made while away arrive)', async () => {
    const proxy = await env.proxy();
    const watcher = await env.client({ urls: proxy.url });
    await admin.txn({ ops: [{ op: 'set', path: '/cf/svc/a', value: '1' }, { op: 'set', path: '/cf/svc/b', value: '1' }] });
    const stop = new AbortController();
    const f = follow(watcher.watchConfig('/cf/svc/*', { signal: stop.signal }));
    await f.until((s) => s.values.size === 2, 'both files');
    expect(f.last()!.text('/cf/svc/a')).toBe('1');

    proxy.block();
    await eventually(() => watcher.state === 'suspended', 'the watcher to notice the drop');
    const during = await admin.txn({ ops: [{ op: 'set', path: '/cf/svc/a', value: '2' }, { op: 'del', path: '/cf/svc/b' }] });
    proxy.unblock();
    const s = await f.until((x) => x.rev >= during, 'the change made while disconnected');
    expect(s.rev).toBe(during); // one transaction, one snapshot: never half of it
    expect(Object.fromEntries([...s.values].map(([p, v]) => [p, Buffer.from(v).toString()]))).toEqual({ '/cf/svc/a': '2' });

    proxy.cut();
    const after = await admin.set('/cf/svc/c', '3');
    const s2 = await f.until((x) => x.rev >= after, 'the change after a cut');
    expect(s2.text('/cf/svc/c')).toBe('3');
    stop.abort();
    await f.done;
  });
});

describe('liveView', () => {
  it('gives each update its own snapshot of the files: later changes leave earlier updates as they were', async () => {
    const r1 = await admin.set('/lv/a', '1');
    const view = liveView(admin, '/lv/*');
    const first = (await view.next()).value as ViewUpdate;
    const r2 = await admin.set('/lv/a', '2');
    await admin.set('/lv/b', 'b');
    const updates: ViewUpdate[] = [first];
    while (updates[updates.length - 1]!.files.size < 2) updates.push((await view.next()).value as ViewUpdate);
    await view.return(undefined);
    expect(first.rev).toBeGreaterThanOrEqual(r1);
    expect([...first.files.keys()]).toEqual(['/lv/a']);
    expect(first.files.get('/lv/a')).toMatchObject({ rev: r1, value: Buffer.from('1') });
    expect(updates[updates.length - 1]!.files.get('/lv/a')).toMatchObject({ rev: r2, value: Buffer.from('2') });
  });
});

describe('client.watch', () => {
  it('survives a dropped connection and a server restart without missing or repeating an event', async () => {
    const proxy = await env.proxy();
    const c = await env.client({ urls: proxy.url });
    const start = (await admin.rev()) + 1;
    const stream = c.watch('/wr/**', { fromRev: start });
    const seen: Event[] = [];
    const consuming = (async () => {
      for await (const e of stream) seen.push(e);
    })();
    const expected: Event[] = [];
    const set = async (path: string, value: string) => {
      const rev = await admin.set(path, value);
      expected.push({ path, rev, kind: 'set', value: Buffer.from(value) });
    };
    const del = async (path: string) => {
      const { rev } = await admin.del(path);
      expected.push({ path, rev, kind: 'delete' });
    };

    for (let i = 0; i < 10; i++) await set(`/wr/${i % 3}`, `a${i}`);
    await eventually(() => seen.length >= 5, 'the first events');
    proxy.cut(); // mid-stream
    for (let i = 0; i < 10; i++) await set(`/wr/x/${i % 4}`, `b${i}`);
    await del('/wr/0');
    await eventually(() => seen.length === expected.length, 'the events after the cut');

    await env.restart(); // both clients lose their connections; the data and port stay
    for (let i = 0; i < 10; i++) await set(`/wr/${i % 2}`, `c${i}`);
    await del('/wr/x/1');
    await eventually(() => seen.length >= expected.length, 'the events after the restart');
    // Let a late duplicate show itself: one more write, and it must be the only new event.
    await set('/wr/end', 'end');
    await eventually(() => seen.length >= expected.length, 'the final event');
    stream.cancel();
    await consuming;
    expect(seen).toEqual(expected);
    expect(proxy.accepted).toBeGreaterThanOrEqual(3); // it really reconnected twice
  });

  it('resumes a watch whose answer was lost with its connection from where it was asked, not from a later "next"', async () => {
    let armed = true;
    const tap = tappedTransport((req) => {
      if (!armed || req.op !== 'watch' || req.glob !== '/wl/**') return false;
      armed = false;
      return 'and-after'; // the answer and everything after it on that connection are lost
    });
    const c = await env.client({ transport: tap.transport });
    const stream = c.watch('/wl/**');
    const seen: number[] = [];
    const consuming = (async () => {
      for await (const e of stream) seen.push(e.rev);
    })();
    await eventually(() => tap.held >= 1, 'the server to take the watch');
    const r1 = await admin.set('/wl/a', '1'); // after the server started the watch
    tap.cut();
    const r2 = await admin.set('/wl/b', '2');
    await eventually(() => seen.length >= 2, 'both events');
    stream.cancel();
    await consuming;
    expect(seen).toEqual([r1, r2]);
  });

  it('starts a watch made while disconnected at the call, not at the reconnect', async () => {
    const proxy = await env.proxy();
    const c = await env.client({ urls: proxy.url });
    await c.rev();
    proxy.block();
    await eventually(() => c.state === 'suspended', 'the client to notice the drop');
    const stream = c.watch('/wd/**');
    const seen: number[] = [];
    const consuming = (async () => {
      for await (const e of stream) seen.push(e.rev);
    })();
    const r1 = await admin.set('/wd/a', '1');
    proxy.unblock();
    const r2 = await admin.set('/wd/b', '2');
    await eventually(() => seen.length >= 2, 'both events');
    stream.cancel();
    await consuming;
    expect(seen).toEqual([r1, r2]);
  });
});
