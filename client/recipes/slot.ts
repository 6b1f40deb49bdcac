/**
 * Slot claiming (process partitioning): N slots `prefix/0 … prefix/(N-1)`, each an ephemeral
 * file created with rev 0, so one slot has at most one holder. A claimer takes the first free
 * slot; when all are held it waits for any change under the prefix and tries again, so a spare
 * takes over a slot as soon as its holder's session ends.
 *
 * Spares all wake when a slot frees (one wins, the rest wait again): fine for fleets of tens;
 * a very large pool of spares would want a queue like the lock's.
 */
import type { TxnCondition } from '../../protocol/messages.ts';
import { checkPath } from '../../protocol/path.ts';
import type { CoordClient, Value } from '../client.ts';
import { RevMismatchError } from '../errors.ts';
import { claimWrite, deadlineSignal, heldClaim } from './signals.ts';

export interface SlotClaim {
  /** The slot number, 0 … n-1. */
  readonly slot: number;
  readonly path: string;
  /** Fencing token: the rev of the SET that claimed the slot. */
  readonly token: number;
  readonly lost: AbortSignal;
  /** A TXN condition true only while this claim holds (see Lock.guard). */
  readonly guard: TxnCondition;
  release(): Promise<void>;
}

export interface ClaimOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Stored in the slot file (default: the session id). */
  info?: Value;
}

export async function claimSlot(client: CoordClient, prefix: string, n: number, options: ClaimOptions = {}): Promise<SlotClaim> {
  checkPath(prefix);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`slot count must be a positive integer, got ${n}`);
  const signal = deadlineSignal(options.signal, options.timeoutMs, `claim a slot of ${prefix}`);
  const info = options.info ?? client.sessionId ?? '';
  for (;;) {
    const { files, at } = await client.walk(`${prefix}/*`, { signal });
    const held = new Set(files.map((f) => f.path));
    for (let slot = 0; slot < n; slot++) {
      const path = `${prefix}/${slot}`;
      if (held.has(path)) continue;
      try {
        // Not abandoned on abort (see claimWrite): a slot file left behind would stay held.
        const token = await claimWrite(
          client.set(path, info, { rev: 0, ephemeral: true }),
          signal,
          (rev) => client.del(path, { rev }),
        );
        return claimed(client, slot, path, token);
      } catch (err) {
        if (!(err instanceof RevMismatchError)) throw signal?.aborted ? signal.reason : err;
      }
    }
    try {
      await client.wait(`${prefix}/*`, { rev: at + 1, signal });
    } catch (err) {
      throw signal?.aborted ? signal.reason : err;
    }
  }
}

function claimed(client: CoordClient, slot: number, path: string, token: number): SlotClaim {
  return { slot, path, token, ...heldClaim(client, path, token) };
}
