// Shared SIMD helpers of the kernels: fused multiply-add per build, 4×4 transposes, horizontal sums,
// and the vector exp polynomial with its constant table.
//
// Conventions of every kernel file in assembly/:
//   - pointers are byte offsets (usize) into the one imported memory; sizes and strides are element counts
//     unless the name ends in `B` (bytes);
//   - kernels never allocate and never throw (arguments are validated in TypeScript first);
//   - SIMD = a vector body over 4 lanes + a scalar tail; max identities start from -Infinity.

/** True in the relaxed-SIMD builds (compile-time constant: the other branch is not even compiled). */
export const RELAXED: bool = ASC_FEATURE_RELAXED_SIMD;

/** a·b + c on 4 f32 lanes: `f32x4.relaxed_madd` (one FMA where the CPU has it) or mul + add. */
// @ts-ignore: decorator
@inline export function fmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/** Sum of the 4 lanes of an f32x4. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

/**
 * Max of the 4 lanes of an f32x4 (`pmax`, one instruction: a NaN lane is skipped, so a caller that must
 * see NaN detects it otherwise; softmaxRow sums the row alongside).
 */
// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  const s = f32x4.pmax(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  const a = f32x4.extract_lane(s, 0);
  const b = f32x4.extract_lane(s, 1);
  return a > b ? a : b;
}

/**
 * Copies the [rows, cols] f32 block at `src` (row stride `ldsB` bytes) transposed into `dst`
 * (row stride `lddB` bytes): dst[j, i] = src[i, j]. 4×4 blocks go through registers
 * (two rounds of lane shuffles); edges are scalar.
 */
