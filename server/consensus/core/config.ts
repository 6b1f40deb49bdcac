/**
 * Cluster membership and how it changes: one server at a time, by an entry in the log.
 *
 * THE CHOICE. A configuration takes effect on a node as soon as the entry that carries it is in
 * that node's log, committed or not (the Raft thesis, §4.1), not when it commits or is applied
 * (etcd-io/raft's way). Every node uses the last configuration in its log, falling back to the
 * snapshot's; an entry removed by truncation takes its configuration with it. Why: the
 * configuration then depends on the log alone, which every replica agrees on prefix by prefix,
 * so there is no window where a node votes, campaigns or counts a quorum under a configuration
 * its log has moved past (etcd's apply-time switch has exactly such windows, and has to forbid
 * campaigning with unapplied changes to close one of them). It also lets a leader count the new
 * configuration for the very entry that introduces it, so adding a server never needs the old
 * quorum and the new one at once.
 *
 * THE RULES (core.ts enforces them when a leader takes a proposal):
 *  1. A change adds a voter, adds a learner, promotes a learner, or removes a member: voters
 *     differ by at most one between consecutive configurations, and at least one voter remains.
 *  2. A leader appends a change only when the last configuration in its log is committed: at
 *     most one change is ever in flight.
 *  3. A leader appends a change only once it has committed an entry of its own term (its no-op).
 *
 * SAFETY (no two leaders in a term; a committed entry is in every later leader's log). Both
 * facts rest on any quorum of the configuration a winner counted intersecting any quorum that
 * could have elected another leader or committed an entry. With voter sets C and C' differing
 * by one server, every majority of C intersects every majority of C' (if |C'| = |C| + 1, a
 * majority of C' has at least |C|/2 + 1 members of C, and so on for removal). The danger is two
 * configurations further apart than one change both being "current" somewhere. Rule 2 keeps the
 * chain of configurations in any one leader's log a chain of single changes, each committed
 * before the next starts. Rule 3 closes the remaining gap (Ongaro, raft-dev, 2015): without it,
 * a leader of term 2 could append change B while an uncommitted change A from term 1 sits in
 * another node's log, and a later leader holding A could then overwrite a committed B, because
 * A and B together differ by two servers. Once the term-2 leader commits its no-op under its
 * configuration C, a quorum of C holds a term-2 entry, so no node whose log still ends in
 * term 1 (with A) can win an election under C or A (each quorum of A meets each of C), and A can
 * never commit: the next change starts from C.
 *
 * REMOVED SERVERS. A leader that removes itself keeps leading (counting only the new voters)
 * until the change commits, then steps down. A node campaigns only while it is a voter in its
 * latest configuration or in its last committed one: so a node whose removal is uncommitted may
 * still campaign (it may hold the only copies of that removal, if it led when it appended it, and
 * the others may need it to lead once more to commit it), counting votes by the configuration
 * without it. Winning under that configuration is an ordinary Raft election (safety depends on
 * logs and quorums, not on the leader being a member), as long as the configuration is the
 * cluster's latest. If a later one exists, it cannot win: that later configuration's entry is
 * committed, so held by a quorum of it, which meets every quorum of the configuration the node
 * counts by; and the node's log lacks that entry, so it is behind theirs (the entry was appended
 * in a later term than any entry the node holds at or before its index). A node that never
 * learned of its removal is ignored by pre-vote and leader stickiness (core.ts).
 */
import { assert } from '../../assert.ts';
import { EntryType, type Entry, type Membership, type NodeId } from './types.ts';

/** One membership change, as a Config entry carries it. */
export interface ConfChange {
  op: 'add-voter' | 'add-learner' | 'promote' | 'remove';
  node: NodeId;
  /** Where peers reach the node being added (Membership.urls). */
  url?: string;
}

const OPS: readonly string[] = ['add-voter', 'add-learner', 'promote', 'remove'];
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** The bytes of a Config entry: a small JSON object, stable across versions and readable. */
export function encodeConfChange(change: ConfChange): Uint8Array {
  return textEncoder.encode(JSON.stringify(change.url !== undefined ? { op: change.op, node: change.node, url: change.url } : { op: change.op, node: change.node }));
}

