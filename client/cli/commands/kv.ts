/** The store commands: get, set, del, rev, stat, ls, walk. Each returns its exit code. */
import type { CoordClient } from '../../client.ts';
import type { ReadOptions } from '../../core.ts';
import { ExitCode, jsonValue } from '../output.ts';

interface ReadFlags {
  rev?: number;
  serializable?: boolean;
}

/** --rev and --serializable as SDK read options. */
function readOptions(opts: ReadFlags): ReadOptions {
  return {
    ...(opts.rev !== undefined ? { rev: opts.rev } : {}),
    ...(opts.serializable === true ? { consistency: 'serializable' as const } : {}),
  };
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function get(client: CoordClient, path: string, opts: ReadFlags & { json?: boolean }): Promise<number> {
  const r = await client.get(path, readOptions(opts));
  if (r.value === null) {
    process.stderr.write(`NOENT: ${path} does not exist${opts.rev !== undefined ? ` at revision ${opts.rev}` : ''}\n`);
    return ExitCode.REFUSED;
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ path, rev: r.rev, ...jsonValue(r.value) })}\n`);
  else process.stdout.write(r.value);
  return ExitCode.OK;
}

export async function set(client: CoordClient, path: string, rev: number | undefined, opts: { value?: string; ephemeral?: boolean }): Promise<number> {
  const value = opts.value !== undefined ? Buffer.from(opts.value) : await readStdin();
  const newRev = await client.set(path, value, { rev: rev ?? -1, ephemeral: opts.ephemeral === true });
  process.stdout.write(`${newRev}\n`);
  if (opts.ephemeral) {
    // An ephemeral file lives as long as its session: this one ends when the command does.
    process.stderr.write('note: the file is ephemeral and goes when this command exits\n');
  }
  return ExitCode.OK;
}

/**
 * Deleting a missing file changes nothing, and says so the way `get` does (exit 1, NOENT), as
 * ZooKeeper's `delete` does ("Node does not exist"); `--force` makes it a success, like `rm -f`.
 */
export async function del(client: CoordClient, path: string, rev: number | undefined, opts: { force?: boolean } = {}): Promise<number> {
  const r = await client.del(path, { rev: rev ?? -1 });
  if (!r.deleted && !opts.force) {
    process.stderr.write(`NOENT: ${path} does not exist; nothing deleted\n`);
    return ExitCode.REFUSED;
  }
  process.stdout.write(`${r.rev}\n`);
  return ExitCode.OK;
}

export async function rev(client: CoordClient, opts: { serializable?: boolean } = {}): Promise<number> {
  process.stdout.write(`${await client.rev(opts.serializable === true ? { consistency: 'serializable' } : {})}\n`);
  return ExitCode.OK;
}

export async function stat(client: CoordClient, path: string, opts: ReadFlags): Promise<number> {
  const r = await client.stat(path, readOptions(opts));
  process.stdout.write(`${JSON.stringify({ path, ...r })}\n`);
  if (r.kind !== 'missing') return ExitCode.OK;
  // Exit 1 always comes with the error code first on stderr, for scripts.
  process.stderr.write(`NOENT: ${path} does not exist${opts.rev !== undefined ? ` at revision ${opts.rev}` : ''}\n`);
  return ExitCode.REFUSED;
}

export async function ls(client: CoordClient, path: string, opts: ReadFlags): Promise<number> {
  const { names } = await client.getdir(path, readOptions(opts));
  for (const n of names) process.stdout.write(`${n}\n`);
  return ExitCode.OK;
}

export async function walk(client: CoordClient, glob: string, opts: ReadFlags): Promise<number> {
  const { files } = await client.walk(glob, readOptions(opts));
  for (const f of files) process.stdout.write(`${JSON.stringify({ path: f.path, rev: f.rev, ...jsonValue(f.value) })}\n`);
  return ExitCode.OK;
}
