/**
 * coord as a user gets it: both packages are packed (as `npm publish` would pack them) and
 * installed into empty projects, then used from there with plain `node` and `tsc`:
 * - coordkit-client (the SDK alone): installs without the server's dependencies, imports from a
 *   plain .mjs and talks to a live server, and type-checks a .ts consumer under NodeNext.
 * - coordkit (the command and the SDK): its `coord` bin talks to the same server.
 * The installs resolve dependencies through npm's cache (`--prefer-offline`), falling back to
 * the registry.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, repoRoot, startTestServer, tempDir } from '../helpers/server.ts';

const run = promisify(execFile);
const npmOpts = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];
let work: string;
let server: Awaited<ReturnType<typeof startTestServer>>;
let sdkProject: string;
let cliProject: string;

async function pack(dir: string): Promise<string> {
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work, '--json'], { cwd: dir });
  const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  return join(work, info!.filename);
}

async function project(name: string, deps: string[]): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }));
  await run('npm', ['install', ...npmOpts, ...deps], { cwd: dir, timeout: 240_000 });
  return dir;
}

beforeAll(async () => {
  work = tempDir('coord-install-');
  server = await startTestServer();
  const [cliTgz, sdkTgz] = await Promise.all([pack(repoRoot), pack(join(repoRoot, 'client'))]);
  [sdkProject, cliProject] = await Promise.all([
    project('sdk-user', [sdkTgz, 'typescript@5.9', '@types/node@20']),
    project('cli-user', [cliTgz]),
  ]);
}, 300_000);

afterAll(async () => {
  await server?.close();
  if (server) removeDir(server.dataDir);
  if (work) removeDir(work);
});

describe('coordkit-client, installed from its tarball', () => {
  it('brings no server dependency', () => {
    const modules = join(sdkProject, 'node_modules');
    expect(existsSync(join(modules, 'coordkit-client/dist/client/index.js'))).toBe(true);
    for (const serverOnly of ['fastify', 'level', 'classic-level', '@fastify/websocket', 'commander', 'tsx']) {
      expect(existsSync(join(modules, serverOnly)), serverOnly).toBe(false);
    }
  });

  it('imports from a plain .mjs with plain node and talks to a live server', async () => {
    writeFileSync(join(sdkProject, 'app.mjs'), `
      import { connect, text, RevMismatchError } from 'coordkit-client';
      const client = await connect({ urls: process.env.COORD_URL });
      const rev = await client.set('/installed/hello', 'from a plain .mjs');
      const got = await client.get('/installed/hello');
      let refused = false;
      try { await client.set('/installed/hello', 'again', { rev: 0 }); } catch (e) { refused = e instanceof RevMismatchError; }
      const lock = await client.lock('/installed/lock');
      console.log(JSON.stringify({ rev, value: text(got.value), refused, token: lock.token }));
      await lock.release();
      await client.close();
    `);
    const { stdout } = await run(process.execPath, ['app.mjs'], { cwd: sdkProject, env: { ...process.env, COORD_URL: server.url } });
    const out = JSON.parse(stdout) as { rev: number; value: string; refused: boolean; token: number };
    expect(out).toMatchObject({ value: 'from a plain .mjs', refused: true });
    expect(out.token).toBeGreaterThan(out.rev);
  });

  it('type-checks a TypeScript consumer under NodeNext with no error', async () => {
    writeFileSync(join(sdkProject, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'] },
      files: ['app.ts'],
    }));
    writeFileSync(join(sdkProject, 'app.ts'), `
      import { connect, text, RevMismatchError, type CoordClient, type Event, type Lock } from 'coordkit-client';
      const client: CoordClient = await connect({ urls: 'ws://127.0.0.1:7070', sessionTtlMs: 5000 });
      const rev: number = await client.set('/a', 'b', { rev: 0 });
      const value: string | null = text((await client.get('/a')).value);
      const lock: Lock = await client.lock('/l');
      const token: number = lock.token;
      for await (const e of client.watch('/**')) { const ev: Event = e; console.log(ev.rev, value, rev, token); break; }
      try { await client.del('/a', { rev: 1 }); } catch (err) { if (err instanceof RevMismatchError) console.log(err.code, err.details); }
    `);
    const tsc = join(sdkProject, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', '.'], { cwd: sdkProject }).then(
      () => ({ code: 0, out: '' }),
      (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout }),
    );
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  });
});

describe('coordkit, installed from its tarball', () => {
  it('runs its coord bin against the live server', async () => {
    const coord = join(cliProject, 'node_modules/.bin/coord');
    const env = { ...process.env, COORD_URL: server.url };
    expect((await run(coord, ['--version'], { cwd: cliProject })).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    await run(coord, ['set', '/installed/cli', '--value', 'from the bin'], { cwd: cliProject, env });
    expect((await run(coord, ['get', '/installed/cli'], { cwd: cliProject, env })).stdout).toBe('from the bin');
  });

  it('ships the web console the server serves at /ui (dist/ui, found beside dist/server)', () => {
    const pkg = join(cliProject, 'node_modules/coordkit');
    for (const file of ['index.html', 'console.js', 'console.css', 'coord.js']) {
      expect(existsSync(join(pkg, 'dist/ui', file)), `dist/ui/${file}`).toBe(true);
    }
    expect(existsSync(join(pkg, 'dist/server/api/ui.js'))).toBe(true);
  });

  it('exports the SDK as its main export', async () => {
    writeFileSync(join(cliProject, 'sdk.mjs'), `
      import { connect, text } from 'coordkit';
      const c = await connect({ urls: process.env.COORD_URL });
      console.log(text((await c.get('/installed/cli')).value));
      await c.close();
    `);
    const { stdout } = await run(process.execPath, ['sdk.mjs'], { cwd: cliProject, env: { ...process.env, COORD_URL: server.url } });
    expect(stdout.trim()).toBe('from the bin');
  });
});
