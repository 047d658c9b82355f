/**
 * The element-wise family (kernels: assembly/elementwise.ts): argument checks of `add`, `axpy`, `scale`
 * (n contiguous elements), `addRowVector` and `sumRows` (x: [rows, cols], a vector of cols), `sumSquares`,
 * `countNonFinite`.
 * These ops take positional arguments (no parameter objects).
 */
import type { Float } from '../../backend.js';
import { type AnyArray, checkBlock, checkInt, checkVec } from '../checks.js';

export function validateElementwise(op: string, n: number, ...arrays: [string, AnyArray][]): void {
  checkInt(op, 'n', n);
  for (const [name, arr] of arrays) checkVec(op, name, arr, n);
}

export function validateRowVector(op: string, x: Float, v: Float, rows: number, cols: number): void {
  checkInt(op, 'rows', rows);
  checkInt(op, 'cols', cols);
  checkBlock(op, 'x', x, 0, rows, cols, cols);
  checkVec(op, 'vector', v, cols);
}
