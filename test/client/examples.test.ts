// Method: runs each program in client/examples/ as a real child process
// (`node --import tsx client/examples/X.ts`, COORD_URL pointing at a real in-process server),
// two at once where they compete, drives it from an SDK client where it waits for changes, and
// checks what it printed, its exit code (it must end by itself), and what it left in the tree.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text, type CoordClient } from '../../client/index.ts';
import { RecipeEnv, eventually } from '../helpers/recipe-env.ts';
import { repoRoot } from '../helpers/server.ts';

let env: RecipeEnv;
let admin: CoordClient;
const children = new Set<ReturnType<typeof spawn>>();

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await env.stop();
});

function runExample(name: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'client/examples', name)], {
    cwd: repoRoot,
    env: { ...process.env, COORD_URL: env.urls.join(',') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    proc.on('close', (code) => {
      children.delete(proc);
      resolve({ code, stdout, stderr });
    }));
  return { proc, stdout: () => stdout, exited };
}

describe('client/examples', () => {
  it('lock.ts: two runs at once each hold the lock in turn, and the count reaches 2', async () => {
    const [a, b] = await Promise.all([runExample('lock.ts').exited, runExample('lock.ts').exited]);
    const counts: number[] = [];
    const tokens: number[] = [];
    for (const r of [a, b]) {
      expect(r).toMatchObject({ code: 0, stderr: '' });
      const m = /^holding \/examples\/locks\/report with fencing token (\d+)\nreport count is now (\d+)\nreleased\n$/.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      tokens.push(Number(m![1]));
      counts.push(Number(m![2]));
    }
    expect(counts.sort()).toEqual([1, 2]);
    expect(tokens[0]).not.toBe(tokens[1]);
    expect(text((await admin.get('/examples/report/count')).value)).toBe('2');
    expect((await admin.walk('/examples/locks/report/*')).files).toEqual([]);
  });

  it('claim-worker.ts: waits while every partition is held, takes the one freed, does three batches and releases', async () => {
    const holders = await Promise.all([0, 1, 2, 3].map(async () => (await env.client()).claimSlot('/examples/partitions', 4)));
    const w = runExample('claim-worker.ts');
    const freed = holders.find((h) => h.slot === 1)!;
    await freed.release();
    const r = await w.exited;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const m = /^partition 1 of 4, token (\d+)\n/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(Math.max(...holders.map((h) => h.token)));
    expect(r.stdout.split('\n').slice(1)).toEqual(['partition 1: batch 1 done', 'partition 1: batch 2 done', 'partition 1: batch 3 done', '']);
    expect(text((await admin.get('/examples/progress/1')).value)).toBe(`batch 3, token ${m![1]}`);
    expect((await admin.getdir('/examples/partitions')).names).toEqual(['0', '2', '3']); // it released its own
  });

  it('config-watch.ts: prints the current config, then each change, and stops after three versions', async () => {
    const r1 = await admin.set('/examples/config/app', '{"workers":4}');
    const w = runExample('config-watch.ts');
    await eventually(() => w.stdout().split('\n').length > 1, 'the current config');
    const r2 = await admin.set('/examples/config/app', '{"workers":8}');
    await eventually(() => w.stdout().split('\n').length > 2, 'the first change');
    const r3 = await admin.set('/examples/config/app', '{"workers":16}');
    const r = await w.exited;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^config at rev (\d+): \{"workers":4\}$/);
    expect(Number(/rev (\d+)/.exec(lines[0]!)![1])).toBeGreaterThanOrEqual(r1);
    expect(lines.slice(1)).toEqual([`config at rev ${r2}: {"workers":8}`, `config at rev ${r3}: {"workers":16}`, '']);
  });

  it('membership.ts: sees the members already there, itself join and leave, and exits', async () => {
    const other = await env.client();
    await other.register('/examples/services/api', 'api-other', '{"port":9090}');
    const r = await runExample('membership.ts').exited;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const me = /join (api-\d+) \{/.exec(r.stdout.replace('join api-other', ''))![1]!;
    expect(r.stdout.split('\n').sort()).toEqual([
      '',
      `join ${me} {"host":"127.0.0.1","port":8080}`,
      'join api-other {"port":9090}',
      `leave ${me}`,
      `members: ${['api-other', me].sort().join(', ')}`,
    ].sort());
    expect(r.stdout.indexOf(`leave ${me}`)).toBeGreaterThan(r.stdout.indexOf('members:'));
    expect((await admin.getdir('/examples/services/api')).names).toEqual(['api-other']);
  });
});
