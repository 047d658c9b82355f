/** Reference loop of the hash-round family (see params.ts). */
import type { DType } from '../../backend.js';
import { type LshRoundCombineParams, validateLshRoundCombine } from './params.js';

/** `dtype`: the backend's float type (Z_t is rounded to it before use). */
export function lshRoundCombine(p: LshRoundCombineParams, dtype: DType): void {
  validateLshRoundCombine(p);
  const { d, pos, roundOut, roundLse, acc, stats } = p;
  const posOff = p.posOffset ?? 0;
  const outOff = p.roundOutOffset ?? 0;
  const ldOut = p.ldRoundOut ?? d;
  const lseOff = p.roundLseOffset ?? 0;
  const accOff = p.accOffset ?? 0;
  const ldAcc = p.ldAcc ?? d;
  const statsOff = p.statsOffset ?? 0;
  for (let k = 0; k < p.rows; k++) {
    const t = pos[posOff + k]!;
    const z = roundLse[lseOff + k]!;
    const a = accOff + t * ldAcc;
    const o = outOff + k * ldOut;
    const mi = statsOff + 2 * t; // m_t, then s_t (stored at buffer precision, re-read before use)
    // acc_t ← α·acc_t + β·o⁽ʳ⁾_t,  s_t ← α·s_t + β,  m_t ← max(m_t, z)
    let alpha = 0;
    let beta = 1;
    if (p.first) {
      stats[mi] = z;
      stats[mi + 1] = 1;
    } else if (z <= stats[mi]!) {
      alpha = 1;
      beta = Math.exp(z - stats[mi]!);
      stats[mi + 1] = stats[mi + 1]! + beta;
    } else {
      alpha = Math.exp(stats[mi]! - z);
      stats[mi + 1] = stats[mi + 1]! * alpha + 1;
      stats[mi] = z;
    }
    if (p.last) {
      // o_t = acc_t · exp(m_t − Z_t), Z_t = m_t + log s_t stored at buffer precision first (HF fp32 logsumexp)
      const m = stats[mi]!;
      const zt = m + Math.log(stats[mi + 1]!);
      const scale = Math.exp(m - (dtype === 'f32' ? Math.fround(zt) : zt));
      alpha *= scale;
      beta *= scale;
    }
    if (alpha === 0) {
      for (let j = 0; j < d; j++) acc[a + j] = beta * roundOut[o + j]!;
    } else {
      for (let j = 0; j < d; j++) acc[a + j] = alpha * acc[a + j]! + beta * roundOut[o + j]!;
    }
  }
}
