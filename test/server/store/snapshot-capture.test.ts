/**
 * A snapshot taken over time (captureSnapshot, read out in pieces while the store goes on
 * applying) restores to exactly the store a whole snapshot taken at the same moment restores to:
 * same reads now and at every kept revision, same events, same sessions, and the same outcomes
 * for the commands applied after. Compaction goes on while a capture is open, but keeps the
 * versions the capture still has to write out.
 * Seeded random command sequences over a small path alphabet, as in the model test.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { Command } from '../../../server/store/commands.ts';
import { Store, type StoreSnapshot } from '../../../server/store/store.ts';
import { compileGlob } from '../../../protocol/path.ts';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
const paths = ['/a', '/b', '/a/x', '/a/y', '/c/d/e', '/c/f'];
const sids = ['s1', 's2'];

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    path: fc.constantFrom(...paths), value: fc.string({ maxLength: 3 }), eph: fc.boolean(), sid: fc.constantFrom(...sids),
  }).map(({ path, value, eph, sid }): Command => ({
    t: 'txn', conds: [], ops: [{ op: 'set', path, value: Buffer.from(value), rev: -1, ...(eph ? { ephemeral: true } : {}) }], sid,
  })),
  fc.constantFrom(...paths).map((path): Command => ({ t: 'txn', conds: [], ops: [{ op: 'del', path, rev: -1 }] })),
  fc.constantFrom(...sids).map((sid): Command => ({ t: 'open', sid, secret: 'x', ttlMs: 1000 })),
  fc.constantFrom(...sids).map((sid): Command => ({ t: 'expire', sid })),
);

function reads(store: Store): unknown[] {
  const out: unknown[] = [store.rev, store.oldestRev, store.sessionIds().sort()];
  for (let r = store.oldestRev; r <= store.rev; r++) {
    for (const p of paths) {
      try {
        out.push(store.get(p, r));
      } catch (err) {
        out.push((err as { code?: string }).code);
      }
    }
    out.push(store.walk('/**', r).files);
  }
  const glob = compileGlob('/**');
  for (let r = store.oldestRev + 1; r <= store.rev; r++) out.push(store.firstEvent(glob, r));
  return out;
}

describe('a snapshot captured over time', () => {
  it('restores to what a whole snapshot at the same moment restores to', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }),
        fc.array(commandArb, { minLength: 1, maxLength: 40 }),
        fc.array(commandArb, { minLength: 0, maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        (keep, before, during, chunk) => {
          const store = new Store({ historyRevisions: keep });
          for (const c of before) store.apply(c);
          const whole = packr.unpack(packr.pack(store.toSnapshot())) as StoreSnapshot;
          const capture = store.captureSnapshot();
          const fileChunks: Uint8Array[] = [];
          // Pieces read out while more commands are applied between them.
          let next = 0;
          for (let from = 0; from < capture.fileCount; from += chunk) {
            fileChunks.push(packr.pack(capture.files(from, from + chunk)));
            const c = during[next++];
            if (c !== undefined) store.apply(c);
          }
          for (; next < during.length; next++) store.apply(during[next]!);
          capture.finish();
          expect(store.oldestRev).toBe(Math.max(0, store.rev - keep));
          const piecewise = packr.unpack(packr.pack({
            format: 2, rev: capture.rev, oldest: capture.oldest, sessions: capture.sessions, fileChunks,
          })) as StoreSnapshot;
          const a = Store.fromSnapshot(whole, { historyRevisions: keep });
          const b = Store.fromSnapshot(piecewise, { historyRevisions: keep }, (bytes) => packr.unpack(bytes));
          expect(reads(b)).toEqual(reads(a));
          for (const c of during) expect(b.apply(c)).toEqual(a.apply(c));
          expect(reads(b)).toEqual(reads(a));
        },
      ),
      { seed: 20261122, numRuns: 300 },
    );
  });

  it('lets the window move on while open, keeping the versions the capture needs', () => {
    const store = new Store({ historyRevisions: 3 });
    const set = (v: string): Command => ({ t: 'txn', conds: [], ops: [{ op: 'set', path: '/k', value: Buffer.from(v), rev: -1 }] });
    for (let i = 0; i < 5; i++) store.apply(set(`v${i}`));
    expect(store.oldestRev).toBe(2);
    const capture = store.captureSnapshot();
    for (let i = 5; i < 10; i++) store.apply(set(`v${i}`));
    expect(store.oldestRev).toBe(7);
    // Revisions 2 to 5, as the store held them when captured: base version at 2, then 3, 4, 5.
    const files = capture.files(0, 10);
    expect(files.map(([path, versions]) => [path, versions.map((v) => v.rev)])).toEqual([['/k', [2, 3, 4, 5]]]);
    capture.finish();
  });
});
