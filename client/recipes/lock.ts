/**
 * A fair, fenced lock. Each contender creates an ephemeral file under the lock's path (the path
 * is a directory the recipe owns); the file with the lowest rev holds the lock. A waiter watches
 * only the contender just before it, so a release wakes one waiter, not all of them (no herd).
 *
 * The token is the rev of the SET that created the holder's file: a new contender's file always
 * has a higher rev than every file present, and the lock passes in rev order, so tokens strictly
 * rise with every grant. Pass it to whatever the lock protects and have that refuse lower ones:
 * a lock alone cannot stop a paused holder from acting after its session expired.
 *
 * After every wait the recipe lists the contenders again and checks its own file is still there
 * with its rev before it reports success (the etcd#11456 lesson).
 */
import type { TxnCondition } from '../../protocol/messages.ts';
import { checkPath } from '../../protocol/path.ts';
import type { CoordClient, Value } from '../client.ts';
import { claimWrite, deadlineSignal, heldClaim } from './signals.ts';

export interface Lock {
  /** The fencing token: rises with every grant of this lock. */
  readonly token: number;
  /** The lock's path (a directory of contenders). */
  readonly path: string;
  /** This holder's file under it. */
  readonly key: string;
  /** Fires when the lock is lost: the file went or changed, or the session ended. */
  readonly lost: AbortSignal;
  /**
   * A TXN condition true only while this holder's file is still there, unchanged: put it in a
   * txn's `conds` and its writes apply only while the lock is held (etcd's IsOwner).
   */
  readonly guard: TxnCondition;
  /** Gives the lock up (deletes the file if still ours). Safe to call twice. */
  release(): Promise<void>;
}

export interface LockOptions {
  signal?: AbortSignal;
  /** Give up (TimeoutError) after this long. */
  timeoutMs?: number;
  /** Stored in the holder's file, for people looking at who holds what. */
  info?: Value;
}

let contenderCounter = 0;

async function createContender(client: CoordClient, path: string, info: Value, signal?: AbortSignal) {
  const key = `${path}/${client.sessionId}-${++contenderCounter}`;
  // Not abandoned on abort (see claimWrite): a contender file left behind would block the queue.
  const token = await claimWrite(
    client.set(key, info, { rev: 0, ephemeral: true }),
    signal,
    (rev) => client.del(key, { rev }),
  );
  return { key, token };
}

/**
 * Where a contender stands: 'held' (lowest rev), 'gone' (its file vanished: the session ended),
 * or the contender just before it and the revision the listing was read at.
 */
async function standing(client: CoordClient, path: string, key: string, token: number, signal?: AbortSignal) {
  const { files, at } = await client.walk(`${path}/*`, { signal });
  const mine = files.find((f) => f.path === key);
  if (mine === undefined || mine.rev !== token) return { state: 'gone' as const };
  let before: { path: string; rev: number } | undefined;
  for (const f of files) if (f.rev < token && (before === undefined || f.rev > before.rev)) before = f;
  return before === undefined ? { state: 'held' as const } : { state: 'waiting' as const, before, at };
}

function held(client: CoordClient, path: string, key: string, token: number): Lock {
  return { token, path, key, ...heldClaim(client, key, token) };
}

/** Waits for the lock and takes it. Rejects on abort or timeout (having left the queue). */
export async function lock(client: CoordClient, path: string, options: LockOptions = {}): Promise<Lock> {
  checkPath(path);
  const signal = deadlineSignal(options.signal, options.timeoutMs, `lock ${path}`);
  for (;;) {
    const { key, token } = await createContender(client, path, options.info ?? '', signal);
    try {
      for (;;) {
        const s = await standing(client, path, key, token, signal);
        if (s.state === 'held') return held(client, path, key, token);
        if (s.state === 'gone') break; // the session expired while we waited: queue again
        await client.wait(s.before.path, { rev: s.at + 1, signal });
      }
    } catch (err) {
      await client.del(key, { rev: token }).catch(() => {});
      throw signal?.aborted ? signal.reason : err;
    }
  }
}

/** Takes the lock if nobody holds or waits for it; otherwise returns null at once. */
export async function tryLock(client: CoordClient, path: string, options: Pick<LockOptions, 'info' | 'signal'> = {}): Promise<Lock | null> {
  checkPath(path);
  const { key, token } = await createContender(client, path, options.info ?? '', options.signal);
  const s = await standing(client, path, key, token, options.signal);
  if (s.state === 'held') return held(client, path, key, token);
  await client.del(key, { rev: token }).catch(() => {});
  return null;
}

/** Runs `fn` while holding the lock, and releases it however `fn` ends. */
export async function withLock<T>(client: CoordClient, path: string, fn: (lock: Lock) => Promise<T> | T, options: LockOptions = {}): Promise<T> {
  const l = await lock(client, path, options);
  try {
    return await fn(l);
  } finally {
    await l.release();
  }
}
