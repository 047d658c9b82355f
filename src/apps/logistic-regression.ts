/**
 * Multinomial logistic regression (softmax regression) with L2 regularisation, fitted by L-BFGS
 * (Nocedal 1980; Nocedal & Wright, "Numerical Optimization", 2nd ed., Alg. 7.4 two-loop recursion and
 * Alg. 7.5) with a backtracking Armijo line search: the classic linear baseline on raw pixels.
 *
 *   z = W·x + b                          W [K, d], b [K], x [d]
 *   p = softmax(z)
 *   J(W, b) = (1/n) Σ_n −log p_{y_n} + (λ/2)·‖W‖²    (the bias is not regularised)
 *   ∂J/∂W = (1/n) Σ_n (p − onehot(y)) xᵀ + λW,   ∂J/∂b = (1/n) Σ_n (p − onehot(y))
 *
 * The objective is convex (strictly, in W, for λ > 0); L-BFGS starts from zeros, so a fit is
 * deterministic (no seed needed) and the same for any machine up to float64 rounding. Browser-safe, plain
 * float64 loops, no dependencies.
 */
import { ConfigError, NumericalError, ShapeError } from '../errors.js';
import { intArg } from '../util/args.js';

/** Training data: `x` [n, d] row-major features, `y` [n] class ids in 0 … K − 1. */
export interface SoftmaxData {
  readonly x: Float64Array;
  readonly y: ArrayLike<number>;
  readonly n: number;
  readonly d: number;
  readonly classes: number;
}

/** @throws ShapeError / ConfigError for inconsistent sizes or labels outside 0 … K − 1. */
export function checkSoftmaxData(data: SoftmaxData): void {
  intArg('checkSoftmaxData', 'n', data.n, 1);
  intArg('checkSoftmaxData', 'd', data.d, 1);
  intArg('checkSoftmaxData', 'classes', data.classes, 2);
  if (!(data.x instanceof Float64Array) || data.x.length !== data.n * data.d) {
    throw new ShapeError(`softmax regression: x must be a Float64Array of n·d = ${data.n}·${data.d} values, got ${data.x?.length}`);
  }
  if (data.y.length !== data.n) throw new ShapeError(`softmax regression: y has ${data.y.length} labels for ${data.n} rows`);
  for (let i = 0; i < data.n; i++) {
    const c = data.y[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= data.classes)
      throw new ConfigError('labels', `y[${i}] = ${c} is outside 0 … ${data.classes - 1}`);
  }
}

/** Parameters θ = [W (K·d, row-major [K, d]), b (K)]: K·(d + 1) numbers. */
export function parameterCount(d: number, classes: number): number {
  return classes * (d + 1);
}

/**
 * Logits of one row into `z` [K] from θ (see the file header).
 */
function rowLogits(theta: Float64Array, x: Float64Array, row: number, d: number, K: number, z: Float64Array): void {
  const o = row * d;
  const bOff = K * d;
  for (let k = 0; k < K; k++) {
    let s = theta[bOff + k]!;
    const w = k * d;
    for (let j = 0; j < d; j++) s += theta[w + j]! * x[o + j]!;
    z[k] = s;
  }
}

/**
 * J(θ) and ∇J(θ) (see the file header). `grad` (length K·(d + 1)) is overwritten.
 * @param lambda L2 strength λ ≥ 0 on W.
 * @returns the objective (mean nats + (λ/2)‖W‖²).
 */
export function softmaxLossAndGrad(theta: Float64Array, data: SoftmaxData, lambda: number, grad: Float64Array): number {
  const { x, y, n, d, classes: K } = data;
  const P = parameterCount(d, K);
  if (theta.length !== P || grad.length !== P)
    throw new ShapeError(`softmaxLossAndGrad: θ and grad need ${P} values, got ${theta.length}, ${grad.length}`);
  grad.fill(0);
  const z = new Float64Array(K);
  const bOff = K * d;
  let nats = 0;
  for (let i = 0; i < n; i++) {
    rowLogits(theta, x, i, d, K, z);
    let max = -Infinity;
    for (let k = 0; k < K; k++) if (z[k]! > max) max = z[k]!;
    let sum = 0;
    for (let k = 0; k < K; k++) {
      z[k] = Math.exp(z[k]! - max);
      sum += z[k]!;
    }
    const yi = y[i]!;
    nats += Math.log(sum) - Math.log(z[yi]!);
    const o = i * d;
    for (let k = 0; k < K; k++) {
      const g = z[k]! / sum - (k === yi ? 1 : 0); // p − onehot(y)
      grad[bOff + k]! += g;
      if (g === 0) continue;
      const w = k * d;
      for (let j = 0; j < d; j++) grad[w + j]! += g * x[o + j]!;
    }
  }
  let reg = 0;
  for (let j = 0; j < P; j++) grad[j]! /= n;
  for (let j = 0; j < bOff; j++) {
    reg += theta[j]! * theta[j]!;
    grad[j]! += lambda * theta[j]!;
  }
  return nats / n + 0.5 * lambda * reg;
}

