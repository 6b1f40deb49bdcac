/**
 * Leader election on top of the fair lock: candidates queue under `path`, the holder is the
 * leader, and its file holds its id. The leader's fencing token (the rev of its file) rises
 * with every new leader.
 */
import type { TxnCondition } from '../../protocol/messages.ts';
import { checkPath } from '../../protocol/path.ts';
import type { CoordClient } from '../client.ts';
import { liveView } from './live-view.ts';
import { lock, type Lock } from './lock.ts';

export interface Leader {
  id: string;
  /** The leader's fencing token. */
  token: number;
}

export interface Leadership {
  readonly token: number;
  /** Fires when leadership is lost (session ended, or the file went). */
  readonly lost: AbortSignal;
  /** A TXN condition true only while this candidate leads (see Lock.guard). */
  readonly guard: TxnCondition;
  resign(): Promise<void>;
}

export class Election {
  constructor(
    private readonly client: CoordClient,
    readonly path: string,
    readonly id: string,
  ) {
    checkPath(path);
  }

  /** Waits until this candidate leads. */
  async campaign(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Leadership> {
    const l: Lock = await lock(this.client, this.path, { ...options, info: this.id });
    return { token: l.token, lost: l.lost, guard: l.guard, resign: () => l.release() };
  }

  /** The current leader, or null when nobody campaigns. */
  async leader(): Promise<Leader | null> {
    const { files } = await this.client.walk(`${this.path}/*`);
    return leaderOf(files);
  }

  /** The leader now, then after every change of leader (null while there is none). */
  async *observe(options: { signal?: AbortSignal } = {}): AsyncGenerator<Leader | null> {
    let last: Leader | null | undefined;
    for await (const update of liveView(this.client, `${this.path}/*`, options.signal)) {
      const now = leaderOf(update.files.values());
      if (last === undefined || now?.token !== last?.token) {
        last = now;
        yield now;
      }
    }
  }
}

function leaderOf(files: Iterable<{ rev: number; value: Uint8Array }>): Leader | null {
  let best: { rev: number; value: Uint8Array } | null = null;
  for (const f of files) if (best === null || f.rev < best.rev) best = f;
  return best === null ? null : { id: Buffer.from(best.value).toString('utf8'), token: best.rev };
}

export function elect(client: CoordClient, path: string, id: string): Election {
  return new Election(client, path, id);
}
