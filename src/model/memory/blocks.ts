/**
 * Allocation replays of the model's building blocks for the memory estimate (estimate.ts): the attention
 * block (src/attention/block.ts, lsh-head.ts, their backward and the fused reversible step
 * block-reverse.ts), the feed-forward
 * (src/nn/feed-forward.ts) and the final LayerNorm with the LM head (ReformerModel.outputRows). Each
 * function allocates on the tally what the code allocates, in the same order and scopes.
 */
import { ATTENTION_BLOCK_ROWS, chunksPerBlock, localChunkSpec, lshChunkSpec } from '../../attention/config.js';
import type { AttentionKeep } from '../../attention/block.js';
import { lshBackwardBlockRows } from '../../attention/lsh-head-backward.js';
import { ELEMENT_BLOCK } from '../../backend/host-streams.js';
import { FF_LEAN_BLOCK_ROWS } from '../../nn/feed-forward.js';
import { outputBlockRows } from '../lengths.js';
import {
  attentionScratch,
  bucketsPerRound,
  chunkAt,
  hashScratch,
  hostGemmRows,
  hostKRows,
  rotationHalf,
  type Dims,
  type Tally,
} from './tally.js';

/** On the host path (`m.hostRows` set): a row-streamed GEMM's block of `rows`·`cols` copied in, with its scratch; else the scratch. */
function streamedGemm(t: Tally, m: Dims, rows: number, cols: number): void {
  if (m.hostRows === undefined) t.scratch(m.scratch);
  else
    t.scope(() => {
      t.buf(rows * cols);
      t.scratch(m.scratch);
    });
}

/**
 * `AttentionSublayer.addForward` → `attentionBlockAddForward(keep)`: what stays allocated in the caller's
 * scope (the cache when keep is 'cache') and the peak inside. `replay`: buckets replayed (no rotations,
 * no hashing). In training with hidden dropout the sub-layer computes F aside.
 */
export function attentionTally(t: Tally, m: Dims, type: string, keep: AttentionKeep, replay: boolean, training: boolean): void {
  const body = (): void => {
    if (training && m.cfg.hidden_dropout_prob > 0 && m.hostRows === undefined) t.buf(m.rows * m.D); // F aside (host path: a host array)
    if (m.mask) t.buf(m.rows); // the mask copy
    if (type === 'lsh') lshBlock(t, m, keep, replay);
    else localBlock(t, m, keep);
  };
  if (keep === 'cache') body();
  else t.scope(body);
}

function commonCache(t: Tally, m: Dims): void {
  t.buf(m.rows * m.D); // normed
  t.bufs(2, m.rows); // mean, rstd
  t.buf(m.rows * m.all); // attnOut
}

function lshBlock(t: Tally, m: Dims, keep: AttentionKeep, replay: boolean): void {
  const { L, B, H, d, D, rows, all } = m;
  const k = chunkAt(lshChunkSpec(m.cfg), L);
  const R = k.short ? 1 : m.R;
  const RL = R * L;
  const cache = keep === 'cache';
  if (!k.short && !replay) t.buf(H * d * R * rotationHalf(m)); // rotations (planLsh)
  if (cache) {
    t.bufs(2, rows * all); // qk, v
    if (!k.short) t.buf(B * H * RL); // buckets
    t.bufs(2, B * H * RL); // sorted, undoSorted
    t.buf(B * H * L * R); // lse
    t.buf(B * H * L * R * d); // outPerRound
    commonCache(t, m);
  }
  const captured = keep === 'buckets' && !k.short;
  t.scope(() => {
    const nb = Math.min(L, ATTENTION_BLOCK_ROWS);
    if (!cache) {
      t.buf(nb * D); // LayerNorm rows
      t.bufs(2, nb); // mean, rstd
      t.bufs(3, L * d); // qk_h, v_h, the head output
    }
    if (captured) t.buf(RL);
    const host = m.hostRows !== undefined && !cache;
    if (host) t.scope(() => t.buf(nb * D)); // x rows copied in for the LayerNorm
    t.scratch(m.scratch); // projections
    lshHead(t, m, k, R, { cache, captured, replay });
    if (host)
      streamedGemm(t, m, hostGemmRows(m, L), D); // output projection into y's rows
    else t.scratch(m.scratch);
  });
}

