/**
 * The storage conformance suite: one set of checks of the RaftStorage contract
 * (server/storage/raft-storage.ts) that every implementation must pass. level-storage.test.ts
 * runs it against LevelStorage in a temp directory, sim-storage.test.ts against the simulator's
 * SimStorage.
 *
 * It checks: append; an append overlapping the log (entries 1-3 at term 1, then 2 at term 2 reads
 * back 1:t1 2:t2); truncation of a longer suffix, across segments; a gap refused; the hard state
 * round trip; snapshots (save, load, compaction: entries before gone, after kept, term() at the
 * snapshot), a snapshot the log does not agree with (the log goes); compaction below the
 * snapshot; entries(lo, hi, maxBytes) ranges, from the tail cache and from disk; entry types;
 * writes issued without waiting (they land in order); a restart reads back exactly what was
 * written; a crash after every step of a script (what load() returns is the state after some
 * prefix of the steps, never less than the synced ones); and a property test against the array
 * model of log-model.ts, with random appends, overlaps, snapshots, compactions and restarts.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { AssertionError } from '../../server/assert.ts';
import { crc32 } from '../../server/storage/crc32.ts';
import { EntryType, type Entry, type HardState } from '../../server/storage/log-types.ts';
import {
  LogCompactedError, LogUnavailableError, type RaftStorage, type SnapshotRecord,
} from '../../server/storage/raft-storage.ts';
import {
  actualLoad, applyOp, emptyState, expectedLoad, lastIndex, matchingState, mulberry32, OpGenerator, opSynced, runOp,
  script, shows, termAt, type ModelState,
} from './log-model.ts';

export interface SubjectOptions {
  /** The storage's tail cache budget (small ones make entries() read from disk). */
  tailCacheBytes?: number;
}

/** One store's data (a directory, a simulated disk) across opens, crashes and restarts. */
export interface StorageSubject {
  /** Opens a storage over the data (fresh the first time). load() is the caller's. */
  open(): Promise<RaftStorage>;
  /**
   * Ends `storage` the way a crash would. A simulated disk loses what was not synced (`torn`
   * leaves the first lost write torn); a real one is closed (in process, a write cannot be
   * interrupted half way: the child-process test does that).
   */
  crash(storage: RaftStorage, how?: { torn?: boolean; lose?: boolean }): Promise<void>;
  /** True if crash() can lose writes that were not synced. */
  readonly losesUnsynced: boolean;
  destroy(): Promise<void>;
}

export interface StorageTarget {
  name: string;
  create(options?: SubjectOptions): Promise<StorageSubject>;
}

const te = new TextEncoder();
const cmd = (index: number, term: number, text = `e${index}t${term}`): Entry =>
  ({ index, term, type: EntryType.Command, data: te.encode(text) });
const range = (from: number, to: number, term: number) => Array.from({ length: to - from + 1 }, (_, k) => cmd(from + k, term));
const summary = (es: Entry[]) => es.map((e) => `${e.index}:t${e.term}`);
const hs = (term: number, commit = 0, vote: string | null = 'n1'): HardState => ({ term, vote, commit });
function snap(index: number, term: number, text = `state@${index}`): SnapshotRecord {
  const data = te.encode(text);
  return { index, term, data, crc: crc32(data) };
}

