/**
 * A TCP proxy between a client and a coord server, for tests that need a connection to fail in a
 * precise way: `holdReplies()` stops passing the server's bytes to the clients (requests still
 * reach the server, answers are lost, as when a link dies one way), and `cutAll()` drops every
 * connection at once. New connections after a cut pass normally.
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';

export class RawProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; hold: boolean }>();
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(private readonly server: Server, readonly port: number) {}

  /** Listens on an ephemeral port and forwards each connection to `target` (`ws://host:port`). */
  static async start(target: string): Promise<RawProxy> {
    const { hostname, port } = new URL(target);
    let proxy: RawProxy | null = null;
    const server = createServer((client) => proxy!.accept(client, hostname, Number(port)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    proxy = new RawProxy(server, typeof address === 'object' && address !== null ? address.port : 0);
    return proxy;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  private accept(client: Socket, host: string, port: number): void {
    this.accepted++;
    const upstream = tcpConnect(port, host);
    const pair = { client, upstream, hold: false };
    this.pairs.add(pair);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      if (!pair.hold) client.write(d);
    });
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('error', drop);
    upstream.on('error', drop);
  }

  /** From now on, bytes from the server on the current connections are dropped. */
  holdReplies(): void {
    for (const p of this.pairs) p.hold = true;
  }

  /** Drops every current connection (both sides), without a WebSocket close. */
  cutAll(): void {
    for (const p of [...this.pairs]) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