/** Options of `lbfgs`. */
export interface LbfgsOptions {
  /** Iterations (line searches) at most. Default 500. */
  readonly maxIterations?: number;
  /** Pairs (s, y) remembered. Default 10. */
  readonly memory?: number;
  /** Stop when ‖∇J‖∞ ≤ this. Default 1e-6. */
  readonly gradientTolerance?: number;
  /** Called after each iteration. */
  readonly onIteration?: (iteration: number, value: number) => void;
}

/** Result of `lbfgs`. */
export interface LbfgsResult {
  readonly x: Float64Array;
  readonly value: number;
  readonly iterations: number;
  /** Objective evaluations (line-search trials included). */
  readonly evaluations: number;
  readonly converged: boolean;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Minimises f by L-BFGS (two-loop recursion, Nocedal & Wright Alg. 7.4) with a backtracking Armijo line
 * search (c₁ = 1e-4, halving; the first iteration's step is 1/‖g‖ so the first move has unit length).
 * Pairs with sᵀy ≤ 1e-12 are skipped (keeps the inverse-Hessian estimate positive definite).
 * @param f writes ∇f(x) into `grad` and returns f(x).
 * @throws NumericalError if f is not finite at x0.
 */
export function lbfgs(f: (x: Float64Array, grad: Float64Array) => number, x0: Float64Array, options: LbfgsOptions = {}): LbfgsResult {
  const maxIt = options.maxIterations ?? 500;
  const m = options.memory ?? 10;
  const tol = options.gradientTolerance ?? 1e-6;
  intArg('lbfgs', 'max_iterations', maxIt, 0);
  intArg('lbfgs', 'memory', m, 1);
  const P = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(P);
  let fx = f(x, g);
  let evaluations = 1;
  if (!Number.isFinite(fx)) throw new NumericalError(`lbfgs: the objective is ${fx} at the starting point`);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const dir = new Float64Array(P);
  const alphaH = new Float64Array(m);
  let it = 0;
  const gInf = (v: Float64Array): number => v.reduce((a, c) => Math.max(a, Math.abs(c)), 0);
  for (; it < maxIt && gInf(g) > tol; it++) {
    // two-loop recursion: dir = −H·g
    for (let i = 0; i < P; i++) dir[i] = -g[i]!;
    for (let k = S.length - 1; k >= 0; k--) {
      alphaH[k] = rho[k]! * dot(S[k]!, dir);
      const yk = Y[k]!;
      for (let i = 0; i < P; i++) dir[i]! -= alphaH[k]! * yk[i]!;
    }
    const gamma = S.length > 0 ? dot(S[S.length - 1]!, Y[Y.length - 1]!) / dot(Y[Y.length - 1]!, Y[Y.length - 1]!) : 1;
    for (let i = 0; i < P; i++) dir[i]! *= gamma;
    for (let k = 0; k < S.length; k++) {
      const beta = rho[k]! * dot(Y[k]!, dir);
      const sk = S[k]!;
      for (let i = 0; i < P; i++) dir[i]! += (alphaH[k]! - beta) * sk[i]!;
    }
    let slope = dot(g, dir);
    if (!(slope < 0)) {
      // not a descent direction (rounding): restart from steepest descent
      S.length = 0;
      Y.length = 0;
      rho.length = 0;
      for (let i = 0; i < P; i++) dir[i] = -g[i]!;
      slope = dot(g, dir);
    }
    let step = S.length === 0 ? 1 / Math.sqrt(dot(g, g)) : 1;
    const xNew = new Float64Array(P);
    const gNew = new Float64Array(P);
    let fNew = Infinity;
    for (let tries = 0; tries < 60; tries++) {
      for (let i = 0; i < P; i++) xNew[i] = x[i]! + step * dir[i]!;
      fNew = f(xNew, gNew);
      evaluations++;
      if (Number.isFinite(fNew) && fNew <= fx + 1e-4 * step * slope) break;
      step /= 2;
    }
    if (!(Number.isFinite(fNew) && fNew <= fx)) break; // no progress possible at float64 precision
    const s = new Float64Array(P);
    const y = new Float64Array(P);
    for (let i = 0; i < P; i++) {
      s[i] = xNew[i]! - x[i]!;
      y[i] = gNew[i]! - g[i]!;
    }
    const sy = dot(s, y);
    if (sy > 1e-12) {
      if (S.length === m) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    const decrease = fx - fNew;
    x = xNew;
    g = gNew;
    fx = fNew;
    options.onIteration?.(it + 1, fx);
    if (decrease <= 1e-13 * Math.max(1, Math.abs(fx))) {
      it++;
      break;
    }
  }
  return { x, value: fx, iterations: it, evaluations, converged: gInf(g) <= tol };
}

/** A fitted softmax regression. */
export interface SoftmaxModel {
  readonly d: number;
  readonly classes: number;
  /** θ = [W [K, d], b [K]]. */
  readonly theta: Float64Array;
  readonly lambda: number;
  /** The fit's objective, iterations and whether ‖∇J‖∞ reached the tolerance. */
  readonly objective: number;
  readonly iterations: number;
  readonly converged: boolean;
}

/**
 * Fits W, b by L-BFGS from zeros (see the file header).
 * @throws ConfigError for λ < 0 or bad data (`checkSoftmaxData`).
 */
export function fitSoftmaxRegression(data: SoftmaxData, lambda: number, options: LbfgsOptions = {}): SoftmaxModel {
  checkSoftmaxData(data);
  if (!(lambda >= 0 && Number.isFinite(lambda))) throw new ConfigError('lambda', `must be a finite number ≥ 0, got ${lambda}`);
  const r = lbfgs((t, g) => softmaxLossAndGrad(t, data, lambda, g), new Float64Array(parameterCount(data.d, data.classes)), options);
  return { d: data.d, classes: data.classes, theta: r.x, lambda, objective: r.value, iterations: r.iterations, converged: r.converged };
}

/** Arg-max class of every row of `x` [n, d] (ties to the lower id). */
export function predictSoftmax(model: SoftmaxModel, x: Float64Array): Int32Array {
  const { d, classes: K } = model;
  if (x.length % d !== 0) throw new ShapeError(`predictSoftmax: ${x.length} values are not rows of d = ${d}`);
  const n = x.length / d;
  const out = new Int32Array(n);
  const z = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    rowLogits(model.theta, x, i, d, K, z);
    let best = 0;
    for (let k = 1; k < K; k++) if (z[k]! > z[best]!) best = k;
    out[i] = best;
  }
  return out;
}

/** Fraction of `pred` equal to `gold`. */
export function accuracyOf(pred: ArrayLike<number>, gold: ArrayLike<number>): number {
  if (pred.length !== gold.length || pred.length === 0)
    throw new ShapeError(`accuracyOf: ${pred.length} predictions for ${gold.length} labels`);
  let right = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === gold[i]) right++;
  return right / pred.length;
}

/** The λ grid of `chooseLambda`. */
export const SOFTMAX_LAMBDAS: readonly number[] = [1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1];

/**
 * Chooses λ on a held-out split: fits on `train` for every λ, keeps the one with the best `validation`
 * accuracy (ties: the larger λ, the simpler model), then refits on `all` (train + validation) with it.
 */
export function chooseLambda(
  train: SoftmaxData,
  validation: SoftmaxData,
  all: SoftmaxData,
  lambdas: readonly number[] = SOFTMAX_LAMBDAS,
  options: LbfgsOptions & { onFit?: (lambda: number, accuracy: number, iterations: number) => void } = {},
): { model: SoftmaxModel; validation: ReadonlyArray<{ lambda: number; accuracy: number; iterations: number }> } {
  if (lambdas.length === 0) throw new ConfigError('lambdas', 'needs at least one λ');
  const tried = lambdas.map((lambda) => {
    const m = fitSoftmaxRegression(train, lambda, options);
    const accuracy = accuracyOf(predictSoftmax(m, validation.x), validation.y);
    options.onFit?.(lambda, accuracy, m.iterations);
    return { lambda, accuracy, iterations: m.iterations };
  });
  const best = tried.reduce((a, b) => (b.accuracy > a.accuracy || (b.accuracy === a.accuracy && b.lambda > a.lambda) ? b : a));
  return { model: fitSoftmaxRegression(all, best.lambda, options), validation: tried };
}

/** Raw-pixel features: `pixels` [n, d] bytes → [n, d] floats in [0, 1] (value / 255). */
export function pixelFeatures(pixels: Uint8Array): Float64Array {
  const x = new Float64Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) x[i] = pixels[i]! / 255;
  return x;
}
