/**
 * Argument checks shared by the op families (src/backend/ops/<family>/params.ts). Kernels (especially
 * WASM ones) never check anything, so each public backend method runs its family's validation first.
 * Each check throws `ShapeError` naming the operation, the argument, what was expected and what was given.
 */
import { ShapeError } from '../../errors.js';
import type { Float } from '../backend.js';

/** Any buffer of a backend: floats or ints. */
export type AnyArray = Float | Int32Array;

/** Throws unless `v` is an integer in [min, max]. */
export function checkInt(op: string, name: string, v: number, min = 0, max = 2 ** 31 - 1): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ShapeError(`${op}: ${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
}

/** Throws unless `v` is a finite number. */
export function checkFinite(op: string, name: string, v: number): void {
  if (!Number.isFinite(v)) throw new ShapeError(`${op}: ${name} must be a finite number, got ${v}`);
}

/**
 * Checks that a row-major block [rows, cols] with row stride `ld` starting at `offset` fits in `arr`.
 * Empty blocks (rows or cols = 0) always fit.
 */
export function checkBlock(
  op: string,
  name: string,
  arr: AnyArray | null | undefined,
  offset: number,
  rows: number,
  cols: number,
  ld: number,
): void {
  if (arr === null || arr === undefined || typeof (arr as AnyArray).length !== 'number') {
    throw new ShapeError(`${op}: ${name} must be a typed array, got ${String(arr)}`);
  }
  checkInt(op, `${name} offset`, offset);
  checkInt(op, `${name} rows`, rows);
  checkInt(op, `${name} cols`, cols);
  checkInt(op, `${name} leading dimension`, ld);
  if (rows === 0 || cols === 0) return;
  if (rows > 1 && ld < cols) {
    throw new ShapeError(`${op}: ${name} leading dimension ${ld} is smaller than its ${cols} columns`);
  }
  const last = offset + (rows - 1) * ld + cols;
  if (last > arr.length) {
    throw new ShapeError(`${op}: ${name} [${rows}, ${cols}] (ld ${ld}, offset ${offset}) needs ${last} elements, buffer has ${arr.length}`);
  }
}

/** Checks a contiguous vector of `n` elements. */
export function checkVec(op: string, name: string, arr: AnyArray | null | undefined, n: number, offset = 0): void {
  checkBlock(op, name, arr, offset, 1, n, n);
}

/** Throws if two blocks of the same buffer overlap (an output must not alias an input unless documented). */
export function checkNoOverlap(
  op: string,
  nameA: string,
  a: AnyArray,
  aStart: number,
  aEnd: number,
  nameB: string,
  b: AnyArray,
  bStart: number,
  bEnd: number,
): void {
  if (a.buffer !== b.buffer || aEnd <= aStart || bEnd <= bStart) return;
  const a0 = a.byteOffset + aStart * a.BYTES_PER_ELEMENT;
  const a1 = a.byteOffset + aEnd * a.BYTES_PER_ELEMENT;
  const b0 = b.byteOffset + bStart * b.BYTES_PER_ELEMENT;
  const b1 = b.byteOffset + bEnd * b.BYTES_PER_ELEMENT;
  if (a0 < b1 && b0 < a1) throw new ShapeError(`${op}: output ${nameA} overlaps input ${nameB}`);
}

/** One past the last element of a row-major block [rows, cols] with row stride `ld` at `offset` (`offset` if empty). */
export function blockEnd(offset: number, rows: number, cols: number, ld: number): number {
  return rows === 0 || cols === 0 ? offset : offset + (rows - 1) * ld + cols;
}
