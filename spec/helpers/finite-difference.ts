/**
 * Finite-difference derivatives for the gradient laws (float64), and the error bound they are checked with.
 *
 * A plain central difference D(h) = (f(x+h) − f(x−h)) / 2h has truncation error c₂·h² + O(h⁴), where c₂
 * is f'''/6. Attention has places where f''' is huge: a shared query/key vector of tiny norm is
 * normalised (k̂ = q/‖q‖), so its curvature grows like 1/‖q‖³. There D(1e-5) can miss the derivative by
 * 1e-5 relative (seen: a key of norm 0.018 gave fd 0.0886387 vs analytic 0.0886400; fd converged to
 * the analytic value as h shrank), which is a failure of the check, not of the gradient.
 *
 * Richardson extrapolation removes the h² term: R(h) = (4·D(h/2) − D(h)) / 3 = f' + O(h⁴).
 *
 * The bound (first-order error analysis of R, nothing guessed but k):
 *   |analytic − R| ≤ k · (|D(h) − D(h/2)| + 3·u64·S/h + u64·|analytic|)
 * - truncation: |D(h) − D(h/2)| = ¾·|c₂|·h² + O(h⁴) is the size of the term Richardson removed, measured
 *   at this coordinate; what R keeps is smaller by ~(h/ρ)², ρ the scale on which f bends (for the
 *   normalised key above ρ ≈ ‖q‖), so this over-covers it wherever h ≪ ρ;
 * - rounding: a loss evaluated with absolute error δ gives R an error ≤ (4·2δ/h + δ/h)/3 = 3δ/h, and
 *   δ ≈ u64·S with S = Σ|terms| of the loss (the scale its rounding follows); measured noise of the two
 *   differences also shows up in |D(h) − D(h/2)|;
 * - the analytic gradient's own rounding, u64·|analytic| (negligible next to the others).
 * k is stated where the law is used, from the measured distribution of the ratio (docs/TESTING.md).
 */
import { type MeasuredError, U64 } from './error-bounds.js';

/** R(h) and the spread |D(h) − D(h/2)| of the two central differences it extrapolates. */
export interface FdEstimate {
  readonly value: number;
  readonly spread: number;
}

/**
 * The derivative of `f` at 0, where `f(delta)` evaluates the function with the parameter moved by `delta`
 * (the caller restores it), by Richardson-extrapolated central differences with step `h`.
 * Evaluates f at ±h and ±h/2.
 */
export function richardsonEstimate(f: (delta: number) => number, h: number): FdEstimate {
  const central = (s: number): number => (f(s) - f(-s)) / (2 * s);
  const dh = central(h);
  const dh2 = central(h / 2);
  return { value: (4 * dh2 - dh) / 3, spread: Math.abs(dh - dh2) };
}

/** `richardsonEstimate(f, h).value`. */
export function richardsonDerivative(f: (delta: number) => number, h: number): number {
  return richardsonEstimate(f, h).value;
}

/**
 * `richardsonEstimate` for entry `i` of a mutable array: `loss()` is evaluated with `param[i]` moved,
 * and `param[i]` is restored afterwards (also if `loss` throws).
 */
export function entryEstimate(param: { [i: number]: number }, i: number, loss: () => number, h: number): FdEstimate {
  const keep = param[i]!;
  try {
    return richardsonEstimate((delta) => {
      param[i] = keep + delta;
      return loss();
    }, h);
  } finally {
    param[i] = keep;
  }
}

/** `entryEstimate(...).value`. */
export function entryDerivative(param: { [i: number]: number }, i: number, loss: () => number, h: number): number {
  return entryEstimate(param, i, loss, h).value;
}

/**
 * The row of the law above for one coordinate: err = |analytic − R|, ref = spread + 3·u64·S/h,
 * checked as err ≤ k·(ref + u64·|analytic|) by `expectWithinMeasuredBound`.
 * @param lossScale S = Σ|terms| of the loss at the base point (e.g. Σ|out_i·probe_i| for Σ out ⊙ probe)
 */
export function fdRow(what: string, analytic: number, fd: FdEstimate, lossScale: number, h: number): MeasuredError {
  return {
    what: `${what}: analytic ${analytic}, finite difference ${fd.value}, spread ${fd.spread.toExponential(2)}`,
    err: Math.abs(analytic - fd.value),
    ref: fd.spread + (3 * U64 * lossScale) / h,
    u: U64,
    scale: Math.abs(analytic),
  };
}

/**
 * k of every finite-difference law (spec/attention/gradients, spec/model/gradcheck,
 * spec/kernels/attention-dropout). The ratio |analytic − R| / (spread + 3·u64·S/h + u64·|analytic|)
 * sits near 1 (the spread and the rounding estimate are the size of the error they bound). Measured
 * with FC_NUM_RUNS=1000 (docs/TESTING.md): attention 13,501 checks (one per tensor), p50 0.37, max 3.04;
 * whole models 2,000 checks (20 coordinates each), p50 0.59, max 1.46; chunk attention with dropout
 * 1,000 checks, p50 0.36, max 1.07. k = 32 is 10× the largest; a 1%-wrong gradient gives a ratio of
 * ~3e6 (gradcheck's "the check can fail").
 */
export const K_FD = 32;
