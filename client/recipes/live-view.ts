/**
 * A live view of the files matching a glob: read them all at one revision, then follow every
 * change from the next revision on. If history no longer reaches where the view stopped (a long
 * disconnect), it reads everything again and carries on from there: it never skips silently,
 * and never jumps ahead without re-reading. Membership and config watching are built on it.
 */
import type { WalkEntry } from '../../protocol/messages.ts';
import type { CoordClient } from '../client.ts';
import { TooLateError } from '../errors.ts';
import type { WatchStream } from '../watch-stream.ts';

export interface ViewUpdate {
  /** The revision the view now reflects. */
  rev: number;
  /** Paths set (or changed) and deleted since the previous update. */
  set: string[];
  deleted: string[];
  /** Every matching file at `rev`: path → { value, rev } (a copy: later updates leave it as it is). */
  files: ReadonlyMap<string, WalkEntry>;
}

export async function* liveView(client: CoordClient, glob: string, signal?: AbortSignal): AsyncGenerator<ViewUpdate> {
  let files = new Map<string, WalkEntry>();
  for (;;) {
    const read = await client.walk(glob, { signal });
    const next = new Map(read.files.map((f) => [f.path, f]));
    yield { rev: read.at, ...diff(files, next), files: new Map(next) };
    files = next;
    const stream = client.watch(glob, { fromRev: read.at + 1, signal });
    try {
      yield* follow(stream, files);
      return; // the stream finished: cancelled
    } catch (err) {
      if (!(err instanceof TooLateError)) throw err;
    } finally {
      stream.cancel();
    }
  }
}

async function* follow(stream: WatchStream, files: Map<string, WalkEntry>): AsyncGenerator<ViewUpdate> {
  for (;;) {
    const first = await stream.nextRevision();
    if (first === null) return;
    // Coalesce whatever else has already arrived: a consumer wants the newest state.
    const batch = [first];
    while (stream.buffered > 0) batch.push((await stream.nextRevision())!);
    const set = new Set<string>();
    const deleted = new Set<string>();
    for (const { events } of batch) {
      for (const e of events) {
        if (e.kind === 'set') {
          files.set(e.path, { path: e.path, rev: e.rev, value: e.value! });
          set.add(e.path);
          deleted.delete(e.path);
        } else {
          files.delete(e.path);
          deleted.add(e.path);
          set.delete(e.path);
        }
      }
    }
    yield { rev: batch[batch.length - 1]!.rev, set: [...set], deleted: [...deleted], files: new Map(files) };
  }
}

function diff(before: Map<string, WalkEntry>, after: Map<string, WalkEntry>): { set: string[]; deleted: string[] } {
  const set: string[] = [];
  const deleted: string[] = [];
  for (const [p, f] of after) if (before.get(p)?.rev !== f.rev) set.push(p);
  for (const p of before.keys()) if (!after.has(p)) deleted.push(p);
  return { set, deleted };
}
