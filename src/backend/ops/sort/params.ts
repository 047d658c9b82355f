/**
 * The sorting family (kernels: assembly/sort.ts): the stable counting sort of bucket keys, permutation
 * inverses and row gathers/scatters by an index: parameter type and argument checks.
 */
import { ShapeError } from '../../../errors.js';
import type { Float } from '../../backend.js';
import { blockEnd, checkBlock, checkInt, checkNoOverlap, checkVec } from '../checks.js';

/** Row gather/scatter: `dst[i] = src[index[i]]` (gather) or `dst[index[i]] (+)= src[i]` (scatter). */
export interface RowsParams {
  rows: number;
  cols: number;
  index: Int32Array;
  indexOffset?: number;
  src: Float;
  srcOffset?: number;
  ldSrc: number;
  dst: Float;
  dstOffset?: number;
  ldDst: number;
}

export function validateArgsort(perm: Int32Array, keys: Int32Array, n: number, numKeys: number): void {
  const op = 'argsortKeys';
  checkInt(op, 'n', n);
  checkInt(op, 'numKeys', numKeys, 1);
  checkVec(op, 'perm', perm, n);
  checkVec(op, 'keys', keys, n);
  for (let i = 0; i < n; i++) {
    const key = keys[i]!;
    if (key < 0 || key >= numKeys) {
      throw new ShapeError(`${op}: keys[${i}] = ${key} is outside [0, ${numKeys})`);
    }
  }
}

export function validatePermutation(op: string, perm: Int32Array, n: number): void {
  checkInt(op, 'n', n);
  checkVec(op, 'perm', perm, n);
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = perm[i]!;
    if (j < 0 || j >= n || seen[j]) {
      throw new ShapeError(`${op}: perm is not a permutation of 0..${n - 1} (entry ${i} = ${j})`);
    }
    seen[j] = 1;
  }
}

/** `targetRows` = number of rows of the side indexed by `index` (src for gather, dst for scatter). */
export function validateRows(op: string, p: RowsParams, targetRows: number, indexedSide: 'src' | 'dst'): void {
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols);
  const idxOff = p.indexOffset ?? 0;
  checkVec(op, 'index', p.index, p.rows, idxOff);
  for (let i = 0; i < p.rows; i++) {
    const j = p.index[idxOff + i]!;
    if (j < 0 || j >= targetRows) throw new ShapeError(`${op}: index[${i}] = ${j} is outside [0, ${targetRows})`);
  }
  const srcRows = indexedSide === 'src' ? targetRows : p.rows;
  const dstRows = indexedSide === 'dst' ? targetRows : p.rows;
  checkBlock(op, 'src', p.src, p.srcOffset ?? 0, srcRows, p.cols, p.ldSrc);
  checkBlock(op, 'dst', p.dst, p.dstOffset ?? 0, dstRows, p.cols, p.ldDst);
  checkNoOverlap(
    op,
    'dst',
    p.dst,
    p.dstOffset ?? 0,
    blockEnd(p.dstOffset ?? 0, dstRows, p.cols, p.ldDst),
    'src',
    p.src,
    p.srcOffset ?? 0,
    blockEnd(p.srcOffset ?? 0, srcRows, p.cols, p.ldSrc),
  );
}

/** How many whole rows of `cols` elements with stride `ld` fit in `arr` after `offset`. */
export function rowsAddressable(arr: Float, offset: number, ld: number, cols: number): number {
  if (cols === 0) return 2 ** 31 - 1;
  const avail = arr.length - offset - cols;
  if (avail < 0) return 0;
  return ld === 0 ? 1 : Math.floor(avail / ld) + 1;
}
