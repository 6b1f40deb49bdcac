/**
 * Where the coord package is on disk and which version it is. Found by walking up from this file
 * to the package.json named "coordkit", so it holds wherever this file ends up: client/cli/commands/
 * in the sources, or under a dist/ folder once compiled.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface PackageJson {
  name?: string;
  version?: string;
}

/** The npm package the `coord` command ships in. */
export const PACKAGE_NAME = 'coordkit';

let found: { root: string; pkg: PackageJson } | undefined;

function find(): { root: string; pkg: PackageJson } {
  if (found !== undefined) return found;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
      if (pkg.name === PACKAGE_NAME) return (found = { root: dir, pkg });
    }
    if (dirname(dir) === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${fileURLToPath(import.meta.url)}`);
  }
}

/** The package's root directory (where its package.json is). */
export function packageRoot(): string {
  return find().root;
}

export function packageVersion(): string {
  return find().pkg.version ?? 'unknown';
}
