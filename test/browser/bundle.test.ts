/**
 * What the browser gets, checked without a browser: the bundle `npm run build` makes
 * (client/dist/browser/coord.js, from client/browser.ts) holds no Node-only module (ws, the
 * corking of Node sockets, the Node transport), the SDK and protocol sources it holds call no
 * Node API (Buffer, process, unconditional unref), and it stays small. And a bundler that
 * targets browsers, given `import 'coordkit-client'`, takes the package's browser entry
 * (client/dist/client/browser.js) and reaches none of those either.
 */
import { mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { removeDir, repoRoot, tempDir } from '../helpers/server.ts';

const bundle = join(repoRoot, 'client/dist/browser/coord.js');
const meta = JSON.parse(readFileSync(join(repoRoot, 'client/dist/browser-meta.json'), 'utf8')) as {
  inputs: Record<string, { imports: { path: string }[] }>;
};
const inputs = Object.keys(meta.inputs);
/** A dependency's file (its path may be relative to a node_modules that is a link elsewhere). */
const isDependency = (p: string) => p.includes('node_modules/');

describe('the browser bundle', () => {
  it('holds the SDK, its recipes, the protocol and msgpackr\'s browser build, and nothing of ws or the Node transport', () => {
    expect(inputs).toEqual(expect.arrayContaining(['client/browser.ts', 'client/core.ts', 'client/browser-transport.ts', 'protocol/codec.ts', 'client/recipes/lock.ts']));
    expect(inputs.filter(isDependency).every((p) => p.includes('node_modules/msgpackr/'))).toBe(true);
    expect(inputs.some((p) => p.endsWith('node_modules/msgpackr/node-index.js'))).toBe(false);
    for (const nodeOnly of ['client/transport.ts', 'client/client.ts', 'client/index.ts', 'protocol/cork.ts', 'protocol/validate.ts']) {
      expect(inputs, nodeOnly).not.toContain(nodeOnly);
    }
    expect(inputs.some((p) => p.includes('/ws/') || p.startsWith('server/'))).toBe(false);
  });

  it('its own sources (SDK and protocol) call no Node API', () => {
    for (const file of inputs.filter((p) => !isDependency(p))) {
      const source = readFileSync(join(repoRoot, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      expect(source, file).not.toMatch(/\bBuffer\.|\bprocess\.|\.unref\(\)|from 'node:|from 'ws'/);
    }
  });

  it('is one ES module of modest size', () => {
    const raw = statSync(bundle).size;
    const gzip = gzipSync(readFileSync(bundle)).byteLength;
    console.log(`browser bundle: ${raw} bytes, ${gzip} gzipped`);
    expect(readFileSync(bundle, 'utf8')).toMatch(/export\s*\{/);
    expect(gzip).toBeLessThan(40_000);
  });

  it('a bundler targeting browsers resolves coordkit-client to its browser entry, without ws', async () => {
    const project = tempDir('coord-bundler-');
    try {
      mkdirSync(join(project, 'node_modules'));
      symlinkSync(join(repoRoot, 'client'), join(project, 'node_modules/coordkit-client'), 'dir');
      const result = await build({
        stdin: { contents: "import { connect } from 'coordkit-client'; console.log(connect);", resolveDir: project },
        absWorkingDir: project,
        bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent',
      });
      const used = Object.keys(result.metafile.inputs);
      expect(used.some((p) => p.endsWith('client/dist/client/browser.js'))).toBe(true);
      expect(used.filter((p) => /\/ws\/|client\/transport\.js|client\/client\.js|protocol\/cork\.js/.test(p))).toEqual([]);
    } finally {
      removeDir(project);
    }
  });
});
