/**
 * register (keep an ephemeral registration DIR/ID while a command runs) and members (list the
 * registrations under DIR, or follow them as join / leave / update lines).
 */
import type { CoordClient } from '../../client.ts';
import { ExitCode } from '../output.ts';
import { infoJson } from './info.ts';
import { deathGraceMs, runWhileHeld } from './run.ts';

/**
 * Registers DIR/ID holding `info`, runs CMD, deregisters when it exits and exits with its code.
 * A registration lost for good (see the SDK's Registration.lost) is handled like a lost lock:
 * CMD gets SIGTERM (SIGKILL later) and coord exits 4. CMD dies with coord, as under `lock`.
 */
export async function registerRun(client: CoordClient, dir: string, id: string, argv: string[], signal: AbortSignal, opts: { info?: string }): Promise<number> {
  const reg = await client.register(dir, id, opts.info ?? '');
  return runWhileHeld(
    { lost: reg.lost, release: () => reg.deregister() },
    argv,
    { COORD_MEMBER_PATH: reg.path },
    signal,
    deathGraceMs(client),
  );
}

/** Prints the members of DIR, one {"id", "info"} line each; with `watch`, then every change. */
export async function members(client: CoordClient, dir: string, signal: AbortSignal, opts: { watch?: boolean }): Promise<number> {
  try {
    for await (const update of client.members(dir, { signal })) {
      if (!opts.watch) {
        const ids = [...update.members.keys()].sort();
        for (const id of ids) process.stdout.write(`${JSON.stringify({ id, ...infoJson(update.members.get(id)!) })}\n`);
        break;
      }
      for (const c of update.changes) {
        const line = { kind: c.kind, id: c.id, ...(c.info !== undefined ? infoJson(c.info) : {}), rev: update.rev };
        process.stdout.write(`${JSON.stringify(line)}\n`);
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err; // interrupted while reading: the stream ends, as for `watch`
  }
  return ExitCode.OK;
}