/** Decodes a Config entry's bytes; throws a TypeError on anything that is not a ConfChange. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  let v: unknown;
  try {
    v = JSON.parse(textDecoder.decode(data));
  } catch {
    throw new TypeError('configuration change is not JSON');
  }
  const o = v as { op?: unknown; node?: unknown; url?: unknown };
  if (typeof o !== 'object' || o === null || typeof o.op !== 'string' || !OPS.includes(o.op) ||
    typeof o.node !== 'string' || o.node === '' || (o.url !== undefined && typeof o.url !== 'string')) {
    throw new TypeError('configuration change needs {op: add-voter|add-learner|promote|remove, node, url?}');
  }
  return { op: o.op as ConfChange['op'], node: o.node, ...(typeof o.url === 'string' ? { url: o.url } : {}) };
}

export function isVoter(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id);
}

export function isLearner(m: Membership, id: NodeId): boolean {
  return m.learners.includes(id);
}

export function isMember(m: Membership, id: NodeId): boolean {
  return isVoter(m, id) || isLearner(m, id);
}

/** All members, voters first. */
export function members(m: Membership): NodeId[] {
  return [...m.voters, ...m.learners];
}

/** The membership after `change`, or a sentence saying why it does not apply (rule 1). */
export function applyConfChange(m: Membership, change: ConfChange): Membership | string {
  const next = applyToRoles(m, change);
  if (typeof next === 'string') return next;
  // Peers' addresses ride along: set by an add that names one, dropped with the member.
  const urls: Record<NodeId, string> = { ...m.urls };
  if (change.op === 'remove') delete urls[change.node];
  else if (change.url !== undefined) urls[change.node] = change.url;
  return Object.keys(urls).length > 0 || m.urls !== undefined ? { ...next, urls } : next;
}

function applyToRoles(m: Membership, change: ConfChange): Membership | string {
  const { op, node } = change;
  const sorted = (ids: NodeId[]) => [...ids].sort();
  switch (op) {
    case 'add-voter':
      if (isMember(m, node)) return `${node} is already a ${isVoter(m, node) ? 'voter' : 'learner (promote it)'}`;
      return { voters: sorted([...m.voters, node]), learners: m.learners };
    case 'add-learner':
      if (isMember(m, node)) return `${node} is already a member`;
      return { voters: m.voters, learners: sorted([...m.learners, node]) };
    case 'promote':
      if (!isLearner(m, node)) return `${node} is not a learner`;
      return { voters: sorted([...m.voters, node]), learners: m.learners.filter((id) => id !== node) };
    case 'remove':
      if (!isMember(m, node)) return `${node} is not a member`;
      if (m.voters.length === 1 && m.voters[0] === node) return `${node} is the last voter`;
      return { voters: m.voters.filter((id) => id !== node), learners: m.learners.filter((id) => id !== node) };
  }
}

export function formatMembership(m: Membership): string {
  const learners = m.learners.length > 0 ? ` learners=(${m.learners.join(' ')})` : '';
  return `voters=(${m.voters.join(' ')})${learners}`;
}

/**
 * The configurations in effect along the log: the snapshot's, then one per Config entry after
 * it. The current configuration is the last one.
 */
export class ConfigHistory {
  private base: { index: number; membership: Membership };
  private changes: { index: number; membership: Membership }[] = [];

  constructor(snapshotIndex: number, membership: Membership) {
    this.base = { index: snapshotIndex, membership };
  }

  current(): Membership {
    return (this.changes[this.changes.length - 1] ?? this.base).membership;
  }

  /** Index of the entry that set the current configuration (the snapshot's, if none after it). */
  lastIndex(): number {
    return (this.changes[this.changes.length - 1] ?? this.base).index;
  }

  /** The configuration in effect once entry `index` is in the log (index >= the snapshot's). */
  at(index: number): Membership {
    assert(index >= this.base.index, `configuration at ${index} is before the snapshot at ${this.base.index}`);
    let m = this.base.membership;
    for (const c of this.changes) if (c.index <= index) m = c.membership;
    return m;
  }

  /** Entries were appended (after any truncation was reported): their changes take effect. */
  appended(entries: Entry[]): void {
    for (const e of entries) {
      if (e.type !== EntryType.Config) continue;
      const next = applyConfChange(this.current(), decodeConfChange(e.data));
      assert(typeof next !== 'string', `configuration entry ${e.index} does not apply: ${next as string}`);
      this.changes.push({ index: e.index, membership: next });
    }
  }

  /** Entries from `index` on left the log: so do their configurations. */
  truncatedFrom(index: number): void {
    this.changes = this.changes.filter((c) => c.index < index);
  }

  /** The log restarts from a snapshot. */
  reset(snapshotIndex: number, membership: Membership): void {
    this.base = { index: snapshotIndex, membership };
    this.changes = [];
  }
}
