/** The hash-round family (kernel: assembly/rounds.ts): parameter type and argument checks of the online softmax over LSH rounds. */
import { ShapeError } from '../../../errors.js';
import type { Float } from '../../backend.js';
import { blockEnd, checkBlock, checkInt, checkNoOverlap, checkVec } from '../checks.js';

/**
 * One step of the online softmax over LSH hash rounds: HF's logsumexp-weighted sum over hashes
 * (Kitaev et al. Eq. 12), `o_t = Σ_n exp(z⁽ⁿ⁾_t − Z_t)·o⁽ⁿ⁾_t` with `Z_t = logsumexp_n z⁽ⁿ⁾_t`, computed
 * round by round without keeping the rounds. The call folds the query rows of one round, in any order
 * (LSH: sorted order), into a running state per sequence position t = pos[k]:
 *
 *   acc_t = Σ_n exp(z⁽ⁿ⁾_t − m_t)·o⁽ⁿ⁾_t,   s_t = Σ_n exp(z⁽ⁿ⁾_t − m_t),   m_t = max_n z⁽ⁿ⁾_t
 *
 * Per row k (z = roundLse[k], o = roundOut[k, :]), with α, β computed in float64:
 *   - `first`:     m_t = z, s_t = 1, acc_t = o (acc and stats are only written: they need no initial values);
 *   - z ≤ m_t:     β = exp(z − m_t),  s_t ← s_t + β,    acc_t ← acc_t + β·o;
 *   - z > m_t:     α = exp(m_t − z),  s_t ← α·s_t + 1,  m_t ← z,  acc_t ← α·acc_t + o;
 *   - `last` also finishes the position: Z_t = m_t + log s_t, stored at buffer precision first (HF's fp32
 *     logsumexp: near the self-mask value −1e5 the rounding of Z makes the round weights sum to ≠ 1, and
 *     HF's outputs carry that), and α, β are multiplied by exp(m_t − Z_t), so acc_t becomes o_t.
 * m_t and s_t are stored at buffer precision (`stats`, f32 on WASM) and re-read before use: m_t is a
 * maximum of stored z values, so f32 holds it exactly; s_t ∈ [1, rounds] loses at most 2^-24 relative per
 * round, which moves Z_t by ≤ rounds·6e-8 (HF sums these exponentials in fp32 too).
 *
 * Each position may occur at most once per call (a round visits every position once), so rows can be
 * processed in any order and split over threads. `first` and `last` may both be set (one round).
 */
export interface LshRoundCombineParams {
  /** Query rows of this call. */
  rows: number;
  /** Head size (columns of roundOut and acc). */
  d: number;
  /** Sequence length: positions are in [0, seqLen); acc and stats have seqLen rows. */
  seqLen: number;
  /** First round: overwrite acc_t and the state instead of combining. */
  first: boolean;
  /** Last round: finish o_t = acc_t·exp(m_t − Z_t) in acc. */
  last: boolean;
  /** Sequence position of each row: [rows], distinct, in [0, seqLen). */
  pos: Int32Array;
  posOffset?: number;
  /** Per-round outputs o⁽ⁿ⁾: [rows, d] with row stride ldRoundOut (default d). */
  roundOut: Float;
  roundOutOffset?: number;
  ldRoundOut?: number;
  /** Per-round log-sum-exp z⁽ⁿ⁾ of each row: [rows]. */
  roundLse: Float;
  roundLseOffset?: number;
  /** In/out: [seqLen, d] with row stride ldAcc (default d), by position. */
  acc: Float;
  accOffset?: number;
  ldAcc?: number;
  /** In/out: [seqLen, 2] = (m_t, s_t) per position. */
  stats: Float;
  statsOffset?: number;
}

/** Per-position generation stamps of validateLshRoundCombine's distinctness check (grown on demand, reused). */
let seenStamp = new Int32Array(0);
let seenGeneration = 0;

export function validateLshRoundCombine(p: LshRoundCombineParams): void {
  const op = 'lshRoundCombine';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'd', p.d, 1);
  checkInt(op, 'seqLen', p.seqLen);
  if (p.rows > p.seqLen)
    throw new ShapeError(`${op}: rows (${p.rows}) exceeds seqLen (${p.seqLen}); each position occurs at most once per call`);
  const posOff = p.posOffset ?? 0;
  checkVec(op, 'pos', p.pos, p.rows, posOff);
  const ldOut = p.ldRoundOut ?? p.d;
  const ldAcc = p.ldAcc ?? p.d;
  const outOff = p.roundOutOffset ?? 0;
  const lseOff = p.roundLseOffset ?? 0;
  const accOff = p.accOffset ?? 0;
  const statsOff = p.statsOffset ?? 0;
  checkBlock(op, 'roundOut', p.roundOut, outOff, p.rows, p.d, ldOut);
  checkVec(op, 'roundLse', p.roundLse, p.rows, lseOff);
  checkBlock(op, 'acc', p.acc, accOff, p.seqLen, p.d, ldAcc);
  checkVec(op, 'stats', p.stats, 2 * p.seqLen, statsOff);
  const accEnd = blockEnd(accOff, p.seqLen, p.d, ldAcc);
  const statsEnd = statsOff + 2 * p.seqLen;
  checkNoOverlap(op, 'acc', p.acc, accOff, accEnd, 'roundOut', p.roundOut, outOff, blockEnd(outOff, p.rows, p.d, ldOut));
  checkNoOverlap(op, 'acc', p.acc, accOff, accEnd, 'roundLse', p.roundLse, lseOff, lseOff + p.rows);
  checkNoOverlap(op, 'stats', p.stats, statsOff, statsEnd, 'roundOut', p.roundOut, outOff, blockEnd(outOff, p.rows, p.d, ldOut));
  checkNoOverlap(op, 'stats', p.stats, statsOff, statsEnd, 'roundLse', p.roundLse, lseOff, lseOff + p.rows);
  checkNoOverlap(op, 'stats', p.stats, statsOff, statsEnd, 'acc', p.acc, accOff, accEnd);
  // positions in range and distinct (rows of one call may then run in any order, on any thread)
  if (seenStamp.length < p.seqLen || seenGeneration >= 2 ** 31 - 1) {
    seenStamp = new Int32Array(Math.max(p.seqLen, seenStamp.length));
    seenGeneration = 0;
  }
  const gen = ++seenGeneration;
  for (let i = 0; i < p.rows; i++) {
    const t = p.pos[posOff + i]!;
    if (!(t >= 0 && t < p.seqLen)) throw new ShapeError(`${op}: pos[${i}] = ${t} is outside [0, ${p.seqLen})`);
    if (seenStamp[t] === gen) throw new ShapeError(`${op}: position ${t} occurs twice (pos[${i}]); each position may occur once per call`);
    seenStamp[t] = gen;
  }
}