/** lshHeadForward of one head (the same for every head). */
function lshHead(
  t: Tally,
  m: Dims,
  k: { c: number; before: number; after: number; short: boolean },
  R: number,
  o: { cache: boolean; captured: boolean; replay: boolean },
): void {
  const { L, d } = m;
  const RL = R * L;
  t.scope(() => {
    if (!o.cache) t.buf(RL); // sorted
    if (!k.short) {
      if (!o.cache && !o.captured) t.buf(RL); // buckets
      if (!o.replay) t.scratch(hashScratch(m));
      t.scratch((R * bucketsPerRound(m, false) + 1) * 4 * m.threads); // argsort counts
    }
    const Q = Math.min(L / k.c, chunksPerBlock(k.c));
    const ext = (Q + k.before + k.after) * k.c;
    t.buf(ext); // pos
    if (m.mask) t.buf(ext); // keyValid
    t.bufs(3, ext * d); // qs, ks, vs
    t.buf(ext); // kr
    t.buf(ext * d); // os
    t.buf(ext); // lseS
    t.buf(2 * L); // stats
    if (o.cache) t.buf(Q * k.c); // slotRow
    t.scratch(attentionScratch(m, k, false));
  });
}

function localBlock(t: Tally, m: Dims, keep: AttentionKeep): void {
  const { L, B, H, D, rows, all } = m;
  const k = chunkAt(localChunkSpec(m.cfg), L);
  if (keep === 'cache') {
    commonCache(t, m);
    t.bufs(3, rows * all); // q, kScaled, v
    t.buf(B * H * L); // lse
  }
  t.scope(() => {
    const Q = Math.min(L / k.c, chunksPerBlock(k.c));
    const n = (Q + k.before + k.after) * k.c;
    t.buf(n); // idx
    if (m.mask) t.buf(n); // keyValid
    t.bufs(2, n * D); // x rows, LayerNorm rows
    t.bufs(2, n); // mean, rstd
    t.bufs(4, n * all); // q, k, v, o
    t.buf(H * n); // lse
    t.buf(Q * k.c * D); // F rows
    t.scratch(Math.max(m.scratch, attentionScratch(m, k, false)));
    if (m.hostRows !== undefined && keep !== 'cache') t.scope(() => t.buf(Q * k.c * D)); // y's rows updated
  });
}

/** attentionBlockBackward (and the sub-layer's dropout copy). */
export function attentionBackwardTally(t: Tally, m: Dims, type: string): void {
  t.scope(() => {
    if (m.cfg.hidden_dropout_prob > 0) t.buf(m.rows * m.D);
    blockBackwardBody(t, m, type);
  });
}

/** attentionBlockBackward's scope: d(normed), then head by head (LSH or local). */
function blockBackwardBody(t: Tally, m: Dims, type: string): void {
  const { rows, D } = m;
  t.scope(() => {
    t.buf(rows * D); // dNormed
    if (type === 'lsh') {
      t.scope(() => lshHeadBackwardTally(t, m));
      return;
    }
    t.scope(() => localHeadBackwardTally(t, m));
  });
}

/** localBlockHeadBackward of one head (block-local-backward.ts): the head recomputed, then its backward. */
function localHeadBackwardTally(t: Tally, m: Dims): void {
  const { rows, d, L, cfg } = m;
  const k = chunkAt(localChunkSpec(cfg), L);
  const { D } = m;
  for (let i = 0; i < 3; i++) {
    t.buf(rows * d); // q_h, k_h, v_h
    streamedGemm(t, m, hostGemmRows(m, rows), D); // from n's rows
  }
  t.buf(rows * d); // a_h
  t.buf(rows); // lse_h
  t.buf(L); // positions
  t.scratch(attentionScratch(m, k, false));
  t.buf(rows * d); // da_h
  streamedGemm(t, m, hostGemmRows(m, rows), D); // da_h from dOut's rows
  streamedGemm(t, m, hostKRows(m, D, d, rows), D); // dW_o,h over dOut's rows
  t.bufs(3, rows * d); // dq_h, dk_h, dv_h
  t.scratch(Math.max(m.scratch, attentionScratch(m, k, true)));
  streamedGemm(t, m, Math.max(hostGemmRows(m, rows), hostKRows(m, d, D, rows)), D); // d(n) rows, dW_p,h over n's rows
}

