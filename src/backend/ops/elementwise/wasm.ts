/** WASM wrappers of the element-wise family (kernels: assembly/elementwise.ts). */
import type { Float } from '../../backend.js';
import type { WasmDispatch } from '../../wasm/dispatch.js';
import { splitRange } from '../../wasm/executor.js';
import { checkFinite } from '../checks.js';
import { validateElementwise, validateRowVector } from './params.js';

export function add(d: WasmDispatch, out: Float, a: Float, b: Float, n: number): void {
  validateElementwise('add', n, ['out', out], ['a', a], ['b', b]);
  const o = d.f('add', 'out', out);
  const ap = d.f('add', 'a', a);
  const bp = d.f('add', 'b', b);
  d.split('add', n, d.partsFor(n * 0.5), 16, 0, (i0, i1) => [o + 4 * i0, ap + 4 * i0, bp + 4 * i0, i1 - i0]);
}

export function axpy(d: WasmDispatch, y: Float, alpha: number, x: Float, n: number): void {
  validateElementwise('axpy', n, ['y', y], ['x', x]);
  checkFinite('axpy', 'alpha', alpha);
  const yp = d.f('axpy', 'y', y);
  const xp = d.f('axpy', 'x', x);
  d.split('axpy', n, d.partsFor(n * 0.5), 16, 0, (i0, i1) => [yp + 4 * i0, alpha, xp + 4 * i0, i1 - i0]);
}

export function scale(d: WasmDispatch, x: Float, alpha: number, n: number): void {
  validateElementwise('scale', n, ['x', x]);
  checkFinite('scale', 'alpha', alpha);
  const xp = d.f('scale', 'x', x);
  d.split('scale', n, d.partsFor(n * 0.4), 16, 0, (i0, i1) => [xp + 4 * i0, alpha, i1 - i0]);
}

export function addRowVector(d: WasmDispatch, x: Float, vec: Float, rows: number, cols: number): void {
  validateRowVector('addRowVector', x, vec, rows, cols);
  const xp = d.f('addRowVector', 'x', x);
  const vp = d.f('addRowVector', 'vector', vec);
  d.split('addRowVector', rows, d.partsFor(rows * cols * 0.5), 1, 0, (r0, r1) => [xp + 4 * r0 * cols, vp, r1 - r0, cols]);
}

export function sumRows(d: WasmDispatch, out: Float, x: Float, rows: number, cols: number): void {
  validateRowVector('sumRows', x, out, rows, cols);
  const o = d.f('sumRows', 'out', out);
  const xp = d.f('sumRows', 'x', x);
  const parts = d.partsFor(rows * cols);
  if (parts > 1 && cols >= 8) {
    // column ranges: each column's f64 sum runs over the rows in order, as in one call
    const bounds = splitRange(cols, parts, 4);
    const width = Math.max(...bounds.slice(1).map((e, i) => e - bounds[i]!));
    // sumRowsStrided: sumRows over x with row stride ldx (a column range of a wider matrix)
    d.split('sumRowsStrided', cols, parts, 4, width * 8, (c0, c1, s) => [o + 4 * c0, xp + 4 * c0, rows, c1 - c0, cols, s]);
    return;
  }
  d.withScratch(cols * 8, (s) => d.kernels.sumRows(o, xp, rows, cols, s));
}

export function sumSquares(d: WasmDispatch, x: Float, n: number): number {
  validateElementwise('sumSquares', n, ['x', x]);
  return d.kernels.sumSquares(d.f('sumSquares', 'x', x), n);
}

export function countNonFinite(d: WasmDispatch, x: Float, n: number): number {
  validateElementwise('countNonFinite', n, ['x', x]);
  const xp = d.f('countNonFinite', 'x', x);
  const parts = d.partsFor(n * 0.1);
  // one i32 count per part (integer sums: the total does not depend on the split)
  const mark = d.arena.mark();
  try {
    const counts = d.arena.ints(parts);
    const cp = counts.byteOffset;
    let k = 0;
    d.split('countNonFinite', n, parts, 8, 0, (i0, i1) => [xp + 4 * i0, i1 - i0, cp + 4 * k++]);
    let total = 0;
    for (let i = 0; i < k; i++) total += counts[i]!;
    return total;
  } finally {
    d.arena.release(mark);
  }
}
