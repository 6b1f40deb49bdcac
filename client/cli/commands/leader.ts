/** leader: who leads an election now (and, with --watch, after every change of leader). */
import type { CoordClient } from '../../client.ts';
import type { Leader } from '../../recipes/election.ts';
import { ExitCode } from '../output.ts';
import { infoJson } from './info.ts';

const leaderJson = (l: Leader) => JSON.stringify({ id: l.id, token: l.token, ...(l.info !== undefined ? infoJson(l.info) : {}) });

export async function leader(client: CoordClient, path: string, signal: AbortSignal, opts: { watch?: boolean }): Promise<number> {
  const election = client.elect(path, '');
  if (!opts.watch) {
    const l = await election.leader();
    if (l === null) {
      process.stderr.write(`NOENT: nobody leads ${path}\n`);
      return ExitCode.REFUSED;
    }
    process.stdout.write(`${leaderJson(l)}\n`);
    return ExitCode.OK;
  }
  try {
    for await (const l of election.observe({ signal })) process.stdout.write(`${l === null ? 'null' : leaderJson(l)}\n`);
  } catch (err) {
    if (!signal.aborted) throw err;
  }
  return ExitCode.OK;
}
