// Method: the real `coord del` against a real in-process server: a delete that removed a file, one
// of a missing file, and one with --force, compared exactly (exit code, stdout, stderr) and
// against what an SDK client reads afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordClient } from '../../client/index.ts';
import { coord, killAllCli } from '../helpers/cli-run.ts';
import { RecipeEnv } from '../helpers/recipe-env.ts';

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

describe('coord del', () => {
  it('prints the revision of a real delete; a missing file is exit 1 NOENT (or 0 with --force), nothing written', async () => {
    await admin.set('/dl/a', 'a');
    const before = await admin.rev();
    const [missing, forced] = await Promise.all([
      coord(['del', '/dl/none'], { url: env.url }),
      coord(['del', '--force', '/dl/none'], { url: env.url }),
    ]);
    expect(missing).toEqual({ code: 1, signal: null, stdout: '', stderr: 'NOENT: /dl/none does not exist; nothing deleted\n' });
    expect(forced).toMatchObject({ code: 0, stderr: '' });
    expect(Number(forced.stdout)).toBe(before);
    expect(await admin.rev()).toBe(before); // no revision consumed

    const real = await coord(['del', '/dl/a'], { url: env.url });
    expect(real).toMatchObject({ code: 0, stdout: `${before + 1}\n`, stderr: '' });
    expect((await admin.get('/dl/a')).value).toBeNull();
  });
});
