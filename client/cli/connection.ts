/** Where the CLI connects: --url (repeatable or comma-separated), else COORD_URL, else local. */
import { connect, type CoordClient } from '../client.ts';

export const defaultUrl = 'ws://127.0.0.1:7070';

export interface GlobalOptions {
  url?: string[];
  timeout: number;
  ttl?: number;
}

export function serverUrls(opts: GlobalOptions): string[] {
  const given = opts.url && opts.url.length > 0 ? opts.url.join(',') : process.env.COORD_URL || defaultUrl;
  return given.split(',').map((u) => u.trim()).filter((u) => u !== '');
}

export function open(opts: GlobalOptions): Promise<CoordClient> {
  return connect({
    urls: serverUrls(opts),
    connectTimeoutMs: opts.timeout,
    requestTimeoutMs: opts.timeout,
    ...(opts.ttl !== undefined ? { sessionTtlMs: opts.ttl } : {}),
    ...(process.env.COORD_TOKEN ? { token: process.env.COORD_TOKEN } : {}),
  });
}
