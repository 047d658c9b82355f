/**
 * Host-resident residual streams (issue 17, docs/ARCHITECTURE.md "Past one 4 GiB memory"): the two
 * streams X1, X2 (Y1, Y2), their gradients and a few other [rows, D] buffers may live in plain JS typed
 * arrays outside the WASM arena, so a training step can use more than one 32-bit memory. Kernels only run
 * on backend buffers, so every consumer streams row blocks of a host buffer through arena temporaries:
 * copy the rows in, run the SAME kernel call on them, copy the written rows back. A copy is exact
 * (`TypedArray.set` between arrays of one element type copies the bytes), so the kernels see the same
 * values and the results are bit-identical to the arena path (spec/model/host-streams.spec.ts).
 *
 * Which calls may be cut into row blocks without changing a bit:
 * - element-wise ops (add, axpy, countNonFinite): any split;
 * - per-row ops (LayerNorm forward, the dx of its backward; its dγ, dβ accumulate over the rows in row
 *   order on both backends, so consecutive row blocks give the same sums);
 * - a GEMM by rows of C (and A) when the blocks start at multiples of the 4-row micro-tile and no block
 *   but the whole product has ≤ 8 rows (the WASM kernel picks its path from m only below 8 rows:
 *   assembly/gemm.ts `useDirect`); each element is then computed by the same instructions.
 * Never split: a reduction over rows (a weight gradient `dW += dYᵀ·X`: the GEMM sums k in registers),
 * so its operands stay whole in the arena.
 *
 * On a backend without a hard memory limit (the reference backend) a host array IS a backend buffer:
 * `onBackend` is true and every helper calls the kernel on it directly, without copies.
 */
import { UsageError } from '../errors.js';
import type { Backend, Float, GemmParams, LayerNormBackwardParams } from './backend.js';

/** Where the residual streams live: `auto` = in the arena unless its estimate exceeds the backend's limit. */
export type HostStreamsOption = 'auto' | 'always' | 'never';

/** Rows per block streamed between a host buffer and the arena (default; `ReformerOptions.hostBlockRows`). */
export const HOST_BLOCK_ROWS = 4096;

/** Elements per block of the element-wise streams (any split gives the same bits). */
export const ELEMENT_BLOCK = 1 << 20;

/**
 * A zeroed host buffer of `n` elements of the backend's float type (Float64Array for an f64 reference
 * backend), outside the WASM arena: garbage-collected, never freed by `be.scope`.
 */
export function hostFloats(be: Pick<Backend, 'dtype'>, n: number): Float {
  return be.dtype === 'f64' ? new Float64Array(n) : new Float32Array(n);
}

/**
 * A zeroed buffer of `n` floats living where `like` lives: in the arena (`be.floats`, freed by the
 * caller's scope) if the backend accepts `like`, else a host array.
 */
export function floatsLike(be: Backend, like: Float, n: number): Float {
  return onBackend(be, like) ? be.floats(n) : hostFloats(be, n);
}

/** True if the backend's kernels accept `x` (a WASM backend: a view of its arena; other backends: any array). */
export function onBackend(be: Backend, x: Float): boolean {
  const arena = (be as { arena?: { owns(a: ArrayBufferView): boolean } }).arena;
  return arena === undefined || arena.owns(x);
}

/** `rows` rounded down to a multiple of the GEMM's 4-row micro-tile (at least 4). */
export function blockRowsOf(rows: number | undefined): number {
  const r = Math.floor(rows ?? HOST_BLOCK_ROWS);
  return Math.max(4, r - (r % 4));
}

/**
 * Rows per block of a row-streamed GEMM (`gemmStreamRows`): `rows` as a multiple of the 4-row tile, and
 * more than 8 (the kernel picks its path from m at ≤ 8 rows). A last block of ≤ 8 rows joins the one before.
 */
export function gemmRowBlock(rows: number | undefined): number {
  return Math.max(12, blockRowsOf(rows));
}

/**
 * k rows per block of a reduction streamed at the kernel's cut depth `step` (`gemmStreamK`): about
 * `rows`, a multiple of step (at least one step).
 */
export function reductionBlock(step: number, rows: number | undefined): number {
  const r = blockRowsOf(rows);
  return Math.max(step, r - (step > 0 ? r % step : 0));
}

/**
 * Elements [i0, i0 + n) of `x` as a backend buffer: a view of x when the backend accepts it, else a copy
 * in the arena (allocated in the caller's scope; `copy: false` leaves it zeroed).
 */
export function backendSpan(be: Backend, x: Float, i0: number, n: number, copy = true): Float {
  if (onBackend(be, x)) return x.subarray(i0, i0 + n);
  const t = be.floats(n);
  if (copy) t.set(x.subarray(i0, i0 + n));
  return t;
}

/**
 * Runs `fn` on rows [r0, r0 + n) of `x` [rows, cols] as a backend buffer [n, cols] and writes the block
 * back when `mode` is 'update' (read-modify-write) or 'write' (starts from zeros). A view of x when the
 * backend accepts it (no copy).
 */
