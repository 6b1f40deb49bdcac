/**
 * TLS for the server's one listener (clients, admin endpoints and peers): the certificate files
 * named by --tls-cert/--tls-key/--tls-ca, read and checked at start so that a missing file or a
 * key that does not belong to its certificate stops the server with one clear line, not a
 * handshake failure on the first connection.
 *
 * Client certificates (--tls-client-certs):
 * - `off`: none asked for; anyone who trusts the server's certificate may connect (COORD_TOKEN
 *   still applies). Peers then verify only the server they dial.
 * - `request` (the default with --tls-ca): asked for, not required. A client without one is
 *   served; a certificate that is presented must chain to --tls-ca, else the request is refused
 *   (403). Peer links must present one (mutual TLS between peers; each dials with its own
 *   server certificate).
 * - `require`: every connection must present a certificate that chains to --tls-ca; the TLS
 *   handshake refuses any other.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

export type ClientCertMode = 'require' | 'request' | 'off';
export const CLIENT_CERT_MODES: readonly ClientCertMode[] = ['require', 'request', 'off'];

export interface ServerTls {
  /** PEM: this node's certificate (chain), also presented to peers it dials when `ca` is set. */
  cert: string;
  key: string;
  /** PEM: the CA that signs peers' (and clients') certificates; trusted instead of the system's. */
  ca?: string;
  clientCerts: ClientCertMode;
}

/** A TLS setting that cannot work; its message is the whole explanation. */
export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
}

export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
  clientCerts?: string;
}

/** Reads and checks the files; throws TlsConfigError naming the flag and file at fault. */
export function loadServerTls(files: TlsFiles): ServerTls | undefined {
  const { cert, key, ca, clientCerts } = files;
  if (cert === undefined && key === undefined) {
    if (ca !== undefined || clientCerts !== undefined) {
      throw new TlsConfigError(`${ca !== undefined ? '--tls-ca' : '--tls-client-certs'} needs --tls-cert and --tls-key (TLS is off without them)`);
    }
    return undefined;
  }
  if (cert === undefined || key === undefined) throw new TlsConfigError('--tls-cert and --tls-key go together: give both');
  const mode = (clientCerts ?? (ca !== undefined ? 'request' : 'off')) as ClientCertMode;
  if (!CLIENT_CERT_MODES.includes(mode)) throw new TlsConfigError(`--tls-client-certs "${clientCerts}": expected require, request or off`);
  if (mode !== 'off' && ca === undefined) throw new TlsConfigError(`--tls-client-certs ${mode} needs --tls-ca (the CA client certificates must chain to)`);
  const tls: ServerTls = { cert: readPem('--tls-cert', cert), key: readPem('--tls-key', key), clientCerts: mode };
  if (ca !== undefined) tls.ca = readPem('--tls-ca', ca);
  checkTls(tls, { cert, key, ca });
  return tls;
}

/** Throws TlsConfigError unless the PEM material makes a usable context (key matches cert). */
export function checkTls(tls: ServerTls, names: { cert: string; key: string; ca?: string | undefined } = { cert: 'the certificate', key: 'the key' }): void {
  try {
    createSecureContext({ cert: tls.cert, key: tls.key, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH' || /key values mismatch/i.test(e.message)) {
      throw new TlsConfigError(`the key ${names.key} does not belong to the certificate ${names.cert} (--tls-key and --tls-cert must be a pair)`);
    }
    throw new TlsConfigError(`cannot use the TLS files (cert ${names.cert}, key ${names.key}${names.ca !== undefined ? `, ca ${names.ca}` : ''}): ${e.message}`);
  }
}

function readPem(flag: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TlsConfigError(`${flag} ${file}: cannot read it (${e.code ?? e.message})`);
  }
  if (!text.includes('-----BEGIN ')) throw new TlsConfigError(`${flag} ${file}: not a PEM file (no "-----BEGIN" line)`);
  return text;
}
