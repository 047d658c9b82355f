// Online softmax over LSH hash rounds (semantics: Backend.lshRoundCombine, LshRoundCombineParams):
// HF's logsumexp-weighted sum over hashes, folded one round at a time into a per-position state
//   acc_t = Σ_n exp(z⁽ⁿ⁾_t − m_t)·o⁽ⁿ⁾_t,  s_t = Σ_n exp(z⁽ⁿ⁾_t − m_t),  m_t = max_n z⁽ⁿ⁾_t,
// finished in the last round as o_t = acc_t·exp(m_t − Z_t), Z_t = m_t + log s_t rounded to f32.
// Per row: the round weights α, β in f64 scalars (m_t, s_t stored as f32 and re-read, as the reference
// backend does with f32 buffers), then the d-wide update acc_t ← α·acc_t + β·o in f32 SIMD lanes.
// Rows of one call have distinct positions (checked in TypeScript), so row ranges can run on
// different threads; every position's result depends on its own row only.
import { fmadd } from './simd';

/**
 * rows query rows: pos [rows] i32 (distinct, in [0, seqLen)), out [rows, d] f32 (row stride ldOut),
 * lse [rows] f32; acc [seqLen, d] f32 (row stride ldAcc) and stats [seqLen, 2] f32 (m_t, s_t) by
 * position, updated in place. first != 0: overwrite (acc and stats are not read); last != 0: finish.
 */
export function lshRoundCombine(
  rows: i32, d: i32, first: i32, last: i32,
  pos: usize, out: usize, ldOut: i32, lse: usize,
  acc: usize, ldAcc: i32, stats: usize,
): void {
  const ldOutB = <usize>ldOut << 2;
  const ldAccB = <usize>ldAcc << 2;
  for (let k = 0; k < rows; k++) {
    const t = load<i32>(pos + (<usize>k << 2));
    const z = <f64>load<f32>(lse + (<usize>k << 2));
    const st = stats + (<usize>t << 3); // m_t at st, s_t at st + 4
    // acc_t ← α·acc_t + β·o,  s_t ← α·s_t + β,  m_t ← max(m_t, z)
    let alpha: f64 = 0;
    let beta: f64 = 1;
    if (first != 0) {
      store<f32>(st, <f32>z);
      store<f32>(st, 1, 4);
    } else {
      const m = <f64>load<f32>(st);
      const s = <f64>load<f32>(st, 4);
      if (z <= m) {
        alpha = 1;
        beta = Math.exp(z - m);
        store<f32>(st, <f32>(s + beta), 4);
      } else {
        alpha = Math.exp(m - z);
        store<f32>(st, <f32>(s * alpha + 1), 4);
        store<f32>(st, <f32>z);
      }
    }
    if (last != 0) {
      // Z_t = m_t + log s_t, stored as f32 first (HF's fp32 logsumexp), then o_t = acc_t·exp(m_t − Z_t)
      const m = <f64>load<f32>(st);
      const zt = <f64><f32>(m + Math.log(<f64>load<f32>(st, 4)));
      const scale = Math.exp(m - zt);
      alpha *= scale;
      beta *= scale;
    }
    combineRow(d, acc + <usize>t * ldAccB, out + <usize>k * ldOutB, alpha, beta);
  }
}

/** a[j] = α·a[j] + β·o[j] for j < d (a = β·o when α = 0: a is not read, it may hold anything). */
// @ts-ignore: decorator
@inline function combineRow(d: i32, a: usize, o: usize, alpha: f64, beta: f64): void {
  const b = <f32>beta;
  const bv = f32x4.splat(b);
  let j = 0;
  if (alpha == 0) {
    for (; j + 4 <= d; j += 4) {
      const off = <usize>j << 2;
      v128.store(a + off, f32x4.mul(bv, v128.load(o + off)));
    }
    for (; j < d; j++) {
      const off = <usize>j << 2;
      store<f32>(a + off, b * load<f32>(o + off));
    }
  } else {
    const al = <f32>alpha;
    const av = f32x4.splat(al);
    for (; j + 4 <= d; j += 4) {
      const off = <usize>j << 2;
      v128.store(a + off, fmadd(av, v128.load(a + off), f32x4.mul(bv, v128.load(o + off))));
    }
    for (; j < d; j++) {
      const off = <usize>j << 2;
      const v = fmadd(f32x4.splat(al), f32x4.splat(load<f32>(a + off)), f32x4.splat(b * load<f32>(o + off)));
      store<f32>(a + off, f32x4.extract_lane(v, 0));
    }
  }
}
