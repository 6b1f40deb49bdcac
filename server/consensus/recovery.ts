/**
 * What a node starts from, read from its storage: the hard state, the snapshot the log view
 * starts at (index, term and membership), its bytes, and the log after it. Three kinds of data
 * directory:
 *
 * - Empty: a new node. A founder of a new cluster (its id among the initial members) writes the
 *   bootstrap snapshot at {index 1, term 1, the initial membership} (an empty store) and starts
 *   from it, as core.ts says founders do; a single node is a cluster of one founder and takes the
 *   same path. A node joining an existing cluster starts blank, from {0, 0, no members}, and
 *   waits for its leader's snapshot.
 * - Written by this version: the snapshot's bytes hold the membership (snapshots.ts).
 * - Written by a single node before clusters: no membership anywhere, and perhaps no snapshot
 *   (the log then starts at entry 1, that node's first no-op). It is taken for what it was, a
 *   cluster of one voter, this node, and the choice is written down with the next snapshot.
 *   With no snapshot, entry 1 stands in for one at {1, its term}: the store applies it before the
 *   core starts, and the log view hides it (storage-log.ts), so a joiner gets a real snapshot.
 */
import { crc32 } from '../storage/crc32.ts';
import type { HardState, RaftStorage, SnapshotRecord } from '../storage/raft-storage.ts';
import { Store, type StoreOptions } from '../store/store.ts';
import type { Entry, Membership, NodeId, SnapshotMeta } from './core/index.ts';
import { encodeSnapshot, snapshotMembership } from './snapshots.ts';

export interface Durable {
  hardState: HardState;
  /** Where the log view starts. */
  snapshot: SnapshotMeta;
  /** The snapshot's bytes: null for a blank joiner, and for an old log with no snapshot. */
  record: SnapshotRecord | null;
  /** Entries the store applies before the core starts: entry 1 of an old log with no snapshot. */
  preapply: Entry[];
  /** The log after the snapshot. */
  entries: Entry[];
}

const NO_MEMBERS: Membership = { voters: [], learners: [] };

/**
 * Reads everything a restart needs (see the header); `fresh` for an empty data directory.
 * `membershipOf` reads the membership from a snapshot's bytes (the caller may decode the store
 * from them at the same time: they are decoded once).
 */
export async function loadDurable(storage: RaftStorage, nodeId: NodeId,
  membershipOf: (record: SnapshotRecord) => Membership | null = (r) => snapshotMembership(r.data),
): Promise<{ durable: Durable; fresh: boolean }> {
  const loaded = await storage.load();
  const { hardState, snapshot, entries } = loaded;
  if (snapshot !== null) {
    const membership = membershipOf(snapshot) ?? soloMembership(nodeId);
    return {
      fresh: false,
      durable: { hardState, snapshot: { index: snapshot.index, term: snapshot.term, membership }, record: snapshot, preapply: [], entries },
    };
  }
  if (entries.length > 0) {
    const first = entries[0]!;
    return {
      fresh: false,
      durable: {
        hardState,
        snapshot: { index: first.index, term: first.term, membership: soloMembership(nodeId) },
        record: null,
        preapply: [first],
        entries: entries.slice(1),
      },
    };
  }
  return {
    fresh: true,
    durable: { hardState, snapshot: { index: 0, term: 0, membership: NO_MEMBERS }, record: null, preapply: [], entries: [] },
  };
}

/** A founder's first start: the bootstrap snapshot at 1@1, written durably. */
export async function bootstrap(storage: RaftStorage, hardState: HardState, members: NodeId[],
  storeOptions: StoreOptions, urls?: Record<NodeId, string>): Promise<Durable> {
  const voters = [...new Set(members)].sort();
  const membership: Membership = urls !== undefined
    ? { voters, learners: [], urls: Object.fromEntries(voters.filter((id) => urls[id] !== undefined).map((id) => [id, urls[id]!])) }
    : { voters, learners: [] };
  const data = encodeSnapshot(Store.founding(storeOptions), membership);
  const record: SnapshotRecord = { index: 1, term: 1, data, crc: crc32(data) };
  await storage.saveSnapshot(record);
  return { hardState, snapshot: { index: 1, term: 1, membership }, record, preapply: [], entries: [] };
}

/** The index of the last entry in `d`'s log (the snapshot's if none follows it). */
export function lastIndexOf(d: Durable): number {
  return d.entries.length > 0 ? d.entries[d.entries.length - 1]!.index : d.snapshot.index;
}

function soloMembership(nodeId: NodeId): Membership {
  return { voters: [nodeId], learners: [] };
}
