/** The softmax family (kernels: assembly/softmax.ts): parameter types and argument checks of the row softmax. */
import type { Float } from '../../backend.js';
import { blockEnd, checkBlock, checkInt, checkNoOverlap, checkVec } from '../checks.js';

/** Row softmax with stored log-sum-exp: `lse = log Σ exp(s)`, then `p = exp(s − lse)`. */
export interface SoftmaxParams {
  rows: number;
  cols: number;
  s: Float;
  sOffset?: number;
  lds: number;
  /** May be the same buffer and offset as s (in place). */
  p: Float;
  pOffset?: number;
  ldp: number;
  /** out: [rows] */
  lse: Float;
  lseOffset?: number;
}

/**
 * Backward of `SoftmaxParams`: `ds += p ⊙ (dp − Σ_j p_j·dp_j) + p ⊙ dlse` per row.
 * `dlse` (the gradient that reaches the stored log-sum-exp) is optional.
 */
export interface SoftmaxBackwardParams {
  rows: number;
  cols: number;
  p: Float;
  pOffset?: number;
  ldp: number;
  dp: Float;
  dpOffset?: number;
  lddp: number;
  dlse?: Float | null;
  dlseOffset?: number;
  ds: Float;
  dsOffset?: number;
  ldds: number;
}

export function validateSoftmax(p: SoftmaxParams): void {
  const op = 'softmaxRows';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  checkBlock(op, 's', p.s, p.sOffset ?? 0, p.rows, p.cols, p.lds);
  checkBlock(op, 'p', p.p, p.pOffset ?? 0, p.rows, p.cols, p.ldp);
  checkVec(op, 'lse', p.lse, p.rows, p.lseOffset ?? 0);
  const sameInPlace = p.p === p.s && (p.pOffset ?? 0) === (p.sOffset ?? 0) && p.ldp === p.lds;
  if (!sameInPlace) {
    checkNoOverlap(
      op,
      'p',
      p.p,
      p.pOffset ?? 0,
      blockEnd(p.pOffset ?? 0, p.rows, p.cols, p.ldp),
      's',
      p.s,
      p.sOffset ?? 0,
      blockEnd(p.sOffset ?? 0, p.rows, p.cols, p.lds),
    );
  }
}

export function validateSoftmaxBackward(p: SoftmaxBackwardParams): void {
  const op = 'softmaxRowsBackward';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  checkBlock(op, 'p', p.p, p.pOffset ?? 0, p.rows, p.cols, p.ldp);
  checkBlock(op, 'dp', p.dp, p.dpOffset ?? 0, p.rows, p.cols, p.lddp);
  checkBlock(op, 'ds', p.ds, p.dsOffset ?? 0, p.rows, p.cols, p.ldds);
  if (p.dlse) checkVec(op, 'dlse', p.dlse, p.rows, p.dlseOffset ?? 0);
}
