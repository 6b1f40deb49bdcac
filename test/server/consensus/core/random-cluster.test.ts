/**
 * Method: seeded random runs of a cluster of real cores through the transcript harness (which
 * plays the driver by the core's contract), with every fault the contract allows: messages
 * dropped, reordered and duplicated, partitions, crashes losing writes not yet durable,
 * overlapping writes completed late, compaction, membership changes (joiners added as learners,
 * promotions, removals, the leader's included), leadership transfers and reads. After every step
 * it checks Raft's safety properties (§5.2, §5.3, §5.4):
 *  - election safety: at most one leader per term (the harness checks as it runs);
 *  - state machine safety: no two nodes apply different entries at an index (the harness);
 *  - log matching: two logs holding an entry of the same term at an index agree before it;
 *  - leader completeness: a leader's log holds every entry committed before its term;
 *  - linearizable reads: a read's index is at least every commit index known when it was asked.
 * Pre-vote and check-quorum are each off in some seeds. At the end the faults stop, and within a
 * bounded time a leader commits a new entry on every member.
 *
 * A failure names its seed; the run replays exactly: RAFT_SEED=n starts from seed n, RAFT_STATS=1
 * prints what each run did, and Run.trace (harness/random-run.ts) holds the output of the last
 * steps. Wider sweeps (thousands of seeds) run the same Run outside vitest.
 */
import { describe, it } from 'vitest';
import { Run } from './harness/random-run.ts';

const SEEDS = 25;
const STEPS = 1200;

describe('random clusters: Raft safety under faults, progress after them', () => {
  it(`${SEEDS} seeds × ${STEPS} steps`, () => {
    for (let seed = Number(process.env['RAFT_SEED'] ?? 1); seed <= SEEDS; seed++) {
      const run = new Run(seed);
      try {
        for (let i = 0; i < STEPS; i++) run.step();
        if (process.env['RAFT_STATS']) console.log(seed, run.stats());
        run.settle();
      } catch (err) {
        (err as Error).message = `seed ${seed}: ${(err as Error).message}`;
        throw err;
      }
    }
  });
});
