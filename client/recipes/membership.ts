/**
 * Membership, the service-registry pattern: each instance registers an ephemeral file
 * `dir/id` holding its info (`/services/www/host-1`), gone when its session ends; anyone can
 * follow the live set with join / leave / update events.
 */
import { checkPath, joinPath } from '../../protocol/path.ts';
import type { CoordClient, Value } from '../client.ts';
import { RevMismatchError } from '../errors.ts';
import { liveView } from './live-view.ts';
import { watchLoss } from './signals.ts';

export interface Registration {
  readonly path: string;
  /** The rev of the registering SET. */
  readonly rev: number;
  /** Fires when the registration is lost (session ended, or someone removed or replaced it). */
  readonly lost: AbortSignal;
  /** Replaces the info (keeps the registration ephemeral). */
  update(info: Value): Promise<void>;
  /** Removes the registration if it is still this one (not one that replaced it). */
  deregister(): Promise<void>;
}

export async function register(client: CoordClient, dir: string, id: string, info: Value = ''): Promise<Registration> {
  const path = checkPath(joinPath(checkPath(dir), id));
  let rev = await client.set(path, info, { ephemeral: true });
  let loss = watchLoss(client, path, rev);
  return {
    path,
    get rev() {
      return rev;
    },
    get lost() {
      return loss.signal;
    },
    update: async (next: Value) => {
      loss.stop();
      rev = await client.set(path, next, { ephemeral: true });
      loss = watchLoss(client, path, rev);
    },
    deregister: async () => {
      loss.stop();
      // Only our own version: a newer instance that registered the same id keeps its entry.
      try {
        await client.del(path, { rev });
      } catch (err) {
        if (!(err instanceof RevMismatchError)) throw err;
      }
    },
  };
}

export interface MemberChange {
  kind: 'join' | 'leave' | 'update';
  id: string;
  /** The member's info (absent for a leave). */
  info?: Uint8Array;
}

export interface MembersUpdate {
  rev: number;
  changes: MemberChange[];
  /** Every member now: id → info. */
  members: ReadonlyMap<string, Uint8Array>;
}

/**
 * The members of `dir` as a live set: the first update lists everyone as joins, then one update
 * per change (coalesced when they come faster than they are read).
 */
export async function* members(client: CoordClient, dir: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<MembersUpdate> {
  checkPath(dir);
  const prefix = dir === '/' ? '/' : `${dir}/`;
  let known = new Map<string, Uint8Array>();
  for await (const update of liveView(client, `${prefix}*`, options.signal)) {
    const now = new Map([...update.files].map(([p, f]) => [p.slice(prefix.length), f.value] as const));
    const changes: MemberChange[] = [];
    for (const p of update.set) {
      const id = p.slice(prefix.length);
      changes.push({ kind: known.has(id) ? 'update' : 'join', id, info: now.get(id)! });
    }
    for (const p of update.deleted) {
      const id = p.slice(prefix.length);
      if (known.has(id)) changes.push({ kind: 'leave', id });
    }
    known = now;
    yield { rev: update.rev, changes, members: now };
  }
}
