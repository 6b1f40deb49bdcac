/**
 * Network faults between the servers of a test cluster. One TCP proxy stands in front of each
 * node's peer listener; the nodes are told (--peers, --advertise) to reach each other through
 * the proxies, while clients connect straight to the nodes' own ports. A node dials each peer on
 * its own outbound connection (server/peers/links.ts), naming itself in the upgrade request
 * (PEER_ID_HEADER), so the proxy in front of node `to` learns from that header which node `from`
 * is dialling, and can fault each direction (from → to) on its own:
 *
 * - `cut`: the connections from → to are dropped (both sides see the socket close) and new ones
 *   are accepted and closed at once, as a refused connection;
 * - `blackhole`: the connections stay open but every byte, both ways, is read and discarded, and
 *   new ones are held open without an answer to their upgrade (the dialler's handshake times
 *   out). Neither side is told anything: the harsher, more realistic partition;
 * - `heal`: back to normal. A connection that lost bytes to a blackhole has a hole in its byte
 *   stream (a WebSocket frame cut in half), so it is dropped at the heal, as a peer would reset
 *   it; the nodes redial (within their 1 s backoff).
 *
 * A connection that names no node (not a peer link) passes untouched.
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';

export type PeerFault = 'cut' | 'blackhole';

const HEADER = 'x-coord-node'; // server/peers/wire.ts PEER_ID_HEADER (the test does not import the server)
const HEADERS_MAX_BYTES = 16 * 1024;

interface Conn {
  from: string | null;
  client: Socket;
  upstream: Socket | null;
  /** Bytes were discarded on this connection (it cannot carry on after a heal). */
  holed: boolean;
}

/** The faults in force, by direction, and the proxies that apply them. */
export class PeerNet {
  private readonly faults = new Map<string, PeerFault>();
  private readonly proxies = new Map<string, PeerProxy>();
  /** Every change, with its time (performance.now()), for the test's report. */
  readonly log: { at: number; what: string }[] = [];

  /** Starts the proxy in front of node `id`, which listens on `port`; returns the proxy's url. */
  async add(id: string, port: number): Promise<string> {
    const p = await PeerProxy.start(this, id, port);
    this.proxies.set(id, p);
    return p.url;
  }

  fault(from: string, to: string): PeerFault | null {
    return this.faults.get(`${from}>${to}`) ?? null;
  }

  /** Sets (or, with null, heals) the fault on one direction. */
  set(from: string, to: string, fault: PeerFault | null): void {
    if (from === to) return;
    if (fault === null) this.faults.delete(`${from}>${to}`);
    else this.faults.set(`${from}>${to}`, fault);
    this.proxies.get(to)?.apply(from);
  }

  /** Both directions between every node of `a` and every node of `b`. */
  partition(a: readonly string[], b: readonly string[], fault: PeerFault = 'blackhole'): void {
    this.log.push({ at: performance.now(), what: `${fault} [${a.join(',')}] | [${b.join(',')}]` });
    for (const x of a) {
      for (const y of b) {
        this.set(x, y, fault);
        this.set(y, x, fault);
      }
    }
  }

  /** Cuts (or blackholes) `id` off from every other node. */
  isolate(id: string, fault: PeerFault = 'blackhole'): void {
    this.partition([id], [...this.proxies.keys()].filter((x) => x !== id), fault);
  }

  /** Every fault lifted. */
  heal(): void {
    this.log.push({ at: performance.now(), what: 'heal' });
    const dirs = [...this.faults.keys()];
    this.faults.clear();
    for (const d of dirs) {
      const [from, to] = d.split('>') as [string, string];
      this.proxies.get(to)?.apply(from);
    }
  }

  /** Connections accepted so far by the proxy in front of `id`. */
  accepted(id: string): number {
    return this.proxies.get(id)?.accepted ?? 0;
  }

  async close(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    this.proxies.clear();
  }
}

/** The proxy in front of one node (`to`). */
class PeerProxy {
  private readonly conns = new Set<Conn>();
  accepted = 0;

  private constructor(private readonly net: PeerNet, readonly to: string, private readonly target: number,
    private readonly server: Server, readonly port: number) {}

  static async start(net: PeerNet, to: string, target: number): Promise<PeerProxy> {
    let proxy: PeerProxy | null = null;
    const server = createServer((client) => proxy!.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new PeerProxy(net, to, target, server, (server.address() as { port: number }).port);
    return proxy;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  private accept(client: Socket): void {
    this.accepted++;
    const conn: Conn = { from: null, client, upstream: null, holed: false };
    this.conns.add(conn);
    const drop = (): void => {
      this.conns.delete(conn);
      client.destroy();
      conn.upstream?.destroy();
    };
    client.on('error', drop);
    client.on('close', drop);
    let head = Buffer.alloc(0);
    const onHead = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 && head.length < HEADERS_MAX_BYTES) return;
      client.off('data', onHead);
      conn.from = end < 0 ? null : peerId(head.subarray(0, end).toString('latin1'));
      const fault = conn.from === null ? null : this.net.fault(conn.from, this.to);
      if (fault === 'cut') return drop();
      if (fault === 'blackhole') {
        // Held open, unanswered: the upgrade never completes.
        conn.holed = true;
        client.on('data', () => {});
        return;
      }
      this.connectUpstream(conn, head, drop);
    };
    client.on('data', onHead);
  }

  private connectUpstream(conn: Conn, head: Buffer, drop: () => void): void {
    const upstream = tcpConnect(this.target, '127.0.0.1');
    conn.upstream = upstream;
    upstream.write(head);
    const passes = (): boolean => {
      if (conn.from === null) return true;
      const fault = this.net.fault(conn.from, this.to);
      if (fault !== null) conn.holed = true;
      return fault === null;
    };
    conn.client.on('data', (d: Buffer) => {
      if (passes()) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (passes()) conn.client.write(d);
    });
    upstream.on('error', drop);
    upstream.on('close', drop);
  }

  /** The fault on from → this node changed: apply it to the connections already open. */
  apply(from: string): void {
    const fault = this.net.fault(from, this.to);
    for (const c of [...this.conns]) {
      if (c.from !== from) continue;
      if (fault === 'cut' || (fault === null && c.holed)) {
        this.conns.delete(c);
        c.client.destroy();
        c.upstream?.destroy();
      } else if (fault === 'blackhole') {
        c.holed = true;
      }
    }
  }

  async close(): Promise<void> {
    for (const c of this.conns) {
      c.client.destroy();
      c.upstream?.destroy();
    }
    this.conns.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function peerId(head: string): string | null {
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === HEADER) return line.slice(colon + 1).trim();
  }
  return null;
}
