import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The config lives in test/ because the repo's top level is fixed; the root is the repo.
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: [
      'bots/**/*.test.ts',
      'scripts/**/*.test.ts',
      'profiles/**/*.test.ts',
      'data/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Integration tests start their own local stack on a free port; files run in parallel on 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
