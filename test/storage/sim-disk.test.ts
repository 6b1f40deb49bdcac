/**
 * The simulated disk (test/sim/sim-disk.ts) and the log storage over it, beyond the conformance
 * suite: torn writes dropped whole, fsync held by the simulator, determinism under a seed,
 * damage and lost writes detected, and the faults of a full disk as the driver meets them.
 * Also the driver itself over SimStorage, as the simulator will run it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RaftDriver } from '../../server/consensus/driver.ts';
import type { Command } from '../../server/store/commands.ts';
import { crc32 } from '../../server/storage/crc32.ts';
import { EntryType, type Entry, type HardState } from '../../server/storage/log-types.ts';
import { isNoSpaceError } from '../../server/storage/no-space.ts';
import { indexKey } from '../../server/storage/records.ts';
import { StorageError } from '../../server/storage/storage-error.ts';
import { SimDisk, SimStorage } from '../sim/sim-storage.ts';
import { testEnv } from '../helpers/node-env.ts';
import {
  actualLoad, applyOp, emptyState, lastIndex, mulberry32, OpGenerator, runOp, shows, type ModelState,
} from './log-model.ts';

const te = new TextEncoder();
const cmd = (index: number, term: number, size = 8): Entry =>
  ({ index, term, type: EntryType.Command, data: te.encode(`e${index}t${term}`.padEnd(size, '.')) });
const range = (from: number, to: number, term: number, size?: number) =>
  Array.from({ length: to - from + 1 }, (_, k) => cmd(from + k, term, size));
const summary = (es: Entry[]) => es.map((e) => `${e.index}:t${e.term}`);
const hs = (term: number, commit = 0): HardState => ({ term, vote: 'n1', commit });

async function started(disk: SimDisk): Promise<SimStorage> {
  const storage = await SimStorage.open(disk);
  await storage.load();
  return storage;
}

/** A held fsync: `release()` completes the oldest one waiting. */
function heldFsync() {
  const waiting: (() => void)[] = [];
  return {
    fsync: () => new Promise<void>((resolve) => waiting.push(resolve)),
    waiting,
    release: () => waiting.shift()!(),
  };
}

const settled = async (p: Promise<unknown>) => {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  for (let i = 0; i < 20; i++) await Promise.resolve();
  return done;
};

