/**
 * Why `coord server` could not start, as one line an operator can act on: no stack trace, the
 * cause named (the errno code where there is one) and what to do about it where that is clear.
 */
import { StorageError } from './storage/level-storage.ts';

export interface StartContext {
  host: string;
  port: number;
  data: string;
}

export function describeStartError(err: unknown, ctx: StartContext): string {
  if (err instanceof StorageError) return oneLine(err.message);
  const e = err as NodeJS.ErrnoException;
  const where = `${ctx.host}:${ctx.port}`;
  switch (e?.code) {
    case 'EADDRINUSE':
      return `${where} is already in use (EADDRINUSE): stop what listens there, or pick another --port`;
    case 'EADDRNOTAVAIL':
      return `${ctx.host} is not an address of this machine (EADDRNOTAVAIL): check --host`;
    case 'EACCES':
    case 'EPERM':
      return e.syscall === 'listen' || e.syscall === 'bind'
        ? `not allowed to listen on ${where} (${e.code}): ports below 1024 need privileges`
        : `cannot use the data directory ${ctx.data}: ${oneLine(e.message)}`;
    case 'ENOTDIR':
    case 'EEXIST':
    case 'EROFS':
      return `cannot use the data directory ${ctx.data}: ${oneLine(e.message)}`;
    case 'ENOSPC':
      return `the disk holding ${ctx.data} is full (ENOSPC): free some space and start again`;
    default:
      return oneLine(e instanceof Error ? e.message : String(err));
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
