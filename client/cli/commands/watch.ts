/** wait (one event) and watch (a stream of JSON lines until interrupted). */
import type { CoordClient } from '../../client.ts';
import { ExitCode, eventJson } from '../output.ts';

export async function wait(client: CoordClient, glob: string, rev: number | undefined, signal: AbortSignal): Promise<number> {
  const e = await client.wait(glob, { ...(rev !== undefined ? { rev } : {}), signal, timeoutMs: 0 });
  process.stdout.write(`${eventJson(e)}\n`);
  return ExitCode.OK;
}

/**
 * Prints each event as a JSON line. With `progressMs`, the server reports progress while the
 * watch is idle, printed as `{"progress":REV}`: every change up to REV has been printed.
 */
export async function watch(client: CoordClient, glob: string, fromRev: number | undefined, signal: AbortSignal, progressMs?: number): Promise<number> {
  const stream = client.watch(glob, {
    ...(fromRev !== undefined ? { fromRev } : {}), ...(progressMs !== undefined ? { progressMs } : {}), signal,
  });
  for await (const r of stream.revisions({ progress: progressMs !== undefined })) {
    if (r.progress === true) process.stdout.write(`${JSON.stringify({ progress: r.rev })}\n`);
    else for (const e of r.events) process.stdout.write(`${eventJson(e)}\n`);
  }
  return ExitCode.OK;
}
