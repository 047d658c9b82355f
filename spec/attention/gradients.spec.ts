/**
 * Analytic gradients == central finite differences (float64, ReferenceBackend f64), for
 * LSH self-attention (HF and paper-exact), local self-attention and the attention block of both kinds:
 * the input and every weight, loss = Σ out ⊙ probe. Buckets are the first forward's (replayed in every
 * finite-difference evaluation, as HF treats them as constants), so the loss is smooth.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { attentionBlockForward, attentionBlockParamShapes, type AttentionBlockWeights } from '../../src/attention/block.js';
import { attentionBlockBackward } from '../../src/attention/block-backward.js';
import { lshSelfAttentionForward } from '../../src/attention/lsh-module.js';
import { lshSelfAttentionBackward } from '../../src/attention/lsh-backward.js';
import { localSelfAttentionForward } from '../../src/attention/local.js';
import { localSelfAttentionBackward } from '../../src/attention/local-backward.js';
import { Rng } from '../../src/util/rng.js';
import { expectWithinMeasuredBound } from '../helpers/error-bounds.js';
import { K_FD, entryEstimate } from '../helpers/finite-difference.js';
import { arbCase, configOf, dot, dotAbs, finiteDifferenceRows, maskOf, normal, seqLenOf, type AttnCase } from './helpers.js';
import { runs } from '../helpers/runs.js';

/**
 * Step of the Richardson-extrapolated central differences (at h and h/2, float64). The law and its k are
 * spec/helpers/finite-difference.ts's: |analytic − R| ≤ K_FD·(|D(h) − D(h/2)| + 3·u64·S/h + u64·|analytic|),
 * S = Σ|out ⊙ probe|.
 */
const H = 1e-5;

const small = arbCase({ maxBatch: 2, maxHeads: 2, maxHeadSize: 3, maxHidden: 4, maxChunkLength: 3, maxNumChunks: 3, maxHashes: 2 });
/** The block's LayerNorm over 2 features is degenerate (x̂ = ±1 up to eps): finite differences need >= 4. */
const smallBlock = arbCase({
  maxBatch: 2,
  maxHeads: 2,
  maxHeadSize: 3,
  minHidden: 4,
  maxHidden: 5,
  maxChunkLength: 3,
  maxNumChunks: 3,
  maxHashes: 2,
});

/** The FD law for every entry of `param`; `lossScale` = Σ|terms| of the loss at the base point. */
function expectGrad(name: string, param: Float, analytic: ArrayLike<number>, loss: () => number, lossScale: number): void {
  expectWithinMeasuredBound(
    finiteDifferenceRows(name, param, analytic, loss, lossScale, H),
    K_FD,
    'analytic gradient ≈ finite differences',
  );
}

/**
 * An LSH self-attention case in float64: inputs and weights drawn from the case's seed, the analytic
 * gradients of loss = Σ out ⊙ probe, and that loss with the first forward's buckets replayed.
 */
function lshCase(c: AttnCase, paperExact: boolean) {
  const be = new ReferenceBackend({ dtype: 'f64' });
  const rng = new Rng(c.seed);
  const L = seqLenOf(c);
  const all = c.heads * c.headSize;
  const cfg = configOf(c);
  const x = normal(be, c.batch * L * c.hidden, rng);
  const w = {
    'query_key.weight': normal(be, all * c.hidden, rng, 1 / Math.sqrt(c.hidden)),
    'value.weight': normal(be, all * c.hidden, rng, 1 / Math.sqrt(c.hidden)),
  };
  const mask = maskOf(c.mask, c.batch, L, rng);
  const probe = normal(be, c.batch * L * all, rng);
  const opts = { batch: c.batch, seqLen: L, attentionMask: mask, rng, paperExact };
  const first = lshSelfAttentionForward(be, cfg, w, x, opts);
  const replay = { ...opts, buckets: first.cache.attention.buckets };
  const loss = () => dot(lshSelfAttentionForward(be, cfg, w, x, replay).out, probe);
  const g = { 'query_key.weight': be.floats(all * c.hidden), 'value.weight': be.floats(all * c.hidden) };
  const dx = be.floats(x.length);
  lshSelfAttentionBackward(be, w, g, first.cache, probe, dx);
  return { x, w, g, dx, loss, scale: dotAbs(first.out, probe) };
}

