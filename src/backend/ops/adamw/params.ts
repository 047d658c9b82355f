/** The optimiser family (kernel: assembly/adamw.ts): parameter type and argument checks of AdamW. */
import type { Float } from '../../backend.js';
import { checkFinite, checkInt, checkVec } from '../checks.js';

/** Decoupled-weight-decay Adam (Loshchilov & Hutter 2019), bias-corrected, over flat buffers. */
export interface AdamWParams {
  n: number;
  param: Float;
  grad: Float;
  m: Float;
  v: Float;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step number, for bias correction. */
  step: number;
}

export function validateAdamW(p: AdamWParams): void {
  const op = 'adamw';
  checkInt(op, 'n', p.n);
  checkInt(op, 'step', p.step, 1);
  for (const [name, v] of [
    ['lr', p.lr],
    ['beta1', p.beta1],
    ['beta2', p.beta2],
    ['eps', p.eps],
    ['weightDecay', p.weightDecay],
  ] as const)
    checkFinite(op, name, v);
  for (const [name, arr] of [
    ['param', p.param],
    ['grad', p.grad],
    ['m', p.m],
    ['v', p.v],
  ] as const) {
    checkVec(op, name, arr, p.n);
  }
}
