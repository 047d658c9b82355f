// Layer norm (HF nn.LayerNorm: biased variance, eps inside the sqrt) and the key RMS norm of shared-QK
// attention, forward and backward (semantics: Backend.layerNorm* / rmsNorm*). Rows are contiguous
// ([rows, cols], row stride cols). Per-row statistics are stored as f32 and re-read before use.
import { hsum } from './simd';

/** Σ of a row accumulated in f64 (so the stored f32 mean is correctly rounded, as the reference's). */
// @ts-ignore: decorator
@inline function rowSum64(p: usize, cols: i32): f64 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let j = 0;
  for (; j + 4 <= cols; j += 4) {
    const v = v128.load(p + (<usize>j << 2));
    a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v));
    a1 = f64x2.add(a1, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
  }
  const t = f64x2.add(a0, a1);
  let s = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
  for (; j < cols; j++) s += <f64>load<f32>(p + (<usize>j << 2));
  return s;
}

/** y = (x − mean)·rstd·gamma + beta, mean/rstd: [rows] out, rstd = 1/sqrt(var + eps). */
export function layerNormForward(
  rows: i32, cols: i32, x: usize, gamma: usize, beta: usize, eps: f64,
  y: usize, mean: usize, rstd: usize,
): void {
  const rowB = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB;
    const yr = y + <usize>r * rowB;
    const mu = <f32>(rowSum64(xr, cols) / <f64>cols);
    const muv = f32x4.splat(mu);
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const d = f32x4.sub(v128.load(xr + (<usize>j << 2)), muv);
      acc = f32x4.add(acc, f32x4.mul(d, d));
    }
    let ss = hsum(acc);
    for (; j < cols; j++) {
      const d = load<f32>(xr + (<usize>j << 2)) - mu;
      ss += d * d;
    }
    const variance = <f64>ss / <f64>cols;
    store<f32>(mean + (<usize>r << 2), mu);
    store<f32>(rstd + (<usize>r << 2), <f32>(1.0 / Math.sqrt(variance + eps)));
    const m = load<f32>(mean + (<usize>r << 2));
    const rs = load<f32>(rstd + (<usize>r << 2));
    const mv = f32x4.splat(m);
    const rv = f32x4.splat(rs);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      v128.store(yr + o, f32x4.add(f32x4.mul(xhat, v128.load(gamma + o)), v128.load(beta + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(yr + o, (load<f32>(xr + o) - m) * rs * load<f32>(gamma + o) + load<f32>(beta + o));
    }
  }
}

/**
 * Backward of layerNormForward (accumulating): with xhat = (x − mean)·rstd and dxhat = dy·gamma,
 * dbeta += dy, dgamma += dy·xhat, dx += rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat)).
 */
export function layerNormBackward(
  rows: i32, cols: i32, dy: usize, x: usize, mean: usize, rstd: usize, gamma: usize,
  dx: usize, dgamma: usize, dbeta: usize,
): void {
  const rowB = <usize>cols << 2;
  const inv = <f32>1 / <f32>cols;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB;
    const dyr = dy + <usize>r * rowB;
    const dxr = dx + <usize>r * rowB;
    const m = load<f32>(mean + (<usize>r << 2));
    const rs = load<f32>(rstd + (<usize>r << 2));
    const mv = f32x4.splat(m);
    const rv = f32x4.splat(rs);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      const dxhat = f32x4.mul(v128.load(dyr + o), v128.load(gamma + o));
      a1 = f32x4.add(a1, dxhat);
      a2 = f32x4.add(a2, f32x4.mul(dxhat, xhat));
    }
    let s1 = hsum(a1);
    let s2 = hsum(a2);
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const xhat = (load<f32>(xr + o) - m) * rs;
      const dxhat = load<f32>(dyr + o) * load<f32>(gamma + o);
      s1 += dxhat;
      s2 += dxhat * xhat;
    }
    const meanDxhat = s1 * inv;
    const meanDxhatXhat = s2 * inv;
    const md = f32x4.splat(meanDxhat);
    const mdx = f32x4.splat(meanDxhatXhat);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const g = v128.load(dyr + o);
      const xhat = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      const dxhat = f32x4.mul(g, v128.load(gamma + o));
      v128.store(dbeta + o, f32x4.add(v128.load(dbeta + o), g));
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(g, xhat)));
      const t = f32x4.sub(f32x4.sub(dxhat, md), f32x4.mul(xhat, mdx));
      v128.store(dxr + o, f32x4.add(v128.load(dxr + o), f32x4.mul(rv, t)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const g = load<f32>(dyr + o);
      const xhat = (load<f32>(xr + o) - m) * rs;
      const dxhat = g * load<f32>(gamma + o);
      store<f32>(dbeta + o, load<f32>(dbeta + o) + g);
      store<f32>(dgamma + o, load<f32>(dgamma + o) + g * xhat);
      store<f32>(dxr + o, load<f32>(dxr + o) + rs * (dxhat - meanDxhat - xhat * meanDxhatXhat));
    }
  }
}

/**
 * The dx part of layerNormBackward alone (rows may be any row range: pointers at its first row).
 * Same instructions per element as layerNormBackward, so splitting rows over threads keeps the bits.
 */
