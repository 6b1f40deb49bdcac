/**
 * Shared plumbing for recipes: abort signals with deadlines, and the `lost` signal of a claim
 * (fires when the claim's key changes or goes, or when the session it hangs on ends).
 */
import type { CoordClient } from '../client.ts';
import type { TxnCondition } from '../../protocol/messages.ts';
import { RevMismatchError, TimeoutError } from '../errors.ts';

/** One signal for "the caller aborted, or `timeoutMs` passed" (TimeoutError as the reason). */
export function deadlineSignal(signal: AbortSignal | undefined, timeoutMs: number | undefined, what: string): AbortSignal | undefined {
  if (timeoutMs === undefined) return signal;
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new TimeoutError(`${what} not done within ${timeoutMs} ms`)),
    timeoutMs,
  );
  (timer as { unref?: () => void }).unref?.();
  const signals = [controller.signal];
  if (signal !== undefined) signals.push(signal);
  return AbortSignal.any(signals);
}

/**
 * Runs the write that creates a claim (a lock contender, a slot file) so that the caller may
 * abort it. The write itself is never abandoned: the server may already have applied it, and an
 * ephemeral file nobody knows about would block the lock or slot until the session ends. If the
 * caller aborts first, this rejects at once and `undo` runs on the write's result when it comes.
 */
export function claimWrite<T>(write: Promise<T>, signal: AbortSignal | undefined, undo: (result: T) => Promise<unknown>): Promise<T> {
  if (signal === undefined) return write;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      write.then(undo).catch(() => {});
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    write.then(
      (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

export interface Loss {
  signal: AbortSignal;
  stop(): void;
}

/**
 * Watches a claim: `signal` aborts (with a reason saying why) when `key` is changed or deleted
 * after revision `rev`, when the client's session expires, or when the client closes.
 */
export function watchLoss(client: CoordClient, key: string, rev: number): Loss {
  const controller = new AbortController();
  const stream = client.watch(key, { fromRev: rev + 1 });
  const lose = (why: string): void => {
    if (!controller.signal.aborted) controller.abort(new Error(why));
    stop();
  };
  const offState = client.onState((state) => {
    if (state === 'expired') lose(`the session holding ${key} expired`);
    else if (state === 'closed') lose(`the client holding ${key} was closed`);
  });
  const stop = (): void => {
    offState();
    stream.cancel();
  };
  (async () => {
    for await (const e of stream) {
      lose(e.kind === 'delete' ? `${key} was deleted` : `${key} was overwritten (rev ${e.rev})`);
      return;
    }
  })().catch((err: Error) => lose(`lost track of ${key}: ${err.message}`));
  return { signal: controller.signal, stop };
}

/** What every held claim (lock, slot, leadership) has: its loss signal, guard and release. */
export interface HeldClaim {
  readonly lost: AbortSignal;
  readonly guard: TxnCondition;
  release(): Promise<void>;
}

/** The claim on `key` made by the write at `token`: watched for loss, released at most once. */
export function heldClaim(client: CoordClient, key: string, token: number): HeldClaim {
  const loss = watchLoss(client, key, token);
  let released = false;
  return {
    lost: loss.signal,
    guard: { path: key, rev: token, exact: true },
    release: async () => {
      if (released) return;
      released = true;
      loss.stop();
      try {
        await client.del(key, { rev: token }); // only if it is still ours
      } catch (err) {
        if (!(err instanceof RevMismatchError)) throw err;
      }
    },
  };
}
