// Element-wise helpers over contiguous f32 buffers (semantics: Backend.add ... sumSquares).

/** out = a + b (out may alias a or b). */
export function add(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** y += alpha·x */
export function axpy(y: usize, alpha: f64, x: usize, n: i32): void {
  const al = <f32>alpha;
  const av = f32x4.splat(al);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(av, v128.load(x + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + al * load<f32>(x + o));
  }
}

/** x *= alpha */
export function scale(x: usize, alpha: f64, n: i32): void {
  const al = <f32>alpha;
  const av = f32x4.splat(al);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, f32x4.mul(v128.load(x + o), av));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) * al);
  }
}

/** x[r, :] += v for r < rows; x: [rows, cols] contiguous, v: [cols]. */
export function addRowVector(x: usize, v: usize, rows: i32, cols: i32): void {
  const rowB = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      v128.store(xr + o, f32x4.add(v128.load(xr + o), v128.load(v + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(xr + o, load<f32>(xr + o) + load<f32>(v + o));
    }
  }
}

/**
 * out[:] += Σ_r x[r, :]; column sums accumulated in f64 in `scratch` (cols f64), rows read
 * contiguously. x: [rows, cols] with row stride ldx (elements), so a column range of a wider matrix
 * can be summed on its own (each column's sum is independent of the others: the bits do not depend
 * on how the columns are split).
 */
export function sumRowsStrided(out: usize, x: usize, rows: i32, cols: i32, ldx: i32, scratch: usize): void {
  memory.fill(scratch, 0, <usize>cols << 3);
  const rowB = <usize>ldx << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const v = v128.load(xr + (<usize>j << 2));
      const ap = scratch + (<usize>j << 3);
      v128.store(ap, f64x2.add(v128.load(ap), f64x2.promote_low_f32x4(v)));
      v128.store(ap, f64x2.add(v128.load(ap, 16), f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1))), 16);
    }
    for (; j < cols; j++) {
      const ap = scratch + (<usize>j << 3);
      store<f64>(ap, load<f64>(ap) + <f64>load<f32>(xr + (<usize>j << 2)));
    }
  }
  for (let j = 0; j < cols; j++) {
    const o = out + (<usize>j << 2);
    store<f32>(o, <f32>(<f64>load<f32>(o) + load<f64>(scratch + (<usize>j << 3))));
  }
}

/** out[:] += Σ_r x[r, :] for a contiguous x: [rows, cols] (scratch: cols f64). */
export function sumRows(out: usize, x: usize, rows: i32, cols: i32, scratch: usize): void {
  sumRowsStrided(out, x, rows, cols, cols, scratch);
}

/** Σ x_i² accumulated in f64 (each square is exact in f64). */
export function sumSquares(x: usize, n: i32): f64 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    const lo = f64x2.promote_low_f32x4(v);
    const hi = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
    a0 = f64x2.add(a0, f64x2.mul(lo, lo));
    a1 = f64x2.add(a1, f64x2.mul(hi, hi));
  }
  const t = f64x2.add(a0, a1);
  let s = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
  for (; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    s += v * v;
  }
  return s;
}

/**
 * Stores at `out` (an i32) how many of the n f32 values at x are NaN or ±Infinity: x − x is NaN
 * exactly for those (0 for every finite x), counted per lane (ne gives −1). One pass, memory-bound;
 * the model's non-finite checks (src/model/numerics.ts) run it on every layer's residual streams.
 */
export function countNonFinite(x: usize, n: i32, out: usize): void {
  let c0 = i32x4.splat(0);
  let c1 = i32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    const v0 = v128.load(x + o);
    const v1 = v128.load(x + o, 16);
    const d0 = f32x4.sub(v0, v0);
    const d1 = f32x4.sub(v1, v1);
    c0 = i32x4.sub(c0, f32x4.ne(d0, d0));
    c1 = i32x4.sub(c1, f32x4.ne(d1, d1));
  }
  const c = i32x4.add(c0, c1);
  let count = i32x4.extract_lane(c, 0) + i32x4.extract_lane(c, 1) + i32x4.extract_lane(c, 2) + i32x4.extract_lane(c, 3);
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v - v != 0) count++;
  }
  store<i32>(out, count);
}
