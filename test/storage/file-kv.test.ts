/**
 * The log's own files (file-kv.ts) by hand: what the conformance suite (file-storage.test.ts)
 * cannot reach through the storage contract. Files turning over and being deleted oldest first,
 * meta records carried into each new file, files kept while an iterator reads them, a torn last
 * write dropped and zeroed, damage refused with the file and offset named.
 */
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileKv } from '../../server/storage/file-kv.ts';
import type { KvOp } from '../../server/storage/kv.ts';
import { StorageError } from '../../server/storage/storage-error.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

const b = (s: string) => Buffer.from(s);
const put = (space: 'log' | 'meta', key: string, value: string): KvOp => ({ type: 'put', space, key: b(key), value: b(value) });
const del = (space: 'log' | 'meta', key: string): KvOp => ({ type: 'del', space, key: b(key) });

async function all(kv: FileKv, space: 'log' | 'meta', range = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of kv.iterate(space, range)) out.push(`${Buffer.from(k).toString()}=${Buffer.from(v).toString()}`);
  return out;
}
const walFiles = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('wal-')).sort();

describe('FileKv', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = tempDir('coord-filekv-');
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) removeDir(d);
  });

  it('keeps keys in byte order per space, with ranges, reverse and limit, across a reopen', async () => {
    const d = dir();
    let kv = FileKv.open(d);
    await kv.write([put('log', 'b', '2'), put('log', 'a', '1'), put('meta', 'a', 'm'), put('log', 'c', '3')], true);
    await kv.write([put('log', 'b', '2b'), del('log', 'c'), del('log', 'zz')], false);
    await kv.write([], true);
    for (let round = 0; round < 2; round++) {
      expect(await all(kv, 'log')).toEqual(['a=1', 'b=2b']);
      expect(await all(kv, 'meta')).toEqual(['a=m']);
      expect(await all(kv, 'log', { gte: b('b') })).toEqual(['b=2b']);
      expect(await all(kv, 'log', { lte: b('a') })).toEqual(['a=1']);
      expect(await all(kv, 'log', { reverse: true, limit: 1 })).toEqual(['b=2b']);
      expect(Buffer.from((await kv.get('log', b('b')))!).toString()).toBe('2b');
      expect(await kv.get('log', b('c'))).toBeUndefined();
      kv.close();
      kv = FileKv.open(d);
    }
    kv.close();
    await expect(kv.get('log', b('a'))).rejects.toThrow(/closed/);
  });

  it('turns files over, carries the meta records into each new one, and deletes old files oldest first', async () => {
    const d = dir();
    let kv = FileKv.open(d, { fileBytes: 512, extendBytes: 256 });
    await kv.write([put('meta', 'format', 'F1')], true);
    // A log that grows at one end and is deleted at the other, as appends and compaction do.
    for (let i = 0; i < 200; i++) {
      const ops = [put('log', `k${String(i).padStart(4, '0')}`, 'x'.repeat(40)), put('meta', 'hard', `h${i}`)];
      if (i >= 5) ops.push(del('log', `k${String(i - 5).padStart(4, '0')}`));
      await kv.write(ops, true);
    }
    const files = walFiles(d);
    expect(kv.fileStats().length).toBeLessThanOrEqual(3);
    expect(files.length).toBe(kv.fileStats().length);
    expect(files[0]).not.toBe('wal-0000000000000001.log');
    kv.close();
    kv = FileKv.open(d, { fileBytes: 512, extendBytes: 256 });
    expect(await all(kv, 'meta')).toEqual(['format=F1', 'hard=h199']);
    expect((await all(kv, 'log')).map((e) => e.slice(0, 5))).toEqual(['k0195', 'k0196', 'k0197', 'k0198', 'k0199']);
    kv.close();
  });

  it('does not delete a file an iterator has yet to read', async () => {
    const d = dir();
    const kv = FileKv.open(d, { fileBytes: 256, extendBytes: 256 });
    await kv.write([put('log', 'a', 'A'.repeat(200))], true);
    const reading = kv.iterate('log')[Symbol.asyncIterator]();
    // 'a' is deleted, and its file turned over and dead: it stays while the iterator needs it.
    await kv.write([del('log', 'a'), put('log', 'b', 'B'.repeat(200))], true);
    await kv.write([put('log', 'c', 'C'.repeat(200))], true);
    expect(walFiles(d)[0]).toBe('wal-0000000000000001.log');
    const first = await reading.next();
    expect(Buffer.from((first.value as [Uint8Array, Uint8Array])[1]).toString()).toBe('A'.repeat(200));
    expect((await reading.next()).done).toBe(true);
    await kv.write([put('meta', 'm', '1')], true);
    expect(walFiles(d)[0]).not.toBe('wal-0000000000000001.log');
    kv.close();
  });

  it('deletes a file a batch made dead only once that batch is synced', async () => {
    const d = dir();
    const kv = FileKv.open(d, { fileBytes: 256, extendBytes: 256 });
    await kv.write([put('meta', 'hard', 'h1'), put('log', 'a', 'A'.repeat(200))], true);
    // Not synced: it deletes 'a' and carries 'hard' into a new file, leaving the first one dead;
    // a crash now could lose it, so the first file must stay.
    await kv.write([del('log', 'a'), put('log', 'b', 'B'.repeat(200))], false);
    expect(walFiles(d)).toEqual(['wal-0000000000000001.log', 'wal-0000000000000002.log']);
    await kv.write([], true);
    expect(walFiles(d)).toEqual(['wal-0000000000000002.log']);
    kv.close();
  });

  it('drops a torn last write, zeroes it, and goes on writing after it', async () => {
    const d = dir();
    let kv = FileKv.open(d);
    await kv.write([put('log', 'a', '1')], true);
    kv.close();
    const file = join(d, walFiles(d)[0]!);
    const whole = readFileSync(file);
    const end = whole.indexOf(Buffer.from('1')) + 1;
    // A record whose length and checksum were written, but only part of its payload.
    const torn = Buffer.alloc(12);
    torn.writeUInt32LE(200, 0);
    torn.writeUInt32LE(12345, 4);
    torn.write('jun', 8);
    const bytes = Buffer.from(whole);
    torn.copy(bytes, end);
    writeFileSync(file, bytes);
    kv = FileKv.open(d);
    expect(await all(kv, 'log')).toEqual(['a=1']);
    expect(readFileSync(file).subarray(end).every((x) => x === 0)).toBe(true);
    await kv.write([put('log', 'b', '2')], true);
    kv.close();
    kv = FileKv.open(d);
    expect(await all(kv, 'log')).toEqual(['a=1', 'b=2']);
    kv.close();
  });

  it('refuses damage: a record written whole and followed by more, or a file other than the newest', async () => {
    const d = dir();
    let kv = FileKv.open(d, { fileBytes: 16, extendBytes: 64 });
    await kv.write([put('log', 'a', 'first')], true);
    await kv.write([put('log', 'b', 'second')], true);
    await kv.write([put('log', 'c', 'third')], true);
    kv.close();
    const [oldest, , newest] = walFiles(d);
    expect(newest).toBeDefined();
    const damage = (where: string, name: string, word: string) => {
      const f = join(where, name);
      const bytes = readFileSync(f);
      const i = bytes.indexOf(Buffer.from(word));
      bytes[i] = bytes[i]! ^ 0xff;
      writeFileSync(f, bytes);
    };
    damage(d, oldest!, 'first');
    expect(() => FileKv.open(d, { fileBytes: 16, extendBytes: 64 })).toThrow(StorageError);
    expect(() => FileKv.open(d, { fileBytes: 16, extendBytes: 64 })).toThrow(/wal-0+1\.log: the record at byte 0 is damaged, and later files follow it/);

    const d2 = dir();
    kv = FileKv.open(d2);
    await kv.write([put('log', 'a', 'first')], true);
    await kv.write([put('log', 'b', 'second')], true);
    kv.close();
    damage(d2, walFiles(d2)[0]!, 'first');
    expect(() => FileKv.open(d2)).toThrow(/the record at byte 0 is damaged, and more was written after it/);
  });

  it('a directory with the files is recognised as one', async () => {
    const d = dir();
    appendFileSync(join(d, 'other'), 'x');
    expect(FileKv.holdsFiles(d)).toBe(false);
    FileKv.open(d).close();
    expect(FileKv.holdsFiles(d)).toBe(true);
  });
});
