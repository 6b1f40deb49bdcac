#!/usr/bin/env node
// The `coord` command. `coord server ...` (and `coord snapshot restore`) run the server's code; everything else runs
// the client CLI, bundled into one file so that a command like `coord get` starts fast. Both are
// compiled into dist/ by `npm run build`, which `npm install` runs in a checkout.
// `coord snapshot restore` writes a server's data directory, with the server's code.
const [word, sub] = process.argv.slice(2);
const entry = word === 'server' ? '../dist/server/cli.js'
  : word === 'snapshot' && sub === 'restore' ? '../dist/server/restore-cli.js'
  : '../dist/client/cli/coord.mjs';
try {
  await import(entry);
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(entry.slice(3))) {
    process.stderr.write('coord: not built yet: run `npm run build` (or `npm install`) in the coord checkout\n');
    process.exit(2);
  }
  throw err;
}
