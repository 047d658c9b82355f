/** Reference loops of the gemm family (see params.ts). */
import { type GemmBatchedParams, type GemmParams, validateGemm, validateGemmBatched } from './params.js';

export function gemm(p: GemmParams): void {
  validateGemm(p);
  gemmLoop(p, p.aOffset ?? 0, p.bOffset ?? 0, p.cOffset ?? 0);
}

export function gemmBatched(p: GemmBatchedParams): void {
  validateGemmBatched(p);
  for (let i = 0; i < p.batch; i++) {
    gemmLoop(p, (p.aOffset ?? 0) + i * p.strideA, (p.bOffset ?? 0) + i * p.strideB, (p.cOffset ?? 0) + i * p.strideC);
  }
}

/** Plain triple loop with float64 accumulation; strides and transposes as documented in GemmParams. */
function gemmLoop(p: GemmParams, aOff: number, bOff: number, cOff: number): void {
  const { m, n, k, a, lda, b, ldb, c, ldc } = p;
  // element (i, l) of A and (l, j) of B, whatever their storage
  const aRow = p.transA ? 1 : lda;
  const aCol = p.transA ? lda : 1;
  const bRow = p.transB ? 1 : ldb;
  const bCol = p.transB ? ldb : 1;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let l = 0; l < k; l++) acc += a[aOff + i * aRow + l * aCol]! * b[bOff + l * bRow + j * bCol]!;
      const idx = cOff + i * ldc + j;
      c[idx] = p.accumulate ? c[idx]! + acc : acc;
    }
  }
}
