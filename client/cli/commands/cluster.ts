/**
 * `coord status`, `coord member add|remove`, `coord leader transfer`: the cluster's own state,
 * over each server's HTTP admin endpoints (server/api/admin.ts) at the same host and port as its
 * WebSocket url. status asks every member it can find (the membership a reachable node reports)
 * and prints one line per member; a change is sent to the leader (a follower names it).
 */
import { explainTlsFailure, type TlsOptions } from '../../transport.ts';
import { ExitCode, UsageError } from '../output.ts';

const ADMIN_TIMEOUT_MS = 3000;

/** http(s)://host:port for a ws(s):// url. */
export function httpBase(wsUrl: string): string {
  return wsUrl.replace(/^ws/i, 'http').replace(/\/+$/, '');
}

function headers(): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  if (process.env.COORD_TOKEN) h['authorization'] = `Bearer ${process.env.COORD_TOKEN}`;
  return h;
}

let adminTls: TlsOptions | undefined;

/** The CA and client certificate for https:// admin calls (--cacert/--cert/--key). */
export function useAdminTls(tls: TlsOptions | undefined): void {
  adminTls = tls;
}

/**
 * One admin request, over node:http or node:https (fetch takes no CA of our own): loaded when
 * called, so other commands do not pay for them (and the CLI bundle keeps https lazy).
 */
async function call(wsUrl: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = new URL(`${httpBase(wsUrl)}${path}`);
  const secure = url.protocol === 'https:';
  const { request } = secure ? await import('node:https') : await import('node:http');
  const payload = body !== undefined ? JSON.stringify(body) : undefined;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: payload === undefined ? 'GET' : 'POST',
      headers: headers(),
      timeout: ADMIN_TIMEOUT_MS,
      ...(secure ? adminTls : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          // not JSON: the status says enough
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ADMIN_TIMEOUT_MS} ms`)));
    req.on('error', (err) => reject(explainTlsFailure(wsUrl, err)));
    req.end(payload);
  });
}

interface NodeStatus {
  id: string; url: string; role: string; term: number; leader: string | null; leaderUrl: string | null;
  commit: number; applied: number; lastIndex: number; rev: number; ready: boolean; disk: string;
  membership: { voters: string[]; learners: string[]; urls: Record<string, string> };
  progress?: Record<string, { match: number; state: string; recentActive: boolean }>;
}

/** The first node of `urls` that answers /status. */
async function firstStatus(urls: string[]): Promise<NodeStatus> {
  const errors: string[] = [];
  for (const u of urls) {
    try {
      const r = await call(u, '/status');
      if (r.status === 200) return r.json as unknown as NodeStatus;
      errors.push(`${u}: ${errorText(r.json, r.status)}`);
    } catch (err) {
      errors.push(`${u}: ${(err as Error).message}`);
    }
  }
  throw Object.assign(new Error(`no server answered: ${errors.join('; ')}`), { exitCode: ExitCode.UNREACHABLE });
}

function errorText(json: Record<string, unknown>, status: number): string {
  const e = json['error'] as { code?: string; message?: string } | undefined;
  return e?.code !== undefined ? `${e.code}: ${e.message ?? ''}` : `HTTP ${status}`;
}

/**
 * One line per member: id, url, role, term, commit, applied, rev, lag behind the leader. Every
 * url given is asked (a member may be reachable only there: behind compose's port mapping, the
 * addresses peers use are not the caller's), then the members' own addresses for the rest.
 */
export async function status(urls: string[], o: { json?: boolean }): Promise<number> {
  const asked = await Promise.all(urls.map(async (u) => {
    try {
      const r = await call(u, '/status');
      return r.status === 200 ? { url: u, s: r.json as unknown as NodeStatus } : null;
    } catch {
      return null;
    }
  }));
  const byId = new Map<string, { url: string; s: NodeStatus }>();
  for (const a of asked) if (a !== null) byId.set(a.s.id, a);
  const answered = [...byId.values()].map((a) => a.s);
  const first = answered.find((s) => s.role === 'leader') ?? answered[0] ?? await firstStatus(urls);
  const ids = [...first.membership.voters, ...first.membership.learners];
  const rows = await Promise.all(ids.map(async (id) => {
    const known = byId.get(id);
    const url = known?.s.url ?? first.membership.urls[id];
    if (url === undefined) return { id, url: null, reachable: false, error: 'address unknown' };
    try {
      const r = known !== undefined ? { status: 200, json: known.s as unknown as Record<string, unknown> } : await call(url, '/status');
      if (r.status !== 200) return { id, url, reachable: false, error: errorText(r.json, r.status) };
      const s = r.json as unknown as NodeStatus;
      return {
        id, url, reachable: true, role: first.membership.learners.includes(id) ? `${s.role} (learner)` : s.role,
        term: s.term, leader: s.leader, commit: s.commit, applied: s.applied, rev: s.rev, ready: s.ready, disk: s.disk,
      };
    } catch (err) {
      return { id, url, reachable: false, error: (err as Error).message };
    }
  }));
  const leader = rows.find((r) => r.reachable && (r as { role?: string }).role === 'leader') as { applied: number } | undefined;
  const withLag = rows.map((r) => (r.reachable && leader !== undefined ? { ...r, lag: Math.max(0, leader.applied - (r as { applied: number }).applied) } : r));
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ leader: withLag.find((r) => (r as { role?: string }).role === 'leader')?.id ?? null, members: withLag })}\n`);
  } else {
    const pad = (s: unknown, n: number) => String(s ?? '-').padEnd(n);
    process.stdout.write(`${pad('ID', 8)}${pad('URL', 28)}${pad('ROLE', 20)}${pad('TERM', 6)}${pad('COMMIT', 9)}${pad('APPLIED', 9)}${pad('REV', 9)}LAG\n`);
    for (const r of withLag) {
      if (!r.reachable) {
        process.stdout.write(`${pad(r.id, 8)}${pad(r.url, 28)}unreachable (${(r as { error: string }).error})\n`);
        continue;
      }
      const x = r as { role: string; term: number; commit: number; applied: number; rev: number; lag?: number };
      process.stdout.write(`${pad(r.id, 8)}${pad(r.url, 28)}${pad(x.role, 20)}${pad(x.term, 6)}${pad(x.commit, 9)}${pad(x.applied, 9)}${pad(x.rev, 9)}${x.lag ?? '-'}\n`);
    }
  }
  return rows.every((r) => r.reachable) ? ExitCode.OK : ExitCode.UNREACHABLE;
}

