/**
 * Throwaway certificates for the TLS tests, made with the `openssl` command (node:crypto cannot
 * issue X.509 certificates) in a temp directory: a CA, a server certificate for 127.0.0.1 and
 * localhost (usable as a client certificate too, as peers use theirs), a client certificate, and
 * a second CA with its own server certificate (a stranger the first CA did not sign).
 * Without openssl this throws, saying so: a TLS test must never pass by being skipped.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './server.ts';

export interface TestCerts {
  dir: string;
  /** File paths. */
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Signed by another CA: trusted by nobody here. */
  strangerCert: string;
  strangerKey: string;
  /** PEM text of a file. */
  pem(file: string): string;
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') {
      throw new Error('the TLS tests need the `openssl` command to make throwaway certificates, and it is not on PATH (apt-get install openssl)');
    }
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`]);
}

/** A leaf certificate signed by `ca`, for serverAuth and clientAuth, valid for loopback. */
function makeLeaf(dir: string, ca: string, name: string): void {
  writeFileSync(join(dir, `${name}.ext`), [
    'basicConstraints = CA:FALSE',
    'keyUsage = digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth, clientAuth',
    'subjectAltName = IP:127.0.0.1, DNS:localhost',
    '',
  ].join('\n'));
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
    '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
}

export function makeTestCerts(): TestCerts {
  const dir = tempDir('coord-tls-');
  makeCa(dir, 'ca');
  makeLeaf(dir, 'ca', 'server');
  makeLeaf(dir, 'ca', 'client');
  makeCa(dir, 'other-ca');
  makeLeaf(dir, 'other-ca', 'stranger');
  const f = (name: string) => join(dir, name);
  return {
    dir,
    caCert: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    strangerCert: f('stranger.crt'),
    strangerKey: f('stranger.key'),
    pem: (file) => readFileSync(file, 'utf8'),
  };
}
