/**
 * HF `ChunkReformerFeedForward` (paper Sec. 3, Eq. 10 "chunking"):
 *
 *   FF(x) = Dropout(W_2·act(Dropout(W_1·LayerNorm_f(x) + b_1)) + b_2)
 *
 * over rows = B·L positions, D = hidden_size, F = feed_forward_size:
 *   x, out: [rows, D]   W_1: [F, D], b_1: [F]   W_2: [D, F], b_2: [D]   LayerNorm_f: γ, β [D]
 * act ∈ relu | gelu (erf) | gelu_new (tanh); dropout p = hidden_dropout_prob, training only.
 *
 * Chunking (`chunk_size_feed_forward` = c > 0) runs the same per-row computation c rows at a time, so
 * temporaries are [c, F] instead of [rows, F]. Every per-row operation (LayerNorm, each gemm output
 * element, activation, dropout mask keyed by the GLOBAL row index) is independent of how rows are
 * grouped, so the output is bit-identical for every chunk size on a backend whose gemm accumulates
 * each output element in a fixed order (the reference backend does). Parameter gradients are sums
 * over rows and are summed chunk by chunk (equal up to rounding).
 *
 * Cache policy: without chunking the forward can keep its intermediates ([rows, F] twice) for the
 * backward; with chunking it keeps nothing but the input, and the backward recomputes each chunk's
 * forward right before back-propagating it (memory stays O(c·F)). Keeping never changes the output
 * (`feedForwardAddForward` computes the same blocks either way).
 *
 * Host-resident streams (backend/host-streams.ts): x, y, dOut and dx may be plain JS arrays outside the
 * WASM arena; each block's rows are then copied into arena temporaries around the same kernel calls
 * (same bits). Keeping activations (`keep` with an unchunked config: store mode) needs arena streams.
 */
import type { Activation, Backend, Float } from '../backend/backend.js';
import { backendSpan, withRows } from '../backend/host-streams.js';
import { applyDropout } from './dropout.js';
import { layerNormBackward, type LayerNormCache } from './layer-norm.js';
import { linearBackward, linearForward } from './linear.js';

/** Sizes and switches of one feed-forward (from the config). */
export interface FeedForwardSpec {
  /** D */
  readonly hidden: number;
  /** F */
  readonly inner: number;
  readonly act: Activation;
  readonly eps: number;
  /** Rows per chunk; 0 = all rows at once. */
  readonly chunkSize: number;
  /** Dropout probability (applied only when seeds are given). */
  readonly dropout: number;
}

/** Parameter views (HF names relative to `feed_forward.`). */
export interface FeedForwardWeights {
  /** layer_norm.weight [D] */ readonly lnWeight: Float;
  /** layer_norm.bias [D] */ readonly lnBias: Float;
  /** dense.dense.weight [F, D] */ readonly w1: Float;
  /** dense.dense.bias [F] */ readonly b1: Float;
  /** output.dense.weight [D, F] */ readonly w2: Float;
  /** output.dense.bias [D] */ readonly b2: Float;
}

/** Dropout seeds of the two dropout sites; null in eval (no dropout). */
export type FeedForwardSeeds = readonly [dense: number, output: number] | null;

export interface FeedForwardCache {
  /** the forward's input [rows, D] (a reference, not a copy) */
  readonly x: Float;
  readonly rows: number;
  readonly seeds: FeedForwardSeeds;
  /** intermediates of an unchunked forward, or null (recompute in the backward) */
  readonly stored: ChunkActivations | null;
}

/** Activations of one chunk of rows. */
interface ChunkActivations {
  /** LayerNorm_f(x) [n, D] */ ln: Float;
  lnStats: LayerNormCache;
  /** h = Dropout(W_1·ln + b_1), the activation's input [n, F] */ h: Float;
  /** a = act(h) [n, F] */ a: Float;
}

/** Row ranges [begin, end) of the chunks. */
export function chunkRanges(rows: number, chunkSize: number): Array<[number, number]> {
  const size = chunkSize > 0 ? chunkSize : Math.max(rows, 1);
  const out: Array<[number, number]> = [];
  for (let b = 0; b < rows; b += size) out.push([b, Math.min(rows, b + size)]);
  return out;
}

/**
 * Forward of rows [r0, r0 + n) into `out` (a view of those rows); returns the chunk's activations,
 * written into `into` (views of a caller's buffers) when given, else allocated in the caller's scope.
 */