/** Sends a change to the leader: asks any node, follows a 421 to the leader once. */
async function toLeader(urls: string[], path: string, body: unknown): Promise<Record<string, unknown>> {
  // The leader by a url the caller gave, when it is among them (the address peers use for it
  // may not be reachable from here); else by the address its cluster knows it by.
  const given = await Promise.all(urls.map(async (u) => {
    try {
      const r = await call(u, '/status');
      return r.status === 200 && (r.json as unknown as NodeStatus).role === 'leader' ? u : null;
    } catch {
      return null;
    }
  }));
  let target = given.find((u) => u !== null) ?? null;
  if (target === null) {
    const first = await firstStatus(urls);
    target = first.leader === first.id ? first.url : first.leaderUrl;
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    if (target === null) throw Object.assign(new Error('UNAVAILABLE: no leader now; try again shortly'), { exitCode: ExitCode.UNREACHABLE });
    const r = await call(target, path, body);
    if (r.status === 200) return r.json;
    if (r.status === 421) {
      target = (r.json['leaderUrl'] as string | null) ?? null;
      continue;
    }
    throw Object.assign(new Error(errorText(r.json, r.status)), { exitCode: ExitCode.REFUSED });
  }
  throw Object.assign(new Error('UNAVAILABLE: the leader kept changing; try again'), { exitCode: ExitCode.UNREACHABLE });
}

export async function memberAdd(urls: string[], id: string, url: string): Promise<number> {
  if (!/^wss?:\/\/[^/\s]+$/.test(url)) throw new UsageError(`the new member's url "${url}" must be ws://host:port (wss:// for a TLS cluster)`);
  const r = await toLeader(urls, '/members', { op: 'add', id, url });
  process.stdout.write(`${JSON.stringify(r['membership'])}\n`);
  return ExitCode.OK;
}

export async function memberRemove(urls: string[], id: string): Promise<number> {
  const r = await toLeader(urls, '/members', { op: 'remove', id });
  process.stdout.write(`${JSON.stringify(r['membership'])}\n`);
  return ExitCode.OK;
}

export async function leaderTransfer(urls: string[], to: string | undefined): Promise<number> {
  const r = await toLeader(urls, '/leader/transfer', to !== undefined ? { to } : {});
  process.stdout.write(`${JSON.stringify({ leader: r['leader'] })}\n`);
  return ExitCode.OK;
}
