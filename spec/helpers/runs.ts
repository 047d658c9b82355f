/**
 * Cases per property. Each property names its own count (a whole-model gradient check costs far more
 * than a kernel comparison); `FC_NUM_RUNS=<n>` overrides every one of them, e.g. to stress the laws
 * with many more cases before a release (`FC_NUM_RUNS=2000 npx vitest run spec/attention`). A count
 * passed to `fc.assert` beats fast-check's global `numRuns`, so the override has to go through here.
 */
const override = process.env.FC_NUM_RUNS;
const forced = override !== undefined && override !== '' ? Number(override) : null;
if (forced !== null && !(Number.isInteger(forced) && forced > 0))
  throw new Error(`FC_NUM_RUNS must be a positive integer, got "${override}"`);

/** `n`, or FC_NUM_RUNS when it is set. */
export function runs(n: number): number {
  return forced ?? n;
}
