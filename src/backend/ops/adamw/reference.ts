/** Reference loop of the optimiser family (see params.ts). */
import { type AdamWParams, validateAdamW } from './params.js';

export function adamw(p: AdamWParams): void {
  validateAdamW(p);
  const { n, param, grad, m, v: vv, lr, beta1, beta2, eps, weightDecay, step } = p;
  // torch.optim.AdamW: p ← p·(1 − lr·wd); p ← p − (lr/bc1)·m / (sqrt(v)/sqrt(bc2) + eps)
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  for (let i = 0; i < n; i++) {
    const g = grad[i]!;
    m[i] = beta1 * m[i]! + (1 - beta1) * g;
    vv[i] = beta2 * vv[i]! + (1 - beta2) * g * g;
    const denom = Math.sqrt(vv[i]!) / Math.sqrt(bc2) + eps;
    param[i] = param[i]! * (1 - lr * weightDecay) - (lr / bc1) * (m[i]! / denom);
  }
}
