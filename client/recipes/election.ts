/**
 * Leader election on top of the fair lock: candidates queue under `path`, the holder is the
 * leader, and its file says who it is. The leader's fencing token (the rev of its file) rises
 * with every new leader.
 *
 * A candidate's file holds its id as plain text, or, when it campaigns with `info` (how to
 * reach it: an address, say), the JSON `{"id","info"}`. Readers take a file that parses as a
 * JSON object with a string `id` as the latter and anything else as a bare id, so files written
 * before `info` existed still read as they did.
 */
import type { TxnCondition } from '../../protocol/messages.ts';
import { checkPath } from '../../protocol/path.ts';
import { utf8Text } from '../../protocol/utf8.ts';
import type { CoordClient } from '../client.ts';
import { liveView } from './live-view.ts';
import { lock, type Lock } from './lock.ts';

export interface Leader {
  id: string;
  /** What the leader campaigned with (see Election.campaign), if anything. */
  info?: string;
  /** The leader's fencing token. */
  token: number;
}

export interface CampaignOptions {
  signal?: AbortSignal;
  /** Give up (TimeoutError) after this long, having left the queue. */
  timeoutMs?: number;
  /** Published with the id while this candidate leads, for followers (e.g. its address). */
  info?: string;
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
  async campaign(options: CampaignOptions = {}): Promise<Leadership> {
    const { info, ...waiting } = options;
    const file = info === undefined ? this.id : JSON.stringify({ id: this.id, info });
    const l: Lock = await lock(this.client, this.path, { ...waiting, info: file });
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
  return best === null ? null : { ...candidate(utf8Text(best.value)), token: best.rev };
}

/** A candidate's file: `{"id","info"}` JSON, or (as before there was info) the bare id. */
function candidate(text: string): { id: string; info?: string } {
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as { id?: unknown; info?: unknown };
      if (typeof parsed === 'object' && parsed !== null && typeof parsed.id === 'string') {
        return typeof parsed.info === 'string' ? { id: parsed.id, info: parsed.info } : { id: parsed.id };
      }
    } catch {
      // not JSON: a bare id that starts with '{'
    }
  }
  return { id: text };
}

export function elect(client: CoordClient, path: string, id: string): Election {
  return new Election(client, path, id);
}
