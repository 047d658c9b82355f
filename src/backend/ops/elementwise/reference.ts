/** Reference loops of the element-wise family (see params.ts). */
import type { Float } from '../../backend.js';
import { checkFinite } from '../checks.js';
import { validateElementwise, validateRowVector } from './params.js';

export function add(out: Float, a: Float, b: Float, n: number): void {
  validateElementwise('add', n, ['out', out], ['a', a], ['b', b]);
  for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
}

export function axpy(y: Float, alpha: number, x: Float, n: number): void {
  validateElementwise('axpy', n, ['y', y], ['x', x]);
  checkFinite('axpy', 'alpha', alpha);
  for (let i = 0; i < n; i++) y[i] = y[i]! + alpha * x[i]!;
}

export function scale(x: Float, alpha: number, n: number): void {
  validateElementwise('scale', n, ['x', x]);
  checkFinite('scale', 'alpha', alpha);
  for (let i = 0; i < n; i++) x[i] = x[i]! * alpha;
}

export function addRowVector(x: Float, vec: Float, rows: number, cols: number): void {
  validateRowVector('addRowVector', x, vec, rows, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) x[o + j] = x[o + j]! + vec[j]!;
  }
}

export function sumRows(out: Float, x: Float, rows: number, cols: number): void {
  validateRowVector('sumRows', x, out, rows, cols);
  for (let j = 0; j < cols; j++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += x[r * cols + j]!;
    out[j] = out[j]! + s;
  }
}

export function sumSquares(x: Float, n: number): number {
  validateElementwise('sumSquares', n, ['x', x]);
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
  return s;
}

export function countNonFinite(x: Float, n: number): number {
  validateElementwise('countNonFinite', n, ['x', x]);
  let count = 0;
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i]!)) count++;
  return count;
}
