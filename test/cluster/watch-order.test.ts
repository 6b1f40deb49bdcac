/**
 * A WATCH or WAIT "from now" on a follower, with a write pipelined right behind it on the same
 * connection: the watch's "now" comes before the write, as on a single node, so
 * `watch(); await set()` sees its own write. (The follower's read barrier is a round trip to the
 * leader while the write is forwarded at once: "now" used to be read after the barrier, by when
 * the write could have been applied, and the watch started after it.) Against an in-process
 * three-node cluster, with the client on a follower; repeated, since the race is a matter of
 * timing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type CoordClient } from '../../client/index.ts';
import { TestCoord } from '../helpers/test-coord.ts';

let cluster: TestCoord;
let c: CoordClient;

beforeAll(async () => {
  cluster = await TestCoord.start({}, 3);
  c = await connect({ urls: cluster.nextUrl() }); // a follower
});

afterAll(async () => {
  await c?.close();
  await cluster?.stop();
});

/** `p`, or a failure naming `what` after 5 s (a missed write would otherwise wait for ever). */
function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`missed: ${what}`)), 5000)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe('a watch from now on a follower', () => {
  it('sees the write its client sent right after it', async () => {
    for (let i = 0; i < 40; i++) {
      const stream = c.watch(`/wo/${i}/**`);
      const it = stream[Symbol.asyncIterator]();
      const rev = await c.set(`/wo/${i}/x`, 'v');
      const first = await within(it.next(), `the watch's first event, /wo/${i}/x at ${rev}`);
      expect(first.done).toBe(false);
      expect(first.value).toMatchObject({ path: `/wo/${i}/x`, rev });
      stream.cancel();
    }
  });

  it('a WAIT for the next event sees the write sent right after it', async () => {
    for (let i = 0; i < 40; i++) {
      const next = c.wait(`/wn/${i}/**`);
      const rev = await c.set(`/wn/${i}/x`, 'v');
      expect(await within(next, `the WAIT's event, /wn/${i}/x at ${rev}`)).toMatchObject({ path: `/wn/${i}/x`, rev });
    }
  });
});
