import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `npm run test:fast`: the property specs and the unit tests, without the end-to-end CLI tests (they
 * spawn the built `bin/reformer.js`), the benchmark smoke tests and the multi-step training runs.
 * `npm test` runs everything.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: [
        'test/cli/**',
        'test/robustness/cli.test.ts',
        'test/robustness/faults.test.ts',
        'test/api/readme-example.test.ts',
        'test/*/bench.test.ts',
        'test/train/reformer-resume.test.ts',
        'test/train/adafactor-trainer.test.ts',
        '**/node_modules/**',
      ],
    },
  }),
);