/** lshBlockHeadBackward of one head (block-lsh-backward.ts): da_h, dqk_h, dv_h [rows, d] and one (b, h) backward at a time. */
function lshHeadBackwardTally(t: Tally, m: Dims): void {
  const { rows, d, L, cfg } = m;
  const k = chunkAt(lshChunkSpec(cfg), L);
  const R = k.short ? 1 : m.R;
  const RL = R * L;
  const { D } = m;
  t.buf(rows * d); // dAttn_h
  streamedGemm(t, m, hostGemmRows(m, rows), D); // from dOut's rows
  streamedGemm(t, m, hostKRows(m, D, d, rows), D); // dW_o,h over dOut's rows
  t.bufs(2, rows * d); // dqk_h, dv_h
  t.scope(() => {
    // lshHeadBackward of one (b, h) (lsh-head-backward.ts): [L, R] arrays, then one block's buffers
    t.buf(RL); // weights
    t.buf(L); // zAll
    t.buf(RL); // dw
    t.buf(RL); // dz
    const chunk = { chunkLength: k.c, numChunksBefore: k.before, numChunksAfter: k.after };
    const sizes = lshBackwardBlockRows(RL / k.c, chunk);
    for (const n of [sizes.block, sizes.wrap]) {
      if (n === 0) continue;
      t.bufs(m.mask ? 3 : 2, n); // pos, tMajor, keyValid
      t.bufs(3, n * d); // q, k̂, v
      t.bufs(4, n); // rstd, lse, dLse, w
      t.bufs(5, n * d); // dOut rows, do⁽ⁿ⁾, dq, dk, dv
    }
    t.scratch(Math.max(m.scratch, attentionScratch(m, k, true)));
  });
  streamedGemm(t, m, Math.max(hostGemmRows(m, rows), hostKRows(m, d, D, rows)), D); // d(n) rows, dW_p,h over n's rows
}

/**
 * `AttentionSublayer.reverseBackward` (src/attention/block-reverse.ts): the dropout-masked dOut, F
 * replayed into zeros, and inside, LSH: the LayerNorm output, d(normed) and one head's replay + backward
 * at a time; local: the block forward replayed, then the same per head.
 */
export function attentionReverseBackwardTally(t: Tally, m: Dims, type: string): void {
  const { rows, D, B, L, d } = m;
  const n = rows * D;
  const dropout = m.cfg.hidden_dropout_prob > 0;
  const host = m.hostRows !== undefined; // n, d(n), F, mask ⊙ dOut are host arrays, streamed by row blocks
  const lnRows = Math.min(rows, ATTENTION_BLOCK_ROWS);
  const allRowsLayerNorm = (): void => {
    if (!host) t.buf(n); // normed
    t.bufs(2, rows); // mean, rstd
    if (host) t.scope(() => t.bufs(2, lnRows * D)); // x rows in, n rows out
    if (!host) t.buf(n); // dNormed
  };
  const layerNormBackward = (): void => {
    if (host) t.scope(() => t.bufs(3, Math.min(rows, m.hostRows!) * D)); // x, d(n), dx rows
  };
  t.scope(() => {
    if (dropout && !host) t.buf(n); // mask ⊙ dOut
    if (!host) t.buf(n); // F replayed into zeros
    t.scope(() => {
      if (m.mask) t.buf(rows); // the mask copy
      if (type !== 'lsh') {
        // localReverseBackward: the block forward replayed (keeping nothing), n, d(n), one head at a time
        t.scope(() => localBlock(t, m, 'none'));
        allRowsLayerNorm();
        t.scope(() => localHeadBackwardTally(t, m));
        layerNormBackward();
        return;
      }
      const k = chunkAt(lshChunkSpec(m.cfg), L);
      const R = k.short ? 1 : m.R;
      const RL = R * L;
      allRowsLayerNorm();
      t.scope(() => {
        // head h: its replay (all batch elements) ...
        t.bufs(3, rows * d); // qk_h, v_h, a_h
        t.buf(B * RL); // sorted
        t.buf(B * RL); // lse
        t.buf(B * RL * d); // outPerRound
        if (!k.short) t.buf(B * RL); // buckets
        streamedGemm(t, m, Math.min(L, ATTENTION_BLOCK_ROWS), D); // projections from n's rows
        lshHead(t, m, k, R, { cache: true, captured: false, replay: true });
        streamedGemm(t, m, hostGemmRows(m, L), D); // output projection into F's rows
        // ... and its backward
        t.scope(() => lshHeadBackwardTally(t, m));
      });
      layerNormBackward();
    });
    if (dropout) {
      t.buf(Math.min(n, 4096)); // zeros of the −0 normalisation
      if (host) t.scope(() => t.buf(Math.min(n, 4096))); // F's block
    }
    if (host) t.scope(() => t.bufs(2, Math.min(n, ELEMENT_BLOCK))); // Y1 − F, streamed
  });
}

