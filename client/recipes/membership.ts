/**
 * Membership, the service-registry pattern: each instance registers an ephemeral file
 * `dir/id` holding its info (`/services/www/host-1`), gone when its session ends; anyone can
 * follow the live set with join / leave / update events.
 *
 * A registration keeps itself registered, as Curator's service discovery does: when the
 * client's session expires (the server deleted the file with it), it registers again under the
 * client's new session, with the same id and info, as soon as the client is connected again.
 * It does not fight anyone else: if someone else deletes or replaces the file, or has written it
 * by the time this client comes back, the registration is lost for good.
 *
 * `state` says where it stands: `registered`; `re-registering` (its session expired; it will be
 * back once the client reconnects); `lost` (gone and not coming back: removed or replaced by
 * someone else, or the client closed); `deregistered` (deregister() was called). `onState`
 * reports every change. `lost` is an AbortSignal that fires when (and only when) the state
 * becomes `lost`: an expiry followed by re-registration does not fire it (watch `onState` for
 * that), nor does deregister(). `rev` is the rev of the current registering SET.
 *
 * One case cannot be told apart: if someone deletes the file while this client is cut off, and
 * its session then expires, the deletion looks like the expiry's, and the file is registered
 * again.
 */
import { checkPath, joinPath } from '../../protocol/path.ts';
import type { Event } from '../../protocol/messages.ts';
import type { ClientState, CoordClient, Value } from '../client.ts';
import { CoordClientError, RevMismatchError, SessionExpiredError } from '../errors.ts';
import type { WatchStream } from '../watch-stream.ts';
import { liveView } from './live-view.ts';

export type RegistrationState = 'registered' | 're-registering' | 'lost' | 'deregistered';

export interface Registration {
  readonly path: string;
  /** The rev of the registering SET (a re-registration or update() moves it on). */
  readonly rev: number;
  readonly state: RegistrationState;
  /** Calls `listener` on every state change; returns a function that stops it. */
  onState(listener: (state: RegistrationState, previous: RegistrationState) => void): () => void;
  /** Fires when the registration is lost for good (state `lost`), with the reason. */
  readonly lost: AbortSignal;
  /**
   * Replaces the info (kept for re-registrations). Resolves once it is registered; rejects if
   * the registration is lost (RevMismatchError if someone else replaced the file) or ended.
   */
  update(info: Value): Promise<void>;
  /** Removes the registration if it is still this one (not one that replaced it). */
  deregister(): Promise<void>;
}

export async function register(client: CoordClient, dir: string, id: string, info: Value = ''): Promise<Registration> {
  const path = checkPath(joinPath(checkPath(dir), id));
  const rev = await client.set(path, info, { ephemeral: true });
  return new Registrar(client, path, info, rev);
}

/** Retries of a re-registration that failed for a passing reason (timeout, no server) wait this long. */
const retryDelayMs = 250;
/** Errors a re-registration does not retry: the path is someone else's now, or the client is closed. */
const final = new Set(['REV_MISMATCH', 'ISDIR', 'NOTDIR', 'CLOSED']);

class Registrar implements Registration {
  private current: RegistrationState = 'registered';
  private readonly listeners = new Set<(state: RegistrationState, previous: RegistrationState) => void>();
  private readonly controller = new AbortController();
  /** The watch on the file since our last write, while registered (null while writing it). */
  private following: WatchStream | null = null;
  /** The session that owns the file we wrote. */
  private owner: string | null;
  private readonly offClient: () => void;

  constructor(private readonly client: CoordClient, readonly path: string, private info: Value, private currentRev: number) {
    this.owner = client.sessionId;
    this.offClient = client.onState((state) => this.onClientState(state));
    this.follow();
  }

  get rev(): number {
    return this.currentRev;
  }

  get state(): RegistrationState {
    return this.current;
  }

  get lost(): AbortSignal {
    return this.controller.signal;
  }

