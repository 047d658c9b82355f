/**
 * HF LayerNorm (`nn.LayerNorm(width, eps=layer_norm_eps)`) over the last axis, biased variance:
 *   y = (x − mean)/sqrt(var + eps)·γ + β
 * The cache holds the per-row statistics; the backward also needs the same x (passed again).
 */
import type { Backend, Float } from '../backend/backend.js';

export interface LayerNormCache {
  /** [rows] */
  mean: Float;
  /** [rows], 1/sqrt(var + eps) */
  rstd: Float;
}

/** y[rows, cols] = LayerNorm(x[rows, cols]); allocates the statistics (caller's scope decides their life). */
export function layerNormForward(
  be: Backend,
  x: Float,
  rows: number,
  cols: number,
  gamma: Float,
  beta: Float,
  eps: number,
  y: Float,
): LayerNormCache {
  const mean = be.floats(rows);
  const rstd = be.floats(rows);
  be.layerNormForward({ rows, cols, x, gamma, beta, eps, y, mean, rstd });
  return { mean, rstd };
}

/** dx += ∂y/∂xᵀ·dy, dγ += Σ dy ⊙ x̂, dβ += Σ dy (x as in the forward). */
export function layerNormBackward(
  be: Backend,
  x: Float,
  rows: number,
  cols: number,
  gamma: Float,
  cache: LayerNormCache,
  dy: Float,
  dx: Float,
  dgamma: Float,
  dbeta: Float,
): void {
  be.layerNormBackward({ rows, cols, dy, x, mean: cache.mean, rstd: cache.rstd, gamma, dx, dgamma, dbeta });
}
