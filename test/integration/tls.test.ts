// Method: real TLS. Throwaway certificates are made by `openssl` (test/helpers/tls-certs.ts; the
// file fails, not skips, without it), real in-process servers serve wss:// with them, and the
// SDK and the real `coord` CLI (child processes) connect with and without the CA and client
// certificates. Each refusal is checked for its message, so a silent fallback to plain ws or to
// "trust anything" would fail here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type CoordClient } from '../../client/index.ts';
import { loadServerTls, TlsConfigError, type ClientCertMode } from '../../server/tls.ts';
import { coord, killAllCli } from '../helpers/cli-run.ts';
import { removeDir, startTestServer } from '../helpers/server.ts';
import { makeTestCerts, type TestCerts } from '../helpers/tls-certs.ts';

let certs: TestCerts;
const servers: Array<{ close(): Promise<void>; dataDir: string }> = [];
const clients: CoordClient[] = [];

beforeAll(() => {
  certs = makeTestCerts();
});

afterAll(async () => {
  await killAllCli();
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  for (const s of servers) {
    await s.close();
    removeDir(s.dataDir);
  }
  removeDir(certs.dir);
});

async function tlsServer(clientCerts: ClientCertMode) {
  const tls = loadServerTls({
    cert: certs.serverCert, key: certs.serverKey, clientCerts,
    ...(clientCerts !== 'off' ? { ca: certs.caCert } : {}),
  })!;
  const s = await startTestServer({ tls });
  servers.push(s);
  return s;
}

const quick = { failFast: true, connectTimeoutMs: 5000 } as const;

