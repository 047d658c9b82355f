/**
 * WASM wrappers of the sorting family (kernels: assembly/sort.ts; the split counting sort runs
 * `argsortCount` per part, `argsortOffsets` in a fixed order, then `argsortPlace` per part).
 */
import type { WasmDispatch } from '../../wasm/dispatch.js';
import { splitRange } from '../../wasm/executor.js';
import { checkVec } from '../checks.js';
import { type RowsParams, rowsAddressable, validateArgsort, validatePermutation, validateRows } from './params.js';

export function argsortKeys(d: WasmDispatch, perm: Int32Array, keys: Int32Array, n: number, numKeys: number): void {
  validateArgsort(perm, keys, n, numKeys);
  const pp = d.i('argsortKeys', 'perm', perm);
  const kp = d.i('argsortKeys', 'keys', keys);
  const parts = d.partsFor(n * 5 + numKeys, 1); // one part per thread: the counts are per part
  if (parts > 1 && n >= 1024) {
    // stable counting sort in three steps: per-part counts, offsets in a fixed order, per-part
    // placement; the permutation is unique (stable), so it is the same for any split
    const bounds = splitRange(n, parts, 16);
    const np = bounds.length - 1;
    const mark = d.arena.mark();
    try {
      const counts = d.arena.alloc(np * numKeys * 4);
      const at = (i: number): number => counts + i * numKeys * 4;
      const range = (i: number): [number, number] => [bounds[i]!, bounds[i + 1]!];
      d.runCalls(
        Array.from({ length: np }, (_, i) => {
          const [i0, i1] = range(i);
          return { kernel: 'argsortCount' as const, args: [kp + 4 * i0, i1 - i0, numKeys, at(i)] };
        }),
      );
      d.kernels.argsortOffsets(counts, np, numKeys);
      d.runCalls(
        Array.from({ length: np }, (_, i) => {
          const [i0, i1] = range(i);
          return { kernel: 'argsortPlace' as const, args: [pp, kp + 4 * i0, i1 - i0, i0, at(i)] };
        }),
      );
    } finally {
      d.arena.release(mark);
    }
    return;
  }
  d.withScratch((numKeys + 1) * 4, (s) => d.kernels.argsortKeys(pp, kp, n, numKeys, s));
}

export function invertPermutation(d: WasmDispatch, inv: Int32Array, perm: Int32Array, n: number): void {
  validatePermutation('invertPermutation', perm, n);
  checkVec('invertPermutation', 'inv', inv, n);
  d.kernels.invertPermutation(d.i('invertPermutation', 'inv', inv), d.i('invertPermutation', 'perm', perm), n);
}

export function gatherRows(d: WasmDispatch, p: RowsParams): void {
  const targets = rowsAddressable(p.src, p.srcOffset ?? 0, p.ldSrc, p.cols);
  validateRows('gatherRows', p, targets, 'src');
  rows(d, 'gatherRows', p, d.partsFor(p.rows * (p.cols * 0.5 + 10)));
}

export function scatterRows(d: WasmDispatch, p: RowsParams): void {
  const targets = rowsAddressable(p.dst, p.dstOffset ?? 0, p.ldDst, p.cols);
  validateRows('scatterRows', p, targets, 'dst');
  let parts = d.partsFor(p.rows * (p.cols * 0.5 + 10));
  // threads write disjoint rows only if no target repeats (the contract; else: one thread, last write wins)
  if (parts > 1 && (p.cols === 0 || !distinct(p.index, p.indexOffset ?? 0, p.rows, targets))) parts = 1;
  rows(d, 'scatterRows', p, parts);
}

export function scatterAddRows(d: WasmDispatch, p: RowsParams): void {
  validateRows('scatterAddRows', p, rowsAddressable(p.dst, p.dstOffset ?? 0, p.ldDst, p.cols), 'dst');
  rows(d, 'scatterAddRows', p, 1); // repeated targets add up in order of i: one thread
}

/** gather/scatter by ranges of i (index, and the side not indexed, advance with i). */
function rows(d: WasmDispatch, op: 'gatherRows' | 'scatterRows' | 'scatterAddRows', p: RowsParams, parts: number): void {
  const index = d.i(op, 'index', p.index, p.indexOffset ?? 0);
  const src = d.f(op, 'src', p.src, p.srcOffset ?? 0);
  const dst = d.f(op, 'dst', p.dst, p.dstOffset ?? 0);
  const gather = op === 'gatherRows';
  d.split(op, p.rows, parts, 16, 0, (i0, i1) => [
    i1 - i0,
    p.cols,
    index + 4 * i0,
    gather ? src : src + 4 * i0 * p.ldSrc,
    p.ldSrc,
    gather ? dst + 4 * i0 * p.ldDst : dst,
    p.ldDst,
  ]);
}

/** True if index[offset … offset + rows) has no repeated value (all in [0, targets)). */
function distinct(index: Int32Array, offset: number, rows: number, targets: number): boolean {
  const seen = new Uint8Array(targets);
  for (let i = 0; i < rows; i++) {
    const j = index[offset + i]!;
    if (seen[j]) return false;
    seen[j] = 1;
  }
  return true;
}
