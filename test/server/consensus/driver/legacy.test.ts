/**
 * Data directories written by the single-node driver before clusters: a log from entry 1 (that
 * node's first no-op, term 1), commands after it, a hard state for 'n1', perhaps a snapshot whose
 * bytes hold no membership, and no membership anywhere. Such a directory starts as a cluster of
 * one voter, its own node, with every acknowledged write there; it takes new writes; and its next
 * snapshot writes the membership down. The layout is written here by hand, as the old driver
 * wrote it (LevelStorage is unchanged in what it stores).
 */
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftDriver } from '../../../../server/consensus/driver.ts';
import { snapshotMembership } from '../../../../server/consensus/snapshots.ts';
import { crc32 } from '../../../../server/storage/crc32.ts';
import { LevelStorage } from '../../../../server/storage/level-storage.ts';
import { EntryType, type Entry } from '../../../../server/storage/log-types.ts';
import { encodeCommand, type Command } from '../../../../server/store/commands.ts';
import { Store } from '../../../../server/store/store.ts';
import { testEnv } from '../../../helpers/node-env.ts';
import { removeDir, tempDir } from '../../../helpers/server.ts';

const te = new TextEncoder();
const td = new TextDecoder();
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
const set = (path: string, value: string): Command => ({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: te.encode(value) }] });
const cmdEntry = (index: number, term: number, cmd: Command): Entry => ({ index, term, type: EntryType.Command, data: encodeCommand(cmd) });
const noop = (index: number, term: number): Entry => ({ index, term, type: EntryType.Noop, data: new Uint8Array(0) });

const dirs: string[] = [];
const drivers: RaftDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.stop().catch(() => {});
  for (const d of dirs.splice(0)) removeDir(d);
});

async function start(dir: string, snapshotEveryEntries = 1_000_000): Promise<RaftDriver> {
  const fatal: unknown[] = [];
  const d = await RaftDriver.start(testEnv(await LevelStorage.open(dir)), {
    nodeId: 'n1', historyRevisions: 1000, snapshotEveryEntries, onFatal: (e) => fatal.push(e),
  });
  drivers.push(d);
  await d.caughtUp();
  expect(fatal).toEqual([]);
  return d;
}

async function stop(d: RaftDriver): Promise<void> {
  drivers.splice(drivers.indexOf(d), 1);
  await d.stop();
}

const value = (d: RaftDriver, path: string) => {
  const v = d.store.get(path).value;
  return v === null ? null : td.decode(v);
};

describe('a data directory from before clusters', () => {
  it('with a log from entry 1 and no snapshot: starts as a cluster of one, keeps every write, takes more', async () => {
    const dir = tempDir('coord-legacy-');
    dirs.push(dir);
    const s = await LevelStorage.open(dir);
    await s.load();
    // Two terms of the old driver: a no-op opens each; the commit index was not always written.
    await s.append([noop(1, 1), cmdEntry(2, 1, set('/a', '1')), cmdEntry(3, 1, set('/b', '2'))], { term: 1, vote: 'n1', commit: 1 }, true);
    await s.append([noop(4, 2), cmdEntry(5, 2, set('/a', '3'))], { term: 2, vote: 'n1', commit: 4 }, true);
    await s.close();

    const d = await start(dir);
    expect(d.store.rev).toBe(3);
    expect([value(d, '/a'), value(d, '/b')]).toEqual(['3', '2']);
    expect(d.membership).toEqual({ voters: ['n1'], learners: [] });
    expect(d.isLeader).toBe(true);
    expect(d.term).toBe(3);
    expect(await d.propose(set('/c', '4'))).toEqual({ ok: true, rev: 4, changed: 1 });
    await stop(d);

    const again = await start(dir);
    expect(again.store.rev).toBe(4);
    expect(value(again, '/c')).toBe('4');
  });

  it('with a snapshot that holds no membership: the same, and the next snapshot writes it down', async () => {
    const dir = tempDir('coord-legacy-');
    dirs.push(dir);
    const store = new Store({ historyRevisions: 1000 });
    store.apply(set('/s', 'x'));
    store.apply(set('/t', 'y'));
    const s = await LevelStorage.open(dir);
    await s.load();
    await s.append([noop(1, 1), cmdEntry(2, 1, set('/s', 'x')), cmdEntry(3, 1, set('/t', 'y'))], { term: 1, vote: 'n1', commit: 3 }, true);
    const data = new Uint8Array(packr.pack({ ...store.toSnapshot(), noopTerm: undefined }));
    expect(snapshotMembership(data)).toBeNull();
    await s.saveSnapshot({ index: 3, term: 1, data, crc: crc32(data) });
    await s.append([cmdEntry(4, 1, set('/u', 'z'))], null, true);
    await s.close();

    const d = await start(dir, 3);
    expect([value(d, '/s'), value(d, '/t'), value(d, '/u')]).toEqual(['x', 'y', 'z']);
    expect(d.membership).toEqual({ voters: ['n1'], learners: [] });
    for (let i = 0; i < 4; i++) await d.propose(set(`/n/${i}`, String(i)));
    await stop(d);

    const check = await LevelStorage.open(dir);
    const loaded = await check.load();
    await check.close();
    expect(loaded.snapshot!.index).toBeGreaterThan(3);
    expect(snapshotMembership(loaded.snapshot!.data)).toEqual({ voters: ['n1'], learners: [] });
    const again = await start(dir);
    expect(again.store.rev).toBe(7);
  });
});
