/**
 * The gemm family (kernels: assembly/gemm.ts): parameter types and argument checks of `gemm` and
 * `gemmBatched`.
 */
import { ShapeError } from '../../../errors.js';
import type { Float } from '../../backend.js';
import { blockEnd, checkBlock, checkInt, checkNoOverlap } from '../checks.js';

/**
 * General matrix multiply `C = A·B` or `C += A·B` (`accumulate`).
 * A is logically [m, k]; stored [m, k] with row stride `lda`, or [k, m] when `transA`.
 * B is logically [k, n]; stored [k, n] with row stride `ldb`, or [n, k] when `transB`
 * (HF `nn.Linear` weights are [out, in], so `y = x·Wᵀ` is `transB: true`).
 * C is [m, n] with row stride `ldc`. Sizes may be 0 (no-op) or any positive integer.
 */
export interface GemmParams {
  m: number;
  n: number;
  k: number;
  a: Float;
  aOffset?: number;
  lda: number;
  transA?: boolean;
  b: Float;
  bOffset?: number;
  ldb: number;
  transB?: boolean;
  c: Float;
  cOffset?: number;
  ldc: number;
  /** C += A·B instead of C = A·B. Default false. */
  accumulate?: boolean;
}

/** `batch` independent products; matrix `i` starts `i·stride*` elements after the offsets of `GemmParams`. */
export interface GemmBatchedParams extends GemmParams {
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
}

export function validateGemm(p: GemmParams, op = 'gemm'): void {
  checkInt(op, 'm', p.m);
  checkInt(op, 'n', p.n);
  checkInt(op, 'k', p.k);
  const aOff = p.aOffset ?? 0;
  const bOff = p.bOffset ?? 0;
  const cOff = p.cOffset ?? 0;
  const [ar, ac] = p.transA ? [p.k, p.m] : [p.m, p.k];
  const [br, bc] = p.transB ? [p.n, p.k] : [p.k, p.n];
  checkBlock(op, 'A', p.a, aOff, ar, ac, p.lda);
  checkBlock(op, 'B', p.b, bOff, br, bc, p.ldb);
  checkBlock(op, 'C', p.c, cOff, p.m, p.n, p.ldc);
  const cEnd = blockEnd(cOff, p.m, p.n, p.ldc);
  checkNoOverlap(op, 'C', p.c, cOff, cEnd, 'A', p.a, aOff, blockEnd(aOff, ar, ac, p.lda));
  checkNoOverlap(op, 'C', p.c, cOff, cEnd, 'B', p.b, bOff, blockEnd(bOff, br, bc, p.ldb));
}

export function validateGemmBatched(p: GemmBatchedParams): void {
  const op = 'gemmBatched';
  checkInt(op, 'batch', p.batch);
  checkInt(op, 'strideA', p.strideA);
  checkInt(op, 'strideB', p.strideB);
  checkInt(op, 'strideC', p.strideC);
  if (p.batch === 0) return;
  const last = p.batch - 1;
  // first and last matrices in range; the ones between then are too
  validateGemm(p, op);
  validateGemm(
    {
      ...p,
      aOffset: (p.aOffset ?? 0) + last * p.strideA,
      bOffset: (p.bOffset ?? 0) + last * p.strideB,
      cOffset: (p.cOffset ?? 0) + last * p.strideC,
    },
    op,
  );
  if (p.batch > 1 && p.m > 0 && p.n > 0 && p.strideC < blockEnd(0, p.m, p.n, p.ldc)) {
    throw new ShapeError(`${op}: strideC ${p.strideC} makes output matrices overlap`);
  }
}
