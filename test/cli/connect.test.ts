// Method: the real `coord` binary (test/helpers/cli-run.ts) pointed at a port nothing listens on,
// and at urls that are not ws:// urls. A refused connection must fail at once with its cause on
// one line and exit 3, long before the --timeout it was given (20 s here: the old behaviour
// retried until then); a url without ws:// or wss:// is a usage error (exit 2) naming the url and
// where it came from, with an example. A command against a live server still works.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coord, killAllCli } from '../helpers/cli-run.ts';
import { RecipeEnv } from '../helpers/recipe-env.ts';

let env: RecipeEnv;

beforeAll(async () => {
  env = await RecipeEnv.start();
});

afterAll(async () => {
  await killAllCli();
  await env.stop();
});

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

describe('coord CLI: connecting', () => {
  it('a refused connection fails at once with its cause: exit 3, one line', async () => {
    const port = await deadPort();
    const dead = `ws://127.0.0.1:${port}`;
    const started = Date.now();
    const [flag, env1, both] = await Promise.all([
      coord(['--url', dead, '--timeout', '20000', 'get', '/x']),
      coord(['--timeout', '20000', 'rev'], { url: dead }),
      coord(['--url', `${dead},ws://127.0.0.1:${port}/v1/ws`, '--timeout', '20000', 'rev']),
    ]);
    // Far below the 20 s timeout (process start-up included): nothing waited for it.
    expect(Date.now() - started).toBeLessThan(10_000);
    const line = `UNREACHABLE: cannot connect to ${dead}: ECONNREFUSED 127.0.0.1:${port}\n`;
    expect(flag).toMatchObject({ code: 3, stdout: '', stderr: line });
    expect(env1).toMatchObject({ code: 3, stdout: '', stderr: line });
    expect(both.code).toBe(3);
    expect(both.stderr).toBe(
      `UNREACHABLE: cannot connect to ${dead}: ECONNREFUSED 127.0.0.1:${port}; ws://127.0.0.1:${port}/v1/ws: ECONNREFUSED 127.0.0.1:${port}\n`,
    );
  });

  it('a url that does not start with ws:// or wss:// is a usage error: exit 2, one line', async () => {
    const [bare, http, oneOfTwo, fromEnv] = await Promise.all([
      coord(['--url', '127.0.0.1:7070', 'get', '/x']),
      coord(['--url', 'http://db-1:7070', 'rev']),
      coord(['--url', env.url, '--url', 'localhost', 'rev']),
      coord(['rev'], { url: `${env.url},db-2:7070` }),
    ]);
    expect(bare).toEqual({
      code: 2, signal: null, stdout: '',
      stderr: 'coord: --url "127.0.0.1:7070" must start with ws:// or wss:// (for example ws://127.0.0.1:7070)\n',
    });
    expect(http).toMatchObject({
      code: 2, stderr: 'coord: --url "http://db-1:7070" must start with ws:// or wss:// (for example ws://db-1:7070)\n',
    });
    expect(oneOfTwo).toMatchObject({
      code: 2, stderr: 'coord: --url "localhost" must start with ws:// or wss:// (for example ws://localhost)\n',
    });
    expect(fromEnv).toMatchObject({
      code: 2, stderr: 'coord: COORD_URL entry "db-2:7070" must start with ws:// or wss:// (for example ws://db-2:7070)\n',
    });
  });

  it('a live server among the urls is used (a dead one before it does not make the command give up)', async () => {
    const dead = `ws://127.0.0.1:${await deadPort()}`;
    const r = await coord(['--url', `${dead},${env.urls.join(",")}`, 'rev']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^\d+\n$/);
  });
});