export function transposeBlock(rows: i32, cols: i32, src: usize, ldsB: usize, dst: usize, lddB: usize): void {
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    const s0 = src + <usize>i * ldsB;
    const s1 = s0 + ldsB;
    const s2 = s1 + ldsB;
    const s3 = s2 + ldsB;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const r0 = v128.load(s0 + o);
      const r1 = v128.load(s1 + o);
      const r2 = v128.load(s2 + o);
      const r3 = v128.load(s3 + o);
      const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
      const t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
      const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
      const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
      const d0 = dst + <usize>j * lddB + (<usize>i << 2);
      v128.store(d0, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
      v128.store(d0 + lddB, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
      v128.store(d0 + 2 * lddB, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
      v128.store(d0 + 3 * lddB, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const d0 = dst + <usize>j * lddB + (<usize>i << 2);
      store<f32>(d0, load<f32>(s0 + o));
      store<f32>(d0, load<f32>(s1 + o), 4);
      store<f32>(d0, load<f32>(s2 + o), 8);
      store<f32>(d0, load<f32>(s3 + o), 12);
    }
  }
  for (; i < rows; i++) {
    const s = src + <usize>i * ldsB;
    const d = dst + (<usize>i << 2);
    for (let j = 0; j < cols; j++) store<f32>(d + <usize>j * lddB, load<f32>(s + (<usize>j << 2)));
  }
}

// ---------------------------------------------------------------------------------------------
// Vector exp.
//
// exp(x) = 2^n · e^r with n = round(x·log2 e), r = x − n·ln2 (Cody–Waite: ln2 split in a high part
// with trailing zero bits, so n·LN2_HI is exact, and a low correction), |r| ≤ ln2/2.
// e^r is the degree-6 polynomial interpolating e^r at the 7 Chebyshev nodes of [−ln2/2, ln2/2]
// (computed for this project; interpolation error ≈ 2e-9, f32 evaluation error < 1e-7 relative).
// n is obtained with the "shifter" trick: t = x·log2e + 1.5·2^23 leaves round(x·log2e) in the low
// mantissa bits of t, and (bits(t) << 23) is n placed in the exponent field, added to bits(e^r).
// Inputs above 88.3 are clamped (result ≈ 2.2e38); inputs below −87 (where 2^n would be subnormal),
// −Infinity and NaN give 0 (the exact value there is below 1.7e-38). That is the fast path of the
// kernels, which keep NaN and +∞ away from it or handle them themselves (softmax and attention test each
// row once and route a non-finite one to `expvIeee`; gelu's NaN flows through t = 1/(1 + a/2)).
// `expvIeee` (and `expScalar`) add `Math.exp`'s non-finite semantics: NaN gives NaN, +Infinity gives
// +Infinity (one add, compare and select: `x + ∞` is NaN for NaN and +∞ for +∞; other results keep
// their bits).
//
// V8 re-materialises v128 constants inside loops, so the constants live in this table and kernels load
// them into locals once, outside their loops, and pass them to `expv` (which is inlined).

/** Table of splatted constants of `expv` (each one 16 bytes: the same f32 in 4 lanes). */
export const EXP_TABLE: usize = memory.data<f32>([
  1.44269504, 1.44269504, 1.44269504, 1.44269504, // 0: log2(e)
  12582912.0, 12582912.0, 12582912.0, 12582912.0, // 1: shifter 1.5·2^23
  0.693359375, 0.693359375, 0.693359375, 0.693359375, // 2: LN2_HI (9 significant bits)
  -2.12194440e-4, -2.12194440e-4, -2.12194440e-4, -2.12194440e-4, // 3: LN2_LO = ln2 − LN2_HI
  0.16666415333747864, 0.16666415333747864, 0.16666415333747864, 0.16666415333747864, // 4: c3
  0.04166635125875473, 0.04166635125875473, 0.04166635125875473, 0.04166635125875473, // 5: c4
  0.00837512593716383, 0.00837512593716383, 0.00837512593716383, 0.00837512593716383, // 6: c5
  0.0013941108481958508, 0.0013941108481958508, 0.0013941108481958508, 0.0013941108481958508, // 7: c6
  0.5, 0.5, 0.5, 0.5, // 8: c2
  1.0, 1.0, 1.0, 1.0, // 9: c0 = c1
  88.3, 88.3, 88.3, 88.3, // 10: upper clamp
  -87.0, -87.0, -87.0, -87.0, // 11: lower limit (below: 0)
  3.4028234663852886e38, 3.4028234663852886e38, 3.4028234663852886e38, 3.4028234663852886e38, // 12: FLT_MAX (expvIeee)
  Infinity, Infinity, Infinity, Infinity, // 13: +∞ (expvIeee)
], 16);

/**
 * e^x on 4 lanes (see the block comment above: NaN and +∞ are not handled). The constants are the
 * first 12 vectors of EXP_TABLE in order, loaded once by the caller:
 * `const e0 = v128.load(EXP_TABLE, 0), ..., e11 = v128.load(EXP_TABLE, 176)`.
 */
// @ts-ignore: decorator
@inline export function expv(
  x: v128,
  log2e: v128, shifter: v128, ln2hi: v128, ln2lo: v128,
  c3: v128, c4: v128, c5: v128, c6: v128, c2: v128, one: v128, hi: v128, lo: v128,
): v128 {
  const keep = f32x4.ge(x, lo); // false below −87 and for NaN
  const xc = f32x4.pmin(x, hi); // hi < x ? hi : x
  const t = fmadd(xc, log2e, shifter);
  const nf = f32x4.sub(t, shifter);
  let r = f32x4.sub(xc, f32x4.mul(nf, ln2hi));
  r = f32x4.sub(r, f32x4.mul(nf, ln2lo));
  let p = fmadd(c6, r, c5);
  p = fmadd(p, r, c4);
  p = fmadd(p, r, c3);
  p = fmadd(p, r, c2);
  p = fmadd(p, r, one);
  p = fmadd(p, r, one);
  const scaled = i32x4.add(p, i32x4.shl(t, 23));
  return v128.and(scaled, keep);
}

/**
 * expv with `Math.exp`'s non-finite semantics (NaN → NaN, +∞ → +∞; finite and −∞ inputs give expv's
 * bits). Constants: all 14 vectors of EXP_TABLE (e12 = FLT_MAX, e13 = +∞).
 */
// @ts-ignore: decorator
@inline export function expvIeee(
  x: v128,
  log2e: v128, shifter: v128, ln2hi: v128, ln2lo: v128,
  c3: v128, c4: v128, c5: v128, c6: v128, c2: v128, one: v128, hi: v128, lo: v128, fltMax: v128, inf: v128,
): v128 {
  const e = expv(x, log2e, shifter, ln2hi, ln2lo, c3, c4, c5, c6, c2, one, hi, lo);
  return v128.bitselect(e, f32x4.add(x, inf), f32x4.le(x, fltMax)); // x ≤ FLT_MAX: e; NaN or +∞: x + ∞
}

/** Scalar e^x through the same polynomial (lane 0 of expvIeee: NaN → NaN, +∞ → +∞), for tails. */
export function expScalar(x: f32): f32 {
  const v = expvIeee(
    f32x4.splat(x),
    v128.load(EXP_TABLE, 0), v128.load(EXP_TABLE, 16), v128.load(EXP_TABLE, 32), v128.load(EXP_TABLE, 48),
    v128.load(EXP_TABLE, 64), v128.load(EXP_TABLE, 80), v128.load(EXP_TABLE, 96), v128.load(EXP_TABLE, 112),
    v128.load(EXP_TABLE, 128), v128.load(EXP_TABLE, 144), v128.load(EXP_TABLE, 160), v128.load(EXP_TABLE, 176),
    v128.load(EXP_TABLE, 192), v128.load(EXP_TABLE, 208),
  );
  return f32x4.extract_lane(v, 0);
}