describe('a TLS server (wss://)', () => {
  it('serves the SDK over wss:// with the CA: set, get and watch', async () => {
    const s = await tlsServer('off');
    expect(s.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const c = await connect({ urls: s.url, tls: { ca: certs.pem(certs.caCert) }, ...quick });
    clients.push(c);
    const seen: string[] = [];
    const watch = c.watch('/tls/**', { fromRev: 1 });
    const collected = (async () => {
      for await (const e of watch) {
        seen.push(`${e.path}=${e.kind === 'set' ? Buffer.from(e.value!).toString() : ''}`);
        if (seen.length === 2) break;
      }
    })();
    const rev = await c.set('/tls/a', 'one');
    await c.set('/tls/b', 'two');
    expect(Buffer.from((await c.get('/tls/a')).value!).toString()).toBe('one');
    await collected;
    expect(seen).toEqual(['/tls/a=one', '/tls/b=two']);
    expect(rev).toBeGreaterThan(0);
  });

  it('refuses a client without the CA, saying the certificate is not trusted and what to pass', async () => {
    const s = await tlsServer('off');
    await expect(connect({ urls: s.url, ...quick })).rejects.toThrow(/certificate is not trusted.*(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_).*tls\.ca/);
  });

  it('tells a ws:// client that the server speaks TLS (use wss://)', async () => {
    const s = await tlsServer('off');
    const plain = s.url.replace(/^wss:/, 'ws:');
    await expect(connect({ urls: plain, ...quick })).rejects.toThrow(/use wss:\/\//);
  });

  it('tells a wss:// client that a plain server does not speak TLS', async () => {
    const s = await startTestServer({});
    servers.push(s);
    const secure = s.url.replace(/^ws:/, 'wss:');
    await expect(connect({ urls: secure, tls: { ca: certs.pem(certs.caCert) }, ...quick })).rejects.toThrow(/does not speak TLS.*use ws:\/\//);
  });

  it('client certificates "require": refuses a client without one or with a stranger\'s, serves one with its CA\'s', async () => {
    const s = await tlsServer('require');
    const ca = certs.pem(certs.caCert);
    await expect(connect({ urls: s.url, tls: { ca }, ...quick })).rejects.toThrow(/requires a client certificate/);
    await expect(connect({
      urls: s.url, tls: { ca, cert: certs.pem(certs.strangerCert), key: certs.pem(certs.strangerKey) }, ...quick,
    })).rejects.toThrow(/refused our client certificate|hung up on our TLS connection.*client certificates.*--tls-ca/);
    const c = await connect({ urls: s.url, tls: { ca, cert: certs.pem(certs.clientCert), key: certs.pem(certs.clientKey) }, ...quick });
    clients.push(c);
    expect(await c.set('/mtls', 'yes')).toBeGreaterThan(0);
  });

  it('client certificates "request": serves a client without one, refuses one the CA did not sign', async () => {
    const s = await tlsServer('request');
    const ca = certs.pem(certs.caCert);
    const c = await connect({ urls: s.url, tls: { ca }, ...quick });
    clients.push(c);
    expect(await c.set('/optional', 'yes')).toBeGreaterThan(0);
    await expect(connect({
      urls: s.url, tls: { ca, cert: certs.pem(certs.strangerCert), key: certs.pem(certs.strangerKey) }, ...quick,
    })).rejects.toThrow(/403/);
  });
});

describe('TLS settings that cannot work stop the server with a clear error', () => {
  it('a missing file, a key that is not the certificate\'s, a CA without a certificate, require without a CA', () => {
    expect(() => loadServerTls({ cert: `${certs.dir}/nope.crt`, key: certs.serverKey }))
      .toThrow(/--tls-cert .*nope\.crt: cannot read it \(ENOENT\)/);
    expect(() => loadServerTls({ cert: certs.serverCert, key: certs.clientKey }))
      .toThrow(/does not belong to the certificate/);
    expect(() => loadServerTls({ ca: certs.caCert })).toThrow(/needs --tls-cert and --tls-key/);
    expect(() => loadServerTls({ cert: certs.serverCert, key: certs.serverKey, clientCerts: 'require' })).toThrow(/needs --tls-ca/);
    expect(() => loadServerTls({ cert: certs.serverCert, key: certs.serverKey, clientCerts: 'sometimes' })).toThrow(TlsConfigError);
    expect(loadServerTls({ cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert })?.clientCerts).toBe('request');
  });
});

describe('the coord CLI over wss://', () => {
  it('get, set and status with --cacert (or COORD_CACERT); without it, exit 3 and why', async () => {
    const s = await tlsServer('off');
    const set = await coord(['--url', s.url, '--cacert', certs.caCert, 'set', '/cli', '-1'], { input: 'over-tls' });
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    const get = await coord(['--url', s.url, 'get', '/cli'], { env: { COORD_CACERT: certs.caCert } });
    expect(get.code).toBe(0);
    expect(get.stdout).toBe('over-tls');
    const status = await coord(['--url', s.url, '--cacert', certs.caCert, 'status', '--json']);
    expect(status.code).toBe(0);
    const st = JSON.parse(status.stdout) as { leader: string; members: Array<{ id: string; url: string; reachable: boolean }> };
    expect(st.members).toEqual([expect.objectContaining({ id: 'n1', reachable: true, url: s.url })]);
    const untrusted = await coord(['--url', s.url, 'get', '/cli']);
    expect(untrusted.code).toBe(3);
    expect(untrusted.stderr).toMatch(/certificate is not trusted.*--cacert/);
    const untrustedStatus = await coord(['--url', s.url, 'status']);
    expect(untrustedStatus.code).toBe(3);
    expect(untrustedStatus.stderr).toMatch(/certificate is not trusted/);
    const missing = await coord(['--url', s.url, '--cacert', `${certs.dir}/missing.crt`, 'get', '/cli']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--cacert .*missing\.crt: cannot read it \(ENOENT\)/);
  });

  it('--cert/--key for a server that requires client certificates', async () => {
    const s = await tlsServer('require');
    const base = ['--url', s.url, '--cacert', certs.caCert];
    const without = await coord([...base, 'get', '/x']);
    expect(without.code).toBe(3);
    expect(without.stderr).toMatch(/requires a client certificate/);
    const withCert = await coord([...base, '--cert', certs.clientCert, '--key', certs.clientKey, 'set', '/x', '-1'], { input: 'v' });
    expect(withCert.stderr).toBe('');
    expect(withCert.code).toBe(0);
    const status = await coord([...base, '--cert', certs.clientCert, '--key', certs.clientKey, 'status', '--json']);
    expect(status.code).toBe(0);
    const halfPair = await coord([...base, '--cert', certs.clientCert, 'get', '/x']);
    expect(halfPair.code).toBe(2);
    expect(halfPair.stderr).toMatch(/--cert needs --key/);
  });
});
