/**
 * The browser tests (`npm run test:browser`): headless Chromium loads the built page (web/dist) and
 * its results are compared with Node's. Separate from the default `npm test` (vitest.config.ts), which
 * needs no browser. `REFORMER_WEB_BENCH=1` runs the browser throughput measurement instead
 * (`npm run bench:web`, web/bench/throughput.bench-run.ts).
 */
import { defineConfig } from 'vitest/config';

const bench = process.env.REFORMER_WEB_BENCH === '1';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: bench ? ['web/bench/*.bench-run.ts'] : ['web/test/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
