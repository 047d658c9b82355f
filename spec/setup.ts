/**
 * Global fast-check configuration: every property runs from a seed so a failure can be replayed.
 *
 *   FC_SEED=<seed> npm test          replays a run (the seed is printed in every failure report)
 *   FC_NUM_RUNS=<n> npm test         n cases for every property (spec/helpers/runs.ts)
 */
import fc from 'fast-check';

const envSeed = process.env.FC_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) : Date.now() % 2 ** 31;
if (!Number.isInteger(seed)) throw new Error(`FC_SEED must be an integer, got "${envSeed}"`);
const numRuns = process.env.FC_NUM_RUNS ? Number(process.env.FC_NUM_RUNS) : undefined;

fc.configureGlobal({
  seed,
  ...(numRuns ? { numRuns } : {}),
  // the report includes the seed and the shrunk counterexample; replay with FC_SEED=<seed>
  verbose: 1,
});
