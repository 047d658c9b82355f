/**
 * The activation family (kernels: assembly/activations.ts): scalar definitions of HF's activations
 * (`ACT2FN`), used by the reference loops below and as the definition the WASM kernels are checked
 * against. Arguments are checked like the element-wise ops (elementwise/params.ts).
 *
 * - relu(x) = max(0, x)
 * - gelu(x) = x·Φ(x) = 0.5·x·(1 + erf(x/√2))                      (exact, `nn.GELU()`)
 * - gelu_new(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))      (Hendrycks & Gimpel tanh form)
 *
 * Non-finite inputs: these formulas in IEEE arithmetic define the result (the WASM kernels give the
 * same class): NaN → NaN; relu(±∞) = ±∞ / 0, gelu(+∞) = gelu_new(+∞) = +∞, gelu(−∞) = gelu_new(−∞) =
 * −∞·0 = NaN; the derivatives are NaN at ±∞ for gelu and gelu_new (0·∞), relu'(NaN) = NaN; the
 * backward's `dx += act'(x)·dy` is a product, so act'(x) = 0 with dy = ±∞ or NaN gives NaN.
 */
import type { Activation, Float } from '../../backend.js';
import { validateElementwise } from '../elementwise/params.js';

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_NEW_C = 0.044715;

/**
 * The error function to float64 precision, for any finite x.
 * Series erf(x) = (2/√π)·e^(−x²)·Σ_n 2^n·x^(2n+1)/(1·3·…·(2n+1)) (Abramowitz & Stegun 7.1.6):
 * every term is positive, so no cancellation; |x| ≥ 6 gives ±1 (1 − erf(6) < 3e-17).
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  const x2 = ax * ax;
  let term = ax;
  let sum = ax;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.sign(x) * TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** act(x) for one value. */
export function activationValue(kind: Activation, x: number): number {
  switch (kind) {
    case 'relu':
      return Math.max(x, 0);
    case 'gelu':
      return 0.5 * x * (1 + erf(x * INV_SQRT2));
    case 'gelu_new':
      return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + GELU_NEW_C * x * x * x)));
  }
}

/** act'(x) for one value (relu'(0) = 0, as torch; relu'(NaN) = NaN). */
export function activationDerivative(kind: Activation, x: number): number {
  switch (kind) {
    case 'relu':
      return x > 0 ? 1 : x <= 0 ? 0 : NaN;
    case 'gelu':
      // d/dx x·Φ(x) = Φ(x) + x·φ(x)
      return 0.5 * (1 + erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    case 'gelu_new': {
      const u = SQRT_2_OVER_PI * (x + GELU_NEW_C * x * x * x);
      const t = Math.tanh(u);
      const du = SQRT_2_OVER_PI * (1 + 3 * GELU_NEW_C * x * x);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du;
    }
  }
}

export function activationForward(kind: Activation, x: Float, y: Float, n: number): void {
  validateElementwise('activationForward', n, ['x', x], ['y', y]);
  for (let i = 0; i < n; i++) y[i] = activationValue(kind, x[i]!);
}

export function activationBackward(kind: Activation, x: Float, dy: Float, dx: Float, n: number): void {
  validateElementwise('activationBackward', n, ['x', x], ['dy', dy], ['dx', dx]);
  for (let i = 0; i < n; i++) dx[i] = dx[i]! + activationDerivative(kind, x[i]!) * dy[i]!;
}
