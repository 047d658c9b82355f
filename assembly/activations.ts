// HF activations (ACT2FN) forward and backward on 4 lanes (semantics: src/backend/ops/activations/reference.ts):
//   relu(x) = max(0, x)                  relu'(x) = x > 0 ? 1 : 0 (NaN for NaN x)
//   gelu(x) = x·Φ(x)                     gelu'(x) = Φ(x) + x·φ(x)       (exact, erf based)
//   gelu_new(x) = x·σ(2z), z = √(2/π)(x + 0.044715x³)      (= 0.5x(1 + tanh z))
//
// Φ comes from a vector erfc written for this project:
//   erfc(a) = t·Q(t)·e^(−a²), t = 1/(1 + a/2), a ≥ 0,
// where Q(t) = e^(a²)·erfc(a)/t is smooth on t ∈ (0, 1] (it tends to 1/(2√π) as a → ∞ and is 1 at a = 0)
// and is replaced by its degree-8 interpolant at 9 Chebyshev nodes of t ∈ [1/6, 1] (a ∈ [0, 10]);
// the nodes' values came from a float64 series (a < 2.5) and continued fraction (a ≥ 2.5) of erfc.
// Measured in f32: |erf error| ≤ 3e-7 absolute; erfc keeps ≈ 4e-6 relative accuracy out to a ≈ 9
// (where it underflows), so Φ is accurate in the left tail too (no 1 − erf cancellation):
//   Φ(x) = 1 − erfc(x/√2)/2 for x ≥ 0,   Φ(x) = erfc(|x|/√2)/2 for x < 0,   φ(x) = e^(−x²/2)/√(2π).
// Non-finite inputs give the class the reference's formulas give in IEEE arithmetic: NaN → NaN;
// gelu(+∞) = +∞, gelu(−∞) = −∞·0 = NaN, gelu'(±∞) = ±∞·0 = NaN (t = 0, e^(−x²/2) = 0 here as well);
// relu and gelu_new below.
import { EXP_TABLE, expv } from './simd';

export const ACT_RELU: i32 = 0;
export const ACT_GELU: i32 = 1;
export const ACT_GELU_NEW: i32 = 2;

/** Splatted constants: Q coefficients c0..c8, then the other constants of gelu / gelu_new. */
const ACT_TABLE: usize = memory.data<f32>([
  0.2820826768875122, 0.2820826768875122, 0.2820826768875122, 0.2820826768875122, // 0: q0
  0.2824450433254242, 0.2824450433254242, 0.2824450433254242, 0.2824450433254242, // 16: q1
  0.24257288873195648, 0.24257288873195648, 0.24257288873195648, 0.24257288873195648, // 32: q2
  0.20485365390777588, 0.20485365390777588, 0.20485365390777588, 0.20485365390777588, // 48: q3
  -0.03184175863862038, -0.03184175863862038, -0.03184175863862038, -0.03184175863862038, // 64: q4
  0.28569769859313965, 0.28569769859313965, 0.28569769859313965, 0.28569769859313965, // 80: q5
  -0.49386364221572876, -0.49386364221572876, -0.49386364221572876, -0.49386364221572876, // 96: q6
  0.28776830434799194, 0.28776830434799194, 0.28776830434799194, 0.28776830434799194, // 112: q7
  -0.059714917093515396, -0.059714917093515396, -0.059714917093515396, -0.059714917093515396, // 128: q8
  0.7071067811865476, 0.7071067811865476, 0.7071067811865476, 0.7071067811865476, // 144: 1/√2
  0.3989422804014327, 0.3989422804014327, 0.3989422804014327, 0.3989422804014327, // 160: 1/√(2π)
  0.7978845608028654, 0.7978845608028654, 0.7978845608028654, 0.7978845608028654, // 176: √(2/π)
  0.044715, 0.044715, 0.044715, 0.044715, // 192: gelu_new cubic coefficient C
  0.134145, 0.134145, 0.134145, 0.134145, // 208: 3C
  -Infinity, -Infinity, -Infinity, -Infinity, // 224: −∞
], 16);

// ------------------------------------------------------------------------ partial vectors (tails)

