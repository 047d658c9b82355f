// Angular LSH (Andoni et al. 2015; Kitaev et al. 2020 Sec. 2), semantics: Backend.lshHash.
// rotated = x·R by blocks of rows (gemm into scratch), then per hash round and bucket factor the
// signed argmax: argmax([s, −s]) over the factor's slice, ties to the lowest index.
import { gemmInto, gemmScratchBytes } from './gemm';

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
          // first maximum of s and first minimum of s over the slice
          let maxv: f32 = -Infinity;
          let minv: f32 = Infinity;
          let imax = 0;
          let imin = 0;
          for (let c = 0; c < fh; c++) {
            const s = load<f32>(start + (<usize>c << 2));
            if (s > maxv) {
              maxv = s;
              imax = c;
            }
            if (s < minv) {
              minv = s;
              imin = c;
            }
          }
          // argmax over [s, −s]: indices < fh come first, so a tie goes to imax
          const best = maxv >= -minv ? imax : fh + imin;
          bucket += radix * best;
          radix *= f;
          start += <usize>fh << 2;
        }
        store<i32>(buckets + ((<usize>h * <usize>ldBuckets + <usize>(r0 + t)) << 2), bucket);
      }
    }
  }
}