describe('gradients == finite differences (float64)', () => {
  it('LSH self-attention: input, query_key.weight, value.weight (HF and paper-exact)', () => {
    fc.assert(
      fc.property(small, fc.boolean(), (c: AttnCase, paper) => {
        const { x, w, g, dx, loss, scale } = lshCase(c, paper);
        expectGrad('x', x, dx, loss, scale);
        expectGrad('query_key.weight', w['query_key.weight'], g['query_key.weight'], loss, scale);
        expectGrad('value.weight', w['value.weight'], g['value.weight'], loss, scale);
      }),
      { numRuns: runs(60) },
    );
  });

  it('LSH regression: a shared query/key of norm 0.018 (huge curvature of k̂ = q/‖q‖) passes with the extrapolated difference', () => {
    // found at FC_SEED=655057377 with 3000 runs: a plain central difference at h = 1e-5 gave 0.0886387 for
    // query_key.weight[6], the analytic gradient 0.0886400, and the difference converged to it as h shrank
    const c: AttnCase = {
      batch: 2,
      heads: 2,
      headSize: 2,
      hidden: 3,
      chunkLength: 2,
      numChunks: 2,
      numHashes: 1,
      numBuckets: [2, 2],
      before: 0,
      after: 1,
      causal: false,
      mask: 'holes',
      seed: 1959880576,
    };
    const { w, g, loss, scale } = lshCase(c, false);
    const p = w['query_key.weight'];
    const an = g['query_key.weight'][6]!;
    expectGrad('query_key.weight', p, g['query_key.weight'], loss, scale);
    // the check is not vacuous here: the coordinate is truncation-dominated (the plain difference misses
    // by far more than rounding can explain), and the bound follows the measured spread, not a guess
    const fd = entryEstimate(p, 6, loss, H);
    const roundingFloor = (3 * 2 ** -53 * scale) / H;
    expect(fd.spread).toBeGreaterThan(1000 * roundingFloor);
    expect(Math.abs(fd.value - an)).toBeLessThan(1e-3 * fd.spread); // what R keeps is far below what it removed
  });

  it('local self-attention: input, query/key/value.weight', () => {
    fc.assert(
      fc.property(small, (c: AttnCase) => {
        const be = new ReferenceBackend({ dtype: 'f64' });
        const rng = new Rng(c.seed);
        const L = seqLenOf(c);
        const all = c.heads * c.headSize;
        const cfg = configOf(c);
        const x = normal(be, c.batch * L * c.hidden, rng);
        const std = 1 / Math.sqrt(c.hidden);
        const w = {
          'query.weight': normal(be, all * c.hidden, rng, std),
          'key.weight': normal(be, all * c.hidden, rng, std),
          'value.weight': normal(be, all * c.hidden, rng, std),
        };
        const mask = maskOf(c.mask, c.batch, L, rng);
        const probe = normal(be, c.batch * L * all, rng);
        const opts = { batch: c.batch, seqLen: L, attentionMask: mask };
        const loss = () => dot(localSelfAttentionForward(be, cfg, w, x, opts).out, probe);
        const first = localSelfAttentionForward(be, cfg, w, x, opts);
        const g = {
          'query.weight': be.floats(all * c.hidden),
          'key.weight': be.floats(all * c.hidden),
          'value.weight': be.floats(all * c.hidden),
        };
        const dx = be.floats(x.length);
        localSelfAttentionBackward(be, w, g, first.cache, probe, dx);
        const scale = dotAbs(first.out, probe);
        expectGrad('x', x, dx, loss, scale);
        for (const n of ['query.weight', 'key.weight', 'value.weight'] as const) expectGrad(n, w[n], g[n], loss, scale);
      }),
      { numRuns: runs(60) },
    );
  });

  it('attention block (lsh and local): input and every weight; backward accumulates', () => {
    fc.assert(
      fc.property(smallBlock, fc.constantFrom('lsh' as const, 'local' as const), (c: AttnCase, kind) => {
        const be = new ReferenceBackend({ dtype: 'f64' });
        const rng = new Rng(c.seed);
        const L = seqLenOf(c);
        const cfg = configOf(c);
        const shapes = attentionBlockParamShapes(cfg, kind);
        const w: Record<string, Float> = {};
        const g: Record<string, Float> = {};
        for (const [name, shape] of shapes) {
          const n = shape.reduce((a, s) => a * s, 1);
          w[name] =
            name === 'layer_norm.weight' ? normal(be, n, rng, 0.2).map((v) => 1 + v) : normal(be, n, rng, 1 / Math.sqrt(shape.at(-1)!));
          g[name] = be.floats(n);
        }
        const weights = w as unknown as AttentionBlockWeights;
        const x = normal(be, c.batch * L * c.hidden, rng);
        const mask = maskOf(c.mask, c.batch, L, rng);
        const probe = normal(be, c.batch * L * c.hidden, rng);
        const opts = { batch: c.batch, seqLen: L, attentionMask: mask, rng };
        const first = attentionBlockForward(be, cfg, kind, weights, x, opts);
        const replay = { ...opts, buckets: first.cache.buckets };
        const loss = () => dot(attentionBlockForward(be, cfg, kind, weights, x, replay).out, probe);
        const dx = be.floats(x.length);
        attentionBlockBackward(be, weights, g as unknown as AttentionBlockWeights, first.cache, probe, dx);
        const scale = dotAbs(first.out, probe);
        expectGrad('x', x, dx, loss, scale);
        for (const [name] of shapes) expectGrad(name, w[name]!, g[name]!, loss, scale);
        // a second backward adds the same gradients again (accumulation, nothing overwritten)
        const once = Float64Array.from(g['output.dense.weight']!);
        const dx2 = Float64Array.from(dx);
        attentionBlockBackward(be, weights, g as unknown as AttentionBlockWeights, first.cache, probe, dx);
        for (let i = 0; i < once.length; i++) expect(g['output.dense.weight']![i]).toBeCloseTo(2 * once[i]!, 12);
        for (let i = 0; i < dx2.length; i++) expect(dx[i]).toBeCloseTo(2 * dx2[i]!, 12);
      }),
      { numRuns: runs(50) },
    );
  });
});