export function layerNormBackwardDx(
  rows: i32, cols: i32, dy: usize, x: usize, mean: usize, rstd: usize, gamma: usize, dx: usize,
): void {
  const rowB = <usize>cols << 2;
  const inv = <f32>1 / <f32>cols;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB;
    const dyr = dy + <usize>r * rowB;
    const dxr = dx + <usize>r * rowB;
    const m = load<f32>(mean + (<usize>r << 2));
    const rs = load<f32>(rstd + (<usize>r << 2));
    const mv = f32x4.splat(m);
    const rv = f32x4.splat(rs);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      const dxhat = f32x4.mul(v128.load(dyr + o), v128.load(gamma + o));
      a1 = f32x4.add(a1, dxhat);
      a2 = f32x4.add(a2, f32x4.mul(dxhat, xhat));
    }
    let s1 = hsum(a1);
    let s2 = hsum(a2);
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const xhat = (load<f32>(xr + o) - m) * rs;
      const dxhat = load<f32>(dyr + o) * load<f32>(gamma + o);
      s1 += dxhat;
      s2 += dxhat * xhat;
    }
    const meanDxhat = s1 * inv;
    const meanDxhatXhat = s2 * inv;
    const md = f32x4.splat(meanDxhat);
    const mdx = f32x4.splat(meanDxhatXhat);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      const dxhat = f32x4.mul(v128.load(dyr + o), v128.load(gamma + o));
      const t = f32x4.sub(f32x4.sub(dxhat, md), f32x4.mul(xhat, mdx));
      v128.store(dxr + o, f32x4.add(v128.load(dxr + o), f32x4.mul(rv, t)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const xhat = (load<f32>(xr + o) - m) * rs;
      const dxhat = load<f32>(dyr + o) * load<f32>(gamma + o);
      store<f32>(dxr + o, load<f32>(dxr + o) + rs * (dxhat - meanDxhat - xhat * meanDxhatXhat));
    }
  }
}

/**
 * The dgamma / dbeta part of layerNormBackward for columns [colBegin, colEnd) over all rows, rows in
 * order (the accumulation order of layerNormBackward): column ranges can run on different threads.
 */
export function layerNormBackwardParams(
  rows: i32, cols: i32, colBegin: i32, colEnd: i32, dy: usize, x: usize, mean: usize, rstd: usize,
  dgamma: usize, dbeta: usize,
): void {
  const rowB = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB;
    const dyr = dy + <usize>r * rowB;
    const m = load<f32>(mean + (<usize>r << 2));
    const rs = load<f32>(rstd + (<usize>r << 2));
    const mv = f32x4.splat(m);
    const rv = f32x4.splat(rs);
    let j = colBegin;
    for (; j + 4 <= colEnd; j += 4) {
      const o = <usize>j << 2;
      const g = v128.load(dyr + o);
      const xhat = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      v128.store(dbeta + o, f32x4.add(v128.load(dbeta + o), g));
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(g, xhat)));
    }
    for (; j < colEnd; j++) {
      const o = <usize>j << 2;
      const g = load<f32>(dyr + o);
      const xhat = (load<f32>(xr + o) - m) * rs;
      store<f32>(dbeta + o, load<f32>(dbeta + o) + g);
      store<f32>(dgamma + o, load<f32>(dgamma + o) + g * xhat);
    }
  }
}

/** y = x·rstd·scale, rstd = 1/sqrt(mean(x²) + eps): [rows] out. */
export function rmsNormForward(rows: i32, cols: i32, x: usize, y: usize, rstd: usize, eps: f64, scale: f64): void {
  const rowB = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB;
    const yr = y + <usize>r * rowB;
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const v = v128.load(xr + (<usize>j << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
    }
    let ss = hsum(acc);
    for (; j < cols; j++) {
      const v = load<f32>(xr + (<usize>j << 2));
      ss += v * v;
    }
    store<f32>(rstd + (<usize>r << 2), <f32>(1.0 / Math.sqrt(<f64>ss / <f64>cols + eps)));
    const rs = load<f32>(rstd + (<usize>r << 2));
    const k = <f32>(<f64>rs * scale);
    const kv = f32x4.splat(k);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      v128.store(yr + o, f32x4.mul(v128.load(xr + o), kv));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(yr + o, load<f32>(xr + o) * k);
    }
  }
}

/** dx += scale·rstd·(dy − x·rstd²·Σ(dy·x)/cols) (backward of rmsNormForward, accumulating). */
export function rmsNormBackward(rows: i32, cols: i32, dy: usize, x: usize, rstd: usize, scale: f64, dx: usize): void {
  const rowB = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB;
    const dyr = dy + <usize>r * rowB;
    const dxr = dx + <usize>r * rowB;
    const rs = load<f32>(rstd + (<usize>r << 2));
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      acc = f32x4.add(acc, f32x4.mul(v128.load(dyr + o), v128.load(xr + o)));
    }
    let dot = hsum(acc);
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      dot += load<f32>(dyr + o) * load<f32>(xr + o);
    }
    const c = <f32>((<f64>rs * <f64>rs * <f64>dot) / <f64>cols);
    const k = <f32>(scale * <f64>rs);
    const cv = f32x4.splat(c);
    const kv = f32x4.splat(k);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const t = f32x4.sub(v128.load(dyr + o), f32x4.mul(v128.load(xr + o), cv));
      v128.store(dxr + o, f32x4.add(v128.load(dxr + o), f32x4.mul(kv, t)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(dxr + o, load<f32>(dxr + o) + k * (load<f32>(dyr + o) - load<f32>(xr + o) * c));
    }
  }
}
