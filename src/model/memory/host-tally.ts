/**
 * The memory estimate of the host-resident path (issue 17; backend/host-streams.ts, estimate.ts with
 * `hostStreams: true`): what a layer allocates in the WASM arena when X1, X2, dY1, dY2, dEmbedding and
 * the attention replay F(X2) are plain JS arrays, replayed on the tally in the code's order and scopes
 * (the arena path's building blocks of blocks.ts, plus the copies and row-block temporaries the host
 * path adds), and the bytes of those JS arrays.
 */
import { FF_LEAN_BLOCK_ROWS } from '../../nn/feed-forward.js';
import type { AttentionKeep } from '../../attention/block.js';
import { attentionReverseBackwardTally, attentionTally, feedForwardTally, ffReverseBackwardTally } from './blocks.js';
import type { Dims, Tally } from './tally.js';
import type { MemoryMode } from './estimate.js';

/** Dims of the host path: the rows per host ↔ arena block besides. */
export type HostDims = Dims & { readonly hostRows: number };

/** Elements per block of the element-wise streams (host-streams.ts ELEMENT_BLOCK). */
const ELEMENT_BLOCK = 1 << 20;

/** Rows per feed-forward block (feed-forward.ts `leanBlockRows`). */
function ffBlock(m: Dims): number {
  return Math.min(m.rows, m.cfg.chunk_size_feed_forward > 0 ? m.cfg.chunk_size_feed_forward : FF_LEAN_BLOCK_ROWS);
}

/**
 * One layer's forward on host streams: the attention block on arena copies of X2 and Y1 (with output
 * dropout in training: X2 and F aside, then Y1 += F streamed), the feed-forward with its block's rows
 * copied in and out, and the layer-output checks streamed.
 */
export function hostForwardLayerTally(t: Tally, m: HostDims, type: string, keep: AttentionKeep, training: boolean): void {
  const n = m.rows * m.D;
  const dropout = training && m.cfg.hidden_dropout_prob > 0;
  t.scope(() => {
    t.buf(n); // X2 copy
    if (!dropout) t.buf(n); // Y1 copy (with dropout, F aside is counted by attentionTally)
    attentionTally(t, m, type, keep, false, training);
    if (dropout) t.scope(() => t.buf(Math.min(n, ELEMENT_BLOCK))); // Y1 += F, streamed
  });
  t.scope(() => {
    t.buf(ffBlock(m) * m.D); // the block's input rows (and, after it, its output rows)
    feedForwardTally(t, m, false);
  });
  t.scope(() => t.buf(Math.min(n, ELEMENT_BLOCK))); // the non-finite checks of Y1, Y2, streamed
}

/**
 * One layer's reversible backward on host streams. The feed-forward: per block its rows of Y1, Y2, dY1
 * copied in besides the arena path's temporaries. The attention: dOut copied into the arena where the
 * arena path replays F (F is host-resident), so the arena path's tally without output dropout counts
 * the same; plus the row block of F being accumulated (LSH) or the arena copies of X2, F and dX2 of the
 * unfused local step.
 */
export function hostReverseBackwardTally(t: Tally, m: HostDims, type: string): void {
  const n = m.rows * m.D;
  t.scope(() => {
    t.bufs(3, ffBlock(m) * m.D); // x rows (forward and backward copies), dx rows
    ffReverseBackwardTally(t, m);
  });
  const noDropout: HostDims = { ...m, cfg: m.cfg.with({ hidden_dropout_prob: 0 }) };
  t.scope(() => {
    if (type === 'lsh')
      t.buf(Math.min(m.rows, m.hostRows) * m.D); // a row block of F or of dX2 in the arena
    else t.bufs(3, n); // X2, F, dX2 copies of the unfused local step
    attentionReverseBackwardTally(t, noDropout, type);
  });
}

/** The embedding backward on host gradients: dEmbedding computed in the arena (dY1 + dY2 streamed), then copied out. */
export function hostEmbeddingBackwardTally(t: Tally, m: HostDims): void {
  const n = m.rows * m.D;
  t.scope(() => {
    t.buf(n); // dEmbedding in the arena
    t.scope(() => t.bufs(2, Math.min(n, ELEMENT_BLOCK))); // dY1, dY2 blocks
    if (m.cfg.axial_pos_embds) t.scope(() => t.buf(m.rows));
    if (m.cfg.hidden_dropout_prob > 0) t.scope(() => t.buf(n));
  });
}

/**
 * Bytes of the host arrays (f32): forward X1, X2 (+ the embedding copy of `ReformerModel.forward`);
 * training X1, X2, dY1, dY2, dEmbedding and one layer's attention replay F(X2).
 */
export function hostStreamBytes(m: Dims, mode: MemoryMode, materialize: boolean): number {
  const n = m.rows * m.D;
  return 4 * n * (mode === 'forward' ? 2 + (materialize ? 1 : 0) : 6);
}
