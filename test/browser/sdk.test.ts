/**
 * The SDK in a real browser: Debian's chromium (driven by playwright-core, no browser download)
 * loads a page that imports the ready-to-load bundle `npm run build` makes
 * (client/dist/browser/coord.js), and the page talks to a real coord server over the browser's
 * own WebSocket: connect, set, get, a compare-and-set refused with RevMismatchError, a watch
 * that receives a change a Node client makes, a fenced lock whose token the Node client's next
 * lock outranks, an ephemeral file gone when the page's client closes, and a failed connect that
 * says why it cannot say why. The page's console and uncaught errors must stay empty.
 *
 * Without /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it) the suite is
 * skipped, loudly: a warning and a skipped test that says so.
 */
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as sdk from '../../client/index.ts';
import { connect, text, type CoordClient } from '../../client/index.ts';
import { removeDir, repoRoot, startTestServer, tempDir } from '../helpers/server.ts';

const chromiumPath = '/usr/bin/chromium';
const haveChromium = existsSync(chromiumPath);
const bundlePath = join(repoRoot, 'client/dist/browser/coord.js');

if (!haveChromium) {
  console.warn(
    `\n!!! test/browser: ${chromiumPath} is missing: the SDK is NOT being tested in a browser.\n` +
      '!!! Install it with `apt-get update && apt-get install -y chromium` (.ci/run does).\n',
  );
  it.skip(`SKIPPED, NOT RUN: the SDK in a real browser (no chromium at ${chromiumPath})`, () => {});
}

/* Types for what runs in the page, where `coord` is the bundle's module namespace. */
type Coord = typeof sdk;
type PageGlobals = { coord: Coord; client: CoordClient; firstEvent: Promise<unknown>; pageError?: string };

const page = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>coord SDK in a browser</title></head>
<body><pre id="out">loading…</pre>
<script type="module">
  import * as coord from '/coord.js';
  window.coord = coord;
  document.getElementById('out').textContent = 'coord SDK loaded: ' + Object.keys(coord).length + ' exports';
