/**
 * Majority arithmetic over a set of voters (Raft §5.2, §5.3): what a quorum has acknowledged,
 * and where an election stands. Pure functions; the rules they encode are checked against
 * a brute-force model in the unit tests.
 */
import type { NodeId } from './types.ts';

/** More than half of n. */
export function quorumSize(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The largest value v such that a majority of `voters` acknowledged at least v: the highest index
 * a quorum holds, given each voter's match. Infinity for no voters (an empty configuration
 * constrains nothing; callers never have one).
 */
export function committedIndex(voters: readonly NodeId[], acked: (id: NodeId) => number): number {
  if (voters.length === 0) return Infinity;
  const values = voters.map(acked).sort((a, b) => b - a);
  return values[quorumSize(voters.length) - 1]!;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/**
 * Where an election stands: won once a majority granted, lost once a majority can no longer
 * grant, pending otherwise. Votes from non-voters are not counted.
 */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = quorumSize(voters.length);
  if (granted >= q) return 'won';
  if (voters.length - rejected < q) return 'lost';
  return 'pending';
}

/** True if the voters for which `active` holds make up a majority. */
export function hasQuorum(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  return voters.filter(active).length >= quorumSize(voters.length);
}
