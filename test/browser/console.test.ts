/**
 * The web console (/ui) in a real browser: Debian's chromium, driven by playwright-core, opens
 * /ui on a live server (the page and its scripts come from the server itself, built into
 * dist/ui by `npm run build`). What it proves, each against the real `coord` CLI as the other
 * party: a file the CLI sets appears in the tree without a reload (the WATCH on /**); an edit in
 * the console is what the CLI reads back; a compare-and-set that lost the race says REV_MISMATCH
 * and shows the value that won; the event stream shows a write, from the next revision and from
 * an old one; a file's history lists its writes; a `coord lock` holder (with its fencing token) and its waiter are recognised from
 * the lock's layout, and the waiter takes over; sessions (GET /sessions) show their ephemeral files; the cluster panel shows /status; values are shown as text, never as HTML; a server
 * with a token serves the page without it and the data only once it is entered; on a three-node
 * cluster the leader's page lists every member with its lag, and a follower serves the console too.
 * A screenshot lands in test-results/console.png (gitignored).
 *
 * Without /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it) the suite is
 * skipped, loudly: a warning and a skipped test that says so.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type CoordClient } from '../../client/index.ts';
import { coord, killAllCli, spawnCoord } from '../helpers/cli-run.ts';
import { TestCluster } from '../helpers/cluster.ts';
import { removeDir, repoRoot, startTestServer, tempDir } from '../helpers/server.ts';

const chromiumPath = '/usr/bin/chromium';
const haveChromium = existsSync(chromiumPath);
const builtPage = join(repoRoot, 'dist/ui/index.html');

if (!haveChromium) {
  console.warn(
    `\n!!! test/browser: ${chromiumPath} is missing: the web console is NOT being tested in a browser.\n` +
      '!!! Install it with `apt-get update && apt-get install -y chromium` (.ci/run does).\n',
  );
  it.skip(`SKIPPED, NOT RUN: the web console in a real browser (no chromium at ${chromiumPath})`, () => {});
}

type Server = Awaited<ReturnType<typeof startTestServer>>;
type Context = import('playwright-core').BrowserContext;
type Page = import('playwright-core').Page;

const httpOf = (server: Server): string => server.url.replace(/^ws/, 'http');

async function launch(): Promise<{ context: Context; tab: Page; profile: string; problems: string[] }> {
  const { chromium } = await import('playwright-core');
  const profile = tempDir('coord-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 720 },
    args: [
      '--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const tab = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  tab.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  tab.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console.${msg.type()}: ${msg.text()}`);
  });
  return { context, tab, profile, problems };
}

describe.skipIf(!haveChromium)('the web console at /ui (chromium, against the CLI)', () => {
  let server: Server;
  let context: Context;
  let tab: Page;
  let profile: string;
  let problems: string[];
  const cli = (args: string[], input?: string) => coord(args, { url: server.url, ...(input !== undefined ? { input } : {}) });

  beforeAll(async () => {
    expect(existsSync(builtPage), `${builtPage} (npm run build makes it)`).toBe(true);
    server = await startTestServer();
    ({ context, tab, profile, problems } = await launch());
    await tab.goto(`${httpOf(server)}/ui`);
    await tab.locator('#conn', { hasText: 'connected' }).waitFor({ timeout: 10_000 });
    // Marks this page load: still there at the end means nothing reloaded.
    await tab.evaluate(() => { (globalThis as { loadMark?: number }).loadMark = 42; });
  }, 60_000);

  afterAll(async () => {
    await killAllCli();
    await context?.close();
    await server?.close();
    if (server) removeDir(server.dataDir);
    if (profile) removeDir(profile);
  });

  it('serves the page, its script, its style and the SDK bundle from the server itself', async () => {
    const base = httpOf(server);
    const [page, script, sdk, css] = await Promise.all(['/ui/', '/ui/console.js', '/ui/coord.js', '/ui/console.css'].map((p) => fetch(base + p)));
    expect(page!.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page!.text()).toContain('<script type="module" src="console.js">');
    expect(script!.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await script!.text()).toContain('from"./coord.js"');
    expect(sdk!.status).toBe(200);
    expect(css!.status).toBe(200);
    expect((await fetch(`${base}/ui/../package.json`)).status).toBe(404);
  });

  it('a file the CLI sets appears in the tree, with its rev and value, without a reload', async () => {
    const set = await cli(['set', '/console/hello', '0'], 'hello from the CLI');
    expect(set).toMatchObject({ code: 0, stderr: '' });
    const rev = Number(set.stdout);
    await tab.locator('[data-path="/console/"]').click(); // expand the directory
    const row = tab.locator('[data-path="/console/hello"]');
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain(`@${rev}`);
    expect(await row.textContent()).toContain('hello from the CLI');
    // JSON is pretty-printed, binary shown as hex, markup shown as text.
    await cli(['set', '/console/json'], '{"a":1,"b":[true,null]}');
    await cli(['set', '/console/markup'], '<img src=x onerror="window.pwned=1"><b>bold</b>');
    await tab.locator('[data-path="/console/json"]').click();
    await expect.poll(() => tab.locator('#file-value').textContent()).toBe('{\n  "a": 1,\n  "b": [\n    true,\n    null\n  ]\n}');
    await tab.locator('[data-path="/console/markup"]').click();
    await expect.poll(() => tab.locator('#file-value').textContent()).toBe('<img src=x onerror="window.pwned=1"><b>bold</b>');
    expect(await tab.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();
    expect(await tab.locator('#tree img, #file-value b').count()).toBe(0);
    expect(await tab.evaluate(() => (globalThis as { loadMark?: number }).loadMark)).toBe(42);
  });

  it('shows a binary value as hex, and does not offer to edit it as text', async () => {
    const node = await connect({ urls: server.url });
    try {
      await node.set('/console/bin', new Uint8Array([0xff, 0x00, 0xfe, 0x41]));
    } finally {
      await node.close();
    }
    await tab.locator('[data-path="/console/bin"]').click();
    await expect.poll(() => tab.locator('#file-value').textContent()).toBe('ff 00 fe 41');
    expect(await tab.locator('#file-kind').textContent()).toBe('binary');
    expect(await tab.locator('#edit').isDisabled()).toBe(true);
  });

  it('an edit in the console is what the CLI reads back', async () => {
    await tab.locator('[data-path="/console/hello"]').click();
    await expect.poll(() => tab.locator('#edit').inputValue()).toBe('hello from the CLI');
    await tab.locator('#edit').fill('edited in the browser ✓');
    await tab.locator('#save').click();
    await tab.locator('#file-msg', { hasText: 'saved: rev' }).waitFor({ timeout: 10_000 });
    const got = await cli(['get', '/console/hello']);
    expect(got).toMatchObject({ code: 0, stdout: 'edited in the browser ✓' });
  });

  it('a compare-and-set that lost the race says REV_MISMATCH and shows the value that won', async () => {
    await tab.locator('[data-path="/console/hello"]').click();
    const shownRev = Number(await tab.locator('#save-rev').textContent());
    expect(shownRev).toBeGreaterThan(0);
    const other = await cli(['set', '/console/hello'], 'the CLI got there first');
    expect(other.code).toBe(0);
    await tab.locator('#edit').fill('my stale edit');
    await tab.locator('#save').click();
    await tab.locator('#conflict-msg', { hasText: 'REV_MISMATCH' }).waitFor({ timeout: 10_000 });
    expect(await tab.locator('#conflict-msg').textContent()).toContain(`now at rev ${Number(other.stdout)}, you had rev ${shownRev}`);
    expect(await tab.locator('#conflict-value').textContent()).toBe('the CLI got there first');
    expect(await tab.locator('#edit').inputValue()).toBe('my stale edit'); // the user's text is kept
    expect((await cli(['get', '/console/hello'])).stdout).toBe('the CLI got there first');
  });

  it("shows a file's history from the revisions still kept, newest first", async () => {
    await tab.locator('[data-path="/console/hello"]').click();
    await tab.locator('#history-load').click();
    await tab.locator('#history-msg', { hasText: '3 writes since revision 1' }).waitFor({ timeout: 10_000 });
    const rows = await tab.locator('#history li').allTextContents();
    expect(rows.map((r) => r.replace(/^\d+ /, ''))).toEqual([
      'set = the CLI got there first', 'set = edited in the browser ✓', 'set = hello from the CLI',
    ]);
  });

  it('creates and deletes files (create-only refuses an existing path)', async () => {
    await tab.locator('#new-path').fill('/console/made');
    await tab.locator('#new-value').fill('made here');
    await tab.locator('#create-form button').click();
    await tab.locator('#create-msg', { hasText: 'created /console/made' }).waitFor({ timeout: 10_000 });
    expect((await cli(['get', '/console/made'])).stdout).toBe('made here');
    await tab.locator('#create-form button').click();
    await tab.locator('#create-msg', { hasText: 'already exists' }).waitFor({ timeout: 10_000 });
    tab.once('dialog', (d) => void d.accept());
    await tab.locator('[data-path="/console/made"]').click();
    await tab.locator('#delete').click();
    await tab.locator('#file-msg', { hasText: 'deleted at revision' }).waitFor({ timeout: 10_000 });
    expect((await cli(['get', '/console/made'])).code).toBe(1);
    await expect.poll(() => tab.locator('[data-path="/console/made"]').count()).toBe(0);
  });

  it('the event stream shows a write as it happens, and old ones from a given revision', async () => {
    await tab.locator('#events-glob').fill('/console/**');
    await tab.locator('#events-from').fill('');
    await tab.locator('#events-start').click();
    await tab.locator('#events-msg', { hasText: 'watching /console/**' }).waitFor();
    const set = await cli(['set', '/console/evt'], 'an event');
    await tab.locator('#events li', { hasText: `${Number(set.stdout)} set /console/evt = an event` }).waitFor({ timeout: 10_000 });
    await cli(['set', '/elsewhere'], 'not matched');
    await tab.locator('#events-from').fill('1');
    await tab.locator('#events-start').click();
    await tab.locator('#events li', { hasText: 'set /console/hello = hello from the CLI' }).waitFor({ timeout: 10_000 });
    await tab.locator('#events li', { hasText: 'delete /console/made' }).waitFor({ timeout: 10_000 });
    expect(await tab.locator('#events li', { hasText: '/elsewhere' }).count()).toBe(0);
  });

  it('recognises a `coord lock`: its holder with the fencing token, then its waiter, who takes over when the holder goes', async () => {
    const holder = spawnCoord(['lock', '/console/lk', '--', 'sleep', '60'], { url: server.url });
    const lock = tab.locator('[data-recipe="/console/lk"]');
    await lock.locator('.holder', { hasText: `pid ${holder.proc.pid}` }).waitFor({ timeout: 10_000 });
    const token1 = Number(/token (\d+)/.exec((await lock.locator('.holder').textContent())!)![1]);
    const waiter = spawnCoord(['lock', '/console/lk', '--', 'sleep', '60'], { url: server.url });
    await lock.locator('.waiter', { hasText: `waiter 1: pid ${waiter.proc.pid}` }).waitFor({ timeout: 10_000 });
    expect(await lock.locator('.holder').textContent()).toContain(`pid ${holder.proc.pid}`);
    // Sessions (GET /sessions) list the contenders' sessions with their lock files, ephemeral.
    const holderSession = /session ([0-9a-f]{16})/.exec((await lock.locator('.holder').textContent())!)![1]!;
    await tab.locator(`[data-session="${holderSession}"]`, { hasText: '/console/lk/' }).waitFor({ timeout: 10_000 });
    // The screenshot (test-results/, gitignored): the tree, a file, the lock, the stream, the cluster.
    await tab.locator('[data-path="/console/lk/"]').click();
    await tab.locator('[data-path="/console/hello"]').click();
    await tab.locator('#cluster table').waitFor({ timeout: 10_000 });
    mkdirSync(join(repoRoot, 'test-results'), { recursive: true });
    await tab.screenshot({ path: join(repoRoot, 'test-results/console.png'), clip: { x: 0, y: 0, width: 1280, height: 600 } });
    holder.kill('SIGTERM');
    await lock.locator('.holder', { hasText: `pid ${waiter.proc.pid}` }).waitFor({ timeout: 15_000 });
    const token2 = Number(/token (\d+)/.exec((await lock.locator('.holder').textContent())!)![1]);
    expect(token2).toBeGreaterThan(token1);
    expect(await lock.locator('.waiter').count()).toBe(0);
    waiter.kill('SIGTERM');
    expect((await waiter.exited).code).not.toBe(0); // its command was stopped
    await holder.exited;
    await lock.waitFor({ state: 'detached', timeout: 10_000 }); // released: the lock's files are gone
  });

  it('recognises slot claims (numbered ephemeral files) with each holder and its token', async () => {
    const node: CoordClient = await connect({ urls: server.url });
    try {
      const claim = await node.claimSlot('/console/slots', 3, { info: 'worker A' });
      const slots = tab.locator('[data-recipe="/console/slots"]');
      await slots.locator('.holder', { hasText: `slot ${claim.slot}: worker A · token ${claim.token}` }).waitFor({ timeout: 10_000 });
      await claim.release();
      await slots.waitFor({ state: 'detached', timeout: 10_000 });
    } finally {
      await node.close();
    }
  });

  it('shows the cluster from /status, and the page logged no error', async () => {
    await tab.locator('#cluster table').waitFor({ timeout: 10_000 });
    const cluster = await tab.locator('#cluster').textContent();
    expect(cluster).toMatch(/this node n1: leader, term \d+, leader n1/);
    expect(cluster).toContain('n1');
    expect(problems).toEqual([]);
  });
});

describe.skipIf(!haveChromium)('the web console on a server with a token and a short history', () => {
  let server: Server;
  let context: Context;
  let tab: Page;
  let profile: string;

  beforeAll(async () => {
    server = await startTestServer({ token: 'console-secret', historyRevisions: 3 });
    ({ context, tab, profile } = await launch());
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (server) removeDir(server.dataDir);
    if (profile) removeDir(profile);
  });

  it('serves the page without the token, shows no data until it is entered, then keeps it for the tab', async () => {
    await coord(['set', '/secret'], { url: server.url, input: 'classified', env: { COORD_TOKEN: 'console-secret' } });
    await tab.goto(`${httpOf(server)}/ui/`);
    await tab.locator('#banner', { hasText: 'Cannot connect' }).waitFor({ timeout: 15_000 });
    await tab.locator('#cluster', { hasText: 'needs its token' }).waitFor({ timeout: 10_000 });
    expect(await tab.locator('[data-path="/secret"]').count()).toBe(0);
    await tab.locator('#token').fill('console-secret');
    await tab.locator('#token-form button').click();
    await tab.locator('#conn', { hasText: 'connected' }).waitFor({ timeout: 10_000 });
    await tab.locator('[data-path="/secret"]', { hasText: 'classified' }).waitFor({ timeout: 10_000 });
    await tab.reload();
    await tab.locator('[data-path="/secret"]').waitFor({ timeout: 10_000 }); // from sessionStorage
    await tab.locator('#cluster table').waitFor({ timeout: 10_000 });
    await tab.locator('#sessions', { hasText: '(this page)' }).waitFor({ timeout: 10_000 });
    // GET /sessions needs the token, and never shows a secret.
    const url = `${httpOf(server)}/sessions`;
    expect((await fetch(url)).status).toBe(401);
    const body = await (await fetch(url, { headers: { authorization: 'Bearer console-secret' } })).text();
    expect(JSON.parse(body)).toMatchObject({ rev: expect.any(Number), sessions: expect.arrayContaining([expect.objectContaining({ ttlMs: expect.any(Number) })]) });
    expect(body).not.toContain('secret');
  });

  it('history and the event stream say how far back history goes (TOO_LATE) rather than skip silently', async () => {
    for (let i = 1; i <= 6; i++) {
      await coord(['set', '/secret'], { url: server.url, input: `v${i}`, env: { COORD_TOKEN: 'console-secret' } });
    }
    await tab.locator('[data-path="/secret"]', { hasText: 'v6' }).click();
    await tab.locator('#history-load').click();
    await tab.locator('#history-msg', { hasText: 'older revisions are no longer kept' }).waitFor({ timeout: 10_000 });
    const rows = await tab.locator('#history li').allTextContents();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows[0]).toMatch(/^\d+ set = v6$/);
    await tab.locator('#events-from').fill('1');
    await tab.locator('#events-start').click();
    await tab.locator('#events-msg', { hasText: 'TOO_LATE' }).waitFor({ timeout: 10_000 });
  });
});

describe.skipIf(!haveChromium)('the web console on a three-node cluster', () => {
  let cluster: TestCluster;
  let context: Context;
  let tab: Page;
  let profile: string;

  beforeAll(async () => {
    cluster = await TestCluster.start();
    ({ context, tab, profile } = await launch());
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await cluster?.stop();
    if (profile) removeDir(profile);
  });

  it('on the leader: every member with its role, match and lag; on a follower: the live tree, served there', async () => {
    const leader = await cluster.leader();
    await tab.goto(`http://127.0.0.1:${cluster.node(leader).port}/ui/`);
    await tab.locator('#conn', { hasText: 'connected' }).waitFor({ timeout: 10_000 });
    const rows = tab.locator('#cluster table tr');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(4);
    const cells: string[][] = [];
    for (let i = 1; i < 4; i++) cells.push(await rows.nth(i).locator('td').allTextContents());
    cells.sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
    expect(cells.map((c) => c[0])).toEqual(['n1', 'n2', 'n3']);
    expect(cells.map((c) => c[1]).sort()).toEqual(['follower', 'follower', 'leader']);
    expect(cells.find((c) => c[1] === 'leader')![0]).toBe(leader);
    for (const [, , url, match, lag] of cells) {
      expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
      expect(match).toMatch(/^\d+$/);
      expect(lag).toMatch(/^\d+$/);
    }

    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    await tab.goto(`http://127.0.0.1:${cluster.node(follower).port}/ui/`);
    await tab.locator('#conn', { hasText: 'connected' }).waitFor({ timeout: 10_000 });
    await tab.locator('#cluster', { hasText: `this node ${follower}: follower` }).waitFor({ timeout: 10_000 });
    const set = await coord(['set', '/on-a-cluster'], { url: cluster.urls.join(','), input: 'replicated' });
    expect(set.code).toBe(0);
    const row = tab.locator('[data-path="/on-a-cluster"]');
    await row.waitFor({ timeout: 10_000 });
    expect(await row.locator('.rev').textContent()).toBe(`@${Number(set.stdout)}`);
    expect(await row.locator('.preview').textContent()).toBe('replicated');
  });
});
