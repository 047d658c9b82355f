/** Reference loops of the normalisation family (see params.ts). */
import {
  type LayerNormBackwardParams,
  type LayerNormParams,
  type RmsNormBackwardParams,
  type RmsNormParams,
  validateLayerNorm,
  validateLayerNormBackward,
  validateRmsNorm,
  validateRmsNormBackward,
} from './params.js';

export function layerNormForward(p: LayerNormParams): void {
  validateLayerNorm(p);
  const { rows, cols, x, y, gamma, beta, eps } = p;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let mean = 0;
    for (let j = 0; j < cols; j++) mean += x[o + j]!;
    mean /= cols;
    let variance = 0; // biased, as torch.nn.LayerNorm
    for (let j = 0; j < cols; j++) variance += (x[o + j]! - mean) ** 2;
    variance /= cols;
    p.mean[r] = mean;
    p.rstd[r] = 1 / Math.sqrt(variance + eps);
    const m = p.mean[r]!;
    const rs = p.rstd[r]!;
    for (let j = 0; j < cols; j++) y[o + j] = (x[o + j]! - m) * rs * gamma[j]! + beta[j]!;
  }
}

export function layerNormBackward(p: LayerNormBackwardParams): void {
  validateLayerNormBackward(p);
  const { rows, cols, dy, x, gamma, dx, dgamma, dbeta } = p;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const mean = p.mean[r]!;
    const rstd = p.rstd[r]!;
    // xhat = (x - mean)·rstd; dxhat = dy·gamma
    let meanDxhat = 0;
    let meanDxhatXhat = 0;
    for (let j = 0; j < cols; j++) {
      const xhat = (x[o + j]! - mean) * rstd;
      const dxhat = dy[o + j]! * gamma[j]!;
      meanDxhat += dxhat;
      meanDxhatXhat += dxhat * xhat;
    }
    meanDxhat /= cols;
    meanDxhatXhat /= cols;
    for (let j = 0; j < cols; j++) {
      const xhat = (x[o + j]! - mean) * rstd;
      const dxhat = dy[o + j]! * gamma[j]!;
      dbeta[j] = dbeta[j]! + dy[o + j]!;
      dgamma[j] = dgamma[j]! + dy[o + j]! * xhat;
      // dx = rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat))
      dx[o + j] = dx[o + j]! + rstd * (dxhat - meanDxhat - xhat * meanDxhatXhat);
    }
  }
}

export function rmsNormForward(p: RmsNormParams): void {
  validateRmsNorm(p);
  const { rows, cols, x, y, eps, scale } = p;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let ms = 0;
    for (let j = 0; j < cols; j++) ms += x[o + j]! * x[o + j]!;
    p.rstd[r] = 1 / Math.sqrt(ms / cols + eps);
    const rs = p.rstd[r]!;
    for (let j = 0; j < cols; j++) y[o + j] = x[o + j]! * rs * scale;
  }
}

export function rmsNormBackward(p: RmsNormBackwardParams): void {
  validateRmsNormBackward(p);
  const { rows, cols, dy, x, rstd, scale, dx } = p;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const rs = rstd[r]!;
    // y = s·x·rs, rs = (mean(x²)+eps)^(−1/2)  ⇒  dx = s·rs·(dy − x·rs²·Σ(dy·x)/cols)
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dy[o + j]! * x[o + j]!;
    const c = (rs * rs * dot) / cols;
    for (let j = 0; j < cols; j++) dx[o + j] = dx[o + j]! + scale * rs * (dy[o + j]! - x[o + j]! * c);
  }
}
