/**
 * Shared setup for the SDK and CLI acceptance tests: a real in-process server (ephemeral port,
 * temp LevelDB), SDK clients, proxies, a server restart on the same port and data directory, and
 * `eventually` for polling a condition with a generous deadline. Everything made through an env
 * is closed and removed by `env.stop()` (call it in afterAll / afterEach).
 *
 * With COORD_TEST_CLUSTER=3 the env is an in-process three-node cluster instead (see
 * test-coord.ts): `url` (and so `client()`, `proxy()`, `port`) names a different node each time
 * it is read, a follower first, and `urls` names them all.
 */
import { connect, type ConnectOptions, type CoordClient } from '../../client/index.ts';
import { RecipeProxy } from './recipe-proxy.ts';
import { TestCoord } from './test-coord.ts';

export { inCluster } from './test-coord.ts';

export class RecipeEnv {
  private readonly cleanups: (() => Promise<unknown> | unknown)[] = [];

  private constructor(readonly coord: TestCoord) {}

  static async start(): Promise<RecipeEnv> {
    return new RecipeEnv(await TestCoord.start());
  }

  /** The server's url; in a cluster, the next node's (each read names another node). */
  get url(): string {
    return this.coord.nextUrl();
  }

  /** The server's port; in a cluster, the next node's. */
  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Every node's url (one on a single server), starting at a different node each time it is read. */
  get urls(): string[] {
    return this.coord.nextUrls();
  }

  get dataDir(): string {
    return this.coord.dataDir;
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

  /** Stops the server (every node) and starts it again on the same port and data: clients see their connections drop. */
  async restart(): Promise<void> {
    await this.coord.restart();
  }

  /** Runs `fn` at stop(), before what was deferred earlier and before the server stops. */
  defer(fn: () => Promise<unknown> | unknown): void {
    this.cleanups.push(fn);
  }

  /** Runs what was deferred (latest first), then stops the server and removes its data. */
  async stop(): Promise<void> {
    for (const fn of this.cleanups.splice(0).reverse()) await Promise.resolve().then(fn).catch(() => {});
    await this.coord.stop();
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
