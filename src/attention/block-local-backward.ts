/**
 * Backward of the local attention block (block-local.ts, HF `ReformerAttention` over
 * `LocalSelfAttention`), one head at a time. Both local block backwards run it: `attentionBlockBackward`
 * over a kept cache (block-backward.ts; it uses the cache's LayerNorm output only) and the fused
 * reversible step (`localReverseBackward` below), so the two give the same bits.
 *
 * For head h (all batch elements), with n = LayerNorm(x) [B·L, D] and W_p,h the head's rows of W_p:
 *
 *   forward (recomputed):  q_h = n·W_q,hᵀ,  k_h = n·W_k,hᵀ/√d,  v_h = n·W_v,hᵀ        [B·L, d]
 *                          a_h, lse_h = chunk attention per batch element (all L rows, rowBase 0)
 *   backward:  da_h = dOut·W_o,h,  dW_o,h += dOutᵀ·a_h
 *              dq_h, dk̃_h, dv_h = chunk-attention backward (k̃ = k/√d),  dk_h = dk̃_h/√d
 *              dn += dp_h·W_p,h,  dW_p,h += dp_hᵀ·n   (query, key, value, in that order)
 *
 * with dn accumulated over the heads in head order; the caller runs the LayerNorm backward once. The head
 * is recomputed from n (not read from a cache) so both callers see the same values: its rounding may
 * differ from the block forward's all-heads projections in the last bit (another GEMM shape), which
 * moves the gradients by rounding only (docs/ARCHITECTURE.md, issue 17 step 2). Temporaries: 8·B·L·d
 * (q_h, k_h, v_h, a_h, da_h, dq_h, dk̃_h, dv_h) plus B·L (lse_h) and L (positions).
 */
import type { AttentionDropout, Backend, Float } from '../backend/backend.js';
import { floatsLike, gemmStreamRows, HOST_BLOCK_ROWS, layerNormBackwardStream } from '../backend/host-streams.js';
import { type HeadDims, headOutputBackward, headProjectionBackward } from './head-linear.js';
import type { AttentionBlockOptions } from './block.js';
import type { BlockWeights } from './block-cache.js';
import { localBlock } from './block-local.js';
import { copyMask, iota, layerNormAllRows } from './common.js';
import {
  ATTENTION_BLOCK_ROWS,
  chunkingFor,
  headLayout,
  localChunkSpec,
  MASK_VALUE,
  type AttentionConfig,
  type ChunkSpec,
} from './config.js';
import { headDropout } from './lsh.js';

/** The geometry of a local block backward (resolved from the forward). */
export interface LocalBlockGeometry {
  readonly batch: number;
  readonly seqLen: number;
  readonly heads: number;
  readonly headSize: number;
  readonly hidden: number;
  /** Chunking actually used (the short path is one chunk of seqLen). */
  readonly chunk: ChunkSpec;
  readonly causal: boolean;
  /** The layer's attention-probability dropout (per head: `headDropout(dropout, b·heads + h)`), null: none. */
  readonly dropout: AttentionDropout | null;
  /** `[batch, seqLen]` attention mask copy, or null. */
  readonly mask: Int32Array | null;
  /** Rows per host ↔ arena block when normed, dOut, dNormed are host-resident (default HOST_BLOCK_ROWS); never changes results. */
  readonly hostBlockRows?: number;
}

/** Weights (or their gradients, same layout) of the local block: W_o [D, H·d], W_q, W_k, W_v [H·d, D]. */
export interface LocalBlockMatrices {
  readonly wo: Float;
  readonly wq: Float;
  readonly wk: Float;
  readonly wv: Float;
}

/**
 * Backward of head h of the local block (see the file header): ACCUMULATES into `dNormed` [B·L, D] and
 * the gradients `g` (rows / columns of head h). `normed` [B·L, D] is the LayerNorm output, `dOut`
 * [B·L, D] the gradient at F(x). Arguments are trusted (the block backwards check them).
 */
