/**
 * WASM wrappers of the gemm family (kernels: assembly/gemm.ts `gemm`, `gemmBatched`, and `gemmRows`:
 * rows [rowBegin, rowEnd) of `gemm`, its path chosen from the whole m, n, k, so a split gives the bits
 * of one call).
 */
import type { WasmDispatch } from '../../wasm/dispatch.js';
import { type GemmBatchedParams, type GemmParams, validateGemm, validateGemmBatched } from './params.js';

export function gemm(d: WasmDispatch, p: GemmParams): void {
  validateGemm(p);
  const op = 'gemm';
  const a = d.f(op, 'A', p.a, p.aOffset ?? 0);
  const b = d.f(op, 'B', p.b, p.bOffset ?? 0);
  const c = d.f(op, 'C', p.c, p.cOffset ?? 0);
  const k = d.kernels;
  const bytes = k.gemmScratchBytes(p.m, p.n, p.k, p.transB ? 1 : 0) >>> 0;
  const flags = [p.transA ? 1 : 0, p.transB ? 1 : 0, p.accumulate ? 1 : 0] as const;
  const parts = d.partsFor((p.m * p.n * p.k) / 15);
  if (parts > 1 && p.m >= 8) {
    // row ranges (multiples of the 4-row micro-tile); gemmRows picks the path from the whole product
    d.split('gemmRows', p.m, parts, 4, bytes, (r0, r1, s) => [
      p.m,
      p.n,
      p.k,
      a,
      p.lda,
      flags[0],
      b,
      p.ldb,
      flags[1],
      c,
      p.ldc,
      flags[2],
      s,
      r0,
      r1,
    ]);
    return;
  }
  d.withScratch(bytes, (s) => k.gemm(p.m, p.n, p.k, a, p.lda, flags[0], b, p.ldb, flags[1], c, p.ldc, flags[2], s));
}

export function gemmBatched(d: WasmDispatch, p: GemmBatchedParams): void {
  validateGemmBatched(p);
  if (p.batch === 0) return;
  const op = 'gemmBatched';
  const a = d.f(op, 'A', p.a, p.aOffset ?? 0);
  const b = d.f(op, 'B', p.b, p.bOffset ?? 0);
  const c = d.f(op, 'C', p.c, p.cOffset ?? 0);
  const k = d.kernels;
  const bytes = k.gemmScratchBytes(p.m, p.n, p.k, p.transB ? 1 : 0) >>> 0;
  const parts = d.partsFor(p.batch * ((p.m * p.n * p.k) / 15 + 30));
  if (parts > 1 && p.batch >= 2) {
    // whole matrices per part: each product is computed as in one call
    d.split('gemmBatched', p.batch, parts, 1, bytes, (i0, i1, s) => [
      i1 - i0,
      p.strideA,
      p.strideB,
      p.strideC,
      p.m,
      p.n,
      p.k,
      a + i0 * p.strideA * 4,
      p.lda,
      p.transA ? 1 : 0,
      b + i0 * p.strideB * 4,
      p.ldb,
      p.transB ? 1 : 0,
      c + i0 * p.strideC * 4,
      p.ldc,
      p.accumulate ? 1 : 0,
      s,
    ]);
    return;
  }
  if (parts > 1 && p.m >= 8) {
    gemm(d, p); // one matrix: split its rows
    return;
  }
  d.withScratch(bytes, (s) =>
    k.gemmBatched(
      p.batch,
      p.strideA,
      p.strideB,
      p.strideC,
      p.m,
      p.n,
      p.k,
      a,
      p.lda,
      p.transA ? 1 : 0,
      b,
      p.ldb,
      p.transB ? 1 : 0,
      c,
      p.ldc,
      p.accumulate ? 1 : 0,
      s,
    ),
  );
}
