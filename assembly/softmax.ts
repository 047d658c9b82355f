// Row softmax with stored log-sum-exp and its backward (semantics: Backend.softmaxRows / softmaxRowsBackward).
import { EXP_TABLE, expv, expScalar, hmax, hsum } from './simd';

/**
 * Softmax of one row of `cols` values at s into p (may be the same address), returning nothing;
 * writes lse = max + log Σ exp(s − max) as f32 to `lseOut` and then uses the stored f32 value:
 * p = exp(s − max) · exp(max − lse) (= exp(s − lse) with lse rounded as torch stores it).
 * An all −Infinity row gives lse = −Infinity and p = 0. Non-finite values as the reference backend
 * (IEEE: exp(NaN − max), exp(∞ − ∞)): a row holding a NaN or +Infinity gives lse = NaN and p = NaN,
 * also when its other values are −Infinity. The max (pmax) skips NaN, so the max loop also sums the
 * row: a NaN makes the sum NaN (so can +∞ meeting −∞, or an overflow; the rare path then looks at
 * the values), one add per 4 values; the exponentials only ever see finite or −∞ inputs.
 */
export function softmaxRow(cols: i32, s: usize, p: usize, lseOut: usize): void {
  const e0 = v128.load(EXP_TABLE, 0), e1 = v128.load(EXP_TABLE, 16), e2 = v128.load(EXP_TABLE, 32), e3 = v128.load(EXP_TABLE, 48);
  const e4 = v128.load(EXP_TABLE, 64), e5 = v128.load(EXP_TABLE, 80), e6 = v128.load(EXP_TABLE, 96), e7 = v128.load(EXP_TABLE, 112);
  const e8 = v128.load(EXP_TABLE, 128), e9 = v128.load(EXP_TABLE, 144), e10 = v128.load(EXP_TABLE, 160), e11 = v128.load(EXP_TABLE, 176);
  // max, seeded at −Infinity; the sum only flags NaN
  let mv = f32x4.splat(-Infinity);
  let sumv = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= cols; j += 4) {
    const v = v128.load(s + (<usize>j << 2));
    mv = f32x4.pmax(mv, v);
    sumv = f32x4.add(sumv, v);
  }
  let max = hmax(mv);
  let flagged = v128.any_true(f32x4.ne(sumv, sumv));
  for (; j < cols; j++) {
    const x = load<f32>(s + (<usize>j << 2));
    if (x > max) max = x;
    if (x != x) flagged = true;
  }
  if ((flagged || max == Infinity) && rowHasNaNOrInf(cols, s)) {
    store<f32>(lseOut, NaN);
    for (j = 0; j < cols; j++) store<f32>(p + (<usize>j << 2), NaN);
    return;
  }
  if (max == -Infinity) {
    store<f32>(lseOut, -Infinity);
    memory.fill(p, 0, <usize>cols << 2);
    return;
  }
  // e = exp(s − max) into p, and its sum
  const maxv = f32x4.splat(max);
  let sv = f32x4.splat(0);
  j = 0;
  for (; j + 4 <= cols; j += 4) {
    const o = <usize>j << 2;
    const e = expv(f32x4.sub(v128.load(s + o), maxv), e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11);
    v128.store(p + o, e);
    sv = f32x4.add(sv, e);
  }
  let sum = hsum(sv);
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    const e = expScalar(load<f32>(s + o) - max);
    store<f32>(p + o, e);
    sum += e;
  }
  store<f32>(lseOut, <f32>(<f64>max + Math.log(<f64>sum)));
  const lse = load<f32>(lseOut); // re-read: stored precision, as torch
  const factor = expScalar(max - lse);
  const fv = f32x4.splat(factor);
  j = 0;
  for (; j + 4 <= cols; j += 4) {
    const o = <usize>j << 2;
    v128.store(p + o, f32x4.mul(v128.load(p + o), fv));
  }
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    store<f32>(p + o, load<f32>(p + o) * factor);
  }
}

/** True if one of the n f32 values at s is NaN or +Infinity (the rare path of softmaxRow). */
function rowHasNaNOrInf(n: i32, s: usize): bool {
  for (let j = 0; j < n; j++) {
    const x = load<f32>(s + (<usize>j << 2));
    if (x != x || x == Infinity) return true;
  }
  return false;
}

/** softmaxRows: rows × cols, row strides lds / ldp (elements); lse: [rows]. */
export function softmaxRows(rows: i32, cols: i32, s: usize, lds: i32, p: usize, ldp: i32, lse: usize): void {
  const lsB = <usize>lds << 2;
  const lpB = <usize>ldp << 2;
  for (let r = 0; r < rows; r++) softmaxRow(cols, s + <usize>r * lsB, p + <usize>r * lpB, lse + (<usize>r << 2));
}

/**
 * ds += p ⊙ (dp − Σ_j p_j·dp_j + dlse) per row. dlse = 0 means none (address 0 is never a buffer:
 * the arena starts above the static data).
 */
export function softmaxRowsBackward(
  rows: i32, cols: i32,
  p: usize, ldp: i32, dp: usize, lddp: i32, dlse: usize, ds: usize, ldds: i32,
): void {
  for (let r = 0; r < rows; r++) {
    const pr = p + <usize>r * (<usize>ldp << 2);
    const dpr = dp + <usize>r * (<usize>lddp << 2);
    const dsr = ds + <usize>r * (<usize>ldds << 2);
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      acc = f32x4.add(acc, f32x4.mul(v128.load(pr + o), v128.load(dpr + o)));
    }
    let dot = hsum(acc);
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      dot += load<f32>(pr + o) * load<f32>(dpr + o);
    }
    const g: f32 = dlse != 0 ? load<f32>(dlse + (<usize>r << 2)) : 0;
    const shift = g - dot;
    const shiftv = f32x4.splat(shift);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const t = f32x4.mul(v128.load(pr + o), f32x4.add(v128.load(dpr + o), shiftv));
      v128.store(dsr + o, f32x4.add(v128.load(dsr + o), t));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(dsr + o, load<f32>(dsr + o) + load<f32>(pr + o) * (load<f32>(dpr + o) + shift));
    }
  }
}
