/**
 * Where the CLI connects: --url (repeatable or comma-separated), else COORD_URL, else local; and
 * with which TLS files: --cacert/--cert/--key (etcdctl's names), else COORD_CACERT/COORD_CERT/
 * COORD_KEY.
 */
import { readFileSync } from 'node:fs';
import { connect, type CoordClient, type TlsOptions } from '../client.ts';
import { UsageError } from './output.ts';

export const defaultUrl = 'ws://127.0.0.1:7070';

export interface GlobalOptions {
  url?: string[];
  timeout: number;
  ttl?: number;
  cacert?: string;
  cert?: string;
  key?: string;
}

/**
 * The TLS files as node:tls takes them, or undefined when none is named. A file that cannot be
 * read, or a --cert without its --key, is a UsageError naming the flag and the file.
 */
export function tlsOptions(opts: GlobalOptions): TlsOptions | undefined {
  const pick = (flag: 'cacert' | 'cert' | 'key', env: string) => {
    const fromFlag = opts[flag];
    if (fromFlag !== undefined) return { file: fromFlag, where: `--${flag}` };
    const fromEnv = process.env[env];
    return fromEnv ? { file: fromEnv, where: env } : undefined;
  };
  const ca = pick('cacert', 'COORD_CACERT');
  const cert = pick('cert', 'COORD_CERT');
  const key = pick('key', 'COORD_KEY');
  if (ca === undefined && cert === undefined && key === undefined) return undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(`${cert !== undefined ? `${cert.where} needs --key (or COORD_KEY)` : `${key!.where} needs --cert (or COORD_CERT)`}: a client certificate and its key go together`);
  }
  const tls: TlsOptions = {};
  if (ca !== undefined) tls.ca = readPem(ca);
  if (cert !== undefined && key !== undefined) {
    tls.cert = readPem(cert);
    tls.key = readPem(key);
  }
  return tls;
}

function readPem(from: { file: string; where: string }): string {
  let text: string;
  try {
    text = readFileSync(from.file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`${from.where} ${from.file}: cannot read it (${e.code ?? e.message})`);
  }
  if (!text.includes('-----BEGIN ')) throw new UsageError(`${from.where} ${from.file}: not a PEM file (no "-----BEGIN" line)`);
  return text;
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
  const tls = tlsOptions(opts);
  return connect({
    ...(tls !== undefined ? { tls } : {}),
    urls: serverUrls(opts),
    failFast: true,
    connectTimeoutMs: opts.timeout,
    requestTimeoutMs: opts.timeout,
    ...(opts.ttl !== undefined ? { sessionTtlMs: opts.ttl } : {}),
    ...(process.env.COORD_TOKEN ? { token: process.env.COORD_TOKEN } : {}),
  });
}
