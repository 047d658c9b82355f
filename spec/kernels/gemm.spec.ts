/**
 * Law: WASM gemm / gemmBatched == reference gemm, for every combination of transposes, leading
 * dimensions, offsets, accumulate, sizes 0, 1, non-multiples of 4 / 8, the one-column matrix-vector
 * path, and sizes that take the packed BLIS path across its KC / MC / NC block edges. The whole C buffer is compared, so writes outside the
 * [m, n] block (into the ld padding or past the end) are caught too.
 *
 * The bound is the classical one, not a tolerance: each C_ij is a sum of k products (plus C_ij itself
 * when accumulating) computed in f32, and in ANY order, with or without fused multiply-adds,
 *   |fl(C_ij) − C_ij| ≤ γ_{k+1}·(|A|·|B| + |C0|)_ij,   γ_n = n·u/(1 − n·u), u = 2^-24
 * (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., §3.1 and Eq. 3.5). The truth is the
 * reference loop on f64 copies of the same f32 inputs (its own error, γ_{k+1}(2^-53) of the same
 * magnitude, is added); |A|·|B| + |C0| is the same loop on the absolute values. Elements outside the
 * block have a bound of 0: they must keep their bits.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GemmBatchedParams, GemmParams } from '../../src/backend/backend.js';
import { Rng } from '../../src/util/rng.js';
import { U32, U64 } from '../helpers/error-bounds.js';
import { VARIANTS, copy, floatsOf, randomFloats, ref, wasmBackend } from './util.js';
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

/** γ_n = n·u/(1 − n·u): the relative error bound of an n-term sum of products in precision u. */
function gamma(n: number, u: number): number {
  return (n * u) / (1 - n * u);
}

const abs64 = (x: ArrayLike<number>): Float64Array => Float64Array.from(x as ArrayLike<number>, Math.abs);

/**
 * Asserts |got − truth| ≤ (γ_{k+1}(u32) + γ_{k+1}(u64))·(|A|·|B| + |C0|) element by element, where
 * truth and the magnitude come from `run` (the reference gemm or gemmBatched) on f64 copies.
 */
function expectWithinGemmBound<P extends GemmParams>(got: ArrayLike<number>, p: P, run: (q: P) => void, what: string): void {
  const truth = { ...p, a: Float64Array.from(p.a), b: Float64Array.from(p.b), c: Float64Array.from(p.c) };
  run(truth);
  const mag = { ...p, a: abs64(p.a), b: abs64(p.b), c: abs64(p.c) };
  run(mag);
  const g = gamma(p.k + 1, U32) + gamma(p.k + 1, U64);
  // the [m, n] block of each matrix; everything else must keep its bits (bound 0)
  const inside = new Uint8Array(got.length);
  const batches = 'batch' in p ? (p as unknown as GemmBatchedParams).batch : 1;
  const strideC = 'strideC' in p ? (p as unknown as GemmBatchedParams).strideC : 0;
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < p.m; i++) for (let j = 0; j < p.n; j++) inside[(p.cOffset ?? 0) + b * strideC + i * p.ldc + j] = 1;
  }
  for (let i = 0; i < got.length; i++) {
    const w = truth.c[i]!;
    const bound = inside[i] ? g * mag.c[i]! : 0;
    const err = Math.abs(got[i]! - w);
    if (!(err <= bound)) {
      expect.fail(
        `${what}: C[${i}] is ${got[i]}, truth ${w}: error ${err.toExponential(3)} > γ_{k+1}·(|A||B| + |C0|) = ${bound.toExponential(3)}`,
      );
    }
  }
}

describe.each(VARIANTS)('gemm (%s) == reference', (variant) => {
  const be = wasmBackend(variant);

  const check = (c: Case): void => {
    const p = buildParams(c, new Rng(c.seed));
    const got = be.scope(() => {
      const w: GemmParams = { ...p, a: floatsOf(be, p.a), b: floatsOf(be, p.b), c: floatsOf(be, p.c) };
      be.gemm(w);
      return copy(w.c);
    });
    expectWithinGemmBound(got, p, (q) => ref.gemm(q), `C (${JSON.stringify({ ...c, seed: undefined })})`);
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
        const got = be.scope(() => {
          const w = { ...p, a: floatsOf(be, p.a), b: floatsOf(be, p.b), c: floatsOf(be, p.c) };
          be.gemmBatched(w);
          return copy(w.c);
        });
        expectWithinGemmBound(got, p, (q) => ref.gemmBatched(q), `batched C (batch ${batch})`);
      }),
      { numRuns: runs(60) },
    );
  });
});
