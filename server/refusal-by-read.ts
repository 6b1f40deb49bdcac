/**
 * A conditional write the leader can see will fail is answered as a read: no log entry, no
 * fsync. Under contention (sixteen clients compare-and-setting one key) most attempts fail, and
 * each used to cost a replicated, synced entry that changed nothing.
 *
 * The refusal must be what the log would have said. So the leader refuses a write early only
 * when (1) its store, as applied, refuses it with REV_MISMATCH and nothing else (the session
 * exists, the seq is not a retry the store would answer from memory, access control allows it:
 * Store.revMismatchNow); (2) no write to any of its paths is in flight here (proposed and not yet
 * applied: the same client's earlier write to that path, pipelined, must be seen); and (3) after
 * a read barrier (leadership confirmed and everything committed applied, as for any linearizable
 * read) the store still refuses it. The answer is then linearizable at the barrier. If it no
 * longer refuses, the write is proposed as usual.
 *
 * While a write waits for its barrier, later writes to any of its paths wait for it, so writes
 * to one path are answered in the order they arrived, as through the log. A write refused early
 * is not remembered by its session: nothing happened, so a retry of it is evaluated afresh.
 */
import type { ErrorBody } from '../protocol/errors.ts';
import type { Command, WriteOutcome } from './store/commands.ts';
import type { Store } from './store/store.ts';

type Txn = Extract<Command, { t: 'txn' }>;

export class RefusalByRead {
  /** Paths of the writes proposed here and not yet settled, with how many. */
  private readonly inFlight = new Map<string, number>();
  /** Paths of writes waiting for a barrier, with what they end in. */
  private readonly held = new Map<string, Promise<unknown>>();
  /** Writes refused as reads, for /metrics and the bench. */
  refusedEarly = 0;

  constructor(
    private readonly store: Store,
    private readonly readBarrier: () => Promise<void>,
  ) {}

  /** Proposes `cmd` through `propose` (on the leader), or refuses it as a read when it can. */
  async propose(cmd: Command, propose: (cmd: Command) => Promise<WriteOutcome>): Promise<WriteOutcome> {
    if (cmd.t !== 'txn') return propose(cmd);
    const paths = pathsOf(cmd);
    // Again after each wait: a write that waited beside this one, and arrived before it, may
    // have become the one held.
    for (let waitFor = this.heldFor(paths); waitFor !== null; waitFor = this.heldFor(paths)) await waitFor;
    if (!isConditional(cmd) || this.anyInFlight(paths) || this.store.revMismatchNow(cmd) === null) {
      return this.track(paths, () => propose(cmd));
    }
    let release = (): void => {};
    const done = new Promise<void>((resolve) => (release = resolve));
    for (const p of paths) this.held.set(p, done);
    try {
      await this.confirm();
      const refusal: ErrorBody | null = this.store.revMismatchNow(cmd);
      if (refusal !== null) {
        this.refusedEarly++;
        return { ok: false, error: refusal };
      }
      return await this.track(paths, () => propose(cmd));
    } finally {
      for (const p of paths) if (this.held.get(p) === done) this.held.delete(p);
      release();
    }
  }

  /** The read barrier: leadership confirmed, everything committed applied. */
  private confirm(): Promise<void> {
    return this.readBarrier();
  }

  private heldFor(paths: string[]): Promise<unknown> | null {
    if (this.held.size === 0) return null;
    const waits = paths.flatMap((p) => {
      const h = this.held.get(p);
      return h === undefined ? [] : [h];
    });
    return waits.length === 0 ? null : Promise.all(waits);
  }

  private anyInFlight(paths: string[]): boolean {
    for (const p of paths) if (this.inFlight.has(p)) return true;
    return false;
  }

  private async track(paths: string[], propose: () => Promise<WriteOutcome>): Promise<WriteOutcome> {
    for (const p of paths) this.inFlight.set(p, (this.inFlight.get(p) ?? 0) + 1);
    try {
      return await propose();
    } finally {
      for (const p of paths) {
        const n = this.inFlight.get(p)! - 1;
        if (n === 0) this.inFlight.delete(p);
        else this.inFlight.set(p, n);
      }
    }
  }
}

function pathsOf(cmd: Txn): string[] {
  if (cmd.conds.length === 0 && cmd.ops.length === 1) return [cmd.ops[0]!.path];
  return [...new Set([...cmd.conds.map((c) => c.path), ...cmd.ops.map((o) => o.path)])];
}

/** A write that can fail REV_MISMATCH: a condition, or an op with a rev other than -1. */
function isConditional(cmd: Txn): boolean {
  return cmd.conds.length > 0 || cmd.ops.some((o) => o.rev !== undefined && o.rev !== -1);
}
