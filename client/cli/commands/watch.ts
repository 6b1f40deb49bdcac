/** wait (one event) and watch (a stream of JSON lines until interrupted). */
import type { CoordClient } from '../../client.ts';
import { ExitCode, eventJson } from '../output.ts';

export async function wait(client: CoordClient, glob: string, rev: number | undefined, signal: AbortSignal): Promise<number> {
  const e = await client.wait(glob, { ...(rev !== undefined ? { rev } : {}), signal, timeoutMs: 0 });
  process.stdout.write(`${eventJson(e)}\n`);
  return ExitCode.OK;
}

export async function watch(client: CoordClient, glob: string, fromRev: number | undefined, signal: AbortSignal): Promise<number> {
  const stream = client.watch(glob, { ...(fromRev !== undefined ? { fromRev } : {}), signal });
  for await (const e of stream) process.stdout.write(`${eventJson(e)}\n`);
  return ExitCode.OK;
}
