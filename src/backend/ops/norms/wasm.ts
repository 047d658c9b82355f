/**
 * WASM wrappers of the normalisation family (kernels: assembly/norms.ts; `layerNormBackwardDx` is
 * layerNormBackward's dx alone for any row range, `layerNormBackwardParams` its dgamma/dbeta for a
 * column range).
 */
import type { WasmDispatch } from '../../wasm/dispatch.js';
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

export function layerNormForward(d: WasmDispatch, p: LayerNormParams): void {
  validateLayerNorm(p);
  const op = 'layerNormForward';
  const x = d.f(op, 'x', p.x);
  const gamma = d.f(op, 'gamma', p.gamma);
  const beta = d.f(op, 'beta', p.beta);
  const y = d.f(op, 'y', p.y);
  const mean = d.f(op, 'mean', p.mean);
  const rstd = d.f(op, 'rstd', p.rstd);
  const C = p.cols;
  d.split('layerNormForward', p.rows, d.partsFor(p.rows * C * 2), 1, 0, (r0, r1) => [
    r1 - r0,
    C,
    x + 4 * r0 * C,
    gamma,
    beta,
    p.eps,
    y + 4 * r0 * C,
    mean + 4 * r0,
    rstd + 4 * r0,
  ]);
}

export function layerNormBackward(d: WasmDispatch, p: LayerNormBackwardParams): void {
  validateLayerNormBackward(p);
  const op = 'layerNormBackward';
  const dy = d.f(op, 'dy', p.dy);
  const x = d.f(op, 'x', p.x);
  const mean = d.f(op, 'mean', p.mean);
  const rstd = d.f(op, 'rstd', p.rstd);
  const gamma = d.f(op, 'gamma', p.gamma);
  const dx = d.f(op, 'dx', p.dx);
  const dgamma = d.f(op, 'dgamma', p.dgamma);
  const dbeta = d.f(op, 'dbeta', p.dbeta);
  const R = p.rows;
  const C = p.cols;
  const parts = d.partsFor(R * C * 3);
  if (parts === 1) {
    d.kernels.layerNormBackward(R, C, dy, x, mean, rstd, gamma, dx, dgamma, dbeta);
    return;
  }
  // dx by row ranges, then dgamma / dbeta by column ranges (each column accumulates over the rows in
  // order): the same per-element instructions as the fused kernel
  d.split('layerNormBackwardDx', R, parts, 1, 0, (r0, r1) => [
    r1 - r0,
    C,
    dy + 4 * r0 * C,
    x + 4 * r0 * C,
    mean + 4 * r0,
    rstd + 4 * r0,
    gamma,
    dx + 4 * r0 * C,
  ]);
  d.split('layerNormBackwardParams', C, parts, 4, 0, (c0, c1) => [R, C, c0, c1, dy, x, mean, rstd, dgamma, dbeta]);
}

export function rmsNormForward(d: WasmDispatch, p: RmsNormParams): void {
  validateRmsNorm(p);
  const op = 'rmsNormForward';
  const x = d.f(op, 'x', p.x);
  const y = d.f(op, 'y', p.y);
  const rstd = d.f(op, 'rstd', p.rstd);
  const C = p.cols;
  d.split('rmsNormForward', p.rows, d.partsFor(p.rows * C * 1.5), 1, 0, (r0, r1) => [
    r1 - r0,
    C,
    x + 4 * r0 * C,
    y + 4 * r0 * C,
    rstd + 4 * r0,
    p.eps,
    p.scale,
  ]);
}

export function rmsNormBackward(d: WasmDispatch, p: RmsNormBackwardParams): void {
  validateRmsNormBackward(p);
  const op = 'rmsNormBackward';
  const dy = d.f(op, 'dy', p.dy);
  const x = d.f(op, 'x', p.x);
  const rstd = d.f(op, 'rstd', p.rstd);
  const dx = d.f(op, 'dx', p.dx);
  const C = p.cols;
  d.split('rmsNormBackward', p.rows, d.partsFor(p.rows * C * 1.5), 1, 0, (r0, r1) => [
    r1 - r0,
    C,
    dy + 4 * r0 * C,
    x + 4 * r0 * C,
    rstd + 4 * r0,
    p.scale,
    dx + 4 * r0 * C,
  ]);
}
