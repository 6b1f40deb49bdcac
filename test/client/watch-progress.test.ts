/**
 * Watch progress in the SDK: `stream.progress()`, `progressRev`, WATCH `progressMs`, progress
 * markers from `revisions({ progress: true })`, and — the point of it all — a watch resumed
 * after a reconnect from its progress cursor instead of from its last event.
 *
 * Method: a real server with a small history window (historyRevisions: 20) and real connection
 * drops (a TCP proxy cuts the socket). The resume test is run twice, with and without the
 * progress cursor moved: an idle watch whose only event is older than the window must resume
 * cleanly with it and end TOO_LATE without it, which shows the cursor is what saves it. Unknown
 * push kinds are injected into a real connection by a wrapping transport.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../protocol/codec.ts';
import { connect, TooLateError, type ConnectOptions, type CoordClient, type RevisionEvents, type WatchStream } from '../../client/index.ts';
import { webSocketTransport, type Link, type Transport } from '../../client/transport.ts';
import { eventually } from '../helpers/recipe-env.ts';
import { RecipeProxy } from '../helpers/recipe-proxy.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';

const HISTORY = 20;
let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: CoordClient;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  server = await startTestServer({ historyRevisions: HISTORY });
  admin = await client();
});

afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => {});
  await server.close();
  removeDir(server.dataDir);
});

async function client(options: Partial<ConnectOptions> = {}): Promise<CoordClient> {
  const c = await connect({ urls: server.url, backoffMs: [0, 20, 50], ...options });
  cleanups.push(() => c.close());
  return c;
}

async function proxy(): Promise<RecipeProxy> {
  const p = await RecipeProxy.start(server.url);
  cleanups.push(() => p.close());
  return p;
}

/** Collects a stream's revisions (and progress markers) in the background. */
function consume(stream: WatchStream, progress = false) {
  const seen: RevisionEvents[] = [];
  let failure: unknown;
  const done = (async () => {
    for await (const r of stream.revisions({ progress })) seen.push(r);
  })().catch((err: unknown) => (failure = err));
  return { seen, done, failure: () => failure };
}

