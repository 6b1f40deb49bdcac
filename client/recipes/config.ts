/**
 * The config-reload pattern: `for await (const cfg of watchConfig(client, '/app/conf'))` gives
 * the current value(s) first, then a whole new snapshot after each change. Bursts are coalesced
 * (you always get the newest state, never a half-applied transaction), and reconnects and history
 * gaps are survived by re-reading (see live-view.ts).
 */
import { compileGlob } from '../../protocol/path.ts';
import { utf8Text } from '../../protocol/utf8.ts';
import type { CoordClient } from '../client.ts';
import { liveView } from './live-view.ts';

export interface ConfigSnapshot {
  /** The store revision this snapshot reflects. */
  rev: number;
  /** Every matching file's value. */
  values: ReadonlyMap<string, Uint8Array>;
  /** The value of `path`, or of the one watched path when given none. */
  get(path?: string): Uint8Array | undefined;
  /** The same, as UTF-8 text. */
  text(path?: string): string | undefined;
}

export async function* watchConfig(client: CoordClient, pathOrGlob: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<ConfigSnapshot> {
  const glob = compileGlob(pathOrGlob);
  for await (const update of liveView(client, glob.source, options.signal)) {
    const values = new Map([...update.files].map(([p, f]) => [p, f.value] as const));
    const get = (path?: string) => values.get(path ?? glob.source);
    yield {
      rev: update.rev,
      values,
      get,
      text: (path?: string) => {
        const v = get(path);
        return v === undefined ? undefined : utf8Text(v);
      },
    };
  }
}
