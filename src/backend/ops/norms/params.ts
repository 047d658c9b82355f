/**
 * The normalisation family (kernels: assembly/norms.ts): parameter types and argument checks of HF's
 * LayerNorm and of the key length-normalisation (RMS norm) of shared-QK attention.
 */
import type { Float } from '../../backend.js';
import { checkBlock, checkFinite, checkInt, checkVec } from '../checks.js';

/** HF LayerNorm: `y = (x − mean)/sqrt(var + eps)·gamma + beta`, biased variance, over the last axis. */
export interface LayerNormParams {
  rows: number;
  cols: number;
  x: Float;
  gamma: Float;
  beta: Float;
  eps: number;
  y: Float;
  /** out: [rows] */
  mean: Float;
  /** out: [rows], 1/sqrt(var + eps) */
  rstd: Float;
}

export interface LayerNormBackwardParams {
  rows: number;
  cols: number;
  dy: Float;
  x: Float;
  mean: Float;
  rstd: Float;
  gamma: Float;
  /** accumulated */
  dx: Float;
  /** accumulated */
  dgamma: Float;
  /** accumulated */
  dbeta: Float;
}

/**
 * Key length-normalisation of shared-QK attention (HF `_len_and_dim_norm`):
 * `y = x · rstd · scale` with `rstd = 1/sqrt(mean(x²) + eps)`; HF uses eps = 1e-6, scale = 1/sqrt(dHead).
 */
export interface RmsNormParams {
  rows: number;
  cols: number;
  x: Float;
  y: Float;
  /** out: [rows] */
  rstd: Float;
  eps: number;
  scale: number;
}

export interface RmsNormBackwardParams {
  rows: number;
  cols: number;
  dy: Float;
  x: Float;
  rstd: Float;
  scale: number;
  /** accumulated */
  dx: Float;
}

export function validateLayerNorm(p: LayerNormParams): void {
  const op = 'layerNormForward';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  checkFinite(op, 'eps', p.eps);
  checkBlock(op, 'x', p.x, 0, p.rows, p.cols, p.cols);
  checkBlock(op, 'y', p.y, 0, p.rows, p.cols, p.cols);
  checkVec(op, 'gamma', p.gamma, p.cols);
  checkVec(op, 'beta', p.beta, p.cols);
  checkVec(op, 'mean', p.mean, p.rows);
  checkVec(op, 'rstd', p.rstd, p.rows);
}

export function validateLayerNormBackward(p: LayerNormBackwardParams): void {
  const op = 'layerNormBackward';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  for (const [name, arr] of [
    ['dy', p.dy],
    ['x', p.x],
    ['dx', p.dx],
  ] as const) {
    checkBlock(op, name, arr, 0, p.rows, p.cols, p.cols);
  }
  checkVec(op, 'mean', p.mean, p.rows);
  checkVec(op, 'rstd', p.rstd, p.rows);
  checkVec(op, 'gamma', p.gamma, p.cols);
  checkVec(op, 'dgamma', p.dgamma, p.cols);
  checkVec(op, 'dbeta', p.dbeta, p.cols);
}

export function validateRmsNorm(p: RmsNormParams): void {
  const op = 'rmsNormForward';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  checkFinite(op, 'eps', p.eps);
  checkFinite(op, 'scale', p.scale);
  checkBlock(op, 'x', p.x, 0, p.rows, p.cols, p.cols);
  checkBlock(op, 'y', p.y, 0, p.rows, p.cols, p.cols);
  checkVec(op, 'rstd', p.rstd, p.rows);
}

export function validateRmsNormBackward(p: RmsNormBackwardParams): void {
  const op = 'rmsNormBackward';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  checkFinite(op, 'scale', p.scale);
  for (const [name, arr] of [
    ['dy', p.dy],
    ['x', p.x],
    ['dx', p.dx],
  ] as const) {
    checkBlock(op, name, arr, 0, p.rows, p.cols, p.cols);
  }
  checkVec(op, 'rstd', p.rstd, p.rows);
}
