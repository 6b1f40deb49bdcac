import { defineConfig } from 'vitest/config';

/**
 * Two projects. "node" is every test file, against one server unless COORD_TEST_CLUSTER is set
 * (`npm run test:cluster` sets it to 3 for the SDK, CLI and recipe suites). "cluster" runs a
 * bounded subset again with COORD_TEST_CLUSTER=3, so every `npm test` also covers the recipes
 * (lock, slot, election, membership), watches and the CLI's store commands on a three-node
 * cluster: their shared helpers (test/helpers/test-coord.ts) then start an in-process cluster
 * and spread clients over its nodes. A single file given on the command line runs in each
 * project that includes it; `--project node` runs it once.
 */
const clusterSubset = [
  'test/client/lock.test.ts',
  'test/client/slot.test.ts',
  'test/client/election.test.ts',
  'test/client/membership.test.ts',
  'test/client/watch.test.ts',
  'test/cli/kv.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration and crash tests spawn real servers; two cores do not gain from more workers.
    maxWorkers: 2,
    // The CLI and server children run compiled code (dist/): build it first.
    globalSetup: ['./test/helpers/build.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'node', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'cluster', include: clusterSubset, env: { COORD_TEST_CLUSTER: '3' } } },
    ],
  },
});
