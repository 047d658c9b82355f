/**
 * Law (paper Sec. 3, Eq. 10; HF `apply_chunking_to_forward`): chunking the feed-forward or the LM head
 * along the sequence changes memory only. On the reference backend the outputs (feed-forward output,
 * logits, loss) are bit-identical for every chunk size; parameter gradients are sums over rows taken
 * chunk by chunk, so they agree up to rounding; input gradients are per row, so they are identical.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Activation, Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { applyDropout } from '../../src/nn/dropout.js';
import { feedForwardBackward, feedForwardForward, type FeedForwardSpec, type FeedForwardWeights } from '../../src/nn/feed-forward.js';
import { lmHeadForward, lmHeadLoss } from '../../src/nn/lm-head.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers/close.js';
import { runs } from '../helpers/runs.js';

const be = new ReferenceBackend({ dtype: 'f32' });
/** Parameter-gradient agreement across chunkings (f32 sums in a different grouping). */
const TOL_PARAM_GRAD = { atol: 1e-5, rtol: 1e-4 } as const;

function bitsEqual(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) expect.fail(`${what}: element ${i} is ${a[i]} vs ${b[i]} (not bit-identical)`);
  }
}

const arbFf = fc.record({
  rows: fc.integer({ min: 1, max: 40 }),
  D: fc.integer({ min: 1, max: 9 }),
  F: fc.integer({ min: 1, max: 13 }),
  act: fc.constantFrom<Activation>('relu', 'gelu', 'gelu_new'),
  chunk: fc.integer({ min: 1, max: 45 }),
  dropout: fc.constantFrom(0, 0.25),
  seed: fc.integer({ min: 0, max: 2 ** 30 }),
});

function ffSetup(s: { rows: number; D: number; F: number; seed: number }) {
  const rng = new Rng(s.seed);
  const v = (n: number, std = 1): Float => {
    const b = be.floats(n);
    rng.fillNormal(b, 0, std);
    return b;
  };
  const w: FeedForwardWeights = { lnWeight: v(s.D), lnBias: v(s.D), w1: v(s.F * s.D, 0.5), b1: v(s.F), w2: v(s.D * s.F, 0.5), b2: v(s.D) };
  return { w, x: v(s.rows * s.D), dOut: v(s.rows * s.D) };
}

function zeroGrads(s: { D: number; F: number }): FeedForwardWeights {
  return {
    lnWeight: be.floats(s.D),
    lnBias: be.floats(s.D),
    w1: be.floats(s.F * s.D),
    b1: be.floats(s.F),
    w2: be.floats(s.D * s.F),
    b2: be.floats(s.D),
  };
}

describe('chunked feed-forward == unchunked', () => {
  it('bit-identical output and input gradient; parameter gradients equal up to rounding (with dropout)', () => {
    fc.assert(
      fc.property(arbFf, (s) => {
        const { w, x, dOut } = ffSetup(s);
        const seeds = s.dropout > 0 ? ([s.seed ^ 1, s.seed ^ 2] as const) : null;
        const run = (chunkSize: number) => {
          const spec: FeedForwardSpec = { hidden: s.D, inner: s.F, act: s.act, eps: 1e-12, chunkSize, dropout: s.dropout };
          const out = be.floats(s.rows * s.D);
          const cache = feedForwardForward(be, spec, w, x, s.rows, out, seeds, true);
          const g = zeroGrads(s);
          const dx = be.floats(s.rows * s.D);
          feedForwardBackward(be, spec, w, g, cache, dOut, dx);
          return { out, dx, g };
        };
        const a = run(0);
        const b = run(s.chunk);
        bitsEqual(b.out, a.out, 'output');
        bitsEqual(b.dx, a.dx, 'dx');
        for (const k of Object.keys(a.g) as (keyof FeedForwardWeights)[]) expectClose(b.g[k], a.g[k], TOL_PARAM_GRAD, `d${k}`);
      }),
      { numRuns: runs(60) },
    );
  });

  it('the law can fail: a dropout mask keyed by chunk-local rows (instead of global rows) differs', () => {
    const rows = 12;
    const cols = 5;
    const whole = be.floats(rows * cols).fill(1);
    applyDropout(whole, rows, cols, 0.5, 77, 0);
    const local = be.floats(rows * cols).fill(1);
    for (let r0 = 0; r0 < rows; r0 += 4) applyDropout(local.subarray(r0 * cols, (r0 + 4) * cols), 4, cols, 0.5, 77, 0); // wrong: firstRow 0
    const global = be.floats(rows * cols).fill(1);
    for (let r0 = 0; r0 < rows; r0 += 4) applyDropout(global.subarray(r0 * cols, (r0 + 4) * cols), 4, cols, 0.5, 77, r0); // right
    bitsEqual(global, whole, 'globally keyed chunks');
    expect(local.some((v, i) => v !== whole[i])).toBe(true);
  });
});

describe('chunked LM head == unchunked', () => {
  it('bit-identical logits and loss; dh identical; parameter gradients equal up to rounding', () => {
    fc.assert(
      fc.property(
        fc.record({
          batch: fc.integer({ min: 1, max: 3 }),
          seqLen: fc.integer({ min: 1, max: 12 }),
          width: fc.integer({ min: 1, max: 8 }),
          vocab: fc.integer({ min: 2, max: 11 }),
          chunk: fc.integer({ min: 1, max: 40 }),
          seed: fc.integer({ min: 0, max: 2 ** 30 }),
        }),
        (s) => {
          const rng = new Rng(s.seed);
          const rows = s.batch * s.seqLen;
          const h = be.floats(rows * s.width);
          rng.fillNormal(h);
          const w = { weight: be.floats(s.vocab * s.width), bias: be.floats(s.vocab) };
          rng.fillNormal(w.weight);
          rng.fillNormal(w.bias);
          const labels = new Int32Array(rows).map(() => (rng.int(5) === 0 ? -100 : rng.int(s.vocab)));
          const run = (chunk: number) => {
            const logits = be.floats(rows * s.vocab);
            lmHeadForward(be, w, h, rows, s.width, s.vocab, chunk, logits);
            const g = { weight: be.floats(s.vocab * s.width), bias: be.floats(s.vocab), dh: be.floats(rows * s.width) };
            const r = lmHeadLoss(be, w, h, s.batch, s.seqLen, s.width, s.vocab, labels, chunk, g);
            return { logits, ...r, g };
          };
          const a = run(0);
          const b = run(s.chunk);
          bitsEqual(b.logits, a.logits, 'logits');
          expect(b.loss).toBe(a.loss);
          expect(b.tokens).toBe(a.tokens);
          bitsEqual(b.g.dh, a.g.dh, 'dh');
          expectClose(b.g.weight, a.g.weight, TOL_PARAM_GRAD, 'dW');
          expectClose(b.g.bias, a.g.bias, TOL_PARAM_GRAD, 'dbias');
        },
      ),
      { numRuns: runs(60) },
    );
  });
});
