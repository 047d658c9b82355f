/**
 * Finite-difference derivatives for the gradient laws (float64).
 *
 * A plain central difference D(h) = (f(x+h) − f(x−h)) / 2h has truncation error c₂·h² + O(h⁴), where c₂
 * is f'''/6. Attention has places where f''' is huge: a shared query/key vector of tiny norm is
 * normalised (k̂ = q/‖q‖), so its curvature grows like 1/‖q‖³. There D(1e-5) can miss the derivative by
 * 1e-5 relative (seen: a key of norm 0.018 gave fd 0.0886387 vs analytic 0.0886400; fd converged to
 * the analytic value as h shrank), which is a failure of the check, not of the gradient.
 *
 * Richardson extrapolation removes the h² term: R(h) = (4·D(h/2) − D(h)) / 3 = f' + O(h⁴). Its rounding
 * error is about 3× that of D(h/2) (~1e-16·|f|/h), still far below the tolerances used with h = 1e-5.
 */

/**
 * The derivative of `f` at 0, where `f(delta)` evaluates the function with the parameter moved by `delta`
 * (the caller restores it), by Richardson-extrapolated central differences with step `h`.
 * Evaluates f at ±h and ±h/2.
 */
export function richardsonDerivative(f: (delta: number) => number, h: number): number {
  const central = (s: number): number => (f(s) - f(-s)) / (2 * s);
  return (4 * central(h / 2) - central(h)) / 3;
}

/**
 * `richardsonDerivative` for entry `i` of a mutable array: `loss()` is evaluated with `param[i]` moved,
 * and `param[i]` is restored afterwards (also if `loss` throws).
 */
export function entryDerivative(param: { [i: number]: number }, i: number, loss: () => number, h: number): number {
  const keep = param[i]!;
  try {
    return richardsonDerivative((delta) => {
      param[i] = keep + delta;
      return loss();
    }, h);
  } finally {
    param[i] = keep;
  }
}
