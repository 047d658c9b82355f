// Entry points of the f32 GEMM (the kernels and both paths: gemm.ts): which path a product takes,
// the scratch it needs, where its reduction may be cut, and the calls Backend.gemm / gemmBatched make.
import { DIRECT_MAX_KN, DIRECT_MAX_M, KC, gemmDirect, gemmPacked, packedScratchBytes, zeroBlock } from './gemm';
import { transposeBlock } from './simd';

// @ts-ignore: decorator
@inline function useDirect(m: i32, n: i32, k: i32, transB: bool): bool {
  return <i64>k * <i64>n <= <i64>DIRECT_MAX_KN || (m <= DIRECT_MAX_M && !transB);
}

/**
 * Depth at whose multiples the reduction (k) of this product may be cut into consecutive calls (the later
 * ones accumulating) with the bits of one call, or 0. The packed path adds each KC-deep panel product
 * into C in panel order, so cuts at multiples of KC keep every sum, provided each part takes it too.
 */
export function gemmReductionStep(m: i32, n: i32, k: i32, transB: bool): i32 {
  return m > 0 && n > 0 && k > 0 && !useDirect(m, n, k, transB) ? KC : 0;
}

/** Bytes of scratch `gemm` needs for these sizes (0 when it needs none). */
export function gemmScratchBytes(m: i32, n: i32, k: i32, transB: bool): usize {
  if (m == 0 || n == 0 || k == 0) return 0;
  if (useDirect(m, n, k, transB)) return transB ? <usize>k * <usize>n * 4 : 0;
  return packedScratchBytes();
}

/**
 * Rows [rowBegin, rowEnd) of C (+)= op(A)·op(B) (sizes in elements; a, b, c byte addresses of element
 * (0, 0) of the WHOLE operands). The path (direct or packed) is chosen from the whole m, n, k, so every
 * element of C is computed by the same instructions in the same order whatever the row range: a
 * product split into row ranges on several threads has the bits of the single call (each range needs
 * its own `scratch` of gemmScratchBytes(m, n, k, transB) bytes, 64-byte aligned for speed).
 */
export function gemmInto(
  m: i32, n: i32, k: i32,
  a: usize, lda: i32, transA: bool,
  b: usize, ldb: i32, transB: bool,
  c: usize, ldc: i32, accumulate: bool, scratch: usize,
  rowBegin: i32, rowEnd: i32,
): void {
  const rows = rowEnd - rowBegin;
  if (rows <= 0 || n == 0) return;
  const ldaB = <usize>lda << 2;
  const ldbB = <usize>ldb << 2;
  const ldcB = <usize>ldc << 2;
  const aRsB: usize = transA ? 4 : ldaB;
  const aCsB: usize = transA ? ldaB : 4;
  const a0 = a + <usize>rowBegin * aRsB;
  const c0 = c + <usize>rowBegin * ldcB;
  if (k == 0) {
    if (!accumulate) zeroBlock(rows, n, c0, ldcB);
    return;
  }
  if (useDirect(m, n, k, transB)) {
    if (transB) {
      // B stored [n, k]: transpose into scratch [k, n]
      transposeBlock(n, k, b, ldbB, scratch, <usize>n << 2);
      gemmDirect(rows, n, k, a0, aRsB, aCsB, scratch, <usize>n << 2, c0, ldcB, accumulate);
    } else {
      gemmDirect(rows, n, k, a0, aRsB, aCsB, b, ldbB, c0, ldcB, accumulate);
    }
    return;
  }
  const bRsB: usize = transB ? 4 : ldbB;
  const bCsB: usize = transB ? ldbB : 4;
  gemmPacked(rows, n, k, a0, aRsB, aCsB, b, bRsB, bCsB, c0, ldcB, accumulate, scratch);
}

/** Entry point of Backend.gemm (flags as i32: 0 or 1). */
export function gemm(
  m: i32, n: i32, k: i32,
  a: usize, lda: i32, transA: i32,
  b: usize, ldb: i32, transB: i32,
  c: usize, ldc: i32, accumulate: i32, scratch: usize,
): void {
  gemmInto(m, n, k, a, lda, transA != 0, b, ldb, transB != 0, c, ldc, accumulate != 0, scratch, 0, m);
}

/** Rows [rowBegin, rowEnd) of Backend.gemm (one part of a product split over threads; see gemmInto). */
export function gemmRows(
  m: i32, n: i32, k: i32,
  a: usize, lda: i32, transA: i32,
  b: usize, ldb: i32, transB: i32,
  c: usize, ldc: i32, accumulate: i32, scratch: usize,
  rowBegin: i32, rowEnd: i32,
): void {
  gemmInto(m, n, k, a, lda, transA != 0, b, ldb, transB != 0, c, ldc, accumulate != 0, scratch, rowBegin, rowEnd);
}

/** Entry point of Backend.gemmBatched: matrix i at a + i·strideA·4 etc. (strides in elements). */
export function gemmBatched(
  batch: i32, strideA: i32, strideB: i32, strideC: i32,
  m: i32, n: i32, k: i32,
  a: usize, lda: i32, transA: i32,
  b: usize, ldb: i32, transB: i32,
  c: usize, ldc: i32, accumulate: i32, scratch: usize,
): void {
  for (let i = 0; i < batch; i++) {
    gemmInto(
      m, n, k,
      a + (<usize>i * <usize>strideA << 2), lda, transA != 0,
      b + (<usize>i * <usize>strideB << 2), ldb, transB != 0,
      c + (<usize>i * <usize>strideC << 2), ldc, accumulate != 0, scratch, 0, m,
    );
  }
}