export function localBlockHeadBackward(
  be: Backend,
  geo: LocalBlockGeometry,
  w: LocalBlockMatrices,
  g: LocalBlockMatrices,
  h: number,
  normed: Float,
  dOut: Float,
  dNormed: Float,
): void {
  const { batch: B, seqLen: L, heads: H, headSize: d, hidden: D } = geo;
  const rows = B * L;
  const all = H * d;
  const { chunkLength, numChunksBefore, numChunksAfter } = geo.chunk;
  be.scope(() => {
    // forward: q_h, k_h = (n·W_k,hᵀ)/√d, v_h
    const hostRows = geo.hostBlockRows ?? HOST_BLOCK_ROWS;
    const proj = [w.wq, w.wk, w.wv].map((p) => {
      const y = be.floats(rows * d); // [B·L, d]
      gemmStreamRows(
        be,
        { m: rows, n: d, k: D, a: normed, lda: D, b: p, bOffset: h * d * D, ldb: D, transB: true, c: y, ldc: d },
        hostRows,
      );
      return y;
    });
    const [q, k, v] = proj as [Float, Float, Float];
    be.scale(k, 1 / Math.sqrt(d), rows * d);
    const attn = be.floats(rows * d); // [B·L, d] a_h
    const lse = be.floats(rows); // [B, L]
    const pos = iota(be, L); // row t is position t
    const common = (b: number) => ({
      n: L,
      d,
      chunkLength,
      numChunksBefore,
      numChunksAfter,
      q,
      qOffset: b * L * d,
      ldq: d,
      k,
      kOffset: b * L * d,
      ldk: d,
      v,
      vOffset: b * L * d,
      ldv: d,
      pos,
      keyValid: geo.mask ? geo.mask.subarray(b * L, (b + 1) * L) : null,
      causal: geo.causal,
      maskValue: MASK_VALUE,
      selfMaskValue: null, // HF LocalSelfAttention has no self-mask
      rowBase: 0, // row t is position t: the dropout mask is keyed by position, as in the forward
      dropout: headDropout(geo.dropout, b * H + h),
      lse,
      lseOffset: b * L,
    });
    for (let b = 0; b < B; b++) be.chunkAttentionForward({ ...common(b), out: attn, outOffset: b * L * d, ldOut: d });
    // forward: F = a_h·W_o,hᵀ (+ other heads)  ⇒  da_h = dOut·W_o,h,  dW_o,h += dOutᵀ·a_h
    const hd: HeadDims = { rows, D, d, all, hostRows };
    const dAttn = headOutputBackward(be, hd, h, w.wo, g.wo, dOut, { buf: attn, offset: 0, ld: d });
    // forward: a_h = softmax(masked q·k̃ᵀ)·v per window
    const dq = be.floats(rows * d);
    const dk = be.floats(rows * d); // w.r.t. k̃ = k/√d, then k
    const dv = be.floats(rows * d);
    for (let b = 0; b < B; b++) {
      be.chunkAttentionBackward({ ...common(b), dOut: dAttn, dOutOffset: b * L * d, ldOut: d, dq, dk, dv });
    }
    be.scale(dk, 1 / Math.sqrt(d), rows * d); // k̃ = k/√d  ⇒  dk = dk̃/√d
    // forward: p_h = n·W_p,hᵀ  ⇒  dn += dp·W_p,h,  dW_p,h += dpᵀ·n  (query, key, value)
    headProjectionBackward(be, hd, h, w.wq, g.wq, dq, normed, dNormed);
    headProjectionBackward(be, hd, h, w.wk, g.wk, dk, normed, dNormed);
    headProjectionBackward(be, hd, h, w.wv, g.wv, dv, normed, dNormed);
  });
}

/**
 * The fused reversible step of a local block (block-reverse.ts): `out += F(x)` replayed by the block
 * forward itself (block-local.ts, keeping nothing: the first forward's bits), then the LayerNorm output of
 * every row, the heads' backward one at a time and the LayerNorm backward once. Held at a time: n and
 * d(n) [B·L, D] (host arrays when x is host-resident), the caller's `out`, and one head's buffers
 * (8·B·L·d) in the arena. Arguments are checked by the caller.
 */
export function localReverseBackward(
  be: Backend,
  cfg: AttentionConfig,
  w: BlockWeights,
  g: BlockWeights,
  x: Float,
  out: Float,
  dOut: Float,
  dx: Float,
  options: AttentionBlockOptions,
): void {
  const { hidden: D, heads: H, headSize: d } = headLayout(cfg);
  const { batch: B, seqLen: L } = options;
  const rows = B * L;
  const mask = copyMask(be, 'ReformerAttention', options.attentionMask, B, L);
  be.scope(() => localBlock(be, cfg, w, x, out, mask, options, 'none'));
  const dropout = options.dropout && options.dropout.prob > 0 ? { prob: options.dropout.prob, seed: options.dropout.seed } : null;
  const geo: LocalBlockGeometry = {
    batch: B,
    seqLen: L,
    heads: H,
    headSize: d,
    hidden: D,
    chunk: chunkingFor('local', localChunkSpec(cfg), L).chunk,
    causal: options.isDecoder ?? cfg.is_decoder,
    dropout,
    mask,
    hostBlockRows: options.hostBlockRows ?? HOST_BLOCK_ROWS,
  };
  // ---- LayerNorm of every row (per row the forward's values)
  const ln = { gamma: w.gamma, beta: w.beta, eps: cfg.layer_norm_eps };
  const { normed, mean, rstd } = layerNormAllRows(be, x, rows, D, ln, options.blockRows ?? ATTENTION_BLOCK_ROWS);
  const dNormed = floatsLike(be, x, rows * D); // [B·L, D] accumulated over the heads
  const mw: LocalBlockMatrices = { wo: w.wo, wq: w.proj[0]!, wk: w.proj[1]!, wv: w.proj[2]! };
  const mg: LocalBlockMatrices = { wo: g.wo, wq: g.proj[0]!, wk: g.proj[1]!, wv: g.proj[2]! };
  for (let h = 0; h < H; h++) localBlockHeadBackward(be, geo, mw, mg, h, normed, dOut, dNormed);
  // forward: n = LayerNorm(x)·γ + β, once for all heads
  const lnBackward = { rows, cols: D, dy: dNormed, x, mean, rstd, gamma: w.gamma, dx, dgamma: g.gamma, dbeta: g.beta };
  layerNormBackwardStream(be, lnBackward, geo.hostBlockRows ?? HOST_BLOCK_ROWS);
}
