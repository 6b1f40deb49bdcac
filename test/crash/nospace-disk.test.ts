/**
 * A real full disk: the data directory on a small tmpfs, a real server (in this process, and
 * as a `coord server` child process), real clients over WebSockets. The disk is mostly taken by
 * a filler file, then filled through the API with incompressible values until writes get
 * NOSPACE. Then, without a restart:
 * - the server is alive, reads (GET, WALK), a WATCH and a WAIT go on on the old connection, and a
 *   new client connects (its hello opens a session: a write the full disk still takes) and reads;
 * - every acknowledged write is there with its value and revision, and every write answered
 *   NOSPACE is not, nor was it ever seen by the watch;
 * - once the filler is deleted, writes succeed again within a few seconds.
 * And across a restart: the server starts on a disk filled to the last block (in process), or
 * after a SIGKILL while refusing writes (child process), serves reads, refuses writes with
 * NOSPACE, and takes them again once space is freed.
 *
 * Before the disk-full handling, the first failed append called onFatal (the child exited 1),
 * the writes in flight were never answered, and reads stopped: every case fails at once.
 *
 * The mounts need root (tests run as root here and in CI). Where mounting is refused the cases
 * are skipped with a loud warning; test/crash/nospace-reconcile.test.ts covers the same logic
 * with an injected fault and needs no mount.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, NoSpaceError, text, type CoordClient, type Event } from '../../client/index.ts';
import { spawnServer, startTestServer, type ChildServer } from '../helpers/server.ts';
import { mountTmpfs, type TmpfsDisk } from '../helpers/tmpfs-disk.ts';

const DISK_MIB = 32;
const MIB = 1024 * 1024;
/** Free space the filler leaves for the API writes to use up. */
const LEFT_FOR_WRITES_BYTES = 6 * MIB;
const VALUE_BYTES = 48 * 1024;
const WRITERS = 4;
const WRITES_PER_WRITER_MAX = 1000;

const probe = mountTmpfs(1);
const mountError = 'error' in probe ? probe.error : null;
if ('error' in probe) {
  console.warn(`\n!!!!!!!! SKIPPING the real full-disk tests: cannot mount a tmpfs (${probe.error}).` +
    '\n!!!!!!!! They need root; nospace-reconcile.test.ts still checks the logic with an injected fault.\n');
} else {
  probe.unmount();
}

const mounted: TmpfsDisk[] = [];
afterAll(() => {
  for (const d of mounted.splice(0)) d.unmount();
});

function mount(): TmpfsDisk {
  const disk = mountTmpfs(DISK_MIB);
  if ('error' in disk) throw new Error(`cannot mount a tmpfs: ${disk.error}`);
  mounted.push(disk);
  return disk;
}

function unmount(disk: TmpfsDisk): void {
  mounted.splice(mounted.indexOf(disk), 1);
  disk.unmount();
}

interface Ack {
  path: string;
  value: Buffer;
  rev: number;
}

interface Filled {
  acked: Ack[];
  refused: string[];
  /** Errors other than NOSPACE: there must be none. */
  other: string[];
}

