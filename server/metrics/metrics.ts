/**
 * A server's Prometheus metrics (GET /metrics, route.ts), through prom-client, in a Registry of
 * its own: several servers share one process in the tests, so nothing goes in prom-client's
 * global registry.
 *
 * The rest of the server knows nothing of prom-client. It reports through small hooks:
 * - `requests` (RequestObserver): the API tells it each answered request (op, result code, when
 *   it arrived); counters and the write histogram are bumped inline, through label children
 *   cached here, so a request costs two map lookups and no allocation;
 * - `storage` (StorageObserver): every storage append, its entries and how long it took;
 * - `snapshots` (SnapshotHooks): the snapshots this node takes;
 * and the rest is read when Prometheus scrapes (`collect()`): the node's stats() once per scrape,
 * the connection count, the bytes sent to each peer.
 *
 * The process metrics (CPU, memory, event loop lag, GC) belong to the process, not to a server:
 * they are collected once per process, in a registry of their own, and added to every scrape.
 * collectDefaultMetrics starts an event-loop monitor and a GC observer each time it is called and
 * never stops them, so calling it per server would leak both with every server a process starts.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from '../api/connection.ts';
import type { SnapshotHooks } from '../consensus/snapshots.ts';
import type { NodeStats } from '../node.ts';
import type { StorageObserver } from './storage.ts';

/** What is read at scrape time; bound once the server has built them (see attach()). */
export interface MetricsSources {
  stats(): NodeStats;
  connections(): number;
  /** Bytes sent so far to each peer, by peer id. */
  peerBytes(): ReadonlyMap<string, { readonly bytes: number }>;
}

/** Seconds: from 0.5 ms (a batched write on a fast disk) to 10 s (a stalled one). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Entries per storage append (group commit): 1 when idle, hundreds under load. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];
/** Seconds to take and save a snapshot. */
const SNAPSHOT_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

let processRegistry: Registry | null = null;

function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

type Child<T> = { inc(n?: number): void } & T;

export class ServerMetrics {
  readonly registry = new Registry();
  private sources: MetricsSources | null = null;
  /** The node's stats, read once at the start of each scrape. */
  private stats: NodeStats | null = null;

