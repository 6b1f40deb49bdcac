/**
 * Method: the majority arithmetic (server/consensus/core/quorum.ts) against the Raft paper's
 * definitions, by example and then against a brute-force model over random inputs (seeded:
 * fast-check replays a failure from its seed).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { committedIndex, hasQuorum, quorumSize, voteResult } from '../../../../server/consensus/core/quorum.ts';

const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));

describe('quorum: a majority is more than half of the voters (§5.2)', () => {
  it('sizes', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(quorumSize)).toEqual([1, 2, 2, 3, 3, 4, 4]);
  });

  it('§5.3: the commit index is the highest index a majority holds', () => {
    const match: Record<string, number> = { 1: 5, 2: 3, 3: 9 };
    expect(committedIndex(['1', '2', '3'], (id) => match[id]!)).toBe(5);
    expect(committedIndex(['1', '2', '3', '4'], (id) => match[id] ?? 0)).toBe(3);
    expect(committedIndex(['1'], () => 7)).toBe(7);
  });

  it('matches the brute-force definition: the largest v that a majority has reached', () => {
    fc.assert(fc.property(fc.array(fc.nat(20), { minLength: 1, maxLength: 7 }), (matches) => {
      const voters = ids(matches.length);
      const got = committedIndex(voters, (id) => matches[Number(id) - 1]!);
      const model = Math.max(...[0, ...matches].filter((v) => matches.filter((m) => m >= v).length >= quorumSize(matches.length)));
      expect(got).toBe(model);
    }), { seed: 42, numRuns: 2000 });
  });

  it('§5.2: an election is won by a majority of grants, lost once a majority cannot grant', () => {
    const voters = ids(5);
    const votes = (entries: [string, boolean][]) => new Map(entries);
    expect(voteResult(voters, votes([['1', true], ['2', true]]))).toBe('pending');
    expect(voteResult(voters, votes([['1', true], ['2', true], ['3', true]]))).toBe('won');
    expect(voteResult(voters, votes([['1', true], ['2', false], ['3', false]]))).toBe('pending');
    expect(voteResult(voters, votes([['1', true], ['2', false], ['3', false], ['4', false]]))).toBe('lost');
    // Votes from non-voters (a learner, a removed node) do not count.
    expect(voteResult(['1', '2', '3'], votes([['1', true], ['9', true]]))).toBe('pending');
  });

  it('vote result matches the brute-force definition', () => {
    const vote = fc.constantFrom<boolean | undefined>(true, false, undefined);
    fc.assert(fc.property(fc.array(vote, { minLength: 1, maxLength: 7 }), (vs) => {
      const voters = ids(vs.length);
      const votes = new Map<string, boolean>();
      vs.forEach((v, i) => v !== undefined && votes.set(String(i + 1), v));
      const q = quorumSize(vs.length);
      const granted = vs.filter((v) => v === true).length;
      const possible = vs.filter((v) => v !== false).length;
      const model = granted >= q ? 'won' : possible < q ? 'lost' : 'pending';
      expect(voteResult(voters, votes)).toBe(model);
    }), { seed: 7, numRuns: 2000 });
  });

  it('check-quorum: a quorum of active voters', () => {
    expect(hasQuorum(ids(3), (id) => id !== '3')).toBe(true);
    expect(hasQuorum(ids(3), (id) => id === '1')).toBe(false);
    expect(hasQuorum(ids(4), (id) => id !== '4' && id !== '3')).toBe(false);
  });
});
