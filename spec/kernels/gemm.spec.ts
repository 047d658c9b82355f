/**
 * Law: WASM gemm / gemmBatched == reference gemm (f32 buffers), for every combination of transposes,
 * leading dimensions, offsets, accumulate, sizes 0, 1, non-multiples of 4 / 8, the one-column
 * matrix-vector path, and sizes that take the packed BLIS path across its KC / MC / NC block edges. The whole C buffer is compared, so
 * writes outside the [m, n] block (into the ld padding or past the end) are caught too.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import type { GemmBatchedParams, GemmParams } from '../../src/backend/backend.js';
import { Rng } from '../../src/util/rng.js';
import { TOL, VARIANTS, copy, expectCloseScaled, floatsOf, randomFloats, ref, wasmBackend } from './util.js';
import { runs } from '../helpers/runs.js';

const edgeDim = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17), fc.integer({ min: 0, max: 70 }));

interface Case {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
  padA: number;
  padB: number;
  padC: number;
  offA: number;
  offB: number;
  offC: number;
  magA: number;
  magB: number;
  seed: number;
}

const common = {
  transA: fc.boolean(),
  transB: fc.boolean(),
  accumulate: fc.boolean(),
  padA: fc.integer({ min: 0, max: 3 }),
  padB: fc.integer({ min: 0, max: 3 }),
  padC: fc.integer({ min: 0, max: 3 }),
  offA: fc.integer({ min: 0, max: 5 }),
  offB: fc.integer({ min: 0, max: 5 }),
  offC: fc.integer({ min: 0, max: 5 }),
  magA: fc.constantFrom(1, 1e-3, 1e3),
  magB: fc.constantFrom(1, 1e-3, 1e3),
  seed: fc.integer(),
};

const smallCase: fc.Arbitrary<Case> = fc.record({ m: edgeDim, n: edgeDim, k: edgeDim, ...common });

/** Sizes with k·n > 128K elements (packed path), crossing KC = 256 and MC = 96 (m up to 101). */
const packedCase: fc.Arbitrary<Case> = fc.record({
  m: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 93, max: 101 })),
  n: fc.integer({ min: 300, max: 340 }),
  k: fc.integer({ min: 440, max: 520 }),
  ...common,
});

/** n > NC = 2048 (two column blocks) with a transposed or tall enough operand to stay on the packed path. */
const wideCase: fc.Arbitrary<Case> = fc.record({
  m: fc.integer({ min: 9, max: 14 }),
  n: fc.integer({ min: 2049, max: 2100 }),
  k: fc.integer({ min: 64, max: 80 }),
  ...common,
});

function buildParams(c: Case, rng: Rng): GemmParams {
  const [ar, ac] = c.transA ? [c.k, c.m] : [c.m, c.k];
  const [br, bc] = c.transB ? [c.n, c.k] : [c.k, c.n];
  const lda = ac + c.padA;
  const ldb = bc + c.padB;
  const ldc = c.n + c.padC;
  return {
    m: c.m,
    n: c.n,
    k: c.k,
    a: randomFloats(rng, c.offA + ar * lda + 2, c.magA),
    aOffset: c.offA,
    lda,
    transA: c.transA,
    b: randomFloats(rng, c.offB + br * ldb + 2, c.magB),
    bOffset: c.offB,
    ldb,
    transB: c.transB,
    c: randomFloats(rng, c.offC + c.m * ldc + 3, 1),
    cOffset: c.offC,
    ldc,
    accumulate: c.accumulate,
  };
}

function scaleOf(c: Case): number {
  // f32 dot products of length k: error ≤ k·u·Σ|a||b|; C's own values (accumulate) are O(1)
  return Math.max(1, c.k * c.magA * c.magB);
}

describe.each(VARIANTS)('gemm (%s) == reference', (variant) => {
  const be = wasmBackend(variant);

  const check = (c: Case): void => {
    const p = buildParams(c, new Rng(c.seed));
    const want = { ...p, c: Float32Array.from(p.c) };
    ref.gemm(want);
    const got = be.scope(() => {
      const w: GemmParams = { ...p, a: floatsOf(be, p.a), b: floatsOf(be, p.b), c: floatsOf(be, p.c) };
      be.gemm(w);
      return copy(w.c);
    });
    expectCloseScaled(got, want.c, TOL.gemm, scaleOf(c), `C (${JSON.stringify({ ...c, seed: undefined })})`);
  };

  it('small and edge sizes, transposes, strides, offsets, accumulate (direct path)', () => {
    fc.assert(fc.property(smallCase, check), { numRuns: runs(300) });
  });

  it('packed path across KC / MC edges', () => {
    fc.assert(fc.property(packedCase, check), { numRuns: runs(10) });
  });

  it('one column (n = 1) with B contiguous: the matrix-vector path of one-row nn.Linear (y = W·x)', () => {
    const column = fc.record({
      ...common,
      m: fc.integer({ min: 1, max: 300 }),
      k: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 60, max: 1100 })),
      n: fc.constant(1),
      transA: fc.constant(false),
      transB: fc.constant(false),
      padB: fc.constant(0),
    });
    fc.assert(fc.property(column, check), { numRuns: runs(60) });
  });

  it('packed path across the NC edge', () => {
    fc.assert(fc.property(wideCase, check), { numRuns: runs(4) });
  });

  it('gemmBatched: matrix i at i·stride after the offsets', () => {
    const batchCase = fc.record({
      c: smallCase.filter((c) => c.m * c.n * c.k <= 20000),
      batch: fc.integer({ min: 0, max: 4 }),
      extraA: fc.integer({ min: 0, max: 7 }),
      extraB: fc.integer({ min: 0, max: 7 }),
      extraC: fc.integer({ min: 0, max: 7 }),
    });
    fc.assert(
      fc.property(batchCase, ({ c, batch, extraA, extraB, extraC }) => {
        const rng = new Rng(c.seed);
        const one = buildParams(c, rng);
        const sizeA = one.a.length - c.offA;
        const sizeB = one.b.length - c.offB;
        const sizeC = one.c.length - c.offC;
        const strideA = sizeA + extraA;
        const strideB = sizeB + extraB;
        const strideC = sizeC + extraC;
        const p: GemmBatchedParams = {
          ...one,
          batch,
          strideA,
          strideB,
          strideC,
          a: randomFloats(rng, c.offA + batch * strideA + 1, c.magA),
          b: randomFloats(rng, c.offB + batch * strideB + 1, c.magB),
          c: randomFloats(rng, c.offC + batch * strideC + 1, 1),
        };
        const want = { ...p, c: Float32Array.from(p.c) };
        ref.gemmBatched(want);
        const got = be.scope(() => {
          const w = { ...p, a: floatsOf(be, p.a), b: floatsOf(be, p.b), c: floatsOf(be, p.c) };
          be.gemmBatched(w);
          return copy(w.c);
        });
        expectCloseScaled(got, want.c, TOL.gemm, scaleOf(c), `batched C (batch ${batch})`);
      }),
      { numRuns: runs(60) },
    );
  });
});
