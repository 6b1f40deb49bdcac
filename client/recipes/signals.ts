/**
 * Shared plumbing for recipes: abort signals with deadlines, and the `lost` signal of a claim
 * (fires when the claim's key changes or goes, or when the session it hangs on ends).
 */
import type { CoordClient } from '../client.ts';
import { TimeoutError } from '../errors.ts';

/** One signal for "the caller aborted, or `timeoutMs` passed" (TimeoutError as the reason). */
export function deadlineSignal(signal: AbortSignal | undefined, timeoutMs: number | undefined, what: string): AbortSignal | undefined {
  if (timeoutMs === undefined) return signal;
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new TimeoutError(`${what} not done within ${timeoutMs} ms`)),
    timeoutMs,
  );
  timer.unref();
  const signals = [controller.signal];
  if (signal !== undefined) signals.push(signal);
  return AbortSignal.any(signals);
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
