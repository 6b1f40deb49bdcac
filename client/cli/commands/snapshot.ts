/**
 * `coord snapshot save FILE` and `coord snapshot inspect FILE` (restore is server/restore-cli.ts,
 * run by bin/coord.mjs: it writes a server's data directory with the server's storage code).
 *
 * save asks the servers given, in turn, for GET /snapshot (server/api/backup.ts): whichever
 * member answers, its snapshot is linearizable-fresh (it holds every write acknowledged before
 * the request). The body goes to FILE.tmp as it arrives, is fsynced, checked (the whole-file
 * SHA-256, protocol/snapshot-file.ts), and only then renamed over FILE (and the directory
 * fsynced), so FILE is never a partial snapshot.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { readSnapshotFile, SNAPSHOT_HTTP_PATH, SnapshotFileError, type SnapshotSummary } from '../../../protocol/snapshot-file.ts';
import { ExitCode } from '../output.ts';
import { httpBase } from './cluster.ts';

function refused(message: string): Error {
  return Object.assign(new Error(message), { exitCode: ExitCode.REFUSED });
}

/** Reads and checks a snapshot file; a damaged one: exit 1 with what is wrong. */
function checked(file: string): { summary: SnapshotSummary; sha256: string; bytes: number } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw refused(`coord: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const { summary, sha256 } = readSnapshotFile(bytes, file);
    return { summary, sha256, bytes: bytes.byteLength };
  } catch (err) {
    if (err instanceof SnapshotFileError) throw refused(`coord: ${err.message}`);
    throw err;
  }
}

async function download(url: string, tmp: string, timeoutMs: number): Promise<void> {
  const headers: Record<string, string> = {};
  if (process.env.COORD_TOKEN) headers['authorization'] = `Bearer ${process.env.COORD_TOKEN}`;
  // The time limit is for the answer to start; a large snapshot may take longer to arrive.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  let res: Response;
  try {
    res = await fetch(`${httpBase(url)}${SNAPSHOT_HTTP_PATH}`, { headers, signal: abort.signal });
  } finally {
    clearTimeout(timer);
  }
  if (res.status !== 200 || res.body === null) {
    const json = await res.json().catch(() => ({})) as { error?: { code?: string; message?: string } };
    throw new Error(json.error?.code !== undefined ? `${json.error.code}: ${json.error.message ?? ''}` : `HTTP ${res.status}`);
  }
  const fd = openSync(tmp, 'w');
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      let at = 0;
      while (at < chunk.byteLength) at += writeSync(fd, chunk, at);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function snapshotSave(urls: string[], file: string, o: { timeoutMs: number; json?: boolean }): Promise<number> {
  const target = resolve(file);
  const tmp = `${target}.tmp`;
  const errors: string[] = [];
  for (const url of urls) {
    try {
      await download(url, tmp, o.timeoutMs);
    } catch (err) {
      rmSync(tmp, { force: true });
      errors.push(`${url}: ${(err as Error).message}`);
      continue;
    }
    let info;
    try {
      info = checked(tmp);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    renameSync(tmp, target);
    const dirFd = openSync(dirname(target), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    const s = info.summary;
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ file, url, rev: s.rev, files: s.files, bytes: info.bytes, sha256: info.sha256 })}\n`);
    } else {
      process.stdout.write(`saved revision ${s.rev} (${s.files} files, ${info.bytes} bytes) from ${url} to ${file}\n`);
    }
    return ExitCode.OK;
  }
  throw Object.assign(new Error(`coord: no snapshot saved: ${errors.join('; ')}`), { exitCode: ExitCode.UNREACHABLE });
}

export function snapshotInspect(file: string, o: { json?: boolean }): number {
  const { summary: s, sha256, bytes } = checked(file);
  const out = {
    rev: s.rev, files: s.files, bytes, valueBytes: s.valueBytes, sessions: s.sessions, oldestRev: s.oldest,
    node: s.node, createdAt: new Date(s.createdAtMs).toISOString(), sha256,
  };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return ExitCode.OK;
  }
  const rows: [string, string | number][] = [
    ['revision', out.rev], ['files', out.files], ['bytes', out.bytes], ['value bytes', out.valueBytes],
    ['sessions', out.sessions], ['oldest rev', out.oldestRev], ['taken on', `${out.node} at ${out.createdAt}`], ['sha256', out.sha256],
  ];
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(12)}${v}\n`);
  return ExitCode.OK;
}
