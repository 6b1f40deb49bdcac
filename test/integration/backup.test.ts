/**
 * Backup and restore with real parts: `coord server` child processes, the `coord` CLI, real
 * LevelDB directories.
 *
 * - A snapshot saved while clients write is the source's tree at exactly one revision: a server
 *   started on the restored directory has every file (path, value, rev) the source had at that
 *   revision, and that revision, and the history before it (reads at older revisions agree too).
 * - A truncated or altered file is refused by inspect and restore; restore refuses a non-empty
 *   directory.
 * - Saved from a follower, a snapshot holds every write acknowledged before the save; a follower
 *   cut off from its leader hands out no (stale) snapshot at all.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, type CoordClient } from '../../client/index.ts';
import type { WalkEntry } from '../../protocol/messages.ts';
import { coord, killAllCli } from '../helpers/cli-run.ts';
import { TestCluster } from '../helpers/cluster.ts';
import { removeDir, spawnServer, tempDir, type ChildServer } from '../helpers/server.ts';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(killAllCli);

async function server(dataDir: string): Promise<ChildServer> {
  const s = await spawnServer(dataDir);
  cleanups.push(async () => {
    s.proc.kill('SIGTERM');
    await s.exited;
  });
  return s;
}

async function client(urls: string[]): Promise<CoordClient> {
  const c = await connect({ urls, sessionTtlMs: 60_000 });
  cleanups.push(() => c.close());
  return c;
}

function dir(): string {
  const d = tempDir('coord-backup-');
  cleanups.push(() => removeDir(d));
  return d;
}

const text = (v: unknown): string => Buffer.from(v as Uint8Array).toString('utf8');
const shape = (files: WalkEntry[]) => files.map((f) => ({ path: f.path, rev: f.rev, value: text(f.value) }));

interface Inspected { rev: number; files: number; bytes: number; sessions: number; sha256: string }

async function inspect(file: string): Promise<Inspected> {
  const r = await coord(['snapshot', 'inspect', '--json', file]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Inspected;
}

describe('coord snapshot save / inspect / restore', { timeout: 120_000 }, () => {
  it('saves the tree at one revision under a write load; a server on the restored directory has exactly it', async () => {
    const work = dir();
    const src = await server(join(work, 'src'));
    const c = await client([src.url]);
    // More files than one chunk (2000), first in tree order, so the snapshot is packed over
    // several turns while the writes below go on (the writers' files are in the last chunk).
    for (let b = 0; b < 6; b++) {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => c.set(`/bulk/${b}/${i}`, `b${b}-${i}`)));
    }
    // A file owned by a session (restored with it: see the README).
    await c.set('/members/me', 'here', { ephemeral: true });
    // Four writers: sets, overwrites and deletes, until told to stop.
    let stop = false;
    let acked = 0;
    const writers = [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; !stop; i++) {
        const path = `/load/w${w}/k${i % 25}`;
        if (i % 7 === 6) await c.del(path).catch(() => {});
        else await c.set(path, `w${w}-${i}`);
        acked++;
      }
    });
    while (acked < 200) await new Promise((r) => setTimeout(r, 10));
    const before = await c.rev();
    const file = join(work, 'backup.snap');
    const saved = await coord(['snapshot', 'save', '--json', file], { url: src.url });
    const after = await c.rev();
    stop = true;
    await Promise.all(writers);
    expect(saved.stderr).toBe('');
    expect(saved.code).toBe(0);
    expect(existsSync(`${file}.tmp`)).toBe(false);
    const info = await inspect(file);
    expect(JSON.parse(saved.stdout)).toMatchObject({ rev: info.rev, files: info.files, bytes: info.bytes, sha256: info.sha256 });
    // Linearizable: at least what was acknowledged before the save; at most what was after.
    expect(info.rev).toBeGreaterThanOrEqual(before);
    expect(info.rev).toBeLessThanOrEqual(after);
    expect(info.bytes).toBe(readFileSync(file).byteLength);
    expect(info.sessions).toBe(1);

    // The source as it stood at the snapshot's revision (and some revisions before it).
    const want = shape((await c.walk('/**', { rev: info.rev })).files);
    const wantEarlier = shape((await c.walk('/**', { rev: info.rev - 50 })).files);
    expect(want.length).toBe(info.files);
    expect(info.files).toBeGreaterThan(6000);
    expect(want.some((f) => f.path === '/members/me')).toBe(true);

    const restoredDir = join(work, 'restored');
    const r = await coord(['snapshot', 'restore', file, '--data', restoredDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`restored revision ${info.rev}`);
    const restored = await server(restoredDir);
    const rc = await client([restored.url]);
    expect(await rc.rev()).toBe(info.rev);
    const got = await rc.walk('/**');
    expect(got.at).toBe(info.rev);
    expect(shape(got.files)).toEqual(want);
    expect(shape((await rc.walk('/**', { rev: info.rev - 50 })).files)).toEqual(wantEarlier);
    // A new cluster that takes writes of its own, at the revisions after the snapshot's.
    expect(await rc.set('/after-restore', 'yes')).toBe(info.rev + 1);
  });

  it('refuses a truncated or altered file, and a non-empty data directory', async () => {
    const work = dir();
    const src = await server(join(work, 'src'));
    const c = await client([src.url]);
    for (let i = 0; i < 50; i++) await c.set(`/f/${i}`, `value ${i}`);
    const file = join(work, 'ok.snap');
    expect((await coord(['snapshot', 'save', file], { url: src.url })).code).toBe(0);
    const good = readFileSync(file);
    await inspect(file);

    const truncated = join(work, 'truncated.snap');
    writeFileSync(truncated, good.subarray(0, good.byteLength - 100));
    const altered = join(work, 'altered.snap');
    const flipped = Buffer.from(good);
    flipped[Math.floor(flipped.byteLength / 2)]! ^= 0x01;
    writeFileSync(altered, flipped);
    const notOne = join(work, 'not.snap');
    writeFileSync(notOne, 'hello\n');
    for (const bad of [truncated, altered]) {
      const i = await coord(['snapshot', 'inspect', bad]);
      expect(i.code).toBe(1);
      expect(i.stderr).toMatch(/damaged or truncated: its SHA-256 checksum does not match/);
      const target = join(work, `from-${readdirSync(work).length}`);
      const r = await coord(['snapshot', 'restore', bad, '--data', target]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/damaged or truncated/);
      expect(existsSync(target)).toBe(false);
    }
    const n = await coord(['snapshot', 'inspect', notOne]);
    expect(n.code).toBe(1);
    expect(n.stderr).toMatch(/is not a coord snapshot/);

    const full = join(work, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'precious'), 'x');
    const r = await coord(['snapshot', 'restore', file, '--data', full]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not empty/);
    expect(readdirSync(full)).toEqual(['precious']);
  });

  it('from a follower: at least the last acknowledged write; a cut-off follower gives none', async () => {
    const cluster = await TestCluster.start({ peerProxy: true });
    cleanups.push(() => cluster.stop());
    const leader = await cluster.leader();
    const follower = cluster.nodes.find((n) => n.id !== leader)!;
    const c = await client([cluster.node(leader).url]);
    const work = dir();

    // Cut off, the follower can learn nothing new; the others go on taking writes.
    cluster.net!.isolate(follower.id);
    let last = 0;
    for (let i = 0; i < 30; i++) last = await c.set(`/x/${i % 5}`, `v${i}`);
    const stale = join(work, 'stale.snap');
    const refused = await coord(['--timeout', '4000', 'snapshot', 'save', stale], { url: follower.url });
    expect(refused.code).not.toBe(0);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(`${stale}.tmp`)).toBe(false);

    cluster.net!.heal();
    for (let i = 0; i < 30; i++) last = await c.set(`/y/${i % 5}`, `v${i}`);
    const file = join(work, 'follower.snap');
    const r = await coord(['--timeout', '10000', 'snapshot', 'save', file], { url: follower.url });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`from ${follower.url}`);
    const info = await inspect(file);
    expect(info.rev).toBeGreaterThanOrEqual(last);
    const want = shape((await c.walk('/**', { rev: info.rev })).files);
    expect(want.length).toBe(info.files);

    // Restored as a new three-node cluster (each member from the same file), it serves that tree.
    const ports = await Promise.all([0, 1, 2].map(async () => (await import('../helpers/ports.ts')).freePort()));
    const peers = ports.map((p, i) => `m${i + 1}=ws://127.0.0.1:${p}`).join(',');
    const servers: ChildServer[] = [];
    for (let i = 0; i < 3; i++) {
      const d = join(work, `m${i + 1}`);
      const rr = await coord(['snapshot', 'restore', file, '--data', d, '--id', `m${i + 1}`, '--peers', peers]);
      expect(rr.stderr).toBe('');
      expect(rr.code).toBe(0);
    }
    for (let i = 0; i < 3; i++) {
      const s = await spawnServer(join(work, `m${i + 1}`), ['--id', `m${i + 1}`, '--election-ms', '600', '--heartbeat-ms', '50'], ports[i]);
      servers.push(s);
      cleanups.push(async () => {
        s.proc.kill('SIGTERM');
        await s.exited;
      });
    }
    const rc = await client(servers.map((s) => s.url));
    const got = await rc.walk('/**');
    expect(got.at).toBe(info.rev);
    expect(shape(got.files)).toEqual(want);
    expect(await rc.set('/new-cluster', 'ok')).toBe(info.rev + 1);
  });
});
