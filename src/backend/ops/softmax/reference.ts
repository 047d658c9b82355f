/** Reference loops of the softmax family (see params.ts), and the log-sum-exp the attention reference shares. */
import { type SoftmaxBackwardParams, type SoftmaxParams, validateSoftmax, validateSoftmaxBackward } from './params.js';

export function softmaxRows(p: SoftmaxParams): void {
  validateSoftmax(p);
  const { rows, cols, s, lds, p: out, ldp, lse } = p;
  const sOff = p.sOffset ?? 0;
  const pOff = p.pOffset ?? 0;
  const lOff = p.lseOffset ?? 0;
  for (let r = 0; r < rows; r++) {
    const so = sOff + r * lds;
    const po = pOff + r * ldp;
    lse[lOff + r] = logSumExp(s, so, cols);
    const l = lse[lOff + r]!; // re-read: stored precision, as torch
    for (let j = 0; j < cols; j++) out[po + j] = l === -Infinity ? 0 : Math.exp(s[so + j]! - l);
  }
}

export function softmaxRowsBackward(p: SoftmaxBackwardParams): void {
  validateSoftmaxBackward(p);
  const { rows, cols, p: prob, ldp, dp, lddp, ds, ldds, dlse } = p;
  const pOff = p.pOffset ?? 0;
  const dpOff = p.dpOffset ?? 0;
  const dsOff = p.dsOffset ?? 0;
  const dlOff = p.dlseOffset ?? 0;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += prob[pOff + r * ldp + j]! * dp[dpOff + r * lddp + j]!;
    const g = dlse ? dlse[dlOff + r]! : 0;
    for (let j = 0; j < cols; j++) {
      const pj = prob[pOff + r * ldp + j]!;
      const k = dsOff + r * ldds + j;
      ds[k] = ds[k]! + pj * (dp[dpOff + r * lddp + j]! - dot + g);
    }
  }
}

/**
 * log Σ_j exp(x[off + j]) with the max seeded at −Infinity; an all −Infinity row gives −Infinity.
 * A NaN or +Infinity anywhere gives NaN (IEEE: exp(NaN − max), exp(∞ − ∞)), also in a row that is
 * otherwise −Infinity.
 */
export function logSumExp(x: ArrayLike<number>, off: number, n: number): number {
  let max = -Infinity;
  for (let j = 0; j < n; j++) if (x[off + j]! > max) max = x[off + j]!;
  if (max === -Infinity) {
    for (let j = 0; j < n; j++) if (Number.isNaN(x[off + j]!)) return NaN;
    return -Infinity;
  }
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(x[off + j]! - max);
  return max + Math.log(sum);
}
