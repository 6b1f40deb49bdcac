/**
 * Damaged data directories: the server must refuse to start, with a message naming the directory
 * and what is wrong, and must not start empty over the data. Each case builds a real data
 * directory with a real server, damages it the way disks and people do (a foreign directory,
 * a record of the log's files damaged, a log entry gone from the middle, a value whose checksum
 * fails), and runs `coord server` on it as a child process.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.ts';
import { FileKv } from '../../server/storage/file-kv.ts';
import { removeDir, spawnServer, startTestServer, tempDir } from '../helpers/server.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** A data directory holding `writes` acknowledged writes, with the server stopped. */
async function populated(writes: number, snapshotEveryEntries = 50_000): Promise<string> {
  const server = await startTestServer({ snapshotEveryEntries });
  dirs.push(server.dataDir);
  const client = await connect({ urls: server.url });
  for (let i = 0; i < writes; i++) await client.set(`/k/${i % 7}`, `v${i}`);
  await client.close();
  await server.close();
  return server.dataDir;
}

/** The part of the log's key-value store these tests use, one space of it. */
interface RawSpace {
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  del(key: Uint8Array): Promise<void>;
}

/** Opens the log's files the way the server lays them out (file-kv.ts), to damage one record. */
async function withRawLog(dir: string, fn: (log: RawSpace, meta: RawSpace) => Promise<void>): Promise<void> {
  const kv = FileKv.open(dir);
  const space = (name: 'log' | 'meta'): RawSpace => ({
    get: (key) => kv.get(name, key),
    put: (key, value) => kv.write([{ type: 'put', space: name, key, value }], true),
    del: (key) => kv.write([{ type: 'del', space: name, key }], true),
  });
  try {
    await fn(space('log'), space('meta'));
  } finally {
    kv.close();
  }
}

function indexKey(i: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(i));
  return b;
}

async function refusal(dir: string): Promise<string> {
  const err = await spawnServer(dir).then(
    (s) => {
      s.proc.kill('SIGKILL');
      throw new Error('the server started on a damaged data directory');
    },
    (e: Error) => e.message,
  );
  return err;
}

describe('damaged data directories stop the server', () => {
  it('refuses a non-empty directory that is not a coord data directory', async () => {
    const dir = tempDir();
    dirs.push(dir);
    writeFileSync(join(dir, 'notes.txt'), 'precious');
    const message = await refusal(dir);
    expect(message).toContain('cannot start');
    expect(message).toContain(dir);
    expect(message).toContain('not a coord data directory');
  });

  it('refuses log files with a record damaged before the last (not a torn write), naming file and offset', async () => {
    const dir = await populated(20);
    const name = readdirSync(dir).find((n) => /^wal-[0-9a-f]+\.log$/.test(n))!;
    const bytes = readFileSync(join(dir, name));
    const at = bytes.indexOf(Buffer.from('v3'));
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(join(dir, name), bytes);
    const message = await refusal(dir);
    expect(message).toMatch(new RegExp(`${join(dir, name)}: the record at byte \\d+ is damaged, and more was written after it`));
  });

  it('refuses a log with an entry missing from the middle', async () => {
    const dir = await populated(20);
    await withRawLog(dir, async (log) => log.del(indexKey(10)));
    expect(await refusal(dir)).toContain('log entry 10 is missing');
  });

  it('refuses a log segment whose checksum fails, and leaves the data in place', async () => {
    const dir = await populated(20);
    await withRawLog(dir, async (log) => {
      const v = Buffer.from((await log.get(indexKey(7)))!);
      v[v.length - 1]! ^= 0xff;
      await log.put(indexKey(7), v);
    });
    expect(await refusal(dir)).toContain('log segment at entry 7 fails its checksum');
    await withRawLog(dir, async (log) => {
      expect(await log.get(indexKey(19))).toBeDefined();
    });
  });

  it('refuses a snapshot whose checksum fails', async () => {
    const dir = await populated(30, 10);
    const file = join(dir, readdirSync(dir).find((n) => /^snapshot-\d+$/.test(n))!);
    const bytes = readFileSync(file);
    bytes[10]! ^= 0x01;
    writeFileSync(file, bytes);
    expect(await refusal(dir)).toContain(`${file} fails its checksum`);
  });

  it('refuses a snapshot whose file is gone', async () => {
    const dir = await populated(30, 10);
    const file = join(dir, readdirSync(dir).find((n) => /^snapshot-\d+$/.test(n))!);
    rmSync(file);
    expect(await refusal(dir)).toContain(`${file} cannot be read`);
  });

  it('starts normally on the same data when nothing is damaged', async () => {
    const dir = await populated(12, 5);
    const server = await spawnServer(dir);
    try {
      const client = await connect({ urls: server.url });
      expect(await client.rev()).toBe(12);
      await client.close();
    } finally {
      server.proc.kill('SIGTERM');
      await server.exited;
    }
  });
});
