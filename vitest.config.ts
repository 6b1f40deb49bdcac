import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration and crash tests spawn real servers; two cores do not gain from more workers.
    maxWorkers: 2,
    // The CLI and server children run compiled code (dist/): build it first.
    globalSetup: ['./test/helpers/build.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