/** Rows per feed-forward block: `chunk_size_feed_forward`, or FF_LEAN_BLOCK_ROWS when 0. */
function ffBlock(m: Dims): number {
  return Math.min(m.rows, m.cfg.chunk_size_feed_forward > 0 ? m.cfg.chunk_size_feed_forward : FF_LEAN_BLOCK_ROWS);
}

/** One feed-forward chunk's forward activations (forwardChunk): ln, statistics, h, a. */
function ffChunk(t: Tally, m: Dims, n: number): void {
  t.buf(n * m.D);
  t.bufs(2, n);
  t.bufs(2, n * m.F);
  t.scratch(m.scratch);
}

/** feedForwardAddForward(keep): the stored activations (unchunked config, keep) stay in the caller's scope. */
export function feedForwardTally(t: Tally, m: Dims, keep: boolean): void {
  const stored = keep && m.cfg.chunk_size_feed_forward === 0;
  if (stored) {
    t.buf(m.rows * m.D); // ln
    t.bufs(2, m.rows); // statistics
    t.bufs(2, m.rows * m.F); // h, a
  }
  const block = ffBlock(m);
  t.scope(() => {
    t.buf(block * m.D);
    t.scope(() => {
      if (stored) t.scratch(m.scratch);
      else ffChunk(t, m, block);
    });
  });
}

/** feedForwardReverseBackward: per block, out + forward activations + the chunk's backward. */
export function ffReverseBackwardTally(t: Tally, m: Dims): void {
  const block = ffBlock(m);
  t.scope(() => {
    t.buf(block * m.D);
    ffChunk(t, m, block);
    ffBackwardChunk(t, m, block);
  });
}

/** feedForwardBackward over stored activations of n rows (backwardChunk temporaries). */
function ffBackwardChunk(t: Tally, m: Dims, n: number): void {
  t.scope(() => {
    t.buf(n * m.D); // dz
    t.bufs(2, n * m.F); // da, dh
    t.buf(n * m.D); // dln
    t.scratch(m.scratch);
  });
}

/** feedForwardBackward of a kept forward: over the stored activations, or recomputing each chunk. */
export function ffBackwardTally(t: Tally, m: Dims): void {
  const chunk = m.cfg.chunk_size_feed_forward;
  t.scope(() => {
    if (chunk === 0) {
      ffBackwardChunk(t, m, m.rows);
      return;
    }
    t.scope(() => {
      const n = Math.min(chunk, m.rows);
      t.buf(n * m.D);
      ffChunk(t, m, n);
      ffBackwardChunk(t, m, n);
    });
  });
}

/** ReformerModel.outputRows + the LM head's loss (and with `grad`, their backward), per block. */
export function outputTally(t: Tally, m: Dims, grad: boolean): void {
  const { D, V, L, cfg } = m;
  const block = Math.min(outputBlockRows(cfg), L);
  const nc = cfg.chunk_size_lm_head > 0 ? Math.min(cfg.chunk_size_lm_head, block) : block;
  t.scope(() => {
    t.buf(block); // iota
    t.scope(() => {
      t.bufs(2, block * 2 * D); // concat, h
      t.bufs(2, block); // LayerNorm statistics
      if (grad) t.buf(block * 2 * D); // dh
      t.scope(() => {
        t.bufs(2, nc * V); // logits, p
        t.buf(nc); // lse
        t.scratch(m.scratch);
      });
      if (grad) t.buf(block * 2 * D); // dConcat
    });
  });
}
