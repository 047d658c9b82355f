/**
 * HF `nn.Linear` as a forward/backward pair: weights `W: [out, in]`, `y = x·Wᵀ + b`.
 *
 * Buffers are passed as views (a parameter's view into the flat parameter buffer, a chunk of rows of
 * an activation); shapes are given explicitly. Backward ACCUMULATES into dx, dW and db.
 */
import type { Backend, Float } from '../backend/backend.js';

/**
 * `y[rows, out] = x[rows, in]·W[out, in]ᵀ (+ b[out])`; overwrites y unless `accumulate` (y += ...).
 * @param bias null for bias-free layers (attention projections, LM decoder weight with a separate bias).
 */
export function linearForward(
  be: Backend,
  x: Float,
  rows: number,
  inFeatures: number,
  w: Float,
  outFeatures: number,
  bias: Float | null,
  y: Float,
  accumulate = false,
): void {
  if (rows === 1) {
    // one row (a decoding step): yᵀ = W·xᵀ reads W's rows in place (no transposed or packed copy of W)
    be.gemm({ m: outFeatures, n: 1, k: inFeatures, a: w, lda: inFeatures, b: x, ldb: 1, c: y, ldc: 1, accumulate });
    if (bias) be.addRowVector(y, bias, 1, outFeatures);
    return;
  }
  be.gemm({
    m: rows,
    n: outFeatures,
    k: inFeatures,
    a: x,
    lda: inFeatures,
    b: w,
    ldb: inFeatures,
    transB: true,
    c: y,
    ldc: outFeatures,
    accumulate,
  });
  if (bias) be.addRowVector(y, bias, rows, outFeatures);
}

/**
 * Backward of `y = x·Wᵀ + b`:
 *   dx += dy·W        [rows, in]   (skipped if dx is null)
 *   dW += dyᵀ·x       [out, in]
 *   db += Σ_rows dy   [out]        (skipped if db is null)
 */
export function linearBackward(
  be: Backend,
  x: Float,
  rows: number,
  inFeatures: number,
  w: Float,
  outFeatures: number,
  dy: Float,
  dx: Float | null,
  dw: Float,
  db: Float | null,
): void {
  if (dx)
    be.gemm({
      m: rows,
      n: inFeatures,
      k: outFeatures,
      a: dy,
      lda: outFeatures,
      b: w,
      ldb: inFeatures,
      c: dx,
      ldc: inFeatures,
      accumulate: true,
    });
  be.gemm({
    m: outFeatures,
    n: inFeatures,
    k: rows,
    a: dy,
    lda: outFeatures,
    transA: true,
    b: x,
    ldb: inFeatures,
    c: dw,
    ldc: inFeatures,
    accumulate: true,
  });
  if (db) be.sumRows(db, dy, rows, outFeatures);
}
