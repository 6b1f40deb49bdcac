/**
 * Method: the Raft core (server/consensus/raft.ts) checked against the rules of the Raft paper
 * (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm", §5) that apply to
 * a cluster of one voter, and against the ready/advance contract the driver relies on.
 *
 * Example tests drive the core by hand, one tick/propose/ready/advance at a time, each named
 * after the rule it checks. A seeded property test then plays the driver: random interleavings
 * of tick, propose, ready, persist+advance, snapshot and crash/restart over a fake durable log,
 * checking after every step that committed entries come out once, in index order, only after
 * they were persisted, with the data proposed, and that a restart replays (never loses or
 * changes) anything already reported committed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../server/assert.ts';
import {
  EntryType, NotLeaderError, RaftCore, type Entry, type HardState, type RaftRestore, type Ready,
} from '../../../server/consensus/raft.ts';

const ID = 'n1';
const te = new TextEncoder();
const bytes = (s: string) => te.encode(s);
const empty: HardState = { term: 0, vote: null, commit: 0 };

function fresh(): RaftCore {
  return new RaftCore({ id: ID, voters: [ID] }, { hardState: empty, lastIndex: 0, lastTerm: 0, applied: 0, unapplied: [] });
}

function restored(r: Partial<RaftRestore> & { unapplied: Entry[] }): RaftCore {
  const last = r.unapplied[r.unapplied.length - 1];
  return new RaftCore({ id: ID, voters: [ID] }, {
    hardState: r.hardState ?? empty,
    applied: r.applied ?? 0,
    lastIndex: r.lastIndex ?? last?.index ?? r.applied ?? 0,
    lastTerm: r.lastTerm ?? last?.term ?? 0,
    unapplied: r.unapplied,
  });
}

const entry = (index: number, term: number, data = `e${index}`): Entry => ({ index, term, type: EntryType.Command, data: bytes(data) });
const summary = (es: Entry[]) => es.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)]);

/** One driver turn: take the ready, "persist" and "apply" it, advance. */
function turn(core: RaftCore): Ready {
  const rd = core.ready();
  core.advance(rd);
  return rd;
}

/** Turns until there is nothing to do; returns what came out committed. Bounded: a core that
 * always has more to do is a bug, not a reason to hang. */
function drain(core: RaftCore): Entry[] {
  const out: Entry[] = [];
  for (let guard = 0; core.hasReady(); guard++) {
    if (guard === 100) throw new Error('the core still has work after 100 turns');
    out.push(...turn(core).committed);
  }
  return out;
}

