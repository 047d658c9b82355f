// Angular LSH (Andoni et al. 2015; Kitaev et al. 2020 Sec. 2), semantics: Backend.lshHash.
// rotated = x·R by blocks of rows (gemm into scratch), then per hash round and bucket factor the
// signed argmax: argmax([s, −s]) over the factor's slice, ties to the lowest index.
import { gemmInto, gemmScratchBytes } from './gemm-entry';

/**
 * argmax([s, −s]) over the n f32 values s at p, ties to the lowest index (torch.argmax): the first
 * maximum of s (index imax) and the first minimum of s (imin), then imax if max ≥ −min, else n + imin.
 * NaN counts as larger than every number (torch.argmax): if s holds a NaN, the result is the index of
 * the first one (s_c and −s_c are both NaN, and c < n comes first). The comparisons below skip NaN, so
 * the vector loop also ORs the lanes' v ≠ v masks (true only for NaN; an OR keeps the loop-carried chain
 * one cycle long, where a running sum made the loop wait on the add's latency), and only then does a
 * scalar pass look for the first NaN.
 *
 * Vector part (the first n & ~3 values): lane j tracks columns j, j + 4, ... with a strict > (<), so
 * it keeps the first occurrence of its maximum (minimum); a lane starts at (∓Infinity, column j), as
 * if its start value sat at its first column. Across lanes the largest value wins and, among equal
 * values, the smallest column, i.e. the first occurrence overall (all lanes still at −Infinity give
 * column 0, as the scalar loop). The scalar tail (columns ≥ n & ~3) continues with a strict >, so
 * an equal value there never replaces the earlier one. Same result as the plain scalar loop.
 */
// @ts-ignore: decorator
@inline function signedArgmax(p: usize, n: i32): i32 {
  let maxv: f32 = -Infinity;
  let minv: f32 = Infinity;
  let imax = 0;
  let imin = 0;
  const n4 = n & ~3;
  let c = 0;
  if (n4 > 0) {
    let vmax = f32x4.splat(-Infinity);
    let vmin = f32x4.splat(Infinity);
    let idx = i32x4(0, 1, 2, 3);
    let vimax = idx;
    let vimin = idx;
    let vnan = i32x4.splat(0);
    const four = i32x4.splat(4);
    for (; c < n4; c += 4) {
      const v = v128.load(p + (<usize>c << 2));
      vnan = v128.or(vnan, f32x4.ne(v, v));
      const gt = f32x4.gt(v, vmax);
      const lt = f32x4.lt(v, vmin);
      vmax = v128.bitselect(v, vmax, gt);
      vimax = v128.bitselect(idx, vimax, gt);
      vmin = v128.bitselect(v, vmin, lt);
      vimin = v128.bitselect(idx, vimin, lt);
      idx = i32x4.add(idx, four);
    }
    if (v128.any_true(vnan)) {
      for (let j = 0; j < n4; j++) {
        const s = load<f32>(p + (<usize>j << 2));
        if (s != s) return j;
      }
    }
    // lanes 0..3: larger value wins, equal values go to the smaller column (no NaN in the lanes)
    maxv = f32x4.extract_lane(vmax, 0);
    imax = i32x4.extract_lane(vimax, 0);
    minv = f32x4.extract_lane(vmin, 0);
    imin = i32x4.extract_lane(vimin, 0);
    let v: f32 = f32x4.extract_lane(vmax, 1);
    let i: i32 = i32x4.extract_lane(vimax, 1);
    if (v > maxv || (v == maxv && i < imax)) { maxv = v; imax = i; }
    v = f32x4.extract_lane(vmax, 2);
    i = i32x4.extract_lane(vimax, 2);
    if (v > maxv || (v == maxv && i < imax)) { maxv = v; imax = i; }
    v = f32x4.extract_lane(vmax, 3);
    i = i32x4.extract_lane(vimax, 3);
    if (v > maxv || (v == maxv && i < imax)) { maxv = v; imax = i; }
    v = f32x4.extract_lane(vmin, 1);
    i = i32x4.extract_lane(vimin, 1);
    if (v < minv || (v == minv && i < imin)) { minv = v; imin = i; }
    v = f32x4.extract_lane(vmin, 2);
    i = i32x4.extract_lane(vimin, 2);
    if (v < minv || (v == minv && i < imin)) { minv = v; imin = i; }
    v = f32x4.extract_lane(vmin, 3);
    i = i32x4.extract_lane(vimin, 3);
    if (v < minv || (v == minv && i < imin)) { minv = v; imin = i; }
  }
  for (; c < n; c++) {
    const s = load<f32>(p + (<usize>c << 2));
    if (s != s) return c;
    if (s > maxv) {
      maxv = s;
      imax = c;
    }
    if (s < minv) {
      minv = s;
      imin = c;
    }
  }
  // argmax over [s, −s]: indices < n come first, so a tie goes to imax
  return maxv >= -minv ? imax : n + imin;
}

/** Rows rotated per gemm call (bounds the scratch). */
export const HASH_ROW_BLOCK: i32 = 128;

/** Scratch bytes of lshHash: the rotated block [HASH_ROW_BLOCK, numHashes·half] + the gemm's scratch. */
export function lshHashScratchBytes(rows: i32, dHead: i32, numHashes: i32, half: i32): usize {
  const block = min(rows, HASH_ROW_BLOCK);
  const width = numHashes * half;
  const rotated = ((<usize>block * <usize>width * 4 + 63) >> 6) << 6;
  return rotated + gemmScratchBytes(block, width, dHead, false);
}

/**
 * x: [rows, dHead] (row stride ldx elements); rot: [dHead, numHashes·half] contiguous;
 * factors: numFactors i32 (even, ≥ 2), half = Σ factors/2; buckets out: [numHashes, ldBuckets] i32
 * (round h of row r at h·ldBuckets + r; ldBuckets = rows for one call over all rows, the total row
 * count when rows [r0, r1) of a larger call are hashed: x and buckets then point at row r0).
 * Rows are rotated in blocks of HASH_ROW_BLOCK from the first row, so a split at multiples of
 * HASH_ROW_BLOCK rows gives the bits of the single call.
 */
export function lshHash(
  x: usize, ldx: i32, rows: i32, dHead: i32,
  rot: usize, numHashes: i32,
  factors: usize, numFactors: i32, half: i32,
  buckets: usize, ldBuckets: i32, scratch: usize,
): void {
  const width = numHashes * half;
  const rotated = scratch;
  const gemmScratch = scratch + (((<usize>min(rows, HASH_ROW_BLOCK) * <usize>width * 4 + 63) >> 6) << 6);
  for (let r0 = 0; r0 < rows; r0 += HASH_ROW_BLOCK) {
    const nr = min(HASH_ROW_BLOCK, rows - r0);
    gemmInto(nr, width, dHead, x + <usize>r0 * (<usize>ldx << 2), ldx, false, rot, width, false, rotated, width, false, gemmScratch, 0, nr);
    for (let t = 0; t < nr; t++) {
      const rowp = rotated + <usize>t * <usize>width * 4;
      for (let h = 0; h < numHashes; h++) {
        let start = rowp + <usize>h * <usize>half * 4;
        let bucket = 0;
        let radix = 1;
        for (let fi = 0; fi < numFactors; fi++) {
          const f = load<i32>(factors + (<usize>fi << 2));
          const fh = f >> 1;
          bucket += radix * signedArgmax(start, fh);
          radix *= f;
          start += <usize>fh << 2;
        }
        store<i32>(buckets + ((<usize>h * <usize>ldBuckets + <usize>(r0 + t)) << 2), bucket);
      }
    }
  }
}