function forwardChunk(
  be: Backend,
  spec: FeedForwardSpec,
  w: FeedForwardWeights,
  x: Float,
  r0: number,
  n: number,
  seeds: FeedForwardSeeds,
  out: Float,
  into?: ChunkActivations,
): ChunkActivations {
  const { hidden: D, inner: F } = spec;
  const xc = backendSpan(be, x, r0 * D, n * D); // a view, or a copy of host-resident rows (caller's scope)
  const acts: ChunkActivations = into ?? {
    ln: be.floats(n * D),
    lnStats: { mean: be.floats(n), rstd: be.floats(n) },
    h: be.floats(n * F),
    a: be.floats(n * F),
  };
  const { ln, h, a } = acts;
  // ln = LayerNorm_f(x)
  be.layerNormForward({ rows: n, cols: D, x: xc, gamma: w.lnWeight, beta: w.lnBias, eps: spec.eps, y: ln, ...acts.lnStats });
  linearForward(be, ln, n, D, w.w1, F, w.b1, h); // h = ln·W_1ᵀ + b_1
  if (seeds) applyDropout(h, n, F, spec.dropout, seeds[0], r0); // h = Dropout(h)
  be.activationForward(spec.act, h, a, n * F); // a = act(h)
  linearForward(be, a, n, F, w.w2, D, w.b2, out); // out = a·W_2ᵀ + b_2
  if (seeds) applyDropout(out, n, D, spec.dropout, seeds[1], r0); // out = Dropout(out)
  return acts;
}

/** Rows [r0, r0 + n) of full-size stored activations. */
function rowsOf(s: ChunkActivations, r0: number, n: number, D: number, F: number): ChunkActivations {
  return {
    ln: s.ln.subarray(r0 * D, (r0 + n) * D),
    lnStats: { mean: s.lnStats.mean.subarray(r0, r0 + n), rstd: s.lnStats.rstd.subarray(r0, r0 + n) },
    h: s.h.subarray(r0 * F, (r0 + n) * F),
    a: s.a.subarray(r0 * F, (r0 + n) * F),
  };
}

/**
 * out[rows, D] = FF(x[rows, D]) (overwrites `out`; must not alias x): `feedForwardAddForward` into zeros.
 * @param seeds dropout seeds (training) or null (eval).
 * @param keep whether the returned cache will be used for a backward (stores intermediates when unchunked).
 */
export function feedForwardForward(
  be: Backend,
  spec: FeedForwardSpec,
  w: FeedForwardWeights,
  x: Float,
  rows: number,
  out: Float,
  seeds: FeedForwardSeeds,
  keep: boolean,
): FeedForwardCache {
  out.fill(0, 0, rows * spec.hidden);
  return feedForwardAddForward(be, spec, w, x, rows, out, seeds, keep) ?? { x, rows, seeds, stored: null };
}

/** Rows per block where nothing is kept: `chunk_size_feed_forward`, or FF_LEAN_BLOCK_ROWS when it is 0. */
function leanBlockRows(spec: FeedForwardSpec): number {
  return spec.chunkSize > 0 ? spec.chunkSize : FF_LEAN_BLOCK_ROWS;
}

/**
 * The feed-forward's step of the reversible backward (paper Sec. 3; HF `ReformerLayer.backward_pass`),
 * fused block by block so that no [rows, F] activation exists at once:
 *
 *   g = G(Y1) (replaying the dropout seeds);  X2 = Y2 − g;  dY1 += ∂G/∂Y1ᵀ·dY2
 *
 * x = Y1 [rows, D] (unchanged), y = Y2 (overwritten with X2), dOut = dY2, dx = dY1 (accumulated);
 * parameter gradients accumulate into `g`. Same values as `feedForwardForward` + `axpy` +
 * `feedForwardBackward` (parameter gradients summed block by block: equal up to rounding).
 */
export function feedForwardReverseBackward(
  be: Backend,
  spec: FeedForwardSpec,
  w: FeedForwardWeights,
  g: FeedForwardWeights,
  x: Float,
  rows: number,
  y: Float,
  seeds: FeedForwardSeeds,
  dOut: Float,
  dx: Float,
): void {
  const { hidden: D } = spec;
  for (const [r0, r1] of chunkRanges(rows, leanBlockRows(spec))) {
    be.scope(() => {
      const n = r1 - r0;
      const out = be.floats(n * D);
      const acts = forwardChunk(be, spec, w, x, r0, n, seeds, out); // g rows
      withRows(be, y, D, r0, n, 'update', (yb) => be.axpy(yb, -1, out, n * D)); // X2 = Y2 − g
      backwardChunk(be, spec, w, g, acts, x, r0, n, seeds, dOut, dx); // dY1 += ∂G/∂Y1ᵀ·dY2
    });
  }
}

/** Rows per block of `feedForwardAddForward` when the config does not chunk (`chunk_size_feed_forward` 0). */
export const FF_LEAN_BLOCK_ROWS = 4096;

/**
 * The residual update in place: `y[rows, D] += FF(x[rows, D])` (paper Eq. 9, `Y2 = X2 + G(Y1)`), in
 * blocks of `chunk_size_feed_forward` rows (FF_LEAN_BLOCK_ROWS when 0), so temporaries are [block, F]
 * and no [rows, D] output buffer is needed. The one forward of the feed-forward: evaluation, training
 * and the reversible recompute run it; `keep` only writes the activations aside (unchunked config: every
 * block's into full-size buffers allocated in the caller's scope; chunked: nothing, the backward
 * recomputes), so the result is the same whether or not it keeps.
 * @param seeds dropout seeds (training) or null (eval). x must not alias y.
 * @returns the backward's cache when `keep`, else null.
 */
