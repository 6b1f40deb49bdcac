/**
 * A full disk under the driver, with the fault injected (test/helpers/faulty-storage.ts) over a
 * real LevelStorage in a temp directory: the logic that decides what a failed batch means.
 *
 * - A batch that reached the disk before its write failed is applied, and its proposer gets its
 *   real outcome; a proposal that was not written is answered NOSPACE and never applied, not
 *   after recovery, not after a restart from the same directory.
 * - While the storage cannot even be reopened, proposers wait (no answer is better than a wrong
 *   one) and reads go on; writes arriving in NOSPACE mode are refused at once, session commands
 *   and retries of known writes are not; writes resume, without a restart, once space is back.
 * - The same start-up on a full disk; a snapshot that cannot be written; and a storage failure
 *   that is not a full disk, which must still stop the process.
 * - What the log holds afterwards: no entry that did not reach the disk, the indexes of those
 *   taken by what came next, and a new term (with its no-op) when the term's first write failed.
 *   The driver rebuilds its Raft core from what is durable after a failed write (as a restart
 *   would), so these are facts about the log on disk, read back.
 *
 * Before this was built, the driver called onFatal on the first failed append and never answered
 * the proposals in flight: every driver case here then fails (waiting for an answer, within the
 * 15 s timeout).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import { RaftDriver, type DiskState, type DriverOptions } from '../../server/consensus/driver.ts';
import { EntryType, type Entry } from '../../server/storage/log-types.ts';
import { decodeCommand, type Command, type WriteOutcome } from '../../server/store/commands.ts';
import { LevelStorage } from '../../server/storage/level-storage.ts';
import { FaultyStorage } from '../helpers/faulty-storage.ts';
import { testEnv } from '../helpers/node-env.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

const te = new TextEncoder();
const td = new TextDecoder();
const CHECK_MS = 20;

const set = (path: string, value: string, origin: { sid?: string; seq?: number } = {}): Command =>
  ({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: te.encode(value) }], ...origin });

interface Harness {
  dir: string;
  storage: FaultyStorage;
  driver: RaftDriver;
  fatal: unknown[];
  states: [DiskState, string][];
  deferred: string[];
}

const dirs: string[] = [];
const running: RaftDriver[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop().catch(() => {});
  for (const d of dirs.splice(0)) removeDir(d);
});

async function start(dir = tempDir('coord-nospace-unit-'), setup?: (s: FaultyStorage) => void,
  options: Partial<DriverOptions> = {}): Promise<Harness> {
  if (!dirs.includes(dir)) dirs.push(dir);
  const storage = new FaultyStorage(await LevelStorage.open(dir));
  setup?.(storage);
  const fatal: unknown[] = [];
  const states: [DiskState, string][] = [];
  const deferred: string[] = [];
  const driver = await RaftDriver.start(testEnv(storage), {
    nodeId: 'n1',
    historyRevisions: 1000,
    snapshotEveryEntries: 1_000_000,
    diskCheckIntervalMs: CHECK_MS,
    onFatal: (err) => fatal.push(err),
    onDiskState: (state, detail) => states.push([state, detail]),
    onSnapshotDeferred: (detail) => deferred.push(detail),
    ...options,
  });
  running.push(driver);
  return { dir, storage, driver, fatal, states, deferred };
}

async function restart(h: Harness): Promise<Harness> {
  await h.driver.stop();
  running.splice(running.indexOf(h.driver), 1);
  const again = await start(h.dir);
  await again.driver.caughtUp();
  return again;
}

/** The outcome of a proposal, or the error code it was refused with. */
function settle(p: Promise<WriteOutcome>): { result: Promise<WriteOutcome | string>; done: () => boolean } {
  let finished = false;
  const result = p.then((o) => o, (e: unknown) => (e instanceof CoordError ? e.code : String(e)))
    .finally(() => (finished = true));
  return { result, done: () => finished };
}

const value = (h: Harness, path: string, rev?: number) => {
  const v = h.driver.store.get(path, rev).value;
  return v === null ? null : td.decode(v);
};

/** The log and hard state on disk in `dir` (the driver must be stopped). */
async function logOnDisk(dir: string): Promise<{ entries: Entry[]; term: number }> {
  const storage = await LevelStorage.open(dir);
  try {
    const loaded = await storage.load();
    return { entries: loaded.entries, term: loaded.hardState.term };
  } finally {
    await storage.close();
  }
}

