/**
 * Shared setup for the SDK and CLI acceptance tests: a real in-process server (ephemeral port,
 * temp LevelDB), SDK clients, proxies, a server restart on the same port and data directory, and
 * `eventually` for polling a condition with a generous deadline. Everything made through an env
 * is closed and removed by `env.stop()` (call it in afterAll / afterEach).
 */
import { connect, type ConnectOptions, type CoordClient } from '../../client/index.ts';
import { RecipeProxy } from './recipe-proxy.ts';
import { removeDir, startTestServer, tempDir } from './server.ts';

type Server = Awaited<ReturnType<typeof startTestServer>>;

export class RecipeEnv {
  private readonly cleanups: (() => Promise<unknown> | unknown)[] = [];
  private running: Server | null;

  private constructor(server: Server, readonly dataDir: string, readonly port: number) {
    this.running = server;
  }

  static async start(): Promise<RecipeEnv> {
    const dataDir = tempDir('coord-recipe-');
    const server = await startTestServer({ dataDir });
    return new RecipeEnv(server, dataDir, server.port);
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** A connected SDK client (closed by stop()); fast reconnects so tests do not wait on backoff. */
  async client(options: Partial<ConnectOptions> = {}): Promise<CoordClient> {
    const c = await connect({ urls: this.url, backoffMs: [0, 20, 50, 100], ...options });
    this.defer(() => c.close());
    return c;
  }

  async proxy(): Promise<RecipeProxy> {
    const p = await RecipeProxy.start(this.url);
    this.defer(() => p.close());
    return p;
  }

  /** Stops the server (clients see their connections drop) and starts a new one on the same port and data. */
  async restart(): Promise<void> {
    await this.running?.close();
    this.running = null;
    this.running = await startTestServer({ dataDir: this.dataDir, port: this.port });
  }

  /** Runs `fn` at stop(), before what was deferred earlier and before the server stops. */
  defer(fn: () => Promise<unknown> | unknown): void {
    this.cleanups.push(fn);
  }

  /** Runs what was deferred (latest first), then stops the server and removes its data. */
  async stop(): Promise<void> {
    for (const fn of this.cleanups.splice(0).reverse()) await Promise.resolve().then(fn).catch(() => {});
    await this.running?.close();
    this.running = null;
    removeDir(this.dataDir);
  }
}

/**
 * Polls `probe` until it returns something other than undefined/false, and resolves with it.
 * Fails with `what` after `timeoutMs`: deadlines are generous, and only bound a hung test.
 */
export async function eventually<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await sleep(25);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const range = (n: number) => Array.from({ length: n }, (_, i) => i);
