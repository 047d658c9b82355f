// General matrix multiply C (+)= A·B in f32 (semantics: src/backend/backend.ts GemmParams): the
// micro-kernels and the two paths; the entry points (which path, scratch sizes, row ranges, batches)
// are in gemm-entry.ts.
//
// Two paths:
//  - packed (BLIS, Van Zee & van de Geijn 2015; Goto & van de Geijn 2008): B is packed in panels of
//    KC×8, A in panels of 4×KC, and a 4×8 register micro-kernel (8 f32x4 accumulators, A by
//    load32_splat, B by two v128 loads) runs over MC×NC blocks. KC=256, MC=96, NC=2048 (see
//    shared/PERF-NOTES.md: larger tiles spill in V8, block sizes matter less than noise).
//  - direct (unpacked) for small operands, e.g. chunk attention: the same 4×8 register tile reads A
//    through strides and B rows in place (B must be contiguous along n; a transposed B is first
//    transposed into scratch).
//
// Element (i, l) of A is at a + i·aRsB + l·aCsB; element (l, j) of B at b + l·bRsB + j·bCsB
// (byte strides), which covers transA / transB / leading dimensions.
import { fmadd, hsum, transposeBlock } from './simd';

export const MR: i32 = 4;
export const NR: i32 = 8;
export const KC: i32 = 256;
export const MC: i32 = 96;
export const NC: i32 = 2048;
/** Use the direct path when B (k×n) has at most this many elements (fits L2 with room) or m is tiny. */
export const DIRECT_MAX_KN: i32 = 128 * 1024;
export const DIRECT_MAX_M: i32 = 8;

// ------------------------------------------------------------------------ micro-kernels

/**
 * 4×8 tile over packed panels: acc = Σ_l ap[l, 0..4]ᵀ · bp[l, 0..8]; then C = acc or C += acc.
 * ap: kc×4 (4 rows interleaved per l), bp: kc×8.
 */
function packedKernel4x8(kc: i32, ap: usize, bp: usize, c: usize, ldcB: usize, addToC: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let l = 0; l < kc; l++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = fmadd(a, b0, c00);
    c01 = fmadd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = fmadd(a, b0, c10);
    c11 = fmadd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = fmadd(a, b0, c20);
    c21 = fmadd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = fmadd(a, b0, c30);
    c31 = fmadd(a, b1, c31);
    ap += 16;
    bp += 32;
  }
  storeTile4x8(c, ldcB, addToC, c00, c01, c10, c11, c20, c21, c30, c31);
}

