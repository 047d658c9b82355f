/** Reference loops of the sorting family (see params.ts). */
import { checkVec } from '../checks.js';
import { type RowsParams, rowsAddressable, validateArgsort, validatePermutation, validateRows } from './params.js';

export function argsortKeys(perm: Int32Array, keys: Int32Array, n: number, numKeys: number): void {
  validateArgsort(perm, keys, n, numKeys);
  // Stable counting sort: count, exclusive prefix sum, place in index order.
  const start = new Int32Array(numKeys + 1);
  for (let i = 0; i < n; i++) start[keys[i]! + 1]!++;
  for (let key = 0; key < numKeys; key++) start[key + 1]! += start[key]!;
  for (let i = 0; i < n; i++) perm[start[keys[i]!]!++] = i;
}

export function invertPermutation(inv: Int32Array, perm: Int32Array, n: number): void {
  validatePermutation('invertPermutation', perm, n);
  checkVec('invertPermutation', 'inv', inv, n);
  for (let i = 0; i < n; i++) inv[perm[i]!] = i;
}

export function gatherRows(p: RowsParams): void {
  validateRows('gatherRows', p, rowsAddressable(p.src, p.srcOffset ?? 0, p.ldSrc, p.cols), 'src');
  const idxOff = p.indexOffset ?? 0;
  for (let i = 0; i < p.rows; i++) {
    const so = (p.srcOffset ?? 0) + p.index[idxOff + i]! * p.ldSrc;
    const dOff = (p.dstOffset ?? 0) + i * p.ldDst;
    for (let j = 0; j < p.cols; j++) p.dst[dOff + j] = p.src[so + j]!;
  }
}

export function scatterRows(p: RowsParams): void {
  validateRows('scatterRows', p, rowsAddressable(p.dst, p.dstOffset ?? 0, p.ldDst, p.cols), 'dst');
  scatterLoop(p, false);
}

export function scatterAddRows(p: RowsParams): void {
  validateRows('scatterAddRows', p, rowsAddressable(p.dst, p.dstOffset ?? 0, p.ldDst, p.cols), 'dst');
  scatterLoop(p, true);
}

function scatterLoop(p: RowsParams, accumulate: boolean): void {
  const idxOff = p.indexOffset ?? 0;
  for (let i = 0; i < p.rows; i++) {
    const dOff = (p.dstOffset ?? 0) + p.index[idxOff + i]! * p.ldDst;
    const so = (p.srcOffset ?? 0) + i * p.ldSrc;
    for (let j = 0; j < p.cols; j++) p.dst[dOff + j] = accumulate ? p.dst[dOff + j]! + p.src[so + j]! : p.src[so + j]!;
  }
}
