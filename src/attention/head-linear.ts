/**
 * One attention head's linear maps: the output map's forward (block-lsh.ts and the reversible replay
 * block-reverse.ts) and the backward shared by the LSH and the local block backwards
 * (block-lsh-backward.ts, block-local-backward.ts). For head h of a block over rows = B·L, with
 * n = LayerNorm(x) [rows, D], W_p,h the head's rows of a projection [H·d, D] and W_o,h the head's columns
 * of the output map [D, H·d]:
 *
 *   forward:  p_h = n·W_p,hᵀ [rows, d];   F = Σ_h a_h·W_o,hᵀ [rows, D] (`headOutputForward`)
 *   backward: dn += dp_h·W_p,h,  dW_p,h += dp_hᵀ·n;   da_h = dOut·W_o,h,  dW_o,h += dOutᵀ·a_h
 *
 * n, d(n) and dOut may be host-resident (the reversible step on host streams): the [rows, ·] products
 * stream them by row blocks and the weight gradients reduce over their rows by k blocks
 * (backend/host-streams.ts `gemmStreamRows`, `gemmStreamK`): the bits of single calls.
 */
import type { Backend, Float } from '../backend/backend.js';
import { gemmStreamK, gemmStreamRows } from '../backend/host-streams.js';

/** Sizes of one head's maps: rows = B·L, hidden D, head size d, all = H·d; host ↔ arena block rows. */
export interface HeadDims {
  readonly rows: number;
  readonly D: number;
  readonly d: number;
  readonly all: number;
  readonly hostRows: number;
}

/** Rows of a head's [rows, d] values in a buffer: row r at `offset + r·ld`. */
export interface HeadRowsView {
  readonly buf: Float;
  readonly offset: number;
  readonly ld: number;
}

/**
 * forward p_h = n·W_p,hᵀ  ⇒  ACCUMULATES dn [rows, D] += dp_h·W_p,h and dW_p,h += dp_hᵀ·n (rows h·d … of `gp`).
 * `dp` [rows, d] is a backend buffer; `w`, `gp` [H·d, D].
 */
export function headProjectionBackward(
  be: Backend,
  m: HeadDims,
  h: number,
  w: Float,
  gp: Float,
  dp: Float,
  normed: Float,
  dNormed: Float,
): void {
  const { rows, D, d, hostRows } = m;
  gemmStreamRows(
    be,
    { m: rows, n: D, k: d, a: dp, lda: d, b: w, bOffset: h * d * D, ldb: D, c: dNormed, ldc: D, accumulate: true },
    hostRows,
  );
  const dW = { m: d, n: D, k: rows, a: dp, lda: d, transA: true, b: normed, ldb: D, c: gp, cOffset: h * d * D, ldc: D, accumulate: true };
  gemmStreamK(be, dW, hostRows);
}

/**
 * forward F = a_h·W_o,hᵀ (+ the other heads)  ⇒  da_h = dOut·W_o,h, returned as a new [rows, d] buffer of
 * the caller's scope, and dW_o,h += dOutᵀ·a_h ACCUMULATED into columns h·d … of `gwo` [D, H·d].
 */
export function headOutputBackward(be: Backend, m: HeadDims, h: number, wo: Float, gwo: Float, dOut: Float, attn: HeadRowsView): Float {
  const { rows, D, d, all, hostRows } = m;
  const dAttn = be.floats(rows * d); // [rows, d]
  gemmStreamRows(be, { m: rows, n: d, k: D, a: dOut, lda: D, b: wo, bOffset: h * d, ldb: all, c: dAttn, ldc: d }, hostRows);
  const dW = {
    m: D,
    n: d,
    k: rows,
    a: dOut,
    lda: D,
    transA: true,
    b: attn.buf,
    bOffset: attn.offset,
    ldb: attn.ld,
    c: gwo,
    cOffset: h * d,
    ldc: all,
    accumulate: true,
  };
  gemmStreamK(be, dW, hostRows);
  return dAttn;
}

/**
 * y [seqLen, D] (rows of one batch element at `yOffset`) += a_h·W_o,hᵀ, with a_h [seqLen, d] at `attn`; a
 * host-resident y is updated by row blocks (the bits of one call).
 */
export function headOutputForward(
  be: Backend,
  m: Pick<HeadDims, 'D' | 'd' | 'all' | 'hostRows'>,
  h: number,
  seqLen: number,
  wo: Float,
  attn: HeadRowsView,
  y: Float,
  yOffset: number,
): void {
  const { D, d, all } = m;
  const p = {
    m: seqLen,
    n: D,
    k: d,
    a: attn.buf,
    aOffset: attn.offset,
    lda: attn.ld,
    b: wo,
    bOffset: h * d,
    ldb: all,
    transB: true,
    c: y,
    cOffset: yOffset,
    ldc: D,
    accumulate: true,
  };
  gemmStreamRows(be, p, m.hostRows);
}