  private readonly requestsTotal = new Counter({
    name: 'coord_requests_total',
    help: 'Client requests answered, by op and result code (OK or a protocol error code).',
    labelNames: ['op', 'code'] as const,
    registers: [this.registry],
  });
  private readonly requestChildren = new Map<string, Map<string, Child<object>>>();
  private readonly writeSeconds = new Histogram({
    name: 'coord_write_duration_seconds',
    help: 'Client writes (set, del, txn), from the request\'s arrival to its answer (durable on a majority and applied).',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly appendSeconds = new Histogram({
    name: 'coord_storage_append_duration_seconds',
    help: 'Storage appends (log entries and hard state), from the call to its completion; sync="true" includes the fsync.',
    labelNames: ['sync'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly appendSynced = this.appendSeconds.labels('true');
  private readonly appendUnsynced = this.appendSeconds.labels('false');
  private readonly appendEntries = new Histogram({
    name: 'coord_storage_append_entries',
    help: 'Log entries per storage append (group commit: the writes that share one fsync).',
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });
  private readonly snapshotSeconds = new Histogram({
    name: 'coord_snapshot_duration_seconds',
    help: 'Snapshots this node took: from capturing the store to the snapshot being durable.',
    buckets: SNAPSHOT_BUCKETS,
    registers: [this.registry],
  });
  private readonly snapshotBytes = new Gauge({
    name: 'coord_snapshot_size_bytes',
    help: 'Size of the latest snapshot this node took (0: none since it started).',
    registers: [this.registry],
  });
  private snapshotStarted = 0;

  constructor() {
    const self = this;
    const stat = (): NodeStats => self.current();
    const gauge = (name: string, help: string, read: (s: NodeStats) => number): void => {
      new Gauge({ name, help, registers: [this.registry], collect() { this.set(read(stat())); } });
    };
    /** A counter whose running total is kept elsewhere, copied in at scrape time. */
    const total = (name: string, help: string, read: (s: NodeStats) => number): void => {
      new Counter({ name, help, registers: [this.registry], collect() { this.reset(); this.inc(read(stat())); } });
    };
    gauge('coord_raft_term', 'The Raft term this node is in.', (s) => s.term);
    gauge('coord_raft_is_leader', '1 while this node leads, else 0.', (s) => (s.isLeader ? 1 : 0));
    total('coord_raft_leader_changes_total', 'Times this node saw a new leader (including the first it saw after it started).', (s) => s.leaderChanges);
    gauge('coord_raft_commit_index', 'The highest log index this node knows is committed.', (s) => s.commit);
    gauge('coord_raft_applied_index', 'The highest log index this node has applied to its store.', (s) => s.applied);
    gauge('coord_raft_proposals_pending', 'Writes proposed on this node (as leader) and not yet applied.', (s) => s.proposalsPending);
    total('coord_writes_refused_as_reads_total', 'Conditional writes this node, leading, answered REV_MISMATCH as a read, with no log entry.', (s) => s.writesRefusedAsReads);
    gauge('coord_store_revision', 'The store revision this node has applied.', (s) => s.rev);
    gauge('coord_sessions', 'Client sessions open in the cluster (every node keeps the list).', (s) => s.sessions);
    gauge('coord_watches', 'WAITs and WATCHes open on this node.', (s) => s.watches);
    total('coord_watch_slow_consumers_total', 'Watches this node ended with SLOW_CONSUMER (the client read too slowly).', (s) => s.slowConsumersEnded);
    gauge('coord_history_oldest_revision', 'The oldest revision whose events are kept: a WAIT or WATCH from before it gets TOO_LATE.', (s) => s.historyOldestRev);
    gauge('coord_history_bytes', 'Bytes of paths and values in the kept history.', (s) => s.historyBytes);
    new Gauge({
      name: 'coord_connections',
      help: 'Client WebSocket connections open on this node.',
      registers: [this.registry],
      collect() { this.set(self.sources?.connections() ?? 0); },
    });
    new Counter({
      name: 'coord_peer_sent_bytes_total',
      help: 'Bytes this node sent to each peer (Raft messages, snapshots, forwarded writes, keepalives).',
      labelNames: ['peer'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [peer, sent] of self.sources?.peerBytes() ?? []) this.labels(peer).inc(sent.bytes);
      },
    });
  }

  /** The server's parts to read at scrape time, once they exist. */
  attach(sources: MetricsSources): void {
    this.sources = sources;
  }

  private current(): NodeStats {
    return this.stats ?? this.sources?.stats() ?? EMPTY_STATS;
  }

  /** The request hook the API calls (see RequestObserver). */
  readonly requests: RequestObserver = {
    answered: (op, code, arrivedMs) => {
      let byCode = this.requestChildren.get(op);
      if (byCode === undefined) this.requestChildren.set(op, (byCode = new Map()));
      let child = byCode.get(code);
      if (child === undefined) byCode.set(code, (child = this.requestsTotal.labels(op, code)));
      child.inc();
      if (op === 'set' || op === 'del' || op === 'txn') this.writeSeconds.observe((performance.now() - arrivedMs) / 1000);
    },
  };

  readonly storage: StorageObserver = {
    appended: (entries, sync, seconds) => {
      (sync ? this.appendSynced : this.appendUnsynced).observe(seconds);
      if (entries > 0) this.appendEntries.observe(entries);
    },
  };

  readonly snapshots: SnapshotHooks = {
    began: () => {
      this.snapshotStarted = performance.now();
    },
    saved: (bytes) => {
      this.snapshotSeconds.observe((performance.now() - this.snapshotStarted) / 1000);
      this.snapshotBytes.set(bytes);
    },
  };

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition: this server's families, then the process's. */
  async render(): Promise<string> {
    this.stats = this.sources?.stats() ?? null;
    try {
      const own = await this.registry.metrics();
      return own + (await processMetrics().metrics());
    } finally {
      this.stats = null;
    }
  }
}

const EMPTY_STATS: NodeStats = {
  term: 0, isLeader: false, commit: 0, applied: 0, leaderChanges: 0, proposalsPending: 0, sessions: 0, watches: 0,
  slowConsumersEnded: 0, writesRefusedAsReads: 0, historyOldestRev: 0, historyBytes: 0, rev: 0,
};