  onState(listener: (state: RegistrationState, previous: RegistrationState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async update(next: Value): Promise<void> {
    this.checkLive();
    this.info = next;
    if (this.current === 'registered') {
      this.unfollow();
      try {
        const rev = await this.client.set(this.path, next, { ephemeral: true, rev: this.currentRev });
        if (this.current === 'registered') this.registered(rev);
        return;
      } catch (err) {
        if (err instanceof RevMismatchError) {
          this.lose(`${this.path} was replaced by someone else`);
          throw err;
        }
        // The session expired under the write: the re-registration (already started) writes `next`.
        if (!(err instanceof SessionExpiredError)) {
          if (this.current === 'registered') this.follow();
          throw err;
        }
      }
    }
    await this.settled();
    this.checkLive();
  }

  async deregister(): Promise<void> {
    if (this.current === 'lost' || this.current === 'deregistered') return;
    const wasRegistered = this.current === 'registered';
    this.unfollow();
    this.offClient();
    this.setState('deregistered');
    if (!wasRegistered) return; // the file went with the session; a write in flight undoes itself
    // Only our own version: a newer instance that registered the same id keeps its entry.
    try {
      await this.client.del(this.path, { rev: this.currentRev });
    } catch (err) {
      if (!(err instanceof RevMismatchError)) throw err;
    }
  }

  // ---------------------------------------------------------------- following the file

  /** Watches the file for anyone else's change after our write. */
  private follow(): void {
    const stream = this.client.watch(this.path, { fromRev: this.currentRev + 1 });
    this.following = stream;
    (async () => {
      for await (const e of stream) return this.onChange(stream, e);
    })().catch((err: Error) => {
      if (this.following === stream) this.lose(`lost track of ${this.path}: ${err.message}`);
    });
  }

  private unfollow(): void {
    this.following?.cancel();
    this.following = null;
  }

  private async onChange(stream: WatchStream, e: Event): Promise<void> {
    if (this.following !== stream) return;
    this.unfollow();
    if (e.kind === 'set') return this.lose(`${this.path} was overwritten (rev ${e.rev})`);
    // Deleted: by someone else, or by the expiry of our session, whose news (the server closing
    // the connection, the resume refused) may come just after. A round trip tells: if the
    // session expired, the client has a new one (and has said 'expired') by the time it answers.
    await this.client.rev().catch(() => {});
    if (this.current !== 'registered' || this.following !== null) return; // already recovering
    if (this.client.sessionId !== this.owner) return void this.reregister();
    this.lose(`${this.path} was deleted`);
  }

  private onClientState(state: ClientState): void {
    if (state === 'closed') return this.lose(`the client holding ${this.path} was closed`);
    if (state === 'expired' && this.current === 'registered') void this.reregister();
  }

  // ---------------------------------------------------------------- registering again

  /**
   * Writes the file again under the client's new session, only if nobody else wrote it since our
   * last write (rev ≤ ours: gone with the old session, or still ours). Retries while the client
   * is away; stops once lost or deregistered.
   */
  private async reregister(): Promise<void> {
    this.unfollow();
    this.setState('re-registering');
    for (;;) {
      const info = this.info;
      let rev: number;
      try {
        rev = await this.client.set(this.path, info, { ephemeral: true, rev: this.currentRev });
      } catch (err) {
        if (this.current !== 're-registering') return;
        if (err instanceof RevMismatchError) return this.lose(`${this.path} was taken by someone else while its session was gone`);
        if (err instanceof CoordClientError && final.has(err.code)) return this.lose(`cannot register ${this.path} again: ${err.message}`);
        await new Promise((r) => setTimeout(r, retryDelayMs));
        continue;
      }
      if (this.current !== 're-registering') {
        // Deregistered meanwhile: take back what we just wrote.
        await this.client.del(this.path, { rev }).catch(() => {});
        return;
      }
      this.currentRev = rev;
      if (this.info === info) return this.registered(rev);
    }
  }

  private registered(rev: number): void {
    this.currentRev = rev;
    this.owner = this.client.sessionId;
    this.follow();
    this.setState('registered');
  }

  // ---------------------------------------------------------------- states

  private lose(why: string): void {
    if (this.current === 'lost' || this.current === 'deregistered') return;
    this.unfollow();
    this.offClient();
    this.controller.abort(new Error(why));
    this.setState('lost');
  }

  private checkLive(): void {
    if (this.current === 'lost') throw this.controller.signal.reason;
    if (this.current === 'deregistered') throw new Error(`${this.path} was deregistered`);
  }

  /** Resolves once the registration is no longer re-registering. */
  private settled(): Promise<void> {
    if (this.current !== 're-registering') return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.onState((state) => {
        if (state === 're-registering') return;
        off();
        resolve();
      });
    });
  }

  private setState(next: RegistrationState): void {
    const previous = this.current;
    if (previous === next) return;
    this.current = next;
    for (const l of [...this.listeners]) l(next, previous);
  }
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
