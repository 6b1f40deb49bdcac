/**
 * `coord snapshot restore FILE --data DIR`: a data directory for a NEW cluster (or single node)
 * from a backup file (protocol/snapshot-file.ts), as etcdutl snapshot restore does.
 *
 * The directory gets exactly what a founder's first start writes (consensus/recovery.ts:
 * bootstrap): one snapshot at log index 1, term 1, and no log after it. The only difference is
 * what the snapshot holds: the backup's store at its revision (tree, history window, sessions,
 * replicated settings) instead of an empty one, with the new cluster's membership (this id, or
 * every member of --peers, with their addresses). So `coord server --data DIR --id ID` starts
 * from it like any restart: a single node leads itself at once; the members of a restored
 * cluster (each restored from the same file with the same --peers) elect a leader. Nothing of
 * the old cluster's log, terms or membership is kept.
 *
 * Sessions are kept (as etcd keeps leases): the tree is exactly the source's at that revision,
 * and the first leader gives every session a fresh full TTL, after which the sessions nobody
 * resumes expire and their ephemeral files (locks, claims, registrations) go, each expiry a new
 * revision, as on any leader change.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readSnapshotFile, type SnapshotSummary } from '../protocol/snapshot-file.ts';
import { limits } from '../protocol/limits.ts';
import type { Membership } from './consensus/core/index.ts';
import { storeFromSnapshot, withMembership } from './consensus/snapshots.ts';
import { crc32 } from './storage/crc32.ts';
import { openDataDir } from './storage/open-storage.ts';

export interface RestoreOptions {
  file: string;
  data: string;
  /** This node's id (default n1). */
  id: string;
  /** The new cluster's members and addresses (default: this node alone). */
  peers?: Record<string, string>;
}

export class RestoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreError';
  }
}

export async function restoreDataDir(o: RestoreOptions): Promise<{ summary: SnapshotSummary; membership: Membership; dir: string }> {
  const dir = resolve(o.data);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new RestoreError(`${dir} is not empty: restore builds a new data directory (give an empty or missing one)`);
  }
  if (o.peers !== undefined && o.peers[o.id] === undefined) {
    throw new RestoreError(`--id ${o.id} is not among --peers (${Object.keys(o.peers).join(', ')})`);
  }
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(o.file);
  } catch (err) {
    throw new RestoreError(`cannot read ${o.file}: ${(err as Error).message}`);
  }
  const { summary, payload } = readSnapshotFile(bytes, o.file);
  const voters = o.peers !== undefined ? Object.keys(o.peers).sort() : [o.id];
  const membership: Membership = o.peers !== undefined ? { voters, learners: [], urls: { ...o.peers } } : { voters, learners: [] };
  const data = withMembership(payload, membership);
  // Decoded once here, as the server will on start: a payload the store refuses fails now, not then.
  const { store } = storeFromSnapshot(data, { historyRevisions: limits.historyRevisionsDefault });
  if (store.rev !== summary.rev) throw new RestoreError(`${o.file}: its payload is at revision ${store.rev}, its summary says ${summary.rev}`);
  const storage = await openDataDir(dir);
  try {
    await storage.load();
    await storage.saveSnapshot({ index: 1, term: 1, data, crc: crc32(data) });
  } finally {
    await storage.close();
  }
  return { summary, membership, dir };
}
