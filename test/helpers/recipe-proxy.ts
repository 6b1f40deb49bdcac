/**
 * A TCP proxy between SDK clients and a coord server, for recipe tests that need a connection to
 * fail on cue: `cut()` drops every connection (no WebSocket close, as when a cable is pulled),
 * `block()` also refuses new ones until `unblock()` (the client stays away long enough for its
 * session to expire), and `holdReplies()` keeps passing requests to the server but stops
 * passing its answers (a request is applied, the client never hears so).
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
  held: boolean;
}

export class RecipeProxy {
  private readonly pairs = new Set<Pair>();
  private blocked = false;
  /** Connections accepted (and passed on) so far. */
  accepted = 0;

  private constructor(private readonly server: Server, readonly port: number, private target: URL) {}

  /** Listens on an ephemeral port and forwards each connection to `target` (`ws://host:port`). */
  static async start(target: string): Promise<RecipeProxy> {
    let proxy: RecipeProxy | null = null;
    const server = createServer((client) => proxy!.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    proxy = new RecipeProxy(server, typeof address === 'object' && address !== null ? address.port : 0, new URL(target));
    return proxy;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  private accept(client: Socket): void {
    if (this.blocked) {
      client.destroy();
      return;
    }
    this.accepted++;
    const upstream = tcpConnect(Number(this.target.port), this.target.hostname);
    const pair: Pair = { client, upstream, held: false };
    this.pairs.add(pair);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      if (!pair.held) client.write(d);
    });
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('close', drop);
      s.on('error', drop);
    }
  }

  /** Drops every current connection at once. */
  cut(): void {
    for (const p of [...this.pairs]) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Drops every connection and refuses new ones until unblock(). */
  block(): void {
    this.blocked = true;
    this.cut();
  }

  unblock(): void {
    this.blocked = false;
  }

  /** From now on the server's bytes on the current connections are dropped. */
  holdReplies(): void {
    for (const p of this.pairs) p.held = true;
  }

  async close(): Promise<void> {
    this.block();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