// @ts-ignore: decorator
@inline function loadPartial(p: usize, r: i32): v128 {
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (r > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (r > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

// @ts-ignore: decorator
@inline function storePartial(p: usize, v: v128, r: i32): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (r > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (r > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

// ------------------------------------------------------------------------ relu

/** y = x ≤ 0 ? 0 : x, so NaN stays NaN (torch.relu; the reference's Math.max(x, 0)). */
function reluForward(x: usize, y: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    v128.store(y + o, v128.andnot(v, f32x4.le(v, zero)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    store<f32>(y + o, v <= 0 ? 0 : v);
  }
}

/**
 * dx += relu'(x)·dy with relu'(x) = 1 (x > 0), 0 (x ≤ 0), NaN (x NaN), as a product: where x ≤ 0 the
 * term is dy − dy (+0 for a finite dy, NaN for ±∞ or NaN: 0·dy), and a NaN x gives NaN (ne: all ones).
 */
function reluBackward(x: usize, dy: usize, dx: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const xv = v128.load(x + o);
    const d = v128.load(dy + o);
    const g = v128.or(v128.bitselect(d, f32x4.sub(d, d), f32x4.gt(xv, zero)), f32x4.ne(xv, xv));
    v128.store(dx + o, f32x4.add(v128.load(dx + o), g));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    const d = load<f32>(dy + o);
    const g: f32 = v > 0 ? d : v <= 0 ? d - d : NaN;
    store<f32>(dx + o, load<f32>(dx + o) + g);
  }
}

// ------------------------------------------------------------------------ gelu (erf)

/**
 * gelu (grad = false: returns x·Φ(x)) or gelu' (grad = true: returns Φ(x) + x·φ(x)) of 4 lanes.
 * Inlined into its loop; constants are loaded by the loop's function once.
 */
// @ts-ignore: decorator
@inline function geluV(
  x: v128, grad: bool,
  e0: v128, e1: v128, e2: v128, e3: v128, e4: v128, e5: v128, e6: v128, e7: v128, e8: v128, one: v128, e10: v128, e11: v128,
  q0: v128, q1: v128, q2: v128, q3: v128, q4: v128, q5: v128, q6: v128, q7: v128, q8: v128,
  invSqrt2: v128, invSqrt2Pi: v128, half: v128,
): v128 {
  const a = f32x4.mul(f32x4.abs(x), invSqrt2);
  const g = expv(f32x4.neg(f32x4.mul(a, a)), e0, e1, e2, e3, e4, e5, e6, e7, e8, one, e10, e11); // e^(−x²/2) (NaN: 0, but t below is NaN)
  const t = f32x4.div(one, f32x4.add(one, f32x4.mul(half, a)));
  let q = q8;
  q = f32x4.add(f32x4.mul(q, t), q7);
  q = f32x4.add(f32x4.mul(q, t), q6);
  q = f32x4.add(f32x4.mul(q, t), q5);
  q = f32x4.add(f32x4.mul(q, t), q4);
  q = f32x4.add(f32x4.mul(q, t), q3);
  q = f32x4.add(f32x4.mul(q, t), q2);
  q = f32x4.add(f32x4.mul(q, t), q1);
  q = f32x4.add(f32x4.mul(q, t), q0);
  const halfErfc = f32x4.mul(half, f32x4.mul(f32x4.mul(t, q), g));
  const phiCdf = v128.bitselect(f32x4.sub(one, halfErfc), halfErfc, f32x4.ge(x, f32x4.splat(0)));
  if (grad) return f32x4.add(phiCdf, f32x4.mul(x, f32x4.mul(g, invSqrt2Pi)));
  return f32x4.mul(x, phiCdf);
}

function geluLoop(x: usize, dy: usize, out: usize, n: i32, grad: bool): void {
  const e0 = v128.load(EXP_TABLE, 0), e1 = v128.load(EXP_TABLE, 16), e2 = v128.load(EXP_TABLE, 32), e3 = v128.load(EXP_TABLE, 48);
  const e4 = v128.load(EXP_TABLE, 64), e5 = v128.load(EXP_TABLE, 80), e6 = v128.load(EXP_TABLE, 96), e7 = v128.load(EXP_TABLE, 112);
  const e8 = v128.load(EXP_TABLE, 128), one = v128.load(EXP_TABLE, 144), e10 = v128.load(EXP_TABLE, 160), e11 = v128.load(EXP_TABLE, 176);
  const q0 = v128.load(ACT_TABLE, 0), q1 = v128.load(ACT_TABLE, 16), q2 = v128.load(ACT_TABLE, 32), q3 = v128.load(ACT_TABLE, 48);
  const q4 = v128.load(ACT_TABLE, 64), q5 = v128.load(ACT_TABLE, 80), q6 = v128.load(ACT_TABLE, 96), q7 = v128.load(ACT_TABLE, 112);
  const q8 = v128.load(ACT_TABLE, 128);
  const invSqrt2 = v128.load(ACT_TABLE, 144), invSqrt2Pi = v128.load(ACT_TABLE, 160);
  const half = e8; // c2 of exp is 0.5
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const r = geluV(v128.load(x + o), grad, e0, e1, e2, e3, e4, e5, e6, e7, e8, one, e10, e11,
      q0, q1, q2, q3, q4, q5, q6, q7, q8, invSqrt2, invSqrt2Pi, half);
    if (grad) v128.store(out + o, f32x4.add(v128.load(out + o), f32x4.mul(r, v128.load(dy + o))));
    else v128.store(out + o, r);
  }
  const rem = n - i;
  if (rem > 0) {
    const o = <usize>i << 2;
    const r = geluV(loadPartial(x + o, rem), grad, e0, e1, e2, e3, e4, e5, e6, e7, e8, one, e10, e11,
      q0, q1, q2, q3, q4, q5, q6, q7, q8, invSqrt2, invSqrt2Pi, half);
    if (grad) storePartial(out + o, f32x4.add(loadPartial(out + o, rem), f32x4.mul(r, loadPartial(dy + o, rem))), rem);
    else storePartial(out + o, r, rem);
  }
}

// ------------------------------------------------------------------------ gelu_new (tanh form)

/**
 * gelu_new = x·σ with σ = 1/(1 + E), E = e^(−2z) (0.5(1 + tanh z) = σ(2z), no cancellation);
 * gelu_new' = σ + x·2σ(1 − σ)·dz/dx with 1 − σ = E·σ; the second term is 0 once E saturates
 * (−2z ≥ 88.3, where the exact value is below 1e-30·|x|³). Non-finite x as the reference formula:
 * gelu_new(+∞) = +∞, gelu_new(−∞) = −∞·0 = NaN (E = +∞, σ = 0), gelu_new'(±∞) = NaN, NaN → NaN.
 */
// @ts-ignore: decorator
@inline function geluNewV(
  x: v128, grad: bool,
  e0: v128, e1: v128, e2: v128, e3: v128, e4: v128, e5: v128, e6: v128, e7: v128, e8: v128, one: v128, hi: v128, e11: v128,
  s2p: v128, c: v128, c3: v128, ninf: v128,
): v128 {
  const x2 = f32x4.mul(x, x);
  const z = f32x4.mul(s2p, f32x4.mul(x, f32x4.add(one, f32x4.mul(c, x2))));
  const m2z = f32x4.add(f32x4.neg(z), f32x4.neg(z));
  const e = expv(m2z, e0, e1, e2, e3, e4, e5, e6, e7, e8, one, hi, e11);
  const sig = f32x4.div(one, f32x4.add(one, e));
  // x = −∞: E saturates at ≈ 2.2e38 (expv), so x·σ would be −∞; the reference's −∞·0 is NaN (eq: all ones = NaN)
  if (!grad) return v128.or(f32x4.mul(x, sig), f32x4.eq(x, ninf));
  const du = f32x4.mul(s2p, f32x4.add(one, f32x4.mul(c3, x2)));
  let term = f32x4.mul(f32x4.mul(x, du), f32x4.mul(f32x4.add(sig, sig), f32x4.mul(e, sig)));
  term = v128.and(term, f32x4.lt(m2z, hi));
  // a non-finite x (x − x is NaN) gives NaN as the reference's 0·∞, which the mask above (and expv's NaN → 0) would hide
  const d = f32x4.sub(x, x);
  return v128.or(f32x4.add(sig, term), f32x4.ne(d, d));
}

function geluNewLoop(x: usize, dy: usize, out: usize, n: i32, grad: bool): void {
  const e0 = v128.load(EXP_TABLE, 0), e1 = v128.load(EXP_TABLE, 16), e2 = v128.load(EXP_TABLE, 32), e3 = v128.load(EXP_TABLE, 48);
  const e4 = v128.load(EXP_TABLE, 64), e5 = v128.load(EXP_TABLE, 80), e6 = v128.load(EXP_TABLE, 96), e7 = v128.load(EXP_TABLE, 112);
  const e8 = v128.load(EXP_TABLE, 128), one = v128.load(EXP_TABLE, 144), hi = v128.load(EXP_TABLE, 160), e11 = v128.load(EXP_TABLE, 176);
  const s2p = v128.load(ACT_TABLE, 176), c = v128.load(ACT_TABLE, 192), c3 = v128.load(ACT_TABLE, 208);
  const ninf = v128.load(ACT_TABLE, 224);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const r = geluNewV(v128.load(x + o), grad, e0, e1, e2, e3, e4, e5, e6, e7, e8, one, hi, e11, s2p, c, c3, ninf);
    if (grad) v128.store(out + o, f32x4.add(v128.load(out + o), f32x4.mul(r, v128.load(dy + o))));
    else v128.store(out + o, r);
  }
  const rem = n - i;
  if (rem > 0) {
    const o = <usize>i << 2;
    const r = geluNewV(loadPartial(x + o, rem), grad, e0, e1, e2, e3, e4, e5, e6, e7, e8, one, hi, e11, s2p, c, c3, ninf);
    if (grad) storePartial(out + o, f32x4.add(loadPartial(out + o, rem), f32x4.mul(r, loadPartial(dy + o, rem))), rem);
    else storePartial(out + o, r, rem);
  }
}

// ------------------------------------------------------------------------ entry points

/** y = act(x) over n elements; kind: 0 relu, 1 gelu, 2 gelu_new. */
export function activationForward(kind: i32, x: usize, y: usize, n: i32): void {
  if (kind == ACT_RELU) reluForward(x, y, n);
  else if (kind == ACT_GELU) geluLoop(x, 0, y, n, false);
  else geluNewLoop(x, 0, y, n, false);
}

/** dx += act'(x)·dy over n elements. */
export function activationBackward(kind: i32, x: usize, dy: usize, dx: usize, n: i32): void {
  if (kind == ACT_RELU) reluBackward(x, dy, dx, n);
  else if (kind == ACT_GELU) geluLoop(x, dy, dx, n, true);
  else geluNewLoop(x, dy, dx, n, true);
}
