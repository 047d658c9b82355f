/**
 * Boundary checks and small helpers shared by the attention modules (not exported from the package).
 */
import type { Backend, Float } from '../backend/backend.js';
import { floatsLike, withRows } from '../backend/host-streams.js';
import { ShapeError } from '../errors.js';

/** Throws ShapeError unless `arr` holds exactly `dims.product` elements. */
export function checkLength(what: string, arr: ArrayLike<number> | null | undefined, dims: Record<string, number>): void {
  const want = Object.values(dims).reduce((a, x) => a * x, 1);
  const shape = `[${Object.entries(dims)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}]`;
  if (!arr || typeof arr.length !== 'number') {
    throw new ShapeError(`${what} must be a typed array of shape ${shape} (${want} elements), got ${String(arr)}`);
  }
  if (arr.length !== want) {
    throw new ShapeError(`${what} must have shape ${shape} = ${want} elements, got ${arr.length}`);
  }
}

/** Checks `batch` and `seqLen` are positive integers. */
export function checkBatchSeq(what: string, batch: number, seqLen: number): void {
  if (!Number.isInteger(batch) || batch < 1) throw new ShapeError(`${what}: batch must be a positive integer, got ${batch}`);
  if (!Number.isInteger(seqLen) || seqLen < 1) {
    throw new ShapeError(`${what}: seqLen must be a positive integer, got ${seqLen}`);
  }
}

/**
 * Copies an HF `attention_mask` `[batch, seqLen]` (1 = real token, 0 = padding) into a buffer of `be`,
 * after checking its length and values. Null/undefined stays null (no mask).
 */
export function copyMask(
  be: Backend,
  what: string,
  mask: ArrayLike<number> | null | undefined,
  batch: number,
  seqLen: number,
): Int32Array | null {
  if (mask === null || mask === undefined) return null;
  checkLength(`${what}: attention_mask`, mask, { batch, seq: seqLen });
  const out = be.ints(batch * seqLen);
  for (let i = 0; i < out.length; i++) {
    const m = mask[i]!;
    if (m !== 0 && m !== 1) {
      throw new ShapeError(
        `${what}: attention_mask values must be 0 (padding) or 1 (real token), got ${m} at [${Math.floor(i / seqLen)}, ${i % seqLen}]`,
      );
    }
    out[i] = m;
  }
  return out;
}

/** `[0, 1, …, n−1]` as a buffer of `be`. */
export function iota(be: Backend, n: number): Int32Array {
  const out = be.ints(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

/**
 * n = LayerNorm(x)·γ + β of every row of x [rows, D], with its statistics mean, rstd [rows], in blocks
 * of `blockRows` rows (a per-row op: any blocks give the bits of one call). n lives where x lives (a
 * host-resident x gets a host n, both streamed by row blocks: backend/host-streams.ts); the statistics
 * are backend buffers. Allocated in the caller's scope. Used by the reversible steps (block-reverse.ts,
 * block-local-backward.ts), which need n of all rows for the weight gradients.
 */
export function layerNormAllRows(
  be: Backend,
  x: Float,
  rows: number,
  D: number,
  ln: { gamma: Float; beta: Float; eps: number },
  blockRows: number,
): { normed: Float; mean: Float; rstd: Float } {
  const normed = floatsLike(be, x, rows * D); // [rows, D]
  const mean = be.floats(rows);
  const rstd = be.floats(rows);
  const nb = Math.min(rows, Math.max(1, blockRows));
  for (let r0 = 0; r0 < rows; r0 += nb) {
    const nr = Math.min(nb, rows - r0);
    withRows(be, normed, D, r0, nr, 'write', (y) =>
      withRows(be, x, D, r0, nr, 'read', (xr) =>
        be.layerNormForward({
          rows: nr,
          cols: D,
          x: xr,
          gamma: ln.gamma,
          beta: ln.beta,
          eps: ln.eps,
          y,
          mean: mean.subarray(r0, r0 + nr),
          rstd: rstd.subarray(r0, r0 + nr),
        }),
      ),
    );
  }
  return { normed, mean, rstd };
}
