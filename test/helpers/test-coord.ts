/**
 * The coord the SDK, CLI and recipe suites run against: one in-process server by default, or,
 * with `COORD_TEST_CLUSTER=3` in the environment, an in-process cluster of three servers on
 * loopback (each its own fastify listener, LevelDB directory and Raft node, linked by the real
 * peer transport). In a cluster, `nextUrl()` hands out the nodes' urls in turn starting with a
 * follower, so consecutive clients and CLI runs land on different nodes and writes are forwarded,
 * reads go through read-index and watches run on followers; `urls` lists every node, for a client
 * given several.
 *
 * In-process rather than child processes: three `coord server` children cost seconds of start-up
 * per suite on two cores, and the suites that need a process to SIGKILL or SIGSTOP already use
 * TestCluster (test/helpers/cluster.ts).
 */
import type { RunningServer, ServerOptions } from '../../server/server.ts';
import { freePort } from './ports.ts';
import { removeDir, startTestServer, tempDir } from './server.ts';

/** Nodes per test coord: COORD_TEST_CLUSTER (default 1, a single server). */
export const testClusterSize: number = (() => {
  const v = process.env.COORD_TEST_CLUSTER;
  if (v === undefined || v === '') return 1;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 7) throw new Error(`COORD_TEST_CLUSTER must be a node count from 1 to 7, not ${v}`);
  return n;
})();

/** Whether the suites run against a cluster (for `it.skipIf(inCluster)` and longer waits). */
export const inCluster = testClusterSize > 1;

/** Cluster timing: shorter than the defaults so an election at start costs well under a second. */
const CLUSTER_TIMING = { electionMs: 600, heartbeatMs: 50 } as const;

interface TestNode {
  id: string;
  port: number;
  url: string;
  dataDir: string;
  server: RunningServer | null;
}

export class TestCoord {
  private turn = 0;

  private constructor(
    readonly nodes: TestNode[],
    private readonly options: Partial<ServerOptions>,
  ) {}

  /**
   * One server, or `size` of them formed into a cluster, ready (a leader elected, every node
   * caught up). In a cluster, `options.port` is the first node's port (the others pick free ones).
   */
  static async start(options: Partial<ServerOptions> = {}, size = testClusterSize): Promise<TestCoord> {
    if (size === 1) {
      const dataDir = options.dataDir ?? tempDir('coord-recipe-');
      const server = await startTestServer({ ...options, dataDir });
      return new TestCoord([{ id: 'n1', port: server.port, url: server.url, dataDir, server }], options);
    }
    const nodes: TestNode[] = [];
    for (let i = 1; i <= size; i++) {
      const port = i === 1 && options.port ? options.port : await freePort();
      nodes.push({ id: `n${i}`, port, url: `ws://127.0.0.1:${port}`, dataDir: tempDir('coord-cluster-'), server: null });
    }
    const coord = new TestCoord(nodes, options);
    await coord.startAll();
    return coord;
  }

  get size(): number {
    return this.nodes.length;
  }

  /** Every node's url, in node order. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** Every node's url for a client given several: starting at nextUrl() (a follower first), so clients spread. */
  nextUrls(): string[] {
    const next = this.nextUrl();
    const first = this.nodes.findIndex((n) => n.url === next);
    return this.nodes.map((_, i) => this.nodes[(first + i) % this.nodes.length]!.url);
  }

  /** The url of the single server; in a cluster, each call the next node's, a follower's first. */
  nextUrl(): string {
    if (this.nodes.length === 1) return this.nodes[0]!.url;
    const leader = this.leaderIndex();
    const i = (leader + 1 + this.turn++) % this.nodes.length;
    return this.nodes[i]!.url;
  }

  /** The single server's data directory (a cluster's first node's). */
  get dataDir(): string {
    return this.nodes[0]!.dataDir;
  }

  /** The running servers (in-process objects). */
  get servers(): RunningServer[] {
    return this.nodes.flatMap((n) => (n.server === null ? [] : [n.server]));
  }

  /** Stops every server (clients see their connections drop) and starts them again on the same ports and data. */
  async restart(): Promise<void> {
    await this.shutdown();
    await this.resume();
  }

  /** Stops every server, keeping ports and data for resume(). */
  async shutdown(): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => {
      const s = n.server;
      n.server = null;
      await s?.close();
    }));
  }

  /** Starts every server again after shutdown(), on the same ports and data. */
  async resume(): Promise<void> {
    if (this.nodes.length === 1) {
      const n = this.nodes[0]!;
      n.server = await startTestServer({ ...this.options, dataDir: n.dataDir, port: n.port });
      return;
    }
    await this.startAll();
  }

  /** Stops every server and removes the data directories. */
  async stop(): Promise<void> {
    await this.shutdown();
    for (const n of this.nodes) removeDir(n.dataDir);
  }

  private async startAll(): Promise<void> {
    const peers = Object.fromEntries(this.nodes.map((n) => [n.id, n.url]));
    await Promise.all(this.nodes.map(async (n) => {
      n.server = await startTestServer({
        ...CLUSTER_TIMING, ...this.options, dataDir: n.dataDir, port: n.port, nodeId: n.id, peers,
      });
    }));
    await this.waitReady();
  }

  private leaderIndex(): number {
    return Math.max(0, this.nodes.findIndex((n) => n.server?.node.isLeader === true));
  }

  /** Waits until exactly one node leads and every node is ready. */
  private async waitReady(timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const up = this.servers;
      const leaders = up.filter((s) => s.node.isLeader).length;
      if (leaders === 1 && up.every((s) => s.node.isReady)) return;
      if (Date.now() > end) throw new Error(`test cluster not ready after ${timeoutMs} ms (${leaders} leaders)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
