/**
 * LevelStorage on disk: a data directory written in the previous format (coord-data-1) still
 * loads and is carried forward; an unknown format is refused; and what LevelDB itself does with
 * a torn or damaged write-ahead log, shown on a real one: a torn last batch vanishes whole (the
 * log loads as before it), a damaged batch in the middle is skipped by LevelDB with the later
 * ones replayed (paranoid checks are off), and the log's own checks refuse the result.
 */
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32 } from '../../server/storage/crc32.ts';
import { LevelStorage } from '../../server/storage/level-storage.ts';
import { EntryType, type Entry, type HardState } from '../../server/storage/log-types.ts';
import { indexKey, pack, seal } from '../../server/storage/records.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

const te = new TextEncoder();
const small = { reserveBytes: 4096, headroomBytes: 0 };
const summary = (es: Entry[]) => es.map((e) => `${e.index}:t${e.term}:${e.type}`);
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

function dir(): string {
  const d = tempDir('coord-storage-format-');
  dirs.push(d);
  return d;
}

async function withRaw(path: string, fn: (db: Level<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

const opts = { keyEncoding: 'view', valueEncoding: 'view' } as const;

describe('data written in format coord-data-1', () => {
  /**
   * What the previous code left: segments as bare [term, data] arrays, the leader's no-ops as
   * empty data, no compaction record, the last segment before the snapshot kept whole.
   */
  async function formatOne(path: string): Promise<void> {
    const snapshot = te.encode('store@4');
    writeFileSync(join(path, 'snapshot-4'), snapshot);
    await withRaw(path, async (db) => {
      const log = db.sublevel<Uint8Array, Uint8Array>('log', opts);
      const meta = db.sublevel<Uint8Array, Uint8Array>('meta', opts);
      const none = new Uint8Array(0);
      await meta.put(Buffer.from('format'), Buffer.from('coord-data-1'));
      await meta.put(Buffer.from('hardstate'), seal(pack({ term: 2, vote: 'n1', commit: 7 })));
      await meta.put(Buffer.from('snapshot'), seal(pack({ index: 4, term: 1, crc: crc32(snapshot), length: snapshot.byteLength })));
      await log.put(indexKey(3), seal(pack([[1, te.encode('c3')], [1, te.encode('c4')], [1, te.encode('c5')]])));
      await log.put(indexKey(6), seal(pack([[2, none], [2, te.encode('c7')]])));
    });
  }

  it('loads (a missing type is a command, empty data the no-op), and is marked coord-data-2 by its first write', async () => {
    const path = dir();
    await formatOne(path);
    let storage = await LevelStorage.open(path, small);
    let loaded = await storage.load();
    expect(loaded.snapshot).toMatchObject({ index: 4, term: 1 });
    expect(summary(loaded.entries)).toEqual([`5:t1:${EntryType.Command}`, `6:t2:${EntryType.Noop}`, `7:t2:${EntryType.Command}`]);
    expect(Buffer.from(loaded.entries[0]!.data).toString()).toBe('c5');
    expect(loaded.hardState).toEqual({ term: 2, vote: 'n1', commit: 7 } satisfies HardState);
    expect(storage.firstIndex()).toBe(5);
    expect(storage.term(4)).toBe(1);
    expect(await storage.durableState()).toEqual({ last: { index: 7, term: 2 }, hardState: { term: 2, vote: 'n1', commit: 7 } });
    await storage.close();

    // Reading changes nothing on disk.
    await withRaw(path, async (db) => {
      expect(Buffer.from((await db.sublevel<Uint8Array, Uint8Array>('meta', opts).get(Buffer.from('format')))!).toString()).toBe('coord-data-1');
    });

    storage = await LevelStorage.open(path, small);
    await storage.load();
    await storage.append([{ index: 7, term: 3, type: EntryType.Noop, data: new Uint8Array(0) }], { term: 3, vote: 'n1', commit: 6 }, true);
    await storage.append([{ index: 8, term: 3, type: EntryType.Config, data: te.encode('add n2') }], null, true);
    await storage.close();
    await withRaw(path, async (db) => {
      expect(Buffer.from((await db.sublevel<Uint8Array, Uint8Array>('meta', opts).get(Buffer.from('format')))!).toString()).toBe('coord-data-2');
    });
    storage = await LevelStorage.open(path, small);
    loaded = await storage.load();
    expect(summary(loaded.entries)).toEqual([`5:t1:0`, `6:t2:2`, `7:t3:2`, `8:t3:1`]);
    // A snapshot compacts the old segments away like new ones.
    const data = te.encode('store@7');
    await storage.saveSnapshot({ index: 7, term: 3, data, crc: crc32(data) });
    await storage.close();
    storage = await LevelStorage.open(path, small);
    loaded = await storage.load();
    expect(summary(loaded.entries)).toEqual([`8:t3:1`]);
    expect(readdirSync(path).filter((n) => n.startsWith('snapshot-'))).toEqual(['snapshot-7']);
    await storage.close();
    await withRaw(path, async (db) => {
      const keys: number[] = [];
      for await (const k of db.sublevel<Uint8Array, Uint8Array>('log', opts).keys()) keys.push(Buffer.from(k).readUInt32BE(4));
      expect(keys).toEqual([8]);
    });
  });

  it('refuses a format it does not know', async () => {
    const path = dir();
    await (await LevelStorage.open(path, small)).close();
    await withRaw(path, (db) => db.sublevel<Uint8Array, Uint8Array>('meta', opts).put(Buffer.from('format'), Buffer.from('coord-data-9')));
    await expect(LevelStorage.open(path, small)).rejects.toThrow(`${path}: unknown data format coord-data-9`);
  });
});

describe("LevelDB's write-ahead log, torn and damaged", () => {
  const entry = (index: number): Entry => ({ index, term: 1, type: EntryType.Command, data: Buffer.alloc(5000, index % 251) });

  /** Ten synced batches of four 5 KB entries (each batch spans parts of two 32 KiB log blocks). */
  async function tenBatches(path: string): Promise<string> {
    const storage = await LevelStorage.open(path, small);
    await storage.load();
    for (let b = 0; b < 10; b++) {
      await storage.append([1, 2, 3, 4].map((k) => entry(4 * b + k)), b === 0 ? { term: 1, vote: 'n1', commit: 0 } : null, true);
    }
    await storage.close();
    // Closing does not write the memtable out: the batches are in the log file still.
    const logs = readdirSync(path).filter((n) => /^\d+\.log$/.test(n)).sort();
    const wal = join(path, logs[logs.length - 1]!);
    expect(statSync(wal).size).toBeGreaterThan(200_000);
    return wal;
  }

  it('a torn last batch vanishes whole: the log loads as it was before it', async () => {
    const path = dir();
    const wal = await tenBatches(path);
    truncateSync(wal, statSync(wal).size - 7000);
    const storage = await LevelStorage.open(path, small);
    const loaded = await storage.load();
    expect(loaded.entries.map((e) => e.index)).toEqual(Array.from({ length: 36 }, (_, i) => i + 1));
    expect(loaded.entries.every((e) => Buffer.from(e.data).equals(Buffer.from(entry(e.index).data)))).toBe(true);
    await storage.close();
  });

  it('a damaged batch in the middle is skipped by LevelDB and the later ones kept: load() refuses the hole', async () => {
    const path = dir();
    const wal = await tenBatches(path);
    const bytes = readFileSync(wal);
    bytes[Math.floor(bytes.length * 0.45)]! ^= 0xff;
    writeFileSync(wal, bytes);
    const storage = await LevelStorage.open(path, small);
    await expect(storage.load()).rejects.toThrow(/log entry \d+ is missing \(found \d+\)/);
    await storage.close();
  });
});
