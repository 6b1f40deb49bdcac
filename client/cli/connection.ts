/** Where the CLI connects: --url (repeatable or comma-separated), else COORD_URL, else local. */
import { connect, type CoordClient } from '../client.ts';
import { UsageError } from './output.ts';

export const defaultUrl = 'ws://127.0.0.1:7070';

export interface GlobalOptions {
  url?: string[];
  timeout: number;
  ttl?: number;
}

/** The urls to try, each checked (UsageError for one that is not a ws:// or wss:// url). */
export function serverUrls(opts: GlobalOptions): string[] {
  const fromFlag = opts.url !== undefined && opts.url.length > 0;
  const given = fromFlag ? opts.url!.join(',') : process.env.COORD_URL || defaultUrl;
  const urls = given.split(',').map((u) => u.trim()).filter((u) => u !== '');
  for (const url of urls) checkUrl(url, fromFlag ? '--url' : 'COORD_URL entry');
  return urls;
}

/**
 * Throws UsageError unless `url` is a ws:// or wss:// url: `coord: --url "127.0.0.1:7070" must
 * start with ws:// or wss:// (for example ws://127.0.0.1:7070)`. `where` names where it came from.
 */
export function checkUrl(url: string, where: string): void {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme !== 'ws' && scheme !== 'wss') {
    const example = `ws://${url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '') || '127.0.0.1:7070'}`;
    throw new UsageError(`${where} "${url}" must start with ws:// or wss:// (for example ${validOr(example, defaultUrl)})`);
  }
  if (!URL.canParse(url)) throw new UsageError(`${where} "${url}" is not a valid url (for example ${defaultUrl})`);
}

const validOr = (url: string, fallback: string): string => (URL.canParse(url) ? url : fallback);

/**
 * Connects for one command. A refused connection fails at once, with its cause (exit 3), rather
 * than being retried until --timeout: whoever typed the command wants to know now.
 */
export function open(opts: GlobalOptions): Promise<CoordClient> {
  return connect({
    urls: serverUrls(opts),
    failFast: true,
    connectTimeoutMs: opts.timeout,
    requestTimeoutMs: opts.timeout,
    ...(opts.ttl !== undefined ? { sessionTtlMs: opts.ttl } : {}),
    ...(process.env.COORD_TOKEN ? { token: process.env.COORD_TOKEN } : {}),
  });
}
