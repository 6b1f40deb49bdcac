/**
 * The snapshotter beside a leader's snapshot being installed. Found by the simulator (seed 482
 * under vote-before-persist at e1095e3): a joiner's store took a leader's snapshot at 63, the
 * save of it waited in the write queue, and meanwhile a local snapshot at 63 (due: 63 entries
 * past the latest durable one, at 0) was taken and saved first; the install's save then failed
 * its "after the latest" assertion and the node stopped.
 */
import { describe, expect, it } from 'vitest';
import type { Scheduler } from '../../../../server/consensus/env.ts';
import { Snapshotter } from '../../../../server/consensus/snapshots.ts';
import type { SnapshotRecord } from '../../../../server/storage/raft-storage.ts';
import { Store } from '../../../../server/store/store.ts';

const scheduler: Scheduler = {
  soon: (fn) => void setImmediate(fn),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

function setup() {
  const saved: number[] = [];
  const storage = {
    firstIndex: () => 1,
    saveSnapshot: async (r: SnapshotRecord) => {
      if (saved.length > 0 && r.index <= saved[saved.length - 1]!) throw new Error(`snapshot at ${r.index} is not after the one at ${saved[saved.length - 1]}`);
      saved.push(r.index);
    },
    compact: async () => {},
  };
  const died: unknown[] = [];
  const view = { setSnapshot: () => {} };
  const s = new Snapshotter(storage as never, scheduler, () => view as never, {
    snapshotEveryEntries: 10,
    hasPeers: () => true,
    die: (err) => died.push(err),
  });
  s.reset({ index: 0, record: null });
  return { s, saved, died, storage };
}

const membership = { voters: ['n1', 'n2', 'n3'], learners: ['n4'] };
const record = (index: number): SnapshotRecord => ({ index, term: 3, data: new Uint8Array([1]), crc: 0 });

describe('Snapshotter and an installed snapshot', () => {
  it('takes no local snapshot at or below a leader snapshot whose save is queued', async () => {
    const { s, saved, died, storage } = setup();
    s.installing(63);
    s.maybeTake(new Store({ historyRevisions: 100 }), { index: 63, term: 3 }, membership);
    expect(s.running).toBe(false);
    await s.exclusive(async () => {
      await storage.saveSnapshot(record(63));
      s.installed(record(63));
    });
    expect(saved).toEqual([63]);
    expect(died).toEqual([]);
    // Past it, snapshots are due as usual.
    s.maybeTake(new Store({ historyRevisions: 100 }), { index: 80, term: 3 }, membership);
    expect(s.running).toBe(true);
    await s.idle();
    expect(saved).toEqual([63, 80]);
  });

  it('gives up a local snapshot already being packed when an installed one overtakes it', async () => {
    const { s, saved, died, storage } = setup();
    s.maybeTake(new Store({ historyRevisions: 100 }), { index: 20, term: 2 }, membership);
    expect(s.running).toBe(true);
    s.installing(63);
    const install = s.exclusive(async () => {
      await storage.saveSnapshot(record(63));
      s.installed(record(63));
    });
    await s.idle();
    await install;
    expect(saved).toEqual([63]);
    expect(died).toEqual([]);
  });
});
