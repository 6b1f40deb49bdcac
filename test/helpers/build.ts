/**
 * vitest global setup: builds the package (`npm run build`: incremental tsc, about a second or
 * two when nothing changed, then the CLI bundle) before any test runs, so the CLI and server
 * children the tests spawn (bin/coord.mjs, which runs dist/) never run code older than the
 * sources. Once per run: every vitest project (vitest.config.ts) lists it.
 */
import { execFileSync } from 'node:child_process';
import { repoRoot } from './server.ts';

export default function build(): void {
  if (process.env.COORD_TEST_BUILT === String(process.pid)) return;
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit', cwd: repoRoot });
  process.env.COORD_TEST_BUILT = String(process.pid);
}
