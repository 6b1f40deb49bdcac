/**
 * A cluster of real `coord server` processes on loopback, each with its own data directory and
 * port, for tests that kill, freeze and restart them. Ports are picked free beforehand, so a
 * node restarts on the port its peers know.
 */
import { request } from 'node:https';
import { removeDir, spawnServer, tempDir, type ChildServer } from './server.ts';
import { freePort } from './ports.ts';
import { PeerNet } from './peer-proxy.ts';

export interface ClusterNode {
  id: string;
  port: number;
  url: string;
  /** Where peers reach it: its own url, or its peer proxy's (see ClusterOptions.peerProxy). */
  peerUrl: string;
  dataDir: string;
  server: ChildServer | null;
}


export interface ClusterOptions {
  size?: number;
  /** Extra `coord server` flags for every node (e.g. a short --election-ms). */
  args?: string[];
  env?: Record<string, string>;
  /**
   * Put a proxy in front of each node's peer listener (peer-proxy.ts), so the test can cut or
   * blackhole the links between nodes (`cluster.net`). Clients still connect straight to nodes.
   */
  peerProxy?: boolean;
  /**
   * The nodes serve TLS (their --tls-* flags go in `args`): urls are wss://, and the cluster's
   * own /readyz polls trust `ca` (PEM) and present `cert`/`key` if given.
   */
  tls?: { ca: string; cert?: string; key?: string };
}

export class TestCluster {
  readonly nodes: ClusterNode[] = [];
  /** The peer proxies' faults, when started with `peerProxy`. */
  readonly net: PeerNet | null;
  private readonly scheme: 'ws' | 'wss';
  private constructor(private readonly args: string[], peerProxy: boolean, private readonly tls: ClusterOptions['tls']) {
    this.net = peerProxy ? new PeerNet() : null;
    this.scheme = tls === undefined ? 'ws' : 'wss';
  }

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const c = new TestCluster(options.args ?? ['--election-ms', '600', '--heartbeat-ms', '50'], options.peerProxy === true, options.tls);
    const size = options.size ?? 3;
    for (let i = 1; i <= size; i++) {
      const port = await freePort();
      const url = `${c.scheme}://127.0.0.1:${port}`;
      const peerUrl = c.net === null ? url : await c.net.add(`n${i}`, port);
      c.nodes.push({ id: `n${i}`, port, url, peerUrl, dataDir: tempDir('coord-cluster-'), server: null });
    }
    try {
      // Settled, not all: a node still starting when another failed would escape stop().
      const started = await Promise.allSettled(c.nodes.map((n) => c.startNode(n.id, true)));
      const failed = started.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      await c.waitReady();
    } catch (err) {
      // The caller never gets the cluster to stop: stop what started, or it outlives the test.
      await c.stop();
      throw err;
    }
    return c;
  }

  get peersSpec(): string {
    return this.nodes.map((n) => `${n.id}=${n.peerUrl}`).join(',');
  }

  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  node(id: string): ClusterNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /**
   * A new server that is not a member yet: started with --peers naming the cluster (without
   * itself), it waits to be added (`coord member add`).
   */
  async startJoiner(id: string): Promise<ClusterNode> {
    const spec = this.peersSpec;
    const port = await freePort();
    const url = `${this.scheme}://127.0.0.1:${port}`;
    const peerUrl = this.net === null ? url : await this.net.add(id, port);
    const n: ClusterNode = { id, port, url, peerUrl, dataDir: tempDir('coord-cluster-'), server: null };
    this.nodes.push(n);
    n.server = await spawnServer(n.dataDir, ['--id', id, ...this.args, ...this.advertise(n), '--peers', spec], port);
    return n;
  }

  /** Forgets a node that left the cluster (its process must be stopped). */
  forget(id: string): void {
    const i = this.nodes.findIndex((n) => n.id === id);
    if (i >= 0) {
      removeDir(this.nodes[i]!.dataDir);
      this.nodes.splice(i, 1);
    }
  }

  /** Starts (or restarts) a node; `withPeers` passes --peers (a restart does not need it). */
  async startNode(id: string, withPeers = false): Promise<void> {
    const n = this.node(id);
    const args = ['--id', n.id, ...this.args, ...this.advertise(n), ...(withPeers ? ['--peers', this.peersSpec] : [])];
    n.server = await spawnServer(n.dataDir, args, n.port);
  }

  private advertise(n: ClusterNode): string[] {
    return n.peerUrl === n.url ? [] : ['--advertise', n.peerUrl];
  }

  kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<unknown> {
    const n = this.node(id);
    const s = n.server;
    if (s === null) return Promise.resolve();
    n.server = null;
    s.proc.kill(signal);
    return s.exited;
  }

  async readyz(id: string): Promise<{ ready: boolean; leader: boolean; rev: number } | null> {
    try {
      if (this.tls !== undefined) return JSON.parse(await httpsGet(`https://127.0.0.1:${this.node(id).port}/readyz`, this.tls)) as { ready: boolean; leader: boolean; rev: number };
      const r = await fetch(`http://127.0.0.1:${this.node(id).port}/readyz`);
      return await r.json() as { ready: boolean; leader: boolean; rev: number };
    } catch {
      return null;
    }
  }

  /** Waits until every running node is ready and exactly one leads; returns the leader's id. */
  async waitReady(timeoutMs = 20_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const up = this.nodes.filter((n) => n.server !== null);
      const states = await Promise.all(up.map((n) => this.readyz(n.id)));
      const leaders = up.filter((_, i) => states[i]?.leader === true);
      if (states.every((s) => s?.ready === true) && leaders.length === 1) return leaders[0]!.id;
      if (Date.now() > end) throw new Error(`cluster not ready: ${JSON.stringify(states)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async leader(): Promise<string> {
    return this.waitReady();
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n.id, 'SIGTERM')));
    await this.net?.close();
    for (const n of this.nodes) removeDir(n.dataDir);
  }
}

/** GET over https with a private CA (fetch takes none): the body, whatever the status. */
export function httpsGet(url: string, tls: { ca: string; cert?: string; key?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body)).on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
