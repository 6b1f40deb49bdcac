/**
 * vitest global setup: builds the package (`npm run build`: incremental tsc, about a second or
 * two when nothing changed, then the CLI bundle) before any test runs, so the CLI and server
 * children the tests spawn (bin/coord.mjs, which runs dist/) never run code older than the
 * sources.
 */
import { execFileSync } from 'node:child_process';
import { repoRoot } from './server.ts';

export default function build(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit', cwd: repoRoot });
}
