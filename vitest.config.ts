import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['spec/**/*.spec.ts', 'marbles/**/*.spec.ts', 'examples/**/*.spec.ts'],
    globalSetup: ['spec/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration specs share one server; a couple of workers keep a 2-core machine responsive.
    maxWorkers: 2,
    typecheck: { enabled: true, include: ['spec/**/*.test-d.ts'] },
  },
})