// @ts-ignore: decorator
@inline function storeTile4x8(
  c: usize, ldcB: usize, addToC: bool,
  c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128,
): void {
  const r1 = c + ldcB;
  const r2 = r1 + ldcB;
  const r3 = r2 + ldcB;
  if (addToC) {
    c00 = f32x4.add(c00, v128.load(c));
    c01 = f32x4.add(c01, v128.load(c, 16));
    c10 = f32x4.add(c10, v128.load(r1));
    c11 = f32x4.add(c11, v128.load(r1, 16));
    c20 = f32x4.add(c20, v128.load(r2));
    c21 = f32x4.add(c21, v128.load(r2, 16));
    c30 = f32x4.add(c30, v128.load(r3));
    c31 = f32x4.add(c31, v128.load(r3, 16));
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(r1, c10);
  v128.store(r1, c11, 16);
  v128.store(r2, c20);
  v128.store(r2, c21, 16);
  v128.store(r3, c30);
  v128.store(r3, c31, 16);
}

/** Direct 4×8 tile: A rows at a, a+aRsB, ... stepping aCsB per l; B rows at b stepping bRsB (contiguous 8). */
function directKernel4x8(k: i32, a: usize, aRsB: usize, aCsB: usize, b: usize, bRsB: usize, c: usize, ldcB: usize, addToC: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const a1 = aRsB;
  const a2 = aRsB << 1;
  const a3 = a1 + a2;
  for (let l = 0; l < k; l++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let x = v128.load32_splat(a);
    c00 = fmadd(x, b0, c00);
    c01 = fmadd(x, b1, c01);
    x = v128.load32_splat(a + a1);
    c10 = fmadd(x, b0, c10);
    c11 = fmadd(x, b1, c11);
    x = v128.load32_splat(a + a2);
    c20 = fmadd(x, b0, c20);
    c21 = fmadd(x, b1, c21);
    x = v128.load32_splat(a + a3);
    c30 = fmadd(x, b0, c30);
    c31 = fmadd(x, b1, c31);
    a += aCsB;
    b += bRsB;
  }
  storeTile4x8(c, ldcB, addToC, c00, c01, c10, c11, c20, c21, c30, c31);
}

/** Direct 4×4 tile (n tail of 4..7 columns). */
function directKernel4x4(k: i32, a: usize, aRsB: usize, aCsB: usize, b: usize, bRsB: usize, c: usize, ldcB: usize, addToC: bool): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  const a1 = aRsB;
  const a2 = aRsB << 1;
  const a3 = a1 + a2;
  for (let l = 0; l < k; l++) {
    const b0 = v128.load(b);
    c0 = fmadd(v128.load32_splat(a), b0, c0);
    c1 = fmadd(v128.load32_splat(a + a1), b0, c1);
    c2 = fmadd(v128.load32_splat(a + a2), b0, c2);
    c3 = fmadd(v128.load32_splat(a + a3), b0, c3);
    a += aCsB;
    b += bRsB;
  }
  const r1 = c + ldcB;
  const r2 = r1 + ldcB;
  const r3 = r2 + ldcB;
  if (addToC) {
    c0 = f32x4.add(c0, v128.load(c));
    c1 = f32x4.add(c1, v128.load(r1));
    c2 = f32x4.add(c2, v128.load(r2));
    c3 = f32x4.add(c3, v128.load(r3));
  }
  v128.store(c, c0);
  v128.store(r1, c1);
  v128.store(r2, c2);
  v128.store(r3, c3);
}

/** Direct 1×8 tile (m tail). */
function directKernel1x8(k: i32, a: usize, aCsB: usize, b: usize, bRsB: usize, c: usize, addToC: bool): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  for (let l = 0; l < k; l++) {
    const x = v128.load32_splat(a);
    c0 = fmadd(x, v128.load(b), c0);
    c1 = fmadd(x, v128.load(b, 16), c1);
    a += aCsB;
    b += bRsB;
  }
  if (addToC) {
    c0 = f32x4.add(c0, v128.load(c));
    c1 = f32x4.add(c1, v128.load(c, 16));
  }
  v128.store(c, c0);
  v128.store(c, c1, 16);
}

/** Direct 1×4 tile. */
function directKernel1x4(k: i32, a: usize, aCsB: usize, b: usize, bRsB: usize, c: usize, addToC: bool): void {
  let c0 = f32x4.splat(0);
  for (let l = 0; l < k; l++) {
    c0 = fmadd(v128.load32_splat(a), v128.load(b), c0);
    a += aCsB;
    b += bRsB;
  }
  if (addToC) c0 = f32x4.add(c0, v128.load(c));
  v128.store(c, c0);
}

/**
 * A single column (n = 1) with A's rows and B contiguous along k (a matrix-vector product y = W·x, as
 * one-row `nn.Linear` calls run it): c_i = A_i·b, four partial sums per row in one f32x4, then the tail.
 */
function directDotColumn(m: i32, k: i32, a: usize, aRsB: usize, b: usize, c: usize, ldcB: usize, addToC: bool): void {
  const k4 = k & ~3;
  for (let i = 0; i < m; i++) {
    const ai = a + <usize>i * aRsB;
    let acc = f32x4.splat(0);
    for (let l = 0; l < k4; l += 4) acc = fmadd(v128.load(ai + (<usize>l << 2)), v128.load(b + (<usize>l << 2)), acc);
    let s = hsum(acc);
    for (let l = k4; l < k; l++) s += load<f32>(ai + (<usize>l << 2)) * load<f32>(b + (<usize>l << 2));
    const ci = c + <usize>i * ldcB;
    store<f32>(ci, addToC ? load<f32>(ci) + s : s);
  }
}