/** The paths the commands in `entries` write. */
const pathsIn = (entries: Entry[]) => entries.filter((e) => e.type === EntryType.Command).flatMap((e) => {
  const cmd = decodeCommand(e.data);
  return cmd.t === 'txn' ? cmd.ops.map((o) => o.path) : [];
});

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('a full disk under the driver (injected)', { timeout: 15_000 }, () => {
  it('applies a batch that reached the disk before its write failed, refuses what did not, and resumes', async () => {
    const h = await start();
    await h.driver.caughtUp();
    expect(await h.driver.propose({ t: 'open', sid: 's1', secret: 'x', ttlMs: 10_000 })).toMatchObject({ ok: true });
    expect(await h.driver.propose(set('/a', 'a0'))).toEqual({ ok: true, rev: 1, changed: 1 });

    // w1's batch lands and then fails; w2 and a session open are proposed while it is written.
    // The disk is full until the test says otherwise (or a disk check between two writes could
    // find room and leave the mode early).
    h.storage.appendFault = 'after-write';
    h.storage.freeBytes = 10;
    let openGate!: () => void;
    h.storage.gate = new Promise((r) => (openGate = r));
    const started = h.storage.appendStarted();
    const w1 = settle(h.driver.propose(set('/a', 'a1', { sid: 's1', seq: 1 })));
    await started;
    const w2 = settle(h.driver.propose(set('/never', 'w2')));
    const s2 = settle(h.driver.propose({ t: 'open', sid: 's2', secret: 'y', ttlMs: 10_000 }));
    h.storage.gate = null;
    openGate();

    expect(await w1.result).toEqual({ ok: true, rev: 2, changed: 1 });
    expect(await w2.result).toBe(ErrorCode.NOSPACE);
    expect(h.fatal).toEqual([]);
    expect(h.driver.diskState).toBe('nospace');
    expect(h.states[0]![0]).toBe('nospace');
    expect(h.states[0]![1]).toContain(h.dir);
    expect(value(h, '/a')).toBe('a1');
    expect(value(h, '/never')).toBeNull();

    // In NOSPACE mode: a client write is refused at once, with the directory named; a retry of
    // an applied write gets its real result; reads are served.
    const refused = await h.driver.propose(set('/b', 'b')).catch((e: CoordError) => e);
    expect(refused).toBeInstanceOf(CoordError);
    expect((refused as CoordError).code).toBe(ErrorCode.NOSPACE);
    expect((refused as CoordError).message).toMatch(new RegExp(`the disk holding ${h.dir} is full \\(\\d+ bytes free\\)`));
    await h.driver.readBarrier();

    // The open that was dropped with w2 is proposed again and fails again (the disk is still
    // full): it waits for the next check. Once writes land again, it goes through.
    await new Promise((r) => setTimeout(r, 5 * CHECK_MS));
    expect(s2.done()).toBe(false);
    h.storage.appendFault = 'none';
    expect(await s2.result).toMatchObject({ ok: true });
    expect(h.driver.store.session('s2')).toBeDefined();
    expect(await h.driver.propose(set('/a', 'a1', { sid: 's1', seq: 1 }))).toEqual({ ok: true, rev: 2, changed: 1 });
    expect(h.driver.diskState).toBe('nospace');

    // Space back: the mode is left by itself and writes resume; w2 never took a revision.
    h.storage.reserveInPlace = false;
    h.storage.freeBytes = 1 << 30;
    await until('leaving NOSPACE', () => h.driver.diskState === 'ok');
    expect(h.states.at(-1)![0]).toBe('ok');
    expect(await h.driver.propose(set('/c', 'c'))).toEqual({ ok: true, rev: 3, changed: 1 });

    // What is on disk agrees: w1 there at rev 2, w2 nowhere.
    const again = await restart(h);
    expect(again.driver.store.rev).toBe(3);
    expect(value(again, '/a', 2)).toBe('a1');
    expect(value(again, '/never')).toBeNull();
    expect(again.driver.store.session('s2')).toBeDefined();
    expect(again.fatal).toEqual([]);
  });

  it('keeps proposers waiting while the storage cannot be reopened, then answers NOSPACE for what was not written', async () => {
    const h = await start();
    await h.driver.caughtUp();
    expect(await h.driver.propose(set('/k', 'v1'))).toMatchObject({ ok: true, rev: 1 });
    h.storage.appendFault = 'before-write';
    h.storage.reopenFailures = 4;
    h.storage.freeBytes = 10;
    const lost = settle(h.driver.propose(set('/lost', 'x')));
    await until('the reopen attempts', () => h.storage.reopens >= 3);
    expect(lost.done()).toBe(false);
    expect(h.driver.noSpace).toBe(true);
    // Reads go on meanwhile, at the revision acknowledged.
    await h.driver.readBarrier();
    expect(h.driver.store.rev).toBe(1);
    // A session command proposed now waits for the reopen too, then is written.
    h.storage.appendFault = 'none';
    const open = settle(h.driver.propose({ t: 'open', sid: 's9', secret: 'z', ttlMs: 5000 }));
    expect(await lost.result).toBe(ErrorCode.NOSPACE);
    expect(await open.result).toMatchObject({ ok: true });
    expect(h.fatal).toEqual([]);
    expect(value(h, '/lost')).toBeNull();

    // Still full: writes refused. Freed: writes resume without a restart.
    expect(await settle(h.driver.propose(set('/k', 'v2'))).result).toBe(ErrorCode.NOSPACE);
    h.storage.freeBytes = 1 << 30;
    await until('leaving NOSPACE', () => !h.driver.noSpace);
    expect(await h.driver.propose(set('/k', 'v2'))).toEqual({ ok: true, rev: 2, changed: 1 });

    const again = await restart(h);
    expect(again.driver.store.rev).toBe(2);
    expect(value(again, '/lost')).toBeNull();
    expect(value(again, '/k')).toBe('v2');
  });

  it('starts on a full disk: reads served, writes refused, sessions opened, writes resume once space is back', async () => {
    const dir = tempDir('coord-nospace-unit-');
    const first = await start(dir);
    await first.driver.caughtUp();
    await first.driver.propose(set('/before', 'kept'));
    await first.driver.stop();
    running.splice(running.indexOf(first.driver), 1);

    // Opened full, and the new term's first write fails too until a reopen.
    const h = await start(dir, (s) => {
      s.openedFull = true;
      s.reserveInPlace = false;
      s.freeBytes = 10;
      s.appendFault = 'before-write';
      s.reopenFailures = 2;
    });
    expect(h.driver.noSpace).toBe(true);
    const caughtUp = settle(h.driver.caughtUp().then(() => ({ ok: true, rev: 0, changed: 0 }) as const));
    await until('the reopen attempts', () => h.storage.reopens >= 2);
    expect(caughtUp.done()).toBe(false);
    h.storage.appendFault = 'none';
    await caughtUp.result;
    expect(h.fatal).toEqual([]);
    expect(value(h, '/before')).toBe('kept');
    expect(await settle(h.driver.propose(set('/x', 'y'))).result).toBe(ErrorCode.NOSPACE);
    expect(await h.driver.propose({ t: 'open', sid: 'late', secret: 's', ttlMs: 5000 })).toMatchObject({ ok: true });
    h.storage.freeBytes = 1 << 30;
    await until('leaving NOSPACE', () => !h.driver.noSpace);
    expect(await h.driver.propose(set('/x', 'y'))).toEqual({ ok: true, rev: 2, changed: 1 });
  });

  it('gives up a snapshot the disk has no room for, keeps serving, and takes one later', async () => {
    const h = await start(undefined, undefined, { snapshotEveryEntries: 5 });
    await h.driver.caughtUp();
    // (After the start: a new node's first write is its bootstrap snapshot.)
    h.storage.snapshotFailures = 1;
    for (let i = 0; i < 12; i++) await h.driver.propose(set(`/s/${i}`, `v${i}`));
    await until('the deferred snapshot', () => h.deferred.length > 0);
    expect(h.fatal).toEqual([]);
    expect(h.deferred[0]).toContain('was not written');
    expect(h.driver.noSpace).toBe(false);
    const again = await restart(h);
    expect(again.driver.store.rev).toBe(12);
  });

  it('leaves nothing on disk of what did not reach it: the new term takes its indexes, starting with its no-op', async () => {
    const h = await start();
    await h.driver.caughtUp();
    expect(await h.driver.propose(set('/k', 'v1'))).toMatchObject({ ok: true, rev: 1 });
    const before = h.driver.status();
    h.storage.appendFault = 'before-write';
    h.storage.freeBytes = 10;
    const lost = settle(h.driver.propose(set('/lost', 'x')));
    const lost2 = settle(h.driver.propose(set('/lost2', 'y')));
    await until('a reopen', () => h.storage.reopens >= 1);
    h.storage.appendFault = 'none';
    expect(await lost.result).toBe(ErrorCode.NOSPACE);
    expect(await lost2.result).toBe(ErrorCode.NOSPACE);
    expect(await h.driver.propose({ t: 'open', sid: 's', secret: 'z', ttlMs: 5000 })).toMatchObject({ ok: true });
    await h.driver.stop();
    running.splice(running.indexOf(h.driver), 1);

    const { entries, term } = await logOnDisk(h.dir);
    expect(entries.map((e) => e.index)).toEqual(entries.map((_, i) => entries[0]!.index + i));
    expect(pathsIn(entries)).toEqual(['/k']);
    const at = entries.find((e) => e.index === before.lastIndex + 1)!;
    expect(at.type).toBe(EntryType.Noop);
    expect(at.term).toBeGreaterThan(before.term);
    expect(term).toBeGreaterThanOrEqual(at.term);
  });

  it('still stops the process on a storage failure that is not a full disk', async () => {
    const h = await start();
    await h.driver.caughtUp();
    h.storage.appendFault = 'eio';
    void h.driver.propose(set('/a', 'b')).catch(() => {});
    await until('onFatal', () => h.fatal.length > 0);
    expect(String(h.fatal[0])).toContain('Input/output error');
    expect(h.driver.noSpace).toBe(false);
    // The process would exit here; the driver is not stopped, only its database closed.
    running.splice(running.indexOf(h.driver), 1);
    await h.storage.close();
  });
});