</script></body></html>`;

/** A static server for the page and the bundle, on 127.0.0.1. */
function startStatic(): Promise<Server> {
  const files: Record<string, { type: string; path?: string; body?: string }> = {
    '/': { type: 'text/html; charset=utf-8', body: page },
    '/coord.js': { type: 'text/javascript; charset=utf-8', path: bundlePath },
    '/coord.js.map': { type: 'application/json', path: `${bundlePath}.map` },
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (file === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' });
    res.end(file.body ?? readFileSync(file.path!));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** A port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  const s = createNetServer();
  return new Promise((resolve) =>
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    }),
  );
}

describe.skipIf(!haveChromium)('the SDK in a real browser (chromium, the bundle over its own WebSocket)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let web: Server;
  let node: CoordClient;
  let profile: string;
  let context: import('playwright-core').BrowserContext;
  let tab: import('playwright-core').Page;
  const pageProblems: string[] = [];

  beforeAll(async () => {
    expect(existsSync(bundlePath), `${bundlePath} (npm run build makes it)`).toBe(true);
    server = await startTestServer();
    node = await connect({ urls: server.url });
    web = await startStatic();
    const { chromium } = await import('playwright-core');
    profile = tempDir('coord-chromium-');
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    });
    tab = context.pages()[0] ?? (await context.newPage());
    tab.on('pageerror', (err) => pageProblems.push(`uncaught: ${err.message}`));
    tab.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') pageProblems.push(`console.${msg.type()}: ${msg.text()}`);
    });
    const { port } = web.address() as AddressInfo;
    await tab.goto(`http://127.0.0.1:${port}/`);
    await tab.waitForFunction(() => (globalThis as unknown as Partial<PageGlobals>).coord !== undefined, null, { timeout: 10_000 });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await node?.close();
    await new Promise((r) => (web ? web.close(r) : r(undefined)));
    await server?.close();
    if (server) removeDir(server.dataDir);
    if (profile) removeDir(profile);
  });

  it('loads the bundle as an ES module with the same exports as the Node entry, and no Node globals in the page', async () => {
    const seen = await tab.evaluate(() => {
      const g = globalThis as unknown as PageGlobals & { Buffer?: unknown; process?: unknown };
      return { exports: Object.keys(g.coord).sort(), buffer: typeof g.Buffer, process: typeof g.process };
    });
    expect(seen.exports).toEqual(Object.keys(sdk).sort());
    expect(seen).toMatchObject({ buffer: 'undefined', process: 'undefined' });
  });

  it('connects, sets, gets, and a compare-and-set with a stale rev is refused with RevMismatchError', async () => {
    const out = await tab.evaluate(async (url) => {
      const g = globalThis as unknown as PageGlobals;
      const { coord } = g;
      g.client = await coord.connect({ urls: url });
      const state = g.client.state;
      const rev = await g.client.set('/browser/hello', 'héllo from the browser ✓');
      const got = await g.client.get('/browser/hello');
      let refused: { isRevMismatch: boolean; code: string; name: string } | null = null;
      try {
        await g.client.set('/browser/hello', 'again', { rev: 0 }); // create-only, and it exists
      } catch (err) {
        refused = { isRevMismatch: err instanceof coord.RevMismatchError, code: (err as { code: string }).code, name: (err as Error).name };
      }
      const cas = await g.client.set('/browser/hello', 'swapped', { rev: got.rev });
      return { state, rev, value: coord.text(got.value), gotRev: got.rev, binary: got.value instanceof Uint8Array, refused, cas };
    }, server.url);
    expect(out).toMatchObject({ state: 'connected', value: 'héllo from the browser ✓', binary: true, refused: { isRevMismatch: true, code: 'REV_MISMATCH' } });
    expect(out.gotRev).toBe(out.rev);
    expect(out.cas).toBeGreaterThan(out.rev);
    expect(text((await node.get('/browser/hello')).value)).toBe('swapped');
  });

  it('a watch in the page receives a change made by a Node client, bytes intact', async () => {
    // From an explicit revision read first: a watch "from now" races the Node client's write
    // (the write can reach the server before the page's WATCH does, and is then not "after now").
    await tab.evaluate(async () => {
      const g = globalThis as unknown as PageGlobals;
      const fromRev = (await g.client.rev()) + 1;
      g.firstEvent = (async () => {
        for await (const e of g.client.watch('/browser/feed/**', { fromRev })) {
          return { path: e.path, kind: e.kind, rev: e.rev, text: g.coord.text(e.value), bytes: Array.from(e.value ?? []) };
        }
        return null;
      })();
    });
    const rev = await node.set('/browser/feed/1', new Uint8Array([0x66, 0x72, 0x6f, 0x6d, 0x20, 0x6e, 0x6f, 0x64, 0x65, 0x00, 0xff]));
    const event = await tab.evaluate(() => (globalThis as unknown as PageGlobals).firstEvent);
    expect(event).toEqual({
      path: '/browser/feed/1', kind: 'set', rev, text: 'from node\u0000\ufffd',
      bytes: [0x66, 0x72, 0x6f, 0x6d, 0x20, 0x6e, 0x6f, 0x64, 0x65, 0x00, 0xff],
    });
  });

  it('takes a fenced lock the Node client cannot take until it is released, and the next token is higher', async () => {
    const held = await tab.evaluate(async () => {
      const g = globalThis as unknown as PageGlobals;
      const lock = await g.client.lock('/browser/lock');
      (g as unknown as { lock: typeof lock }).lock = lock;
      return { token: lock.token, lost: lock.lost.aborted };
    });
    expect(held.token).toBeGreaterThan(0);
    expect(held.lost).toBe(false);
    expect(await node.tryLock('/browser/lock')).toBeNull();
    await tab.evaluate(() => (globalThis as unknown as { lock: { release(): Promise<void> } }).lock.release());
    const mine = await node.lock('/browser/lock', { timeoutMs: 5000 });
    expect(mine.token).toBeGreaterThan(held.token);
    await mine.release();
  });

  it('keeps its session and its watch across a server restart: suspended, connected again, no event missed', async () => {
    await tab.evaluate(() => {
      const g = globalThis as unknown as PageGlobals & { restart: { states: string[]; events: string[]; session: string | null } };
      g.restart = { states: [], events: [], session: g.client.sessionId };
      g.client.onState((state) => g.restart.states.push(state));
      void (async () => {
        for await (const e of g.client.watch('/browser/restart/**')) g.restart.events.push(`${e.path}=${g.coord.text(e.value)}`);
      })().catch(() => {}); // ends with ClientClosedError when the client is closed
    });
    await node.set('/browser/restart/1', 'before');
    const seen = () => tab.evaluate(() => (globalThis as unknown as { restart: { states: string[]; events: string[]; session: string | null } }).restart);
    await tab.waitForFunction(() => (globalThis as unknown as { restart: { events: string[] } }).restart.events.length === 1);

    const { port, dataDir } = server;
    await server.close();
    await tab.waitForFunction(() => (globalThis as unknown as { restart: { states: string[] } }).restart.states.includes('suspended'));
    server = await startTestServer({ dataDir, port });
    await node.set('/browser/restart/2', 'after');
    await tab.waitForFunction(() => (globalThis as unknown as { restart: { events: string[] } }).restart.events.length >= 2, null, { timeout: 15_000 });
    const after = await seen();
    expect(after.events).toEqual(['/browser/restart/1=before', '/browser/restart/2=after']);
    expect(after.states).toEqual(['suspended', 'connected']);
    expect(await tab.evaluate(() => (globalThis as unknown as PageGlobals).client.sessionId)).toBe(after.session);
    // The browser itself logs each refused reconnect while the server was down: expected.
    const expected = (p: string) => p.startsWith('console.error: WebSocket connection to') && p.includes(`127.0.0.1:${port}/`);
    pageProblems.splice(0, pageProblems.length, ...pageProblems.filter((p) => !expected(p)));
  });

  it('closing the page\'s client ends its session: its ephemeral file is gone', async () => {
    const state = await tab.evaluate(async () => {
      const g = globalThis as unknown as PageGlobals;
      await g.client.set('/browser/here', 'while the page is connected', { ephemeral: true });
      await g.client.close();
      return g.client.state;
    });
    expect(state).toBe('closed');
    expect((await node.get('/browser/here')).value).toBeNull();
  });

  it('a connect to a port with no server fails with a ConnectionError that says the browser gives no cause', async () => {
    const url = `ws://127.0.0.1:${await closedPort()}`;
    const out = await tab.evaluate(async (u) => {
      const { coord } = globalThis as unknown as PageGlobals;
      try {
        await coord.connect({ urls: u, failFast: true, connectTimeoutMs: 10_000 });
        return { connected: true, isConnectionError: false, message: '' };
      } catch (err) {
        return { connected: false, isConnectionError: err instanceof coord.ConnectionError, message: (err as Error).message };
      }
    }, url);
    expect(out).toMatchObject({ connected: false, isConnectionError: true });
    expect(out.message).toContain(url);
    expect(out.message).toMatch(/browsers do not tell a page why/);
    // The browser logs the refused socket on its console itself: that one is expected.
    const expected = (p: string) => p.startsWith('console.error: WebSocket connection to') && p.includes(url.slice(5));
    pageProblems.splice(0, pageProblems.length, ...pageProblems.filter((p) => !expected(p)));
  });

  it('left nothing on the page\'s console (errors, warnings, uncaught exceptions)', async () => {
    // A picture of the page, for whoever wants to look (.tmp/ is not tracked).
    const lines = [
      `chromium ${context.browser()?.version() ?? ''}, bundle ${bundlePath.slice(repoRoot.length + 1)}, server ${server.url}`,
      ...(await Promise.all(['/browser/hello', '/browser/feed/1'].map(async (p) => `${p} = ${JSON.stringify(text((await node.get(p)).value))}`))),
      `page problems: ${pageProblems.length === 0 ? 'none' : pageProblems.join('; ')}`,
    ];
    await tab.evaluate((more) => {
      const out = (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('out');
      out.textContent += `\n${more.join('\n')}`;
    }, lines);
    mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
    await tab.screenshot({ path: join(repoRoot, '.tmp/browser-sdk.png') });
    expect(pageProblems).toEqual([]);
  });
});
