/**
 * Backward of the LSH attention block (block-lsh.ts), one head at a time. Both LSH block backwards run
 * it: `attentionBlockBackward` over a kept cache (block-backward.ts) and the fused reversible step
 * (block-reverse.ts), which replays each head's forward just before its backward. Same calls on the same
 * values in the same order, so the two give the same bits.
 *
 * For head h (all batch elements), with a_h = the head output [B·L, d] and W_o,h = W_o[:, h·d:(h+1)·d]:
 *
 *   forward:  F(x) = Σ_h a_h · W_o,hᵀ,   a_h = LshHead(qk_h, v_h),   qk_h = n·W_qk,hᵀ,  v_h = n·W_v,hᵀ
 *   backward: da_h = dOut · W_o,h                 dW_o,h += dOutᵀ · a_h
 *             dqk_h, dv_h = lshHeadBackward(da_h) per batch element (lsh-backward.ts)
 *             dn += dqk_h · W_qk,h;  dW_qk,h += dqk_hᵀ · n;   dn += dv_h · W_v,h;  dW_v,h += dv_hᵀ · n
 *
 * with n = LayerNorm(x) [B·L, D] and dn its gradient, accumulated over the heads (in head order, the
 * query/key term before the value term); the caller runs the LayerNorm backward once at the end.
 * Temporaries: 3·B·L·d (da_h, dqk_h, dv_h) plus one (b, h)'s `lshHeadBackward` buffers (one block of
 * sorted chunks and [L, num_hashes] arrays, lsh-head-backward.ts). normed, dOut and dNormed may be
 * host-resident (the reversible step on host streams): streamed by row blocks, the weight gradients by
 * k blocks (backend/host-streams.ts `gemmStreamRows`, `gemmStreamK`), the same bits.
 */
import type { AttentionDropout, Backend, Float } from '../backend/backend.js';
import { HOST_BLOCK_ROWS } from '../backend/host-streams.js';
import { type HeadDims, headOutputBackward, headProjectionBackward } from './head-linear.js';
import type { ChunkSpec } from './config.js';
import { type HeadRows, lshHeadBackward } from './lsh-head-backward.js';
import { headDropout } from './lsh.js';

/** The geometry of an LSH block backward (resolved from the forward). */
export interface LshBlockGeometry {
  readonly batch: number;
  readonly seqLen: number;
  readonly heads: number;
  readonly headSize: number;
  readonly hidden: number;
  /** Rounds the forward used (1 on the short path). */
  readonly numHashes: number;
  readonly chunk: ChunkSpec;
  readonly causal: boolean;
  /** The layer's attention-probability dropout (per head: `headDropout(dropout, b·heads + h)`), null: none. */
  readonly dropout: AttentionDropout | null;
  /** `[batch, seqLen]` attention mask copy, or null. */
  readonly mask: Int32Array | null;
  /** Sorted slots per block of `lshHeadBackward` (default ATTENTION_BLOCK_ROWS); never changes results. */
  readonly blockRows?: number;
  /** Rows per host ↔ arena block when normed, dOut, dNormed are host-resident (default HOST_BLOCK_ROWS); never changes results. */
  readonly hostBlockRows?: number;
}

/** The forward constants of head h of batch element b (views). */
export interface LshHeadConstants {
  /** `[numHashes·seqLen]` sorted slot → n·L + t. */
  readonly sorted: Int32Array;
  /** `[seqLen, numHashes]` per-round lse at `lseOffset`. */
  readonly lse: Float;
  readonly lseOffset: number;
  /** `[seqLen, numHashes, headSize]` per-round outputs at `outPerRoundOffset`. */
  readonly outPerRound: Float;
  readonly outPerRoundOffset: number;
  /** `[numHashes, seqLen]` offset buckets when paper-exact, else null. */
  readonly buckets: Int32Array | null;
}

/** What the backward of head h reads: its forward inputs and output over all rows, and its per-batch constants. */
export interface LshHeadForwardValues {
  /** Head output a_h, row r of [B·L] at `attn.offset + r·attn.ld`. */
  readonly attn: HeadRows;
  /** qk_h and v_h, rows of [B·L] likewise. */
  readonly qk: HeadRows;
  readonly v: HeadRows;
  constants(b: number): LshHeadConstants;
}

/** Weights (or their gradients, same layout) the head backward uses. */
export interface LshBlockMatrices {
  /** `output.dense.weight` [D, H·d] */
  readonly wo: Float;
  /** `self_attention.query_key.weight` [H·d, D] */
  readonly wqk: Float;
  /** `self_attention.value.weight` [H·d, D] */
  readonly wv: Float;
}

/**
 * Backward of head h of the LSH block (see the file header): ACCUMULATES into `dNormed` [B·L, D] and the
 * gradients `g` (rows / columns of head h). `dOut` [B·L, D] is the gradient at F(x); `normed` [B·L, D]
 * the LayerNorm output. Arguments are trusted (the block backwards check them). Temporaries are freed.
 */
export function lshBlockHeadBackward(
  be: Backend,
  geo: LshBlockGeometry,
  w: LshBlockMatrices,
  g: LshBlockMatrices,
  h: number,
  head: LshHeadForwardValues,
  normed: Float,
  dOut: Float,
  dNormed: Float,
): void {
  const { batch: B, seqLen: L, heads: H, headSize: d, hidden: D, numHashes: R } = geo;
  const rows = B * L;
  const all = H * d;
  be.scope(() => {
    // forward: F = a_h·W_o,hᵀ (+ other heads)  ⇒  da_h = dOut·W_o,h,  dW_o,h += dOutᵀ·a_h
    const hd: HeadDims = { rows, D, d, all, hostRows: geo.hostBlockRows ?? HOST_BLOCK_ROWS };
    const dAttn = headOutputBackward(be, hd, h, w.wo, g.wo, dOut, head.attn);
    // forward: a_h = LshHead(qk_h, v_h) per batch element
    const dqk = be.floats(rows * d); // [B·L, d]
    const dv = be.floats(rows * d); // [B·L, d]
    for (let b = 0; b < B; b++) {
      const c = head.constants(b);
      lshHeadBackward(be, {
        seqLen: L,
        headSize: d,
        numHashes: R,
        chunk: geo.chunk,
        causal: geo.causal,
        dropout: headDropout(geo.dropout, b * H + h),
        sorted: c.sorted,
        buckets: c.buckets,
        mask: geo.mask,
        maskOffset: b * L,
        lse: c.lse,
        lseOffset: c.lseOffset,
        outPerRound: c.outPerRound,
        outPerRoundOffset: c.outPerRoundOffset,
        qk: { buf: head.qk.buf, offset: head.qk.offset + b * L * head.qk.ld, ld: head.qk.ld },
        v: { buf: head.v.buf, offset: head.v.offset + b * L * head.v.ld, ld: head.v.ld },
        dOut: { buf: dAttn, offset: b * L * d, ld: d },
        dqk: { buf: dqk, offset: b * L * d, ld: d },
        dv: { buf: dv, offset: b * L * d, ld: d },
        blockRows: geo.blockRows,
      });
    }
    // forward: qk_h = n·W_qk,hᵀ, v_h = n·W_v,hᵀ  ⇒  dn += dp·W_p,h,  dW_p,h += dpᵀ·n  (query/key, then value)
    headProjectionBackward(be, hd, h, w.wqk, g.wqk, dqk, normed, dNormed);
    headProjectionBackward(be, hd, h, w.wv, g.wv, dv, normed, dNormed);
  });
}