describe('stream.progress()', () => {
  it('on an idle watch: a rev ≥ a write another client made, and progressRev moves to it', async () => {
    const c = await client();
    const stream = c.watch('/pi/**');
    const before = await stream.progress(); // also: the watch is open on the server
    const other = await admin.set('/elsewhere/pi', 'x');
    const rev = await stream.progress();
    expect(rev).toBeGreaterThanOrEqual(other);
    expect(rev).toBeGreaterThanOrEqual(before);
    expect(stream.progressRev).toBe(rev);
    expect(stream.buffered).toBe(0);
    stream.cancel();
  });

  it('when it resolves, every event at or below its rev is already in the stream', async () => {
    const c = await client();
    const stream = c.watch('/pe/**');
    await stream.progress();
    const revs: number[] = [];
    for (let i = 0; i < 10; i++) revs.push(await admin.set(`/pe/${i % 3}`, String(i)));
    const rev = await stream.progress();
    expect(rev).toBeGreaterThanOrEqual(revs.at(-1)!);
    // Nothing awaited on the stream yet: the events are queued, not still on their way.
    expect(stream.buffered).toBe(revs.length);
    const got: number[] = [];
    for (let i = 0; i < revs.length; i++) got.push((await stream.nextRevision())!.rev);
    expect(got).toEqual(revs);
    stream.cancel();
  });

  it('serializable: the connected server\'s applied revision', async () => {
    const c = await client();
    const stream = c.watch('/ps/**');
    const other = await admin.set('/elsewhere/ps', 'x');
    expect(await stream.progress({ serializable: true })).toBeGreaterThanOrEqual(other);
    stream.cancel();
  });

  it('rejects once the watch is cancelled', async () => {
    const c = await client();
    const stream = c.watch('/pc/**');
    await stream.progress();
    stream.cancel();
    await expect(stream.progress()).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});

describe('resuming after a reconnect', () => {
  /**
   * An idle watch whose only event is old: writes elsewhere push that event out of the history
   * window, the connection drops, and the watch must resume. Returns what the stream saw.
   */
  async function idleThenDrop(moveCursor: boolean) {
    const p = await proxy();
    const c = await client({ urls: p.url });
    const glob = moveCursor ? '/rp/yes/**' : '/rp/no/**';
    // From the next revision: the watch travels through the proxy, the writes do not, and must
    // not be applied before it starts.
    const stream = c.watch(glob, { fromRev: (await admin.rev()) + 1 });
    const consuming = consume(stream);
    const old = await admin.set(glob.replace('**', 'a'), 'old');
    await eventually(() => consuming.seen.length === 1, 'the old event');
    for (let i = 0; i < 3 * HISTORY; i++) await admin.set('/rp/elsewhere', String(i));
    if (moveCursor) expect(await stream.progress()).toBeGreaterThanOrEqual(old + 3 * HISTORY);
    const accepted = p.accepted;
    p.cut();
    await eventually(() => p.accepted > accepted && c.state === 'connected', 'the client to reconnect');
    const fresh = await admin.set(glob.replace('**', 'b'), 'new');
    await eventually(() => consuming.seen.length >= 2 || consuming.failure() !== undefined, 'the new event or an end');
    stream.cancel();
    await consuming.done;
    return { old, fresh, seen: consuming.seen.map((r) => r.rev), failure: consuming.failure() };
  }

  it('resumes an idle watch from its progress cursor: no TOO_LATE though its last event left the history', async () => {
    const r = await idleThenDrop(true);
    expect(r.failure).toBeUndefined();
    expect(r.seen).toEqual([r.old, r.fresh]);
  });

  it('(control) without the progress cursor, the same watch resumes from its last event and gets TOO_LATE', async () => {
    const r = await idleThenDrop(false);
    expect(r.failure).toBeInstanceOf(TooLateError);
    expect(r.seen).toEqual([r.old]);
  });

  it('periodic progress (progressMs) moves the cursor too, and shows as markers in revisions({ progress: true })', async () => {
    const p = await proxy();
    const c = await client({ urls: p.url });
    const stream = c.watch('/rq/**', { progressMs: 100, fromRev: (await admin.rev()) + 1 });
    const consuming = consume(stream, true);
    const old = await admin.set('/rq/a', 'old');
    let head = 0;
    for (let i = 0; i < 3 * HISTORY; i++) head = await admin.set('/rq-elsewhere', String(i));
    await eventually(() => stream.progressRev >= head, 'a progress push past the writes elsewhere');
    const marker = consuming.seen.find((r) => r.progress === true && r.rev >= head);
    expect(marker).toMatchObject({ events: [], progress: true });
    // Markers come in order: none before the event it follows, each ≥ the revision before it.
    const revs = consuming.seen.map((r) => r.rev);
    expect(revs).toEqual([...revs].sort((a, b) => a - b));
    expect(consuming.seen[0]).toMatchObject({ rev: old, events: [{ path: '/rq/a' }] });
    p.cut();
    await eventually(() => c.state === 'connected' && p.accepted >= 2, 'the client to reconnect');
    const fresh = await admin.set('/rq/b', 'new');
    await eventually(() => consuming.seen.some((r) => r.rev === fresh) || consuming.failure() !== undefined, 'the new event');
    expect(consuming.failure()).toBeUndefined();
    stream.cancel();
    await consuming.done;
  });
});

describe('pushes the client does not know', () => {
  it('a push with neither events nor end (a newer server\'s) neither crashes nor ends the stream', async () => {
    let link: Link | null = null;
    let watchId = -1;
    const transport: Transport = async (url, timeoutMs) => {
      const inner = await webSocketTransport(url, timeoutMs);
      const send = inner.send.bind(inner);
      inner.send = (frame) => {
        const msg = decode(frame) as Record<string, unknown>;
        if (msg.op === 'watch') watchId = msg.id as number;
        send(frame);
      };
      link = inner;
      return inner;
    };
    const c = await client({ transport });
    const stream = c.watch('/pu/**');
    await stream.progress();
    link!.onFrame(encode({ watch: watchId, somethingNew: { x: 1 } }));
    link!.onFrame(encode({ watch: watchId }));
    const rev = await admin.set('/pu/a', '1');
    const r = await stream.nextRevision();
    expect(r).toMatchObject({ rev });
    expect(stream.finished).toBe(false);
    stream.cancel();
  });
});
