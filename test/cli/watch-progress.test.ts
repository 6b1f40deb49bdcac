// Method: the real `coord` binary against a real in-process server. `coord watch --progress MS`
// is started on a glob nothing writes to while an SDK client writes elsewhere; it must print
// {"progress":REV} lines (JSON, like its event lines) reaching the last write, with events and
// progress in revision order, and refuse a period out of bounds as a usage error (exit 2).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordClient } from '../../client/index.ts';
import { coord, killAllCli, spawnCoord } from '../helpers/cli-run.ts';
import { RecipeEnv, eventually } from '../helpers/recipe-env.ts';

let env: RecipeEnv;
let admin: CoordClient;

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
});

afterAll(async () => {
  await killAllCli();
  await env.stop();
});

const lines = (s: string) => s.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('coord watch --progress', () => {
  it('prints {"progress":REV} lines while idle, in order with the events', async () => {
    const head = await admin.rev();
    const w = spawnCoord(['watch', '/wp/**', '--from', String(head + 1), '--progress', '100'], { url: env.url });
    const r1 = await admin.set('/wp/a', '1');
    let last = 0;
    for (let i = 0; i < 5; i++) last = await admin.set('/wp-elsewhere', String(i));
    await eventually(() => lines(w.stdout()).some((l) => typeof l.progress === 'number' && l.progress >= last), 'a progress line past the writes');
    w.kill('SIGTERM');
    const r = await w.exited;
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out.filter((l) => l.path !== undefined)).toEqual([{ path: '/wp/a', rev: r1, kind: 'set', value: '1' }]);
    for (const l of out.filter((x) => x.path === undefined)) expect(Object.keys(l)).toEqual(['progress']);
    const revs = out.map((l) => (l.rev ?? l.progress) as number);
    expect(revs).toEqual([...revs].sort((a, b) => a - b));
  });

  it('refuses a period out of bounds as a usage error', async () => {
    const r = await coord(['watch', '/wp/**', '--progress', '5'], { url: env.url });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^coord: error: .*expected milliseconds from 100 to 3600000, got "5".*\nRun 'coord watch --help' for usage\.\n$/);
  });
});
