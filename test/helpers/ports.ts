/**
 * A port free on 127.0.0.1 now, for a server that must be told its port before it starts (and
 * that a restart must get again: a cluster member keeps its address).
 *
 * Chosen below the kernel's ephemeral range: a port from listen(0) is one the kernel also hands
 * out as the local port of outgoing connections, and any test's client could take it while a
 * SIGKILLed member is down, so that the member's restart fails with EADDRINUSE.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const ephemeralLow = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
})();
const LOW = 10_000;

function tryListen(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => {
      const got = (srv.address() as { port: number }).port;
      srv.close(() => resolve(got));
    });
  });
}

export async function freePort(): Promise<number> {
  if (ephemeralLow > LOW + 1000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = await tryListen(LOW + Math.floor(Math.random() * (ephemeralLow - LOW)));
      if (port !== null) return port;
    }
  }
  const port = await tryListen(0);
  if (port === null) throw new Error('no free port on 127.0.0.1');
  return port;
}