export function withRows<T>(
  be: Backend,
  x: Float,
  cols: number,
  r0: number,
  n: number,
  mode: 'read' | 'update' | 'write',
  fn: (rows: Float) => T,
): T {
  if (onBackend(be, x)) return fn(x.subarray(r0 * cols, (r0 + n) * cols));
  return be.scope(() => {
    const t = backendSpan(be, x, r0 * cols, n * cols, mode !== 'write');
    const r = fn(t);
    if (mode !== 'read') x.set(t, r0 * cols);
    return r;
  });
}

/** Element blocks [i, i + m) covering n elements. */
function* elementBlocks(n: number): Generator<[number, number]> {
  for (let i = 0; i < n; i += ELEMENT_BLOCK) yield [i, Math.min(ELEMENT_BLOCK, n - i)];
}

/** `out = a + b` over n elements (`Backend.add`; out may alias a or b), any of them host-resident. */
export function streamAdd(be: Backend, out: Float, a: Float, b: Float, n: number): void {
  if (onBackend(be, out) && onBackend(be, a) && onBackend(be, b)) {
    be.add(out, a, b, n);
    return;
  }
  for (const [i, m] of elementBlocks(n)) {
    be.scope(() => {
      const va = backendSpan(be, a, i, m);
      const vb = b === a ? va : backendSpan(be, b, i, m);
      const vo = out === a ? va : out === b ? vb : backendSpan(be, out, i, m, false);
      be.add(vo, va, vb, m);
      if (!onBackend(be, out)) out.set(vo, i);
    });
  }
}

/** `y += alpha·x` over n elements (`Backend.axpy`), either host-resident. */
export function streamAxpy(be: Backend, y: Float, alpha: number, x: Float, n: number): void {
  if (onBackend(be, y) && onBackend(be, x)) {
    be.axpy(y, alpha, x, n);
    return;
  }
  for (const [i, m] of elementBlocks(n)) {
    be.scope(() => {
      const vy = backendSpan(be, y, i, m);
      be.axpy(vy, alpha, backendSpan(be, x, i, m), m);
      if (!onBackend(be, y)) y.set(vy, i);
    });
  }
}

/** `Backend.countNonFinite` of x[0 … n), host-resident or not. */
export function countNonFiniteStream(be: Backend, x: Float, n: number): number {
  if (onBackend(be, x)) return be.countNonFinite(x, n);
  let bad = 0;
  for (const [i, m] of elementBlocks(n)) bad += be.scope(() => be.countNonFinite(backendSpan(be, x, i, m), m));
  return bad;
}

/**
 * Gathers `rows` rows of `cols` values: dst[dstOffset + i·ldDst + j] = src[srcOffset + index[i]·ldSrc + j]
 * (`Backend.gatherRows` when both are backend buffers; else plain copies, which move the same bits).
 * `index` [rows] holds row numbers of src (the identity for a plain block copy).
 */
export function copyRows(
  be: Backend,
  p: {
    rows: number;
    cols: number;
    index: Int32Array;
    src: Float;
    srcOffset: number;
    ldSrc: number;
    dst: Float;
    dstOffset: number;
    ldDst: number;
  },
): void {
  if (onBackend(be, p.src) && onBackend(be, p.dst)) {
    be.gatherRows(p);
    return;
  }
  for (let i = 0; i < p.rows; i++) {
    const s = p.srcOffset + p.index[i]! * p.ldSrc;
    p.dst.set(p.src.subarray(s, s + p.cols), p.dstOffset + i * p.ldDst);
  }
}

/** Elements of a stored operand that rows [r0, r1) of it span (row stride `ld`, `cols` used per row). */
function rowsSpan(offset: number, ld: number, cols: number, r0: number, r1: number): [number, number] {
  return [offset + r0 * ld, (r1 - r0 - 1) * ld + cols];
}

/**
 * `Backend.gemm` whose C and/or A may be host-resident (B must be a backend buffer; a host A must not be
 * transposed): by blocks of `blockRows` rows of C (a multiple of 4, at least 12; a last block of ≤ 8 rows
 * joins the one before), each block's rows of A and span of C copied in, multiplied with the same arguments and C
 * copied back. Bit-identical to one call (file header).
 * @throws UsageError if a host A is transposed or B is host-resident
 */
