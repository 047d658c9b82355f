/**
 * Helpers of the kernel specs: the WASM backends under test (both builds), the f32 reference backend,
 * seeded data, and the named tolerances.
 *
 * Tolerances are `atol·scale + rtol·|ref|` per element, where `scale` is the natural magnitude of the
 * operation's output (the largest |ref| of the output), so one constant covers inputs of magnitude
 * 1e-3 … 1e3. (gemm has no tolerance: gemm.spec.ts checks the classical γ_{k+1} error bound.)
 * The WASM kernels accumulate in f32, the reference in f64: these bounds are a few ulps of f32 times
 * the accumulation length, far below what any indexing or masking mistake produces.
 */
import { ReferenceBackend } from '../../src/backend/reference.js';
import type { WasmBackend, WasmVariant } from '../../src/backend/wasm/wasm-backend.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import type { Rng } from '../../src/util/rng.js';
import { expectClose, type Tolerance } from '../helpers/close.js';

export const TOL = {
  elementwise: { atol: 1e-7, rtol: 1e-6 },
  sumRows: { atol: 1e-7, rtol: 1e-6 },
  activation: { atol: 1e-6, rtol: 1e-5 },
  layerNorm: { atol: 2e-6, rtol: 2e-5 },
  layerNormGrad: { atol: 5e-6, rtol: 5e-5 },
  rmsNorm: { atol: 1e-6, rtol: 1e-5 },
  softmax: { atol: 1e-6, rtol: 1e-5 },
  softmaxGrad: { atol: 2e-6, rtol: 2e-5 },
  lse: { atol: 1e-6, rtol: 1e-6 },
  attention: { atol: 2e-5, rtol: 1e-4 },
  attentionGrad: { atol: 5e-5, rtol: 5e-4 },
  adamw: { atol: 1e-6, rtol: 1e-5 },
  sumSquares: { atol: 0, rtol: 1e-12 },
} as const satisfies Record<string, Tolerance>;

export const VARIANTS: readonly WasmVariant[] = ['simd', 'relaxed-simd'];

const backends = new Map<WasmVariant, WasmBackend>();

/**
 * The backend under test for a build. The plain SIMD build runs on a private memory, the relaxed build
 * on a shared one, so both memory kinds are exercised; freed memory is poisoned with NaN.
 */
export function wasmBackend(variant: WasmVariant): WasmBackend {
  let be = backends.get(variant);
  if (!be) {
    be = loadWasmBackendSync({ variant, shared: variant === 'relaxed-simd', poisonFreed: true });
    backends.set(variant, be);
  }
  return be;
}

export const ref = new ReferenceBackend();

/** Uniform values in [-mag, mag) (rounded to f32). */
export function randomFloats(rng: Rng, n: number, mag = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rng.uniform() - 1) * mag;
  return out;
}

/** Random ints in [0, bound). */
export function randomInts(rng: Rng, n: number, bound: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(bound);
  return out;
}

/** A random permutation of 0..n-1 (Fisher–Yates). */
export function randomPermutation(rng: Rng, n: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** A copy of `src` in the backend's memory. */
export function floatsOf(be: WasmBackend, src: ArrayLike<number>): Float32Array {
  const a = be.floats(src.length);
  a.set(src);
  return a;
}

export function intsOf(be: WasmBackend, src: ArrayLike<number>): Int32Array {
  const a = be.ints(src.length);
  a.set(src);
  return a;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** expectClose with atol multiplied by `scale` (see the file header). */
export function expectCloseScaled(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, scale: number, what: string): void {
  expectClose(got, want, { atol: tol.atol * Math.max(scale, Number.MIN_VALUE), rtol: tol.rtol }, what);
}

/** expectCloseScaled with scale = max|want| (a relative-to-output-size bound). */
export function expectCloseToMax(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what: string): void {
  expectCloseScaled(got, want, tol, maxAbs(want), what);
}

/** Copies a view out of WASM memory (so it survives scope()). */
export function copy(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a as ArrayLike<number>);
}