export function feedForwardAddForward(
  be: Backend,
  spec: FeedForwardSpec,
  w: FeedForwardWeights,
  x: Float,
  rows: number,
  y: Float,
  seeds: FeedForwardSeeds = null,
  keep = false,
): FeedForwardCache | null {
  const { hidden: D, inner: F } = spec;
  const block = leanBlockRows(spec);
  const stored: ChunkActivations | null =
    keep && spec.chunkSize === 0
      ? {
          ln: be.floats(rows * D),
          lnStats: { mean: be.floats(rows), rstd: be.floats(rows) },
          h: be.floats(rows * F),
          a: be.floats(rows * F),
        }
      : null;
  be.scope(() => {
    const out = be.floats(Math.min(block, rows) * D); // [block, D] FF(x) rows, reused
    for (const [r0, r1] of chunkRanges(rows, block)) {
      const n = r1 - r0;
      const o = out.subarray(0, n * D);
      be.scope(() => void forwardChunk(be, spec, w, x, r0, n, seeds, o, stored ? rowsOf(stored, r0, n, D, F) : undefined));
      withRows(be, y, D, r0, n, 'update', (yb) => be.add(yb, yb, o, n * D)); // Y2 = X2 + G(Y1)
    }
  });
  return keep ? { x, rows, seeds, stored } : null;
}

/** Backward of one chunk given its activations: accumulates parameter gradients and dx rows. */
function backwardChunk(
  be: Backend,
  spec: FeedForwardSpec,
  w: FeedForwardWeights,
  g: FeedForwardWeights,
  acts: ChunkActivations,
  x: Float,
  r0: number,
  n: number,
  seeds: FeedForwardSeeds,
  dOut: Float,
  dx: Float,
): void {
  const { hidden: D, inner: F } = spec;
  be.scope(() => {
    // out = Dropout(a·W_2ᵀ + b_2)  ⇒  dz = mask ⊙ dOut
    const dz = be.floats(n * D);
    dz.set(dOut.subarray(r0 * D, (r0 + n) * D));
    if (seeds) applyDropout(dz, n, D, spec.dropout, seeds[1], r0);
    // z = a·W_2ᵀ + b_2  ⇒  da = dz·W_2, dW_2 += dzᵀ·a, db_2 += Σ dz
    const da = be.floats(n * F);
    linearBackward(be, acts.a, n, F, w.w2, D, dz, da, g.w2, g.b2);
    // a = act(h)  ⇒  dh = act'(h) ⊙ da
    const dh = be.floats(n * F);
    be.activationBackward(spec.act, acts.h, da, dh, n * F);
    // h = Dropout(ln·W_1ᵀ + b_1)  ⇒  dh_pre = mask ⊙ dh
    if (seeds) applyDropout(dh, n, F, spec.dropout, seeds[0], r0);
    // h_pre = ln·W_1ᵀ + b_1  ⇒  dln = dh·W_1, dW_1 += dhᵀ·ln, db_1 += Σ dh
    const dln = be.floats(n * D);
    linearBackward(be, acts.ln, n, D, w.w1, F, dh, dln, g.w1, g.b1);
    // ln = LayerNorm_f(x)  ⇒  dx += ..., dγ, dβ
    const xc = backendSpan(be, x, r0 * D, n * D);
    withRows(be, dx, D, r0, n, 'update', (dxc) =>
      layerNormBackward(be, xc, n, D, w.lnWeight, acts.lnStats, dln, dxc, g.lnWeight, g.lnBias),
    );
  });
}

/**
 * Backward of `out = FF(x)`: dx[rows, D] += ∂FF/∂xᵀ·dOut; parameter gradients accumulate into `g`
 * (views of the gradient buffer with the same layout as `w`). Replays the forward's dropout seeds.
 */
export function feedForwardBackward(
  be: Backend,
  spec: FeedForwardSpec,
  w: FeedForwardWeights,
  g: FeedForwardWeights,
  cache: FeedForwardCache,
  dOut: Float,
  dx: Float,
): void {
  const { x, rows, seeds, stored } = cache;
  if (stored) {
    backwardChunk(be, spec, w, g, stored, x, 0, rows, seeds, dOut, dx);
    return;
  }
  for (const [r0, r1] of chunkRanges(rows, spec.chunkSize)) {
    be.scope(() => {
      const n = r1 - r0;
      const scratch = be.floats(n * spec.hidden);
      const acts = forwardChunk(be, spec, w, x, r0, n, seeds, scratch); // recompute (same seeds ⇒ same masks)
      backwardChunk(be, spec, w, g, acts, x, r0, n, seeds, dOut, dx);
    });
  }
}