export function gemmStreamRows(be: Backend, p: GemmParams, blockRows: number): void {
  const hostA = !onBackend(be, p.a);
  const hostC = !onBackend(be, p.c);
  if (!hostA && !hostC) {
    be.gemm(p);
    return;
  }
  if (!onBackend(be, p.b) || (hostA && p.transA)) {
    throw new UsageError('gemmStreamRows: B must be a backend buffer and a host-resident A must not be transposed');
  }
  const block = gemmRowBlock(blockRows);
  const aRow = p.transA ? 1 : p.lda; // distance between rows i and i + 1 of op(A)
  const a0 = p.aOffset ?? 0;
  const c0 = p.cOffset ?? 0;
  for (let r0 = 0; r0 < p.m; ) {
    let r1 = Math.min(p.m, r0 + block);
    if (p.m - r1 <= 8) r1 = p.m;
    const nr = r1 - r0;
    const [cStart, cSpan] = rowsSpan(c0, p.ldc, p.n, r0, r1);
    be.scope(() => {
      const c = hostC ? backendSpan(be, p.c, cStart, cSpan) : p.c; // copied in: the span's gaps (ldc > n) go back as they were
      const [aStart, aSpan] = rowsSpan(a0, p.lda, p.k, r0, r1);
      const a = hostA ? backendSpan(be, p.a, aStart, aSpan) : p.a;
      be.gemm({
        ...p,
        m: nr,
        a,
        aOffset: hostA ? 0 : a0 + r0 * aRow,
        c,
        cOffset: hostC ? 0 : cStart,
      });
      if (hostC) p.c.set(c.subarray(0, cSpan), cStart);
    });
    r0 = r1;
  }
}

/**
 * `Backend.gemm` C (+)= op(A)·B whose reduction runs over host-resident rows: A transposed (stored
 * [k, m]) and/or B (stored [k, n], not transposed) may be host arrays; C must be a backend buffer. The
 * k rows are streamed in blocks of about `blockRows` cut at the backend's `gemmReductionStep`, the later
 * calls accumulating: the bits of one call (the packed GEMM adds each panel into C in order). Where the
 * backend cannot cut this product (a small k: the direct path), the host operands are copied whole.
 * This is how a weight gradient dW += dYᵀ·X reduces over 2^20 rows whose dY and X live on the host.
 * @throws UsageError if C is host-resident, or a host A is not transposed / a host B is transposed
 */
export function gemmStreamK(be: Backend, p: GemmParams, blockRows: number): void {
  const hostA = !onBackend(be, p.a);
  const hostB = !onBackend(be, p.b);
  if (!hostA && !hostB) {
    be.gemm(p);
    return;
  }
  if (!onBackend(be, p.c) || (hostA && !p.transA) || (hostB && p.transB)) {
    throw new UsageError('gemmStreamK: C must be a backend buffer; a host-resident A must be transposed, a host B not');
  }
  const transB = p.transB ?? false;
  const step = be.gemmReductionStep?.(p.m, p.n, p.k, transB) ?? 0;
  const want = reductionBlock(step, blockRows);
  const cuts: number[] = [0];
  if (step > 0) {
    for (let k0 = want; k0 < p.k; k0 += want) {
      // each part must itself take the cuttable path; a short tail joins the part before
      if (be.gemmReductionStep!(p.m, p.n, Math.min(want, p.k - k0), transB) === 0) break;
      cuts.push(k0);
    }
  }
  cuts.push(p.k);
  const a0 = p.aOffset ?? 0;
  const b0 = p.bOffset ?? 0;
  for (let i = 0; i + 1 < cuts.length; i++) {
    const k0 = cuts[i]!;
    const k1 = cuts[i + 1]!;
    be.scope(() => {
      const [aStart, aSpan] = rowsSpan(a0, p.lda, p.m, k0, k1);
      const [bStart, bSpan] = rowsSpan(b0, p.ldb, p.n, k0, k1);
      be.gemm({
        ...p,
        k: k1 - k0,
        a: hostA ? backendSpan(be, p.a, aStart, aSpan) : p.a,
        aOffset: hostA ? 0 : aStart,
        b: hostB ? backendSpan(be, p.b, bStart, bSpan) : p.b,
        bOffset: hostB ? 0 : bStart,
        accumulate: (p.accumulate ?? false) || i > 0,
      });
    });
  }
}

/**
 * `Backend.layerNormBackward` whose x, dy and dx may be host-resident (mean, rstd, γ and the parameter
 * gradients are backend buffers): by blocks of rows, x and dy copied in, dx read, accumulated and
 * copied back. dγ, dβ accumulate row by row in order, so the blocks give the bits of one call.
 */
export function layerNormBackwardStream(be: Backend, p: LayerNormBackwardParams, blockRows: number): void {
  if (onBackend(be, p.x) && onBackend(be, p.dy) && onBackend(be, p.dx)) {
    be.layerNormBackward(p);
    return;
  }
  const { rows, cols } = p;
  const block = blockRowsOf(blockRows);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const nr = Math.min(block, rows - r0);
    const e0 = r0 * cols;
    const e = nr * cols;
    be.scope(() => {
      const dx = backendSpan(be, p.dx, e0, e);
      be.layerNormBackward({
        ...p,
        rows: nr,
        x: backendSpan(be, p.x, e0, e),
        dy: backendSpan(be, p.dy, e0, e),
        mean: p.mean.subarray(r0, r0 + nr),
        rstd: p.rstd.subarray(r0, r0 + nr),
        dx,
      });
      if (!onBackend(be, p.dx)) p.dx.set(dx, e0);
    });
  }
}