describe('Raft core, single voter', () => {
  it('§5.2 election: the first tick makes it leader of term+1, voting for itself, with an empty entry (§5.4.2 no-op)', () => {
    const core = fresh();
    expect(core.isLeader).toBe(false);
    core.tick();
    expect(core.isLeader).toBe(true);
    expect(core.currentTerm).toBe(1);
    const rd = core.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: ID, commit: 0 });
    expect(rd.hardStateMustSync).toBe(true);
    expect(rd.entries).toEqual([{ index: 1, term: 1, type: EntryType.Noop, data: new Uint8Array(0) }]);
    expect(rd.committed).toEqual([]);

    const later = restored({ hardState: { term: 7, vote: 'n0', commit: 0 }, unapplied: [] });
    later.tick();
    expect(later.currentTerm).toBe(8);
    expect(later.ready().hardState).toMatchObject({ term: 8, vote: ID });
  });

  it('§5.2: ticks while leader start no new term and append nothing', () => {
    const core = fresh();
    core.tick();
    turn(core);
    core.tick();
    core.tick();
    expect(core.currentTerm).toBe(1);
    expect(core.lastLogIndex).toBe(1);
  });

  it('§5.3 log matching: proposals get consecutive indexes in the leader\'s term', () => {
    const core = fresh();
    core.tick();
    expect([core.propose(bytes('a')), core.propose(bytes('b'))]).toEqual([2, 3]);
    expect(summary(core.ready().entries)).toEqual([[1, 1, ''], [2, 1, 'a'], [3, 1, 'b']]);
  });

  it('§5.3 commitment: an entry is not reported committed before the driver persisted it (advance)', () => {
    const core = fresh();
    core.tick();
    core.propose(bytes('a'));
    const rd = core.ready();
    expect(rd.committed).toEqual([]);
    expect(core.commitIndex).toBe(0);
    core.advance(rd);
    expect(core.commitIndex).toBe(2);
    expect(core.hasReady()).toBe(true);
    const next = core.ready();
    expect(summary(next.committed)).toEqual([[1, 1, ''], [2, 1, 'a']]);
    expect(next.entries).toEqual([]);
    // A commit-only change of the hard state need not be synced.
    expect(next.hardState).toEqual({ term: 1, vote: ID, commit: 2 });
    expect(next.hardStateMustSync).toBe(false);
    core.advance(next);
    expect(core.hasReady()).toBe(false);
    expect(turn(core).committed).toEqual([]); // handed out once only
  });

  it('§5.3: a proposal made between ready() and advance() waits for its own persist', () => {
    const core = fresh();
    core.tick();
    const rd = core.ready();
    core.propose(bytes('late'));
    core.advance(rd);
    expect(core.commitIndex).toBe(1);
    const rd2 = core.ready();
    expect(summary(rd2.entries)).toEqual([[2, 1, 'late']]);
    expect(summary(rd2.committed)).toEqual([[1, 1, '']]);
    core.advance(rd2);
    expect(core.commitIndex).toBe(2);
    expect(summary(core.ready().committed)).toEqual([[2, 1, 'late']]);
  });

  it('§5.3 state machine safety: committed entries come out once each, in index order, with their data', () => {
    const core = fresh();
    core.tick();
    const applied: Entry[] = [];
    for (let i = 0; i < 50; i++) {
      core.propose(bytes(`p${i}`));
      if (i % 7 === 0) applied.push(...turn(core).committed);
    }
    applied.push(...drain(core));
    expect(applied.map((e) => e.index)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    expect(applied.slice(1).map((e) => new TextDecoder().decode(e.data))).toEqual(Array.from({ length: 50 }, (_, i) => `p${i}`));
  });

  it('§5.1 only the leader takes proposals: propose before election throws NotLeaderError and appends nothing', () => {
    const core = fresh();
    expect(() => core.propose(bytes('x'))).toThrow(NotLeaderError);
    expect(core.lastLogIndex).toBe(0);
    expect(core.hasReady()).toBe(false);
  });

  it('ready() twice without advance(), or advance() without ready(), is an assertion failure', () => {
    const core = fresh();
    core.tick();
    const rd = core.ready();
    expect(() => core.ready()).toThrow(AssertionError);
    core.advance(rd);
    expect(() => core.advance(rd)).toThrow(AssertionError);
  });

  it('rejects a cluster of more than one voter, and a restore whose entries do not reach the log end', () => {
    expect(() => new RaftCore({ id: ID, voters: [ID, 'n2'] }, {
      hardState: empty, lastIndex: 0, lastTerm: 0, applied: 0, unapplied: [],
    })).toThrow(AssertionError);
    expect(() => restored({ unapplied: [entry(1, 1)], lastIndex: 2, lastTerm: 1 })).toThrow(AssertionError);
    expect(() => restored({ unapplied: [entry(1, 1), entry(3, 1)], lastIndex: 2, lastTerm: 1 })).toThrow(AssertionError);
    expect(() => restored({ hardState: { term: 1, vote: ID, commit: 5 }, unapplied: [entry(1, 1)] })).toThrow(AssertionError);
  });

  it('restart: entries persisted but not applied are replayed, the known-committed ones even before the election', () => {
    const core = restored({
      hardState: { term: 2, vote: ID, commit: 3 },
      applied: 1,
      lastIndex: 4,
      lastTerm: 2,
      unapplied: [entry(2, 1), entry(3, 2), entry(4, 2)],
    });
    expect(core.commitIndex).toBe(3);
    expect(core.hasReady()).toBe(true);
    const rd = core.ready();
    expect(summary(rd.committed)).toEqual([[2, 1, 'e2'], [3, 2, 'e3']]);
    expect(rd.entries).toEqual([]); // already durable
    core.advance(rd);
    // Entry 4 is durable but was never known committed: it waits for the new term (§5.4.2).
    expect(core.hasReady()).toBe(false);
    core.tick();
    expect(core.currentTerm).toBe(3);
    const rd2 = core.ready();
    expect(summary(rd2.entries)).toEqual([[5, 3, '']]);
    expect(rd2.committed).toEqual([]);
    core.advance(rd2);
    expect(summary(core.ready().committed)).toEqual([[4, 2, 'e4'], [5, 3, '']]);
  });

  it('restart: a commit index older than the snapshot is raised to it (applied entries are not replayed)', () => {
    const core = restored({
      hardState: { term: 1, vote: ID, commit: 0 },
      applied: 2,
      lastIndex: 3,
      lastTerm: 1,
      unapplied: [entry(3, 1)],
    });
    expect(core.commitIndex).toBe(2);
    core.tick();
    expect(drain(core).map((e) => e.index)).toEqual([3, 4]);
  });

  it('§5.4.2: entries of an earlier term are committed only through an entry of the current term', () => {
    // Three entries of term 1 are durable but were never known committed (commit 0).
    const core = restored({
      hardState: { term: 1, vote: ID, commit: 0 },
      unapplied: [entry(1, 1), entry(2, 1), entry(3, 1)],
    });
    // The driver takes a ready (nothing to do yet), the node wins term 2 meanwhile, then the
    // driver finishes that turn: everything persisted so far (1..3) is of term 1 and must not
    // be committed by counting replicas, even though this node alone is a majority.
    const rd = core.ready();
    core.tick();
    expect(core.isLeader).toBe(true);
    core.advance(rd);
    expect(core.commitIndex).toBe(0);
    const rd2 = core.ready();
    expect(rd2.committed).toEqual([]);
    expect(summary(rd2.entries)).toEqual([[4, 2, '']]);
    core.advance(rd2);
    // Once the term-2 entry is durable, it commits, and the earlier ones with it.
    expect(core.commitIndex).toBe(4);
    expect(summary(core.ready().committed)).toEqual([[1, 1, 'e1'], [2, 1, 'e2'], [3, 1, 'e3'], [4, 2, '']]);
  });
});