/** One element (column tails below 4): scalar dot product. */
function directKernel1x1(k: i32, a: usize, aCsB: usize, b: usize, bRsB: usize, c: usize, addToC: bool): void {
  let s: f32 = 0;
  for (let l = 0; l < k; l++) {
    s += load<f32>(a) * load<f32>(b);
    a += aCsB;
    b += bRsB;
  }
  store<f32>(c, addToC ? load<f32>(c) + s : s);
}

// ------------------------------------------------------------------------ direct path

/**
 * C[m, n] (+)= A·B without packing. B rows must be contiguous along n (element (l, j) at b + l·bRsB + 4j).
 * Used by gemm for small operands and by the chunk attention for its micro-GEMMs.
 */
export function gemmDirect(
  m: i32, n: i32, k: i32,
  a: usize, aRsB: usize, aCsB: usize,
  b: usize, bRsB: usize,
  c: usize, ldcB: usize,
  addToC: bool,
): void {
  if (k == 0) {
    if (!addToC) zeroBlock(m, n, c, ldcB);
    return;
  }
  if (n == 1 && aCsB == 4 && bRsB == 4) {
    directDotColumn(m, k, a, aRsB, b, c, ldcB, addToC);
    return;
  }
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const ai = a + <usize>i * aRsB;
    const ci = c + <usize>i * ldcB;
    let j = 0;
    for (; j + 8 <= n; j += 8) directKernel4x8(k, ai, aRsB, aCsB, b + (<usize>j << 2), bRsB, ci + (<usize>j << 2), ldcB, addToC);
    for (; j + 4 <= n; j += 4) directKernel4x4(k, ai, aRsB, aCsB, b + (<usize>j << 2), bRsB, ci + (<usize>j << 2), ldcB, addToC);
    for (; j < n; j++) {
      for (let r = 0; r < 4; r++) {
        directKernel1x1(k, ai + <usize>r * aRsB, aCsB, b + (<usize>j << 2), bRsB, ci + <usize>r * ldcB + (<usize>j << 2), addToC);
      }
    }
  }
  for (; i < m; i++) {
    const ai = a + <usize>i * aRsB;
    const ci = c + <usize>i * ldcB;
    let j = 0;
    for (; j + 8 <= n; j += 8) directKernel1x8(k, ai, aCsB, b + (<usize>j << 2), bRsB, ci + (<usize>j << 2), addToC);
    for (; j + 4 <= n; j += 4) directKernel1x4(k, ai, aCsB, b + (<usize>j << 2), bRsB, ci + (<usize>j << 2), addToC);
    for (; j < n; j++) directKernel1x1(k, ai, aCsB, b + (<usize>j << 2), bRsB, ci + (<usize>j << 2), addToC);
  }
}

export function zeroBlock(m: i32, n: i32, c: usize, ldcB: usize): void {
  for (let i = 0; i < m; i++) memory.fill(c + <usize>i * ldcB, 0, <usize>n << 2);
}

// ------------------------------------------------------------------------ packing

/**
 * Packs B[l, j] for l < kc, j < nc into panels of 8 columns: panel p holds (l, 8p..8p+8) at
 * dst + (p·kc + l)·32; columns past nc are zero.
 */
