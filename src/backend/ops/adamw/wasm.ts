/** WASM wrapper of the optimiser family (kernel: assembly/adamw.ts `adamw`). */
import type { WasmDispatch } from '../../wasm/dispatch.js';
import { type AdamWParams, validateAdamW } from './params.js';

export function adamw(d: WasmDispatch, p: AdamWParams): void {
  validateAdamW(p);
  const op = 'adamw';
  const bc1 = 1 - p.beta1 ** p.step;
  const bc2 = 1 - p.beta2 ** p.step;
  const param = d.f(op, 'param', p.param);
  const grad = d.f(op, 'grad', p.grad);
  const m = d.f(op, 'm', p.m);
  const vv = d.f(op, 'v', p.v);
  d.split('adamw', p.n, d.partsFor(p.n * 2), 16, 0, (i0, i1) => [
    i1 - i0,
    param + 4 * i0,
    grad + 4 * i0,
    m + 4 * i0,
    vv + 4 * i0,
    p.beta1,
    p.beta2,
    p.eps,
    1 - p.lr * p.weightDecay,
    p.lr / bc1,
    1 / Math.sqrt(bc2),
  ]);
}
