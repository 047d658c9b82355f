/**
 * `reformer bench profile` (src/node/bench/profile.ts, profile-child.ts): it runs a training step per
 * thread count, every phase of bench/profile-phases.json is a row, the phases add up to the step (the
 * attribution loses and invents no time), and the work a Reformer step must do shows up where it
 * belongs. Nothing here asserts on speed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DISPATCH_ROW, dispatchIdleMs } from '../../src/node/bench/profile.js';
import type { ProfileChildResult } from '../../src/node/bench/profile-child.js';
import { cli, lastJson, REPO } from '../cli/helpers.js';

const PHASES = (JSON.parse(readFileSync(join(REPO, 'bench', 'profile-phases.json'), 'utf8')) as { phases: { name: string }[] }).phases.map(
  (p) => p.name,
);

describe('reformer bench profile', () => {
  it('--threads 1,2 --json: every phase, phases sum to the step, the Reformer work where it belongs', async () => {
    const r = await cli(['bench', 'profile', '--seq-len', '256', '--threads', '1,2', '--repeats', '1', '--json']);
    expect(r.code, r.stderr.text).toBe(0);
    for (const name of PHASES) expect(r.stdout.text, name).toContain(name.replace(' (SGD)', ''));
    const j = lastJson(r.stdout);
    const runs = j.runs as Array<ProfileChildResult & { dispatch_idle_ms: number }>;
    expect(runs.map((x) => x.threads)).toEqual([1, 2]);
    for (const run of runs) {
      const sum = run.phases.reduce((a, p) => a + p.total_ms, 0);
      expect(Math.abs(sum - run.step_ms)).toBeLessThan(1e-6 * run.step_ms);
      expect(run.kernel_ms).toBeLessThanOrEqual(run.step_ms);
      const ms = (name: string): number => run.phases.find((p) => p.name === name)!.total_ms;
      for (const name of [
        'hashing',
        'sort',
        'chunk attention',
        'attention projections',
        'feed-forward GEMMs',
        'reversible recompute',
        'optimizer',
      ])
        expect(ms(name), name).toBeGreaterThan(0);
      // the forward does no recompute; the backward does no hashing (its buckets are replayed)
      expect(run.phases.find((p) => p.name === 'reversible recompute')!.forward_ms).toBe(0);
      expect(run.phases.find((p) => p.name === 'hashing')!.backward_ms).toBe(0);
      expect(run.dispatch_idle_ms).toBeGreaterThanOrEqual(0);
    }
    expect(runs[0]!.dispatch_idle_ms).toBe(0);
    expect(r.stdout.text).toContain(DISPATCH_ROW);
  }, 180_000);

  it('thread dispatch / idle: the kernels beyond a perfect split of the 1-thread kernels, never negative', () => {
    const run = (threads: number, kernel_ms: number): ProfileChildResult => ({
      step_ms: 2 * kernel_ms,
      kernel_ms,
      phases: [],
      threads,
      wasm_variant: 'simd',
    });
    expect(dispatchIdleMs(run(1, 100), run(2, 70))).toBe(20);
    expect(dispatchIdleMs(run(1, 100), run(2, 40))).toBe(0);
  });
});