export function storageConformance(target: StorageTarget): void {
  describe(`storage conformance: ${target.name}`, () => {
    const subjects: StorageSubject[] = [];
    const open: RaftStorage[] = [];
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close().catch(() => {});
      for (const s of subjects.splice(0)) await s.destroy();
    });

    async function fresh(options?: SubjectOptions): Promise<{ subject: StorageSubject; storage: RaftStorage }> {
      const subject = await target.create(options);
      subjects.push(subject);
      const storage = await subject.open();
      open.push(storage);
      await storage.load();
      return { subject, storage };
    }

    /** Closes `storage` cleanly and opens the same data again; returns the new one, loaded. */
    async function restart(subject: StorageSubject, storage: RaftStorage) {
      await storage.close();
      open.splice(open.indexOf(storage), 1);
      const again = await subject.open();
      open.push(again);
      const loaded = await again.load();
      return { storage: again, loaded };
    }

    async function crashAndOpen(subject: StorageSubject, storage: RaftStorage, how?: { torn?: boolean; lose?: boolean }) {
      open.splice(open.indexOf(storage), 1);
      await subject.crash(storage, how);
      const again = await subject.open();
      open.push(again);
      return again;
    }

    it('starts empty', async () => {
      const { storage } = await fresh();
      expect(storage.firstIndex()).toBe(1);
      expect(storage.lastIndex()).toBe(0);
      expect(storage.term(0)).toBe(0);
      expect(await storage.entries(1, 1)).toEqual([]);
      expect(() => storage.term(1)).toThrow(LogUnavailableError);
      const d = await storage.durableState();
      expect(d).toEqual({ last: { index: 0, term: 0 }, hardState: null });
    });

    it('appends, and reads back after a restart', async () => {
      const { subject, storage } = await fresh();
      await storage.append(range(1, 3, 1), hs(1, 0), true);
      await storage.append(range(4, 5, 1), null, true);
      expect(storage.lastIndex()).toBe(5);
      expect(summary(await storage.entries(1, 6))).toEqual(['1:t1', '2:t1', '3:t1', '4:t1', '5:t1']);
      const { storage: again, loaded } = await restart(subject, storage);
      expect(summary(loaded.entries)).toEqual(['1:t1', '2:t1', '3:t1', '4:t1', '5:t1']);
      expect(loaded.hardState).toEqual(hs(1, 0));
      expect(loaded.snapshot).toBeNull();
      expect(again.lastIndex()).toBe(5);
      expect(again.term(5)).toBe(1);
      expect(await again.durableState()).toEqual({ last: { index: 5, term: 1 }, hardState: hs(1, 0) });
    });

    it('an overlapping append replaces the suffix: 1-3 at t1, then 2 at t2 reads 1:t1 2:t2', async () => {
      const { subject, storage } = await fresh();
      await storage.append(range(1, 3, 1), hs(1), true);
      await storage.append([cmd(2, 2)], hs(2), true);
      expect(storage.lastIndex()).toBe(2);
      expect(storage.term(2)).toBe(2);
      expect(() => storage.term(3)).toThrow(LogUnavailableError);
      expect(summary(await storage.entries(1, 3))).toEqual(['1:t1', '2:t2']);
      const { storage: again, loaded } = await restart(subject, storage);
      expect(summary(loaded.entries)).toEqual(['1:t1', '2:t2']);
      expect(again.lastIndex()).toBe(2);
      expect(await again.durableState()).toEqual({ last: { index: 2, term: 2 }, hardState: hs(2) });
      // The log goes on from the new end.
      await again.append([cmd(3, 2)], null, true);
      const { loaded: third } = await restart(subject, again);
      expect(summary(third.entries)).toEqual(['1:t1', '2:t2', '3:t2']);
    });

    it('truncates a longer suffix spread over many appends, and rewrites it again', async () => {
      const { subject, storage } = await fresh();
      await storage.append(range(1, 3, 1), hs(1), true);
      await storage.append(range(4, 6, 1), null, true);
      await storage.append(range(7, 10, 1), null, true);
      await storage.append(range(5, 6, 2), hs(2), true); // cuts inside the second append
      expect(summary(await storage.entries(1, 7))).toEqual(['1:t1', '2:t1', '3:t1', '4:t1', '5:t2', '6:t2']);
      await storage.append(range(7, 8, 2), null, true);
      await storage.append(range(3, 3, 3), hs(3), true); // cuts inside the first
      const want = ['1:t1', '2:t1', '3:t3'];
      expect(summary(await storage.entries(1, 4))).toEqual(want);
      let { storage: again, loaded } = await restart(subject, storage);
      expect(summary(loaded.entries)).toEqual(want);
      await again.append(range(4, 9, 3), null, true);
      ({ storage: again, loaded } = await restart(subject, again));
      expect(summary(loaded.entries)).toEqual([...want, ...summary(range(4, 9, 3))]);
      expect(again.term(3)).toBe(3);
      expect(again.term(2)).toBe(1);
    });

    it('refuses a gap, an append over the snapshot and terms that go down, changing nothing', async () => {
      const { subject, storage } = await fresh();
      await storage.append(range(1, 3, 2), hs(2), true);
      await expect(storage.append([cmd(5, 2)], null, true)).rejects.toThrow(AssertionError);
      await expect(storage.append([cmd(4, 1)], null, true)).rejects.toThrow(AssertionError);
      await expect(storage.append([cmd(4, 2), cmd(6, 2)], null, true)).rejects.toThrow(AssertionError);
      await storage.saveSnapshot(snap(2, 2));
      await expect(storage.append([cmd(2, 3)], hs(3), true)).rejects.toThrow(AssertionError);
      expect(storage.lastIndex()).toBe(3);
      const { loaded } = await restart(subject, storage);
      expect(summary(loaded.entries)).toEqual(['3:t2']);
      expect(loaded.hardState).toEqual(hs(2));
    });

    it('keeps the hard state: with entries, alone, and untouched by a null one', async () => {
      const { subject, storage } = await fresh();
      await storage.append([], hs(3, 0, 'n2'), true);
      let { storage: s, loaded } = await restart(subject, storage);
      expect(loaded.hardState).toEqual(hs(3, 0, 'n2'));
      await s.append(range(1, 2, 3), hs(3, 2, null), true);
      await s.append([cmd(3, 3)], null, true);
      ({ storage: s, loaded } = await restart(subject, s));
      expect(loaded.hardState).toEqual({ term: 3, vote: null, commit: 2 });
      expect(await s.durableState()).toEqual({ last: { index: 3, term: 3 }, hardState: { term: 3, vote: null, commit: 2 } });
    });

    it('round-trips every entry type, with and without data', async () => {
      const { subject, storage } = await fresh();
      const entries: Entry[] = [
        { index: 1, term: 1, type: EntryType.Noop, data: new Uint8Array(0) },
        { index: 2, term: 1, type: EntryType.Command, data: te.encode('set /a') },
        { index: 3, term: 1, type: EntryType.Config, data: te.encode('add n2') },
        { index: 4, term: 1, type: EntryType.Command, data: new Uint8Array(0) },
        { index: 5, term: 1, type: EntryType.Noop, data: te.encode('odd, but kept') },
        { index: 6, term: 1, type: EntryType.Config, data: new Uint8Array(0) },
      ];
      await storage.append(entries, hs(1), true);
      expect(shows(await storage.entries(1, 7))).toEqual(shows(entries));
      const { loaded } = await restart(subject, storage);
      expect(shows(loaded.entries)).toEqual(shows(entries));
    });

    it('saves a snapshot and compacts: entries before it gone, after it kept, its term answered', async () => {
      const { subject, storage } = await fresh();
      await storage.append(range(1, 4, 1), hs(1, 4), true);
      await storage.append(range(5, 10, 2), hs(2, 8), true);
      await storage.saveSnapshot(snap(6, 2));
      expect(storage.firstIndex()).toBe(7);
      expect(storage.lastIndex()).toBe(10);
      expect(storage.term(6)).toBe(2);
      expect(() => storage.term(5)).toThrow(LogCompactedError);
      await expect(storage.entries(6, 8)).rejects.toThrow(LogCompactedError);
      expect(summary(await storage.entries(7, 11))).toEqual(['7:t2', '8:t2', '9:t2', '10:t2']);
      const { storage: again, loaded } = await restart(subject, storage);
      expect(loaded.snapshot).toMatchObject({ index: 6, term: 2 });
      expect(Buffer.from(loaded.snapshot!.data).toString()).toBe('state@6');
      expect(summary(loaded.entries)).toEqual(['7:t2', '8:t2', '9:t2', '10:t2']);
      expect(again.firstIndex()).toBe(7);
      expect(again.term(6)).toBe(2);
      // A later snapshot replaces it; one at the end of the log leaves the log empty.
      await again.saveSnapshot(snap(10, 2));
      expect(again.firstIndex()).toBe(11);
      expect(again.lastIndex()).toBe(10);
      expect(await again.durableState()).toEqual({ last: { index: 10, term: 2 }, hardState: hs(2, 8) });
      await again.append(range(11, 12, 2), null, true);
      const { storage: third, loaded: l3 } = await restart(subject, again);
      expect(l3.snapshot).toMatchObject({ index: 10, term: 2 });
      expect(summary(l3.entries)).toEqual(['11:t2', '12:t2']);
      expect(third.term(10)).toBe(2);
    });

    it('compacts below the snapshot when asked, keeping entries for followers behind', async () => {
      const { subject, storage } = await fresh();
      await storage.append(range(1, 10, 1), hs(1, 10), true);
      await storage.saveSnapshot(snap(8, 1), 4);
      expect(storage.firstIndex()).toBe(5);
      expect(summary(await storage.entries(5, 7))).toEqual(['5:t1', '6:t1']);
      await expect(storage.compact(9)).rejects.toThrow(AssertionError);
      let { storage: s, loaded } = await restart(subject, storage);
      expect(s.firstIndex()).toBe(5);
      expect(loaded.snapshot?.index).toBe(8);
      expect(summary(loaded.entries)).toEqual(['9:t1', '10:t1']);
      await s.compact(7);
      expect(s.firstIndex()).toBe(8);
      expect(s.term(7)).toBe(1);
      ({ storage: s, loaded } = await restart(subject, s));
      expect(s.firstIndex()).toBe(8);
      expect(summary(await s.entries(8, 11))).toEqual(['8:t1', '9:t1', '10:t1']);
    });

    it('a snapshot the log does not agree with replaces the whole log (Raft §7)', async () => {
      const { subject, storage } = await fresh();
      await storage.append(range(1, 5, 1), hs(1, 2), true);
      // A leader's snapshot at 4 with term 3: the log has entry 4 at term 1.
      await storage.saveSnapshot(snap(4, 3));
      expect(storage.firstIndex()).toBe(5);
      expect(storage.lastIndex()).toBe(4);
      expect(storage.term(4)).toBe(3);
      await expect(storage.append([cmd(6, 3)], hs(3, 4), true)).rejects.toThrow(AssertionError);
      await storage.append([cmd(5, 3)], hs(3, 4), true);
      let { storage: s, loaded } = await restart(subject, storage);
      expect(summary(loaded.entries)).toEqual(['5:t3']);
      expect(s.term(4)).toBe(3);
      // One beyond the end of the log: the same.
      await s.saveSnapshot(snap(9, 4));
      expect(s.lastIndex()).toBe(9);
      ({ storage: s, loaded } = await restart(subject, s));
      expect(loaded.snapshot?.index).toBe(9);
      expect(loaded.entries).toEqual([]);
      expect(s.lastIndex()).toBe(9);
      expect(await s.durableState()).toEqual({ last: { index: 9, term: 4 }, hardState: hs(3, 4) });
    });

    it('reads ranges: within and across appends, bounded by maxBytes, from memory and from disk', async () => {
      for (const tailCacheBytes of [undefined, 0, 300]) {
        const { subject, storage } = await fresh({ tailCacheBytes });
        await storage.append(range(1, 4, 1), hs(1), true);
        await storage.append(range(5, 5, 1), null, true);
        await storage.append(range(6, 12, 2), hs(2), true);
        await storage.append(range(9, 14, 3), hs(3), true);
        const all = ['1:t1', '2:t1', '3:t1', '4:t1', '5:t1', '6:t2', '7:t2', '8:t2', '9:t3', '10:t3', '11:t3', '12:t3', '13:t3', '14:t3'];
        const check = async (s: RaftStorage) => {
          for (let lo = 1; lo <= 15; lo++) {
            for (let hi = lo; hi <= 15; hi++) expect(summary(await s.entries(lo, hi))).toEqual(all.slice(lo - 1, hi - 1));
          }
          // maxBytes bounds the entries' data; one always comes back.
          expect(summary(await s.entries(3, 15, 1))).toEqual(['3:t1']);
          expect(summary(await s.entries(3, 15, 0))).toEqual(['3:t1']);
          const size = (await s.entries(3, 4))[0]!.data.byteLength;
          expect(summary(await s.entries(3, 15, 2 * size))).toEqual(['3:t1', '4:t1']);
          expect(summary(await s.entries(3, 15, 2 * size + 1))).toEqual(['3:t1', '4:t1']);
          // From memory only: the tail, or null where it does not reach.
          for (let lo = 1; lo <= 15; lo++) {
            const got = s.cachedEntries(lo, 15);
            if (got !== null) expect(summary(got)).toEqual(all.slice(lo - 1));
            else expect(tailCacheBytes).toBeDefined();
          }
          if (tailCacheBytes === undefined) expect(summary(s.cachedEntries(1, 15, 0)!)).toEqual(['1:t1']);
          if (tailCacheBytes === 0) expect(s.cachedEntries(14, 15)).toBeNull();
          await expect(s.entries(0, 3)).rejects.toThrow(LogCompactedError);
          await expect(s.entries(3, 16)).rejects.toThrow(LogUnavailableError);
        };
        await check(storage);
        const { storage: again } = await restart(subject, storage);
        await check(again);
      }
    });

    it('writes issued without waiting land in order, with the log readable at once', async () => {
      const { subject, storage } = await fresh({ tailCacheBytes: 0 });
      const writes = [
        storage.append(range(1, 3, 1), hs(1), false),
        storage.append(range(4, 6, 1), null, true),
        storage.append(range(5, 7, 2), hs(2), false),
        storage.append(range(8, 8, 2), hs(2, 3), true),
      ];
      // Every call is visible at once, written or not.
      expect(storage.lastIndex()).toBe(8);
      expect(summary(await storage.entries(3, 9))).toEqual(['3:t1', '4:t1', '5:t2', '6:t2', '7:t2', '8:t2']);
      const order: number[] = [];
      await Promise.all(writes.map((w, i) => w.then(() => order.push(i))));
      expect(order).toEqual([0, 1, 2, 3]);
      const { loaded } = await restart(subject, storage);
      expect(summary(loaded.entries)).toEqual(['1:t1', '2:t1', '3:t1', '4:t1', '5:t2', '6:t2', '7:t2', '8:t2']);
      expect(loaded.hardState).toEqual(hs(2, 3));
    });

    it('a crash after every step of a script leaves the state after a prefix of it, the synced steps at least', async () => {
      // Seed 87: appends, overwrites, local and leader's snapshots, compactions, hard states alone.
      const { ops, states } = script(87, 40, { syncRate: 0.7 });
      const kinds = new Set(ops.map((o, i) => (o.t !== 'append' ? (o.t === 'snapshot' && o.snapshot.index > states[i]!.hardState.commit ? 'foreign' : o.t)
        : o.entries.length === 0 ? 'hard' : o.entries[0]!.index <= lastIndex(states[i]!) ? 'overwrite' : 'append')));
      expect([...kinds].sort()).toEqual(['append', 'compact', 'foreign', 'hard', 'overwrite', 'snapshot']);
      const ways = [{ lose: true }, { torn: true }, {}];
      for (let step = 1; step <= ops.length; step++) {
        for (const how of ways) {
          const subject = await target.create();
          subjects.push(subject);
          let storage = await subject.open();
          await storage.load();
          for (let i = 0; i < step; i++) await runOp(storage, ops[i]!);
          storage = await crashAndOpen(subject, storage, how);
          const loaded = await storage.load();
          let oldest = step;
          if (subject.losesUnsynced) while (oldest > 0 && !opSynced(ops[oldest - 1]!)) oldest--;
          const candidates = states.slice(oldest, step + 1);
          const k = matchingState(loaded, storage.firstIndex(), candidates);
          if (k < 0) expect(actualLoad(loaded), `after step ${step} (${JSON.stringify(how)})`).toEqual(expectedLoad(states[step]!));
          await expectStorageMatches(storage, candidates[k]!);
          await storage.close();
          open.splice(open.indexOf(storage), 1);
          await subject.destroy();
          subjects.splice(subjects.indexOf(subject), 1);
          if (!subject.losesUnsynced) break; // one way to end a real store in process
        }
      }
    }, 120_000);

    it('matches the array model under random appends, overlaps, snapshots, compactions, restarts and crashes', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 5, max: 60 }),
          fc.constantFrom(undefined, 0, 200), fc.double({ min: 0.3, max: 1, noNaN: true }),
          async (seed, steps, tailCacheBytes, syncRate) => {
            const random = mulberry32(seed);
            const gen = new OpGenerator(random, { syncRate });
            const subject = await target.create({ tailCacheBytes });
            try {
              let storage = await subject.open();
              await storage.load();
              let state: ModelState = emptyState();
              /** States since the last synced step: a crash may leave any of them. */
              let since: ModelState[] = [state];
              for (let i = 0; i < steps; i++) {
                const r = random();
                if (r < 0.08) {
                  const { storage: again, loaded } = await restartOf(subject, storage);
                  storage = again;
                  expect(actualLoad(loaded)).toEqual(expectedLoad(state));
                } else if (r < 0.16) {
                  await subject.crash(storage, { torn: random() < 0.5, lose: random() < 0.3 });
                  storage = await subject.open();
                  const loaded = await storage.load();
                  const k = matchingState(loaded, storage.firstIndex(), subject.losesUnsynced ? since : [state]);
                  if (k < 0) expect(actualLoad(loaded)).toEqual(expectedLoad(state));
                  state = (subject.losesUnsynced ? since : [state])[k]!;
                  since = [state];
                } else {
                  const op = gen.next(state);
                  await runOp(storage, op);
                  state = applyOp(state, op);
                  since = opSynced(op) ? [state] : [...since, state];
                }
                if (random() < 0.3) await expectStorageMatches(storage, state);
              }
              await expectStorageMatches(storage, state);
              const { storage: last, loaded } = await restartOf(subject, storage);
              expect(actualLoad(loaded)).toEqual(expectedLoad(state));
              await last.close();
            } finally {
              await subject.destroy();
            }
          }),
        { numRuns: 40 },
      );
    }, 120_000);
  });
}

/** Checks the storage's in-memory answers and entries() against `s`. */
async function expectStorageMatches(storage: RaftStorage, s: ModelState): Promise<void> {
  expect(storage.firstIndex()).toBe(s.compacted.index + 1);
  expect(storage.lastIndex()).toBe(lastIndex(s));
  const terms: number[] = [];
  const want: number[] = [];
  for (let i = s.compacted.index; i <= lastIndex(s); i++) {
    terms.push(storage.term(i));
    want.push(termAt(s, i)!);
  }
  expect(terms).toEqual(want);
  expect(shows(await storage.entries(storage.firstIndex(), storage.lastIndex() + 1))).toEqual(shows(s.entries));
}

async function restartOf(subject: StorageSubject, storage: RaftStorage) {
  await storage.close();
  const again = await subject.open();
  return { storage: again, loaded: await again.load() };
}
