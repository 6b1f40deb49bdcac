// Method: the real `coord` binary run with --version (compared with the package.json beside it)
// and with bad command lines (no server needed): each usage error prints the error (with commander's
// suggestion, if any) and where to read more, not the whole help, and exits 2.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { coord } from '../helpers/cli-run.ts';
import { repoRoot } from '../helpers/server.ts';

describe('coord --version and usage errors', () => {
  it('--version prints the package version; a usage error prints the error and a hint, not the whole help', async () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const [v, missing, unknownOption] = await Promise.all([
      coord(['--version']),
      coord(['lock', '/x']),
      coord(['watch', '/x', '--form', '3']),
    ]);
    expect(v).toEqual({ code: 0, signal: null, stdout: `${version}\n`, stderr: '' });
    expect(missing).toEqual({
      code: 2, signal: null, stdout: '',
      stderr: "coord: error: missing required argument 'cmd'\nRun 'coord lock --help' for usage.\n",
    });
    expect(unknownOption).toMatchObject({
      code: 2, stdout: '',
      stderr: "coord: error: unknown option '--form'\n(Did you mean --from?)\nRun 'coord watch --help' for usage.\n",
    });
  });
});