describe('the simulated disk', () => {
  it('drops a torn last write whole: the log reads as before it, never half of it', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const disk = new SimDisk({ random: mulberry32(seed) });
      const storage = await started(disk);
      await storage.append(range(1, 5, 1), hs(1, 5), true);
      // One big unsynced batch that overwrites part of the log and carries a hard state.
      await storage.append(range(3, 40, 2, 200), hs(2, 5), false);
      expect(disk.unsyncedWrites).toBe(1);
      disk.crash({ unsynced: 'lose', torn: true });
      expect(disk.stats.tornDropped).toBe(1);
      const again = await SimStorage.open(disk);
      const loaded = await again.load();
      expect(summary(loaded.entries)).toEqual(summary(range(1, 5, 1)));
      expect(loaded.hardState).toEqual(hs(1, 5));
    }
  });

  it('keeps what was synced and a prefix of what was not; the first write lost may be torn', async () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const disk = new SimDisk({ random: mulberry32(seed) });
      const storage = await started(disk);
      await storage.append(range(1, 2, 1), hs(1), true);
      for (let i = 3; i <= 6; i++) await storage.append([cmd(i, 1)], null, false);
      disk.crash();
      const loaded = await (await SimStorage.open(disk)).load();
      const n = loaded.entries.length;
      expect(summary(loaded.entries)).toEqual(summary(range(1, n, 1)));
      expect(n).toBeGreaterThanOrEqual(2);
      seen.add(n);
    }
    expect([...seen].sort()).toEqual([2, 3, 4, 5, 6]);
  });

  it('a sync write is durable only once the simulator completes its fsync; a crash before drops it (or tears it)', async () => {
    const held = heldFsync();
    let holding = false;
    const disk = new SimDisk({ random: mulberry32(3), fsync: () => (holding ? held.fsync() : Promise.resolve()) });
    const storage = await started(disk);
    holding = true;
    const first = storage.append(range(1, 3, 1), hs(1), true);
    expect(storage.lastIndex()).toBe(3); // visible at once
    expect(await settled(first)).toBe(false);
    held.release();
    await first;
    const second = storage.append(range(4, 6, 1), hs(1, 3), true);
    // Writes queue behind the one syncing: the third is not even written yet.
    const third = storage.append(range(7, 8, 1), null, true);
    expect(await settled(second)).toBe(false);
    expect(disk.unsyncedWrites).toBe(1);
    disk.crash({ unsynced: 'lose' });
    expect(await settled(second)).toBe(false); // the process is gone: it never hears back
    expect(await settled(third)).toBe(false);
    const loaded = await (await SimStorage.open(disk)).load();
    expect(summary(loaded.entries)).toEqual(['1:t1', '2:t1', '3:t1']);
  });

  it('replays exactly under the same seed', async () => {
    const run = async (seed: number) => {
      const random = mulberry32(seed);
      const disk = new SimDisk({ random });
      const gen = new OpGenerator(random, { syncRate: 0.5 });
      let storage = await started(disk);
      let state = emptyState();
      const trace: string[] = [];
      for (let i = 0; i < 200; i++) {
        if (random() < 0.1) {
          disk.crash();
          storage = await SimStorage.open(disk);
          const loaded = await storage.load();
          trace.push(JSON.stringify(actualLoad(loaded)));
          // Continue from what is there: the generator works from the model of it.
          state = await stateOf(storage, loaded);
        } else {
          const op = gen.next(state);
          await runOp(storage, op);
          state = applyOp(state, op);
        }
      }
      return { trace, stats: { ...disk.stats } };
    };
    const a = await run(99);
    const b = await run(99);
    expect(a).toEqual(b);
    expect(a.stats.crashes).toBeGreaterThan(5);
    expect(a.stats.tornDropped).toBeGreaterThan(0);
  });

  it('writes that reach the disk out of order (a middle one lost, later ones kept) are refused on load, or the log is one that was', async () => {
    let refused = 0;
    let kept = 0;
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seed) => {
      const random = mulberry32(seed);
      const disk = new SimDisk({ random });
      const gen = new OpGenerator(random, { syncRate: 0 });
      const storage = await started(disk);
      let state = emptyState();
      const states: ModelState[] = [state];
      for (let i = 0; i < 12; i++) {
        const op = gen.next(state);
        await runOp(storage, op);
        state = applyOp(state, op);
        states.push(state);
      }
      disk.crash({ unsynced: 'any' });
      const again = await SimStorage.open(disk);
      let loaded;
      try {
        loaded = await again.load();
      } catch (err) {
        expect(err).toBeInstanceOf(StorageError);
        refused++;
        return;
      }
      kept++;
      // The log read back is the log of some state of the run (over the part both hold).
      const first = again.firstIndex();
      const last = again.lastIndex();
      const log = shows(await again.entries(first, last + 1));
      const match = states.some((s) => lastIndex(s) === last
        && s.entries.every((e) => e.index < first || log[e.index - first] === shows([e])[0]));
      expect(match, `seed ${seed}: ${JSON.stringify(log)}`).toBe(true);
      expect(loaded.entries.length).toBeLessThanOrEqual(log.length);
    }), { numRuns: 200 });
    expect(refused).toBeGreaterThan(0);
    expect(kept).toBeGreaterThan(0);
  });
});

/** The model state a loaded storage is in (for a generator continuing after a crash). */
async function stateOf(storage: SimStorage, loaded: Awaited<ReturnType<SimStorage['load']>>): Promise<ModelState> {
  const first = storage.firstIndex();
  return {
    hardState: loaded.hardState,
    snapshot: loaded.snapshot,
    compacted: { index: first - 1, term: storage.term(first - 1) },
    entries: await storage.entries(first, storage.lastIndex() + 1),
  };
}