// ------------------------------------------------------------------ playing the driver

type Action =
  | { t: 'tick' }
  | { t: 'propose'; n: number }
  | { t: 'ready' }
  | { t: 'advance' }
  | { t: 'snapshot' }
  | { t: 'crash' };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ t: 'tick' as const }) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }).map((n) => ({ t: 'propose' as const, n })) },
  { weight: 3, arbitrary: fc.constant({ t: 'ready' as const }) },
  { weight: 3, arbitrary: fc.constant({ t: 'advance' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'snapshot' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
);

/**
 * A fake of what the driver keeps on disk (log, hard state, snapshot index) and in memory (the
 * applied entries). A crash loses the in-memory part: the store comes back from the snapshot.
 */
function playDriver(actions: Action[]): void {
  const disk = { log: [] as Entry[], hard: { ...empty }, snapshot: { index: 0, term: 0 } };
  /** Everything ever reported committed, by index: must never change, and must survive crashes. */
  const committedEver = new Map<number, string>();
  /** Data of each accepted proposal by index, for proposals whose entry is still in the log. */
  const proposed = new Map<number, string>();
  let applied: Entry[] = [];
  let core = fresh();
  let inFlight: Ready | null = null;
  let counter = 0;
  let lastTerm = 0;

  const key = (e: Entry) => `${e.term}:${new TextDecoder().decode(e.data)}`;

  const restart = (): void => {
    const after = disk.log.filter((e) => e.index > disk.snapshot.index);
    const last = disk.log[disk.log.length - 1];
    core = new RaftCore({ id: ID, voters: [ID] }, {
      hardState: { ...disk.hard },
      lastIndex: last?.index ?? disk.snapshot.index,
      lastTerm: last?.term ?? disk.snapshot.term,
      applied: disk.snapshot.index,
      unapplied: after,
    });
    // The store is rebuilt from the snapshot: it holds entries up to the snapshot index.
    applied = applied.slice(0, disk.snapshot.index);
    inFlight = null;
  };

  const check = (): void => {
    // Terms never go back, except that a term never made durable may be forgotten by a crash.
    expect(core.currentTerm).toBeGreaterThanOrEqual(Math.max(lastTerm, disk.hard.term));
    lastTerm = core.currentTerm;
    expect(core.commitIndex).toBeLessThanOrEqual(core.lastLogIndex);
    // Everything committed is durable.
    expect(core.commitIndex).toBeLessThanOrEqual(disk.log.length === 0 ? disk.snapshot.index : disk.log[disk.log.length - 1]!.index);
  };

  for (const a of actions) {
    switch (a.t) {
      case 'tick':
        core.tick();
        break;
      case 'propose':
        for (let i = 0; i < a.n; i++) {
          const data = `p${++counter}`;
          if (core.isLeader) {
            const index = core.propose(bytes(data));
            expect(index).toBe(core.lastLogIndex);
            proposed.set(index, `${core.currentTerm}:${data}`);
          } else {
            expect(() => core.propose(bytes(data))).toThrow(NotLeaderError);
          }
        }
        break;
      case 'ready':
        if (inFlight === null) {
          inFlight = core.ready();
          // New entries continue the durable log without gaps.
          const end = disk.log[disk.log.length - 1]?.index ?? disk.snapshot.index;
          inFlight.entries.forEach((e, i) => expect(e.index).toBe(end + 1 + i));
        } else {
          expect(() => core.ready()).toThrow(AssertionError);
        }
        break;
      case 'advance': {
        if (inFlight === null) break;
        const rd: Ready = inFlight;
        // The driver applies committed entries, then persists (as server/consensus/driver.ts).
        for (const e of rd.committed) {
          expect(e.index).toBe(applied.length + 1);
          // Committed only once durable: the entry is already on disk, identical.
          const onDisk = disk.log.find((d) => d.index === e.index);
          expect(onDisk && key(onDisk)).toBe(key(e));
          const before = committedEver.get(e.index);
          if (before !== undefined) expect(key(e)).toBe(before);
          committedEver.set(e.index, key(e));
          const p = proposed.get(e.index);
          if (p !== undefined) expect(key(e)).toBe(p);
          applied.push(e);
        }
        const hard = rd.hardState !== null && (rd.hardStateMustSync || rd.entries.length > 0) ? rd.hardState : null;
        disk.log.push(...rd.entries);
        if (hard !== null) disk.hard = { ...hard };
        core.advance(rd);
        inFlight = null;
        break;
      }
      case 'snapshot':
        if (applied.length > 0) {
          const last = applied[applied.length - 1]!;
          disk.snapshot = { index: last.index, term: last.term };
        }
        break;
      case 'crash':
        // Whatever the in-flight ready held was not persisted: it is lost, as are proposals
        // whose entries never reached the disk.
        for (const idx of [...proposed.keys()]) if (!disk.log.some((e) => e.index === idx)) proposed.delete(idx);
        restart();
        lastTerm = disk.hard.term;
        break;
    }
    check();
  }

  // Finally: elect, and run the driver until there is nothing left. Every durable entry, and so
  // every entry ever reported committed, must come out committed, unchanged, in order.
  if (inFlight !== null) {
    disk.log.push(...(inFlight as Ready).entries);
    core.advance(inFlight);
    applied.push(...(inFlight as Ready).committed);
    inFlight = null;
  }
  core.tick();
  for (let guard = 0; core.hasReady(); guard++) {
    expect(guard).toBeLessThan(10);
    const rd = core.ready();
    for (const e of rd.committed) {
      expect(e.index).toBe(applied.length + 1);
      applied.push(e);
    }
    disk.log.push(...rd.entries);
    core.advance(rd);
  }
  expect(applied.map((e) => e.index)).toEqual(disk.log.map((e) => e.index).filter((i) => i <= applied.length));
  expect(applied.length).toBe(disk.log[disk.log.length - 1]?.index ?? disk.snapshot.index);
  for (const [index, k] of committedEver) expect(key(applied[index - 1]!)).toBe(k);
}

describe('Raft core under a random driver', () => {
  it('never reports an entry committed before it is durable, never twice, never out of order, never lost by a crash', () => {
    fc.assert(
      fc.property(fc.array(actionArb, { minLength: 1, maxLength: 80, size: 'max' }), (actions) => playDriver(actions)),
      { seed: 0x4a_f7, numRuns: 400 },
    );
  });
});
