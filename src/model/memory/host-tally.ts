/**
 * The memory estimate of the host-resident path (issue 17; backend/host-streams.ts, estimate.ts with
 * `hostStreams: true`): what a layer allocates in the WASM arena when X1, X2, dY1, dY2, dEmbedding and
 * the attention replay F(X2) are plain JS arrays, replayed on the tally in the code's order and scopes
 * (the arena path's building blocks of blocks.ts, plus the copies and row-block temporaries the host
 * path adds), and the bytes of those JS arrays.
 */
import { FF_LEAN_BLOCK_ROWS } from '../../nn/feed-forward.js';
import type { AttentionKeep } from '../../attention/block.js';
import { ELEMENT_BLOCK } from '../../backend/host-streams.js';
import { attentionReverseBackwardTally, attentionTally, feedForwardTally, ffReverseBackwardTally } from './blocks.js';
import type { Dims, Tally } from './tally.js';
import type { MemoryMode } from './estimate.js';

/** Dims of the host path: the rows per host ↔ arena block set. */
export type HostDims = Dims & { readonly hostRows: number };

/** Rows per feed-forward block (feed-forward.ts `leanBlockRows`). */
function ffBlock(m: Dims): number {
  return Math.min(m.rows, m.cfg.chunk_size_feed_forward > 0 ? m.cfg.chunk_size_feed_forward : FF_LEAN_BLOCK_ROWS);
}

/**
 * One layer's forward on host streams: the attention block reading X2 and updating Y1 by row blocks
 * (with output dropout in training: F aside on the host, then Y1 += F streamed), the feed-forward with
 * its block's rows copied in and out, and the layer-output checks streamed.
 */
export function hostForwardLayerTally(t: Tally, m: HostDims, type: string, keep: AttentionKeep, training: boolean): void {
  const n = m.rows * m.D;
  const dropout = training && m.cfg.hidden_dropout_prob > 0;
  t.scope(() => {
    attentionTally(t, m, type, keep, false, training);
    if (dropout) t.scope(() => t.bufs(2, Math.min(n, ELEMENT_BLOCK))); // Y1 += F, both host, streamed
  });
  t.scope(() => {
    t.buf(ffBlock(m) * m.D); // the block's input rows (and, after it, its output rows)
    feedForwardTally(t, m, false);
  });
  t.scope(() => t.buf(Math.min(n, ELEMENT_BLOCK))); // the non-finite checks of Y1, Y2, streamed
}

/**
 * One layer's reversible backward on host streams. The feed-forward: per block its rows of Y1, Y2, dY1
 * copied in besides the arena path's temporaries. The attention: the block tallies of the host path
 * (`m.hostRows` set: F, n, d(n) and the dropout-masked dOut on the host, one head's work and the
 * row / k blocks streamed through the arena).
 */
export function hostReverseBackwardTally(t: Tally, m: HostDims, type: string): void {
  t.scope(() => {
    t.bufs(3, ffBlock(m) * m.D); // x rows (forward and backward copies), dx rows
    ffReverseBackwardTally(t, m);
  });
  t.scope(() => attentionReverseBackwardTally(t, m, type));
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
 * Bytes of the host arrays (f32) at their peak: forward X1, X2 (+ the embedding copy of
 * `ReformerModel.forward`; + F aside with output dropout in training); training X1, X2, dY1, dY2,
 * dEmbedding and, in one layer's reversible attention step, F(X2), n, d(n) (+ mask ⊙ dOut with dropout).
 */
export function hostStreamBytes(m: Dims, mode: MemoryMode, materialize: boolean): number {
  const n = m.rows * m.D;
  const dropout = m.cfg.hidden_dropout_prob > 0;
  return 4 * n * (mode === 'forward' ? 2 + (materialize ? 1 : 0) : 8 + (dropout ? 1 : 0));
}