function packB(kc: i32, nc: i32, b: usize, bRsB: usize, bCsB: usize, dst: usize): void {
  const contiguous = bCsB == 4;
  for (let j0 = 0; j0 < nc; j0 += NR) {
    const w = min(NR, nc - j0);
    const panel = dst + <usize>j0 * <usize>kc * 4;
    const src = b + <usize>j0 * bCsB;
    if (w == NR && contiguous) {
      for (let l = 0; l < kc; l++) {
        const s = src + <usize>l * bRsB;
        const d = panel + (<usize>l << 5);
        v128.store(d, v128.load(s));
        v128.store(d, v128.load(s, 16), 16);
      }
    } else if (w == NR && bRsB == 4) {
      // transposed storage: column j of B is a contiguous row of length kc; 4×4 register transposes
      transposeBlock(NR, kc, src, bCsB, panel, 32);
    } else {
      for (let l = 0; l < kc; l++) {
        const s = src + <usize>l * bRsB;
        const d = panel + (<usize>l << 5);
        let j = 0;
        for (; j < w; j++) store<f32>(d + (<usize>j << 2), load<f32>(s + <usize>j * bCsB));
        for (; j < NR; j++) store<f32>(d + (<usize>j << 2), 0);
      }
    }
  }
}

/**
 * Packs A[i, l] for i < mc, l < kc into panels of 4 rows: panel q holds (4q..4q+4, l) at
 * dst + (q·kc + l)·16; rows past mc are zero.
 */
function packA(mc: i32, kc: i32, a: usize, aRsB: usize, aCsB: usize, dst: usize): void {
  for (let i0 = 0; i0 < mc; i0 += MR) {
    const h = min(MR, mc - i0);
    const panel = dst + <usize>i0 * <usize>kc * 4;
    const src = a + <usize>i0 * aRsB;
    if (h == MR && aRsB == 4) {
      // transA storage: the 4 rows of the panel are contiguous for each l
      for (let l = 0; l < kc; l++) v128.store(panel + (<usize>l << 4), v128.load(src + <usize>l * aCsB));
    } else if (h == MR && aCsB == 4) {
      transposeBlock(MR, kc, src, aRsB, panel, 16);
    } else {
      for (let l = 0; l < kc; l++) {
        const d = panel + (<usize>l << 4);
        const s = src + <usize>l * aCsB;
        let r = 0;
        for (; r < h; r++) store<f32>(d + (<usize>r << 2), load<f32>(s + <usize>r * aRsB));
        for (; r < MR; r++) store<f32>(d + (<usize>r << 2), 0);
      }
    }
  }
}

// ------------------------------------------------------------------------ packed path

/** Bytes of scratch the packed path needs (packed B block, packed A block, one edge tile). */
export function packedScratchBytes(): usize {
  return (<usize>KC * <usize>NC + <usize>MC * <usize>KC + 32) * 4;
}

export function gemmPacked(
  m: i32, n: i32, k: i32,
  a: usize, aRsB: usize, aCsB: usize,
  b: usize, bRsB: usize, bCsB: usize,
  c: usize, ldcB: usize, accumulate: bool, scratch: usize,
): void {
  const bp = scratch;
  const ap = bp + <usize>KC * <usize>NC * 4;
  const tile = ap + <usize>MC * <usize>KC * 4;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      packB(kc, nc, b + <usize>pc * bRsB + <usize>jc * bCsB, bRsB, bCsB, bp);
      const addToC = accumulate || pc > 0;
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        packA(mc, kc, a + <usize>ic * aRsB + <usize>pc * aCsB, aRsB, aCsB, ap);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bpanel = bp + <usize>jr * <usize>kc * 4;
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const apanel = ap + <usize>ir * <usize>kc * 4;
            const cp = c + <usize>(ic + ir) * ldcB + (<usize>(jc + jr) << 2);
            if (mr == MR && nr == NR) {
              packedKernel4x8(kc, apanel, bpanel, cp, ldcB, addToC);
            } else {
              packedKernel4x8(kc, apanel, bpanel, tile, 32, false);
              for (let r = 0; r < mr; r++) {
                const cr = cp + <usize>r * ldcB;
                const tr = tile + (<usize>r << 5);
                for (let j = 0; j < nr; j++) {
                  const o = <usize>j << 2;
                  const t = load<f32>(tr + o);
                  store<f32>(cr + o, addToC ? load<f32>(cr + o) + t : t);
                }
              }
            }
          }
        }
      }
    }
  }
}