/** Writers set fresh paths with incompressible values until each is answered NOSPACE. */
async function fillThroughApi(client: CoordClient, root = '/fill'): Promise<Filled> {
  const out: Filled = { acked: [], refused: [], other: [] };
  const writer = async (w: number) => {
    for (let i = 0; i < WRITES_PER_WRITER_MAX; i++) {
      const path = `${root}/w${w}/${i}`;
      const value = randomBytes(VALUE_BYTES);
      try {
        out.acked.push({ path, value, rev: await client.set(path, value) });
      } catch (err) {
        if (err instanceof NoSpaceError) out.refused.push(path);
        else out.other.push(`${path}: ${(err as Error).message}`);
        return;
      }
    }
    out.other.push(`writer ${w}: ${WRITES_PER_WRITER_MAX} writes and no NOSPACE`);
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  return out;
}

/** Every acknowledged write is there with its value and revision, and nothing refused is. */
async function expectExactly(client: CoordClient, filled: Filled, root = '/fill'): Promise<void> {
  const { files } = await client.walk(`${root}/**`);
  expect(files.map((f) => f.path).sort()).toEqual(filled.acked.map((a) => a.path).sort());
  const byPath = new Map(files.map((f) => [f.path, f]));
  for (const a of filled.acked) {
    const f = byPath.get(a.path)!;
    expect(f.rev).toBe(a.rev);
    expect(Buffer.from(f.value).equals(a.value)).toBe(true);
  }
  for (const path of filled.refused) expect((await client.get(path)).value).toBeNull();
}

/** Retries a SET until it is taken; returns how long that took after `sinceMs`. */
async function firstWriteAfter(client: CoordClient, path: string, sinceMs: number, limitMs = 15_000): Promise<number> {
  for (;;) {
    try {
      await client.set(path, 'resumed');
      return Date.now() - sinceMs;
    } catch (err) {
      if (!(err instanceof NoSpaceError)) throw err;
      if (Date.now() - sinceMs > limitMs) throw new Error(`writes did not resume within ${limitMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function expectNoSpace(client: CoordClient, dataDir: string): Promise<void> {
  const err = await client.set('/refused', 'x').then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(NoSpaceError);
  expect((err as Error).message).toContain(`the disk holding ${dataDir} is full`);
}

function collect(client: CoordClient, glob: string): Event[] {
  const seen: Event[] = [];
  void (async () => {
    try {
      for await (const e of client.watch(glob, { fromRev: 1 })) seen.push(e);
    } catch {
      // closed with its client
    }
  })();
  return seen;
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(mountError !== null)(`a full disk (${DISK_MIB} MiB tmpfs)`, () => {
  it('in process: refuses writes with NOSPACE, keeps serving, resumes by itself, and restarts on a disk filled to the last block', async () => {
    const disk = mount();
    const dataDir = join(disk.dir, 'data');
    const fatal: unknown[] = [];
    const onFatal = (err: unknown) => void fatal.push(err);
    try {
      let server = await startTestServer({ dataDir, onFatal });
      const client = await connect({ urls: server.url, requestTimeoutMs: 10_000 });
      await client.set('/before', 'kept');
      const seen = collect(client, '/fill/**');

      disk.fill('filler', LEFT_FOR_WRITES_BYTES);
      const filled = await fillThroughApi(client);
      console.log(`[nospace] ${DISK_MIB} MiB tmpfs, ${LEFT_FOR_WRITES_BYTES / MIB} MiB left by the filler: ` +
        `${filled.acked.length} writes of ${VALUE_BYTES / 1024} KiB acknowledged, then ${filled.refused.length} answered NOSPACE`);
      expect(filled.other).toEqual([]);
      expect(fatal).toEqual([]);
      expect(filled.refused.length).toBeGreaterThan(0);
      expect(filled.acked.length).toBeGreaterThan(0);
      expect(server.node.diskState).toBe('nospace');

      // Still serving: writes refused, reads and the watch on the old connection, a new client.
      await expectNoSpace(client, dataDir);
      await expectExactly(client, filled);
      await until('the watch to deliver every acknowledged write', () => seen.length >= filled.acked.length);
      expect(seen.map((e) => `${e.path}@${e.rev}`).sort()).toEqual(filled.acked.map((a) => `${a.path}@${a.rev}`).sort());
      const waiting = client.wait('/after/**');
      const late = await connect({ urls: server.url, requestTimeoutMs: 10_000 });
      expect(text((await late.get('/before')).value)).toBe('kept');
      await expectNoSpace(late, dataDir);

      // Space freed: writes resume with no restart.
      const freedAt = Date.now();
      disk.free('filler');
      const resumeMs = await firstWriteAfter(client, '/after/x', freedAt);
      console.log(`[nospace] filler deleted: first write taken ${resumeMs} ms later`);
      expect((await waiting).path).toBe('/after/x');
      expect(server.node.diskState).toBe('ok');
      await expectExactly(late, filled);
      await late.close();
      await client.close();
      await server.close();

      // Restart on a disk filled to the last block (the reserve had been put back).
      disk.fill('filler2', 0);
      expect(disk.freeBytes()).toBe(0);
      const startedAt = Date.now();
      server = await startTestServer({ dataDir, onFatal });
      console.log(`[nospace] restart on a full disk: serving after ${Date.now() - startedAt} ms, ` +
        `${disk.freeBytes()} bytes free, disk: ${server.node.diskState}`);
      // The log's own files need no space to open (LevelDB needed some, and started refusing):
      // the server starts with its reserve in place, takes writes into the space its files
      // allocated ahead, and refuses once they need more.
      expect(server.node.diskState).toBe('ok');
      const again = await connect({ urls: server.url, requestTimeoutMs: 10_000 });
      await expectExactly(again, filled);
      expect(text((await again.get('/after/x')).value)).toBe('resumed');
      const more = await fillThroughApi(again, '/more');
      console.log(`[nospace] after the restart: ${more.acked.length} writes acknowledged, then ${more.refused.length} answered NOSPACE`);
      expect(more.other).toEqual([]);
      expect(more.refused.length).toBeGreaterThan(0);
      expect(server.node.diskState).toBe('nospace');
      await expectNoSpace(again, dataDir);
      await expectExactly(again, more, '/more');
      const freedAgainAt = Date.now();
      disk.free('filler2');
      console.log(`[nospace] after the restart, filler deleted: first write taken ${await firstWriteAfter(again, '/after/y', freedAgainAt)} ms later`);
      await expectExactly(again, filled);
      await again.close();
      await server.close();
      expect(fatal).toEqual([]);
    } finally {
      unmount(disk);
    }
  }, 120_000);

  it('as a child process: stays up on a full disk, and after a SIGKILL starts again on it', async () => {
    const disk = mount();
    const dataDir = join(disk.dir, 'data');
    let server: ChildServer | null = null;
    try {
      server = await spawnServer(dataDir);
      let log = '';
      server.proc.stdout!.on('data', (d) => (log += d));
      const client = await connect({ urls: server.url, requestTimeoutMs: 10_000 });
      disk.fill('filler', LEFT_FOR_WRITES_BYTES);
      const filled = await fillThroughApi(client);
      console.log(`[nospace] child: ${filled.acked.length} writes acknowledged, then ${filled.refused.length} answered NOSPACE`);
      expect(filled.other).toEqual([]);
      expect(filled.refused.length).toBeGreaterThan(0);
      expect(server.proc.exitCode).toBeNull();
      await expectNoSpace(client, dataDir);
      // The operator sees it: one warn line in the log, and /readyz says so (still ready: reads go on).
      const warn = log.split('\n').filter((l) => l.includes('"disk":"nospace"')).map((l) => JSON.parse(l) as { level: number; msg: string });
      expect(warn).toHaveLength(1);
      expect(warn[0]).toMatchObject({ level: 40, msg: expect.stringContaining('is full') });
      const readyz = await fetch(`${server.url.replace(/^ws/, 'http')}/readyz`);
      expect(readyz.status).toBe(200);
      expect(await readyz.json()).toMatchObject({ ready: true, disk: 'nospace' });
      await expectExactly(client, filled);
      const late = await connect({ urls: server.url, requestTimeoutMs: 10_000 });
      await expectExactly(late, filled);
      await late.close();
      await client.close().catch(() => {});

      // Killed while refusing writes: the reserve is spent and the disk still full.
      server.proc.kill('SIGKILL');
      await server.exited;
      server = await spawnServer(dataDir);
      const again = await connect({ urls: server.url, requestTimeoutMs: 10_000 });
      await expectExactly(again, filled);
      await expectNoSpace(again, dataDir);
      const freedAt = Date.now();
      disk.free('filler');
      console.log(`[nospace] child restarted on the full disk; filler deleted: first write taken ${await firstWriteAfter(again, '/after/z', freedAt)} ms later`);
      expect(await (await fetch(`${server.url.replace(/^ws/, 'http')}/readyz`)).json()).toMatchObject({ disk: 'ok' });
      await expectExactly(again, filled);
      await again.close();
      server.proc.kill('SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
      server = null;
    } finally {
      if (server !== null) {
        server.proc.kill('SIGKILL');
        await server.exited;
      }
      unmount(disk);
    }
  }, 120_000);
});