describe('damage on the simulated disk is found by load()', () => {
  async function threeAppends(): Promise<SimDisk> {
    const disk = new SimDisk({ random: mulberry32(1) });
    const storage = await started(disk);
    await storage.append(range(1, 3, 1), hs(1), true);
    await storage.append(range(4, 6, 1), null, true);
    await storage.append(range(7, 9, 1), null, true);
    return disk;
  }

  it('a segment that fails its checksum', async () => {
    const disk = await threeAppends();
    disk.corrupt('log', indexKey(4));
    await expect((await SimStorage.open(disk)).load()).rejects.toThrow('log segment at entry 4 fails its checksum');
  });

  it('a lost segment in the middle: a hole', async () => {
    const disk = await threeAppends();
    disk.lose('log', indexKey(4));
    await expect((await SimStorage.open(disk)).load()).rejects.toThrow('log entry 4 is missing (found 7)');
  });

  it('a lost overwrite before a kept append: the previous term does not match', async () => {
    const disk = new SimDisk({ random: mulberry32(1) });
    const storage = await started(disk);
    await storage.append(range(1, 6, 1), hs(1), true);
    await storage.append(range(4, 4, 2), hs(2), true); // overwrites 4..6 with 4 at term 2
    await storage.append(range(5, 5, 2), null, true);
    disk.lose('log', indexKey(4));
    await expect((await SimStorage.open(disk)).load()).rejects.toThrow(
      'log segment at entry 5 was written after an entry of term 2, but entry 4 has term 1: a write between them was lost');
  });

  it('a lost hard state write: entries of a term the hard state never reached', async () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const disk = new SimDisk({ random: mulberry32(seed) });
      const storage = await started(disk);
      await storage.append(range(1, 2, 1), hs(1), true);
      await storage.append([], hs(2), false);
      await storage.append(range(3, 3, 2), null, false);
      disk.crash({ unsynced: 'any', torn: false });
      const got = await (await SimStorage.open(disk)).load().then((l) => summary(l.entries).join(' '), (e: Error) => e.message);
      outcomes.add(got.replace(/^.*(the hard state says term 1 \(a hard state write was lost\))$/, '$1'));
    }
    // Both writes, neither, or the hard state alone are consistent; the entry without its term is not.
    expect([...outcomes].sort()).toEqual(['1:t1 2:t1', '1:t1 2:t1 3:t2', 'the hard state says term 1 (a hard state write was lost)']);
  });

  it('the end of the log lost below the commit index', async () => {
    const disk = await threeAppends();
    const storage = await SimStorage.open(disk);
    await storage.load();
    await storage.append([], hs(1, 9), true);
    disk.lose('log', indexKey(7));
    await expect((await SimStorage.open(disk)).load()).rejects.toThrow('the log ends at entry 6, but entry 9 was committed');
  });

  it('a snapshot file that is gone, or damaged', async () => {
    const disk = await threeAppends();
    const storage = await SimStorage.open(disk);
    await storage.load();
    const data = te.encode('the store');
    await storage.saveSnapshot({ index: 5, term: 1, data, crc: crc32(data) });
    expect(disk.fileNames()).toEqual(['snapshot-5']);
    disk.setFile('snapshot-5', te.encode('the storE'));
    await expect((await SimStorage.open(disk)).load()).rejects.toThrow('sim-disk/snapshot-5 fails its checksum');
    disk.setFile('snapshot-5', undefined);
    await expect((await SimStorage.open(disk)).load()).rejects.toThrow('sim-disk/snapshot-5 cannot be read');
  });

  it('a crash while a snapshot file is written leaves at most a temp file, removed on load', async () => {
    const leftovers = new Set<string>();
    for (let seed = 1; seed <= 8; seed++) {
      let hold = false;
      const disk = new SimDisk({ random: mulberry32(seed), fsync: () => (hold ? new Promise<void>(() => {}) : Promise.resolve()) });
      const storage = await started(disk);
      await storage.append(range(1, 5, 1), hs(1, 5), true);
      hold = true;
      const data = te.encode('x'.repeat(100));
      const saving = storage.saveSnapshot({ index: 4, term: 1, data, crc: crc32(data) });
      expect(await settled(saving)).toBe(false);
      disk.crash();
      leftovers.add(disk.fileNames().join());
      hold = false;
      const loaded = await (await SimStorage.open(disk)).load();
      expect(loaded.snapshot).toBeNull();
      expect(summary(loaded.entries)).toEqual(summary(range(1, 5, 1)));
      expect(disk.fileNames()).toEqual([]);
    }
    expect([...leftovers].sort()).toEqual(['', 'snapshot-4.tmp']);
  });
});

