/**
 * The server log answers "what exactly happened, and when?": a real `coord server` child at
 * debug level, its stdout parsed as pino JSON lines. Sessions opened, resumed, closed and expired
 * (with the ephemeral files removed and the revision), failed authentication and protocol
 * violations (with the remote address and the reason), and a refused start as one line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { RawClient } from '../helpers/raw-client.ts';
import { removeDir, repoRoot, spawnServer, tempDir, type ChildServer } from '../helpers/server.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const TOKEN = 'log-test-secret';

let dir: string;
let server: ChildServer;
let out = '';

interface Line { level: number; msg: string; [k: string]: unknown }
const lines = (): Line[] => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
const WARN = 40;

async function logged(match: (l: Line) => boolean, what: string, timeoutMs = 8000): Promise<Line> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = lines().find(match);
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`no log line for ${what}; log:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function hello(extra: Record<string, unknown> = {}) {
  const client = await RawClient.open(server.url);
  const result = await client.call<{ session: { id: string; secret: string; ttlMs: number } }>({ op: 'hello', version: 1, token: TOKEN, ...extra });
  return { client, session: result.session };
}

beforeAll(async () => {
  dir = tempDir();
  process.env.COORD_TOKEN = TOKEN; // the child server inherits it
  server = await spawnServer(dir, ['--log-level', 'debug']);
  delete process.env.COORD_TOKEN;
  server.proc.stdout!.on('data', (d) => (out += d));
});

afterAll(async () => {
  server.proc.kill('SIGTERM');
  await server.exited;
  removeDir(dir);
});

describe('the server log', () => {
  it('says when a session opened, resumed, closed and expired, with the files it removed and the revision', async () => {
    const a = await hello({ ttlMs: 1000 });
    await logged((l) => l.msg === 'session opened' && l.session === a.session.id, 'session opened');
    const { rev } = await a.client.call<{ rev: number }>({ op: 'set', path: '/claims/0', value: bytes('w1'), ephemeral: true });
    await a.client.terminate(); // a worker dies: no close, its session runs out
    const expired = await logged((l) => l.msg === 'session expired' && l.session === a.session.id, 'session expired');
    expect(expired).toMatchObject({ ttlMs: 1000, removed: ['/claims/0'], rev: rev + 1 });

    const b = await hello({ ttlMs: 5000 });
    await b.client.call({ op: 'set', path: '/claims/1', value: bytes('w2'), ephemeral: true });
    await b.client.terminate();
    const again = await RawClient.open(server.url);
    await again.call({ op: 'hello', version: 1, token: TOKEN, session: b.session });
    const resumed = await logged((l) => l.msg === 'session resumed' && l.session === b.session.id, 'session resumed');
    expect(resumed.remote).toBe('127.0.0.1');
    const { rev: closedAt } = await again.call<{ rev: number }>({ op: 'close' });
    const closed = await logged((l) => l.msg === 'session closed' && l.session === b.session.id, 'session closed');
    expect(closed).toMatchObject({ removed: ['/claims/1'], rev: closedAt });
  });

  it('warns about failed authentication and protocol violations, with the remote address and the reason', async () => {
    const c = await RawClient.open(server.url);
    expect((await c.callError({ op: 'hello', version: 1, token: 'wrong' })).code).toBe('UNAUTHORIZED');
    const auth = await logged((l) => l.msg === 'authentication failed', 'authentication failed');
    expect(auth).toMatchObject({ level: WARN, remote: '127.0.0.1', reason: expect.stringContaining('token') });

    const d = await RawClient.open(server.url);
    d.sendText('not msgpack');
    await d.closed();
    const violation = await logged((l) => l.msg.startsWith('protocol violation') && String(l.reason).includes('text frames'), 'protocol violation');
    expect(violation).toMatchObject({ level: WARN, remote: '127.0.0.1', code: 1002 });
  });
});

describe('a refused start', () => {
  it('is one clear line on stderr, without a stack trace', async () => {
    const other = tempDir();
    try {
      const proc = spawn(process.execPath, [join(repoRoot, 'bin/coord.mjs'), 'server', '--data', other, '--port', String(server.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      proc.stderr!.on('data', (d) => (err += d));
      const code = await new Promise<number | null>((r) => proc.on('exit', r));
      expect(code).toBe(1);
      const text = err.trim();
      expect(text.split('\n')).toHaveLength(1);
      expect(text).toMatch(/^coord server: cannot start: 127\.0\.0\.1:\d+ is already in use \(EADDRINUSE\)/);
    } finally {
      removeDir(other);
    }
  });
});
