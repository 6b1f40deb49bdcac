/**
 * GET /metrics on a live server (ephemeral port, real LevelDB, real WebSockets): the scrape is
 * well-formed Prometheus text with every coord family declared (HELP and TYPE), and the numbers
 * move with what clients do: requests by op and code, the write and storage-append histograms,
 * batch sizes, raft indexes, sessions, watches, connections, the history window, snapshots. A
 * server with a token answers 401 without it. Assertions compare before and after, never times.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.ts';
import { scrape, type Scrape } from '../helpers/prom-text.ts';
import { removeDir, repoRoot, startTestServer } from '../helpers/server.ts';

type Server = Awaited<ReturnType<typeof startTestServer>>;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<Server> {
  const s = await startTestServer(options);
  cleanups.push(async () => {
    await s.close();
    removeDir(s.dataDir);
  });
  return s;
}

async function client(s: Server): Promise<Awaited<ReturnType<typeof connect>>> {
  const c = await connect({ urls: s.url });
  cleanups.push(() => c.close());
  return c;
}

/** Polls `read` until it returns something defined (a watch's open is answered asynchronously). */
async function eventually<T>(read: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await read();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const v = (m: Scrape, name: string, labels?: Record<string, string>): number => m.value(name, labels) ?? 0;

/** Every family coord exports, with its type. */
export const COORD_FAMILIES: Record<string, string> = {
  coord_requests_total: 'counter',
  coord_write_duration_seconds: 'histogram',
  coord_storage_append_duration_seconds: 'histogram',
  coord_storage_append_entries: 'histogram',
  coord_snapshot_duration_seconds: 'histogram',
  coord_snapshot_size_bytes: 'gauge',
  coord_raft_term: 'gauge',
  coord_raft_is_leader: 'gauge',
  coord_raft_leader_changes_total: 'counter',
  coord_raft_commit_index: 'gauge',
  coord_raft_applied_index: 'gauge',
  coord_raft_proposals_pending: 'gauge',
  coord_store_revision: 'gauge',
  coord_sessions: 'gauge',
  coord_watches: 'gauge',
  coord_watch_slow_consumers_total: 'counter',
  coord_writes_refused_as_reads_total: 'counter',
  coord_history_oldest_revision: 'gauge',
  coord_history_bytes: 'gauge',
  coord_connections: 'gauge',
  coord_peer_sent_bytes_total: 'counter',
};

describe('GET /metrics', () => {
  it('is Prometheus text declaring every coord family and the process metrics', async () => {
    const s = await server();
    const m = await scrape(s.port);
    for (const [name, type] of Object.entries(COORD_FAMILIES)) {
      expect(m.families.get(name)?.type, name).toBe(type);
      expect(m.families.get(name)!.help.length, name).toBeGreaterThan(10);
    }
    expect(m.families.get('process_cpu_user_seconds_total')?.type).toBe('counter');
    expect(m.families.get('process_resident_memory_bytes')?.type).toBe('gauge');
    expect(m.families.get('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
    // A single node leads itself, and saw one leader (itself) since it started.
    expect(v(m, 'coord_raft_is_leader')).toBe(1);
    expect(v(m, 'coord_raft_term')).toBeGreaterThanOrEqual(1);
    expect(v(m, 'coord_raft_leader_changes_total')).toBe(1);
    // Nothing yet from clients.
    expect(v(m, 'coord_connections')).toBe(0);
    expect(v(m, 'coord_sessions')).toBe(0);
    expect(m.samples.filter((x) => x.name === 'coord_requests_total')).toEqual([]);
    // The list above is the server's, and the README's table lists exactly these, with their types.
    expect([...m.families.keys()].filter((n) => n.startsWith('coord_')).sort()).toEqual(Object.keys(COORD_FAMILIES).sort());
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Metrics'), readme.indexOf('## Performance'));
    const documented = [...section.matchAll(/^\| `(coord_[a-z_]+)` \| (\w+) \|/gm)].map((x) => [x[1]!, x[2]!]);
    expect(Object.fromEntries(documented)).toEqual(COORD_FAMILIES);
  });

  it('counts requests by op and code, and moves the write, append and batch histograms with writes', async () => {
    const s = await server();
    const before = await scrape(s.port);
    const c = await client(s);
    const r1 = await c.set('/m/a', 'one');
    await c.set('/m/b', 'two');
    await c.set('/m/c', 'three');
    await c.get('/m/a');
    await c.get('/m/b');
    await expect(c.set('/m/a', 'again', { rev: 0 })).rejects.toThrow();
    await c.del('/m/c');
    const after = await scrape(s.port);

    const req = (op: string, code: string) => v(after, 'coord_requests_total', { op, code }) - v(before, 'coord_requests_total', { op, code });
    expect(req('hello', 'OK')).toBe(1);
    expect(req('set', 'OK')).toBe(3);
    expect(req('set', 'REV_MISMATCH')).toBe(1);
    expect(req('get', 'OK')).toBe(2);
    expect(req('del', 'OK')).toBe(1);

    // Five writes answered, each timed once; the refused one was answered as a read.
    const d = (name: string, labels?: Record<string, string>) => v(after, name, labels) - v(before, name, labels);
    expect(d('coord_write_duration_seconds_count')).toBe(5);
    expect(d('coord_write_duration_seconds_sum')).toBeGreaterThan(0);
    expect(d('coord_write_duration_seconds_bucket', { le: '+Inf' })).toBe(5);
    expect(d('coord_writes_refused_as_reads_total')).toBe(1);
    // Every other write (and the session open) is an entry on disk: at least five synced
    // appends, and the batch-size histogram saw at least five entries in them.
    expect(d('coord_storage_append_duration_seconds_count', { sync: 'true' })).toBeGreaterThanOrEqual(5);
    expect(d('coord_storage_append_duration_seconds_sum', { sync: 'true' })).toBeGreaterThan(0);
    expect(d('coord_storage_append_entries_sum')).toBeGreaterThanOrEqual(5);
    expect(d('coord_storage_append_entries_count')).toBeGreaterThanOrEqual(1);
    // Raft indexes and the store revision moved with them.
    expect(d('coord_raft_commit_index')).toBeGreaterThanOrEqual(5);
    expect(v(after, 'coord_raft_applied_index')).toBe(v(after, 'coord_raft_commit_index'));
    expect(v(after, 'coord_store_revision')).toBe(r1 + 3);
    expect(v(after, 'coord_raft_proposals_pending')).toBe(0);
    expect(v(after, 'coord_sessions')).toBe(1);
    expect(v(after, 'coord_connections')).toBe(1);
    expect(v(after, 'coord_history_bytes')).toBeGreaterThan(v(before, 'coord_history_bytes'));
  });

  it('shows watches while open and gone when cancelled, and connections as they come and go', async () => {
    const s = await server();
    const c = await client(s);
    const other = await connect({ urls: s.url });
    expect(v(await scrape(s.port), 'coord_connections')).toBe(2);
    await other.close();
    await eventually(async () => (v(await scrape(s.port), 'coord_connections') === 1 ? true : undefined), 'one connection');

    const stream = c.watch('/w/**');
    const open = await eventually(async () => {
      const m = await scrape(s.port);
      return v(m, 'coord_watches') === 1 ? m : undefined;
    }, 'the watch to open');
    expect(v(open, 'coord_requests_total', { op: 'watch', code: 'OK' })).toBe(1);
    const waited = c.wait('/w/x');
    await eventually(async () => (v(await scrape(s.port), 'coord_watches') === 2 ? true : undefined), 'the wait to open');
    await c.set('/w/x', '1');
    await waited;
    const first = await stream[Symbol.asyncIterator]().next();
    expect(first.value).toMatchObject({ path: '/w/x' });
    stream.cancel();
    await eventually(async () => (v(await scrape(s.port), 'coord_watches') === 0 ? true : undefined), 'no watches');
    expect(v(await scrape(s.port), 'coord_watch_slow_consumers_total')).toBe(0);
  });

  it('follows the history window and the snapshots the node takes', async () => {
    const s = await server({ historyRevisions: 5, snapshotEveryEntries: 10 });
    const c = await client(s);
    const before = await scrape(s.port);
    expect(v(before, 'coord_snapshot_duration_seconds_count')).toBe(0);
    expect(v(before, 'coord_snapshot_size_bytes')).toBe(0);
    let rev = 0;
    for (let i = 0; i < 30; i++) rev = await c.set(`/h/${i}`, 'x'.repeat(100));
    const after = await eventually(async () => {
      const m = await scrape(s.port);
      return v(m, 'coord_snapshot_duration_seconds_count') >= 2 ? m : undefined;
    }, 'two snapshots');
    // The second snapshot holds at least the ten files written before it.
    expect(v(after, 'coord_snapshot_size_bytes')).toBeGreaterThan(10 * 100);
    expect(v(after, 'coord_snapshot_duration_seconds_sum')).toBeGreaterThan(0);
    // Five revisions kept: the oldest is near the head, and the bytes are about five values'.
    expect(v(after, 'coord_history_oldest_revision')).toBeGreaterThan(rev - 10);
    expect(v(after, 'coord_history_oldest_revision')).toBe(s.node.store.oldestKeptRev);
    expect(v(after, 'coord_history_bytes')).toBeLessThan(10 * 110);
    expect(v(after, 'coord_history_bytes')).toBeGreaterThanOrEqual(5 * 100);
  });

  it('needs the token when the server has one: 401 without it or with another, 200 with it', async () => {
    const s = await server({ token: 'm3trics' });
    expect((await fetch(`http://127.0.0.1:${s.port}/metrics`)).status).toBe(401);
    const wrong = await fetch(`http://127.0.0.1:${s.port}/metrics`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain('coord_');
    const m = await scrape(s.port, 'm3trics');
    expect(m.families.get('coord_raft_is_leader')?.type).toBe('gauge');
  });

  it('keeps each server\'s numbers apart when several run in one process', async () => {
    const a = await server();
    const b = await server();
    const c = await client(a);
    await c.set('/only/a', '1');
    expect(v(await scrape(a.port), 'coord_requests_total', { op: 'set', code: 'OK' })).toBe(1);
    expect((await scrape(b.port)).value('coord_requests_total', { op: 'set', code: 'OK' })).toBeUndefined();
    expect(v(await scrape(b.port), 'coord_connections')).toBe(0);
  });
});