describe('a full simulated disk, as the driver meets it', () => {
  it('a write refused before it landed: refused again until reopen, then gone', async () => {
    const disk = new SimDisk({ random: mulberry32(1) });
    const storage = await started(disk);
    await storage.append(range(1, 2, 1), hs(1), true);
    disk.faults.writes.push('nospace-before');
    const failed = storage.append(range(3, 4, 1), hs(1, 2), true);
    const after = storage.append(range(5, 5, 1), null, true);
    await expect(failed).rejects.toSatisfy(isNoSpaceError);
    await expect(after).rejects.toSatisfy(isNoSpaceError);
    await expect(storage.append([], hs(2), true)).rejects.toSatisfy(isNoSpaceError);
    expect(() => storage.lastIndex()).toThrow(StorageError);
    await storage.reopen();
    expect(await storage.durableState()).toEqual({ last: { index: 2, term: 1 }, hardState: hs(1) });
    expect(storage.lastIndex()).toBe(2);
    await storage.append(range(3, 3, 1), null, true);
    expect(summary(await storage.entries(1, 4))).toEqual(['1:t1', '2:t1', '3:t1']);
  });

  it('a write that landed but whose sync failed is there after the reopen; a torn one is not', async () => {
    for (const [fault, last] of [['nospace-after', 4], ['nospace-torn', 2]] as const) {
      const disk = new SimDisk({ random: mulberry32(1) });
      const storage = await started(disk);
      await storage.append(range(1, 2, 1), hs(1), true);
      disk.faults.writes.push(fault);
      await expect(storage.append(range(3, 4, 1), hs(1, 2), true)).rejects.toSatisfy(isNoSpaceError);
      disk.faults.reopens = 2;
      await expect(storage.reopen()).rejects.toSatisfy(isNoSpaceError);
      await expect(storage.reopen()).rejects.toSatisfy(isNoSpaceError);
      await storage.reopen();
      expect((await storage.durableState()).last).toEqual({ index: last, term: 1 });
      expect(storage.lastIndex()).toBe(last);
      // And it stays so across a crash: the reopen made it durable.
      disk.crash({ unsynced: 'lose' });
      expect((await (await SimStorage.open(disk)).load()).entries.length).toBe(last);
    }
  });

  it('a snapshot file that cannot be written leaves the storage as it was', async () => {
    const disk = new SimDisk({ random: mulberry32(1) });
    const storage = await started(disk);
    await storage.append(range(1, 5, 1), hs(1, 5), true);
    disk.faults.snapshotWrites = 1;
    const data = te.encode('state');
    await expect(storage.saveSnapshot({ index: 3, term: 1, data, crc: crc32(data) })).rejects.toSatisfy(isNoSpaceError);
    expect(storage.firstIndex()).toBe(1);
    expect(disk.fileNames()).toEqual([]);
    await storage.append(range(6, 6, 1), null, true);
    await storage.saveSnapshot({ index: 3, term: 1, data, crc: crc32(data) });
    expect(storage.firstIndex()).toBe(4);
  });

  it('the reserve: opened full when there is no room for it', async () => {
    const disk = new SimDisk({ random: mulberry32(1) });
    disk.freeBytes = 10;
    expect((await SimStorage.open(disk)).openedFull).toBe(true);
    disk.freeBytes = 1 << 20;
    const storage = await SimStorage.open(disk);
    expect(storage.openedFull).toBe(false);
    expect(await storage.reserve.release()).toBe(true);
    disk.freeBytes = 10;
    expect(await storage.reserve.restore()).toBe(false);
  });
});

describe('the driver over SimStorage', () => {
  const set = (path: string, value: string): Command => ({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: te.encode(value) }] });

  it('acknowledged writes survive crashes that tear the write in flight', async () => {
    const td = new TextDecoder();
    for (let seed = 1; seed <= 5; seed++) {
      const disk = new SimDisk({ random: mulberry32(seed) });
      /** The latest acknowledged write number per key: what is read back is that or newer. */
      const acked = new Map<string, number>();
      let n = 0;
      for (let life = 0; life < 4; life++) {
        const fatal: unknown[] = [];
        const driver = await RaftDriver.start(testEnv(await SimStorage.open(disk), { seed }), {
          nodeId: 'n1', historyRevisions: 1000, snapshotEveryEntries: 7, onFatal: (e) => fatal.push(e),
        });
        await driver.caughtUp();
        for (const [k, v] of acked) expect(Number(td.decode(driver.store.get(k).value!))).toBeGreaterThanOrEqual(v);
        for (let i = 0; i < 12; i++) {
          const key = `/k${i % 5}`;
          const value = ++n;
          void driver.propose(set(key, String(value))).then(() => acked.set(key, Math.max(acked.get(key) ?? 0, value)));
        }
        // Some of them land, then the process dies mid-stream.
        await new Promise((r) => setTimeout(r, 1 + life));
        disk.crash();
        expect(fatal).toEqual([]);
      }
      expect(acked.size).toBeGreaterThan(0);
    }
  });
});
