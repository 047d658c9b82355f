/**
 * The attention block's step of the reversible backward, fused (HF `ReformerLayer.backward_pass` for F,
 * Reformer paper Sec. 3): replay `F(x)` and back-propagate through it without ever holding the whole
 * block cache (block-cache.ts). Today's unfused step (`attentionBlockAddForward(keep 'cache')` into zeros,
 * then `attentionBlockBackward`) holds every head's projections, sort, per-round outputs and
 * log-sum-exps, and the whole attention output [rows, H·d] at once.
 *
 * LSH, head by head: the LayerNorm output n [rows, D] (and its statistics) is computed once; then for
 * each head h, all batch elements: the head's projections qk_h, v_h [rows, d] from n (row blocks, the
 * forward's calls), `lshHeadForward` with the first forward's buckets and dropout seed (nothing is
 * re-hashed) keeping that head's sort, per-round outputs and lse, `out += a_h·W_o,hᵀ`, and at once the
 * head's backward (block-lsh-backward.ts) accumulating d(n) [rows, D]. The LayerNorm backward runs once
 * at the end. Held at a time: n, d(n), the caller's `out`, and one head's buffers (O(B·num_hashes·L·d)).
 *
 * Bits: every call is the one the unfused step makes on the same values in the same order (the forward
 * of block-lsh.ts with keep 'cache', the head-by-head backward of block-backward.ts), so `out`, `dx` and
 * every gradient equal the unfused step's bit for bit (spec/model/reverse-attention.spec.ts). Per row,
 * `out` sums the heads in head order in both (the unfused forward loops batch then head; this loops head
 * then batch: each row sees the same sequence of additions).
 *
 * Local attention: the block forward replayed as it ran (keeping nothing), then head by head
 * (block-local-backward.ts `localReverseBackward`, the store-mode backward's per-head code).
 *
 * Host-resident x, out, dOut and dx (plain JS arrays outside the WASM arena, backend/host-streams.ts):
 * n and d(n) are then host arrays too; every [rows, ·] product streams them by row blocks and every
 * weight gradient (a reduction over rows) by k blocks cut where the GEMM's sums allow
 * (`gemmStreamRows`, `gemmStreamK`): the same calls on the same values, the same bits. The arena holds
 * one head's work.
 */
import type { Backend, Float } from '../backend/backend.js';
import { floatsLike, HOST_BLOCK_ROWS, layerNormBackwardStream, withRows } from '../backend/host-streams.js';
import { headOutputForward } from './head-linear.js';
import { checkLength, copyMask, layerNormAllRows } from './common.js';
import { ATTENTION_BLOCK_ROWS, headLayout, type AttentionConfig } from './config.js';
import { blockArgs, blockWeights, type AttentionBlockOptions, type AttentionBlockWeights, type AttentionKind } from './block.js';
import { localReverseBackward } from './block-local-backward.js';
import type { BlockWeights } from './block-cache.js';
import { lshBlockHeadBackward, type LshBlockMatrices } from './block-lsh-backward.js';
import { headDropout, lshSpecFromConfig, planLsh } from './lsh.js';
import { lshHeadForward } from './lsh-head.js';

/**
 * Reversible backward step of one attention block: `out += F(x)` replayed (pass the first forward's
 * `buckets` and attention-probability `dropout` in `options`), `dx += ∂F/∂xᵀ·dOut`, and every gradient
 * in `grads` (same names as the weights) accumulated. The caller subtracts `out` from its stream.
 * Results are bit-identical to `attentionBlockAddForward(…, out, options, 'cache')` followed by
 * `attentionBlockBackward(…, cache, dOut, dx)`; LSH holds one head's cache at a time (file header).
 * @param x `[batch, seqLen, hidden]` the block input (not modified; must not alias out)
 * @param out `[batch, seqLen, hidden]`, accumulated in place (zeros to get F(x))
 * @param dOut `[batch, seqLen, hidden]` the gradient at F(x)
 * @param dx `[batch, seqLen, hidden]`, accumulated in place
 * @throws as `attentionBlockAddForward` and `attentionBlockBackward` (ShapeError for lengths, missing
 *   weights or gradients; ConfigError for missing arguments or config fields).
 */
export function attentionBlockReverseBackward(
  be: Backend,
  cfg: AttentionConfig,
  kind: AttentionKind,
  weights: AttentionBlockWeights,
  grads: AttentionBlockWeights,
  x: Float,
  out: Float,
  dOut: Float,
  dx: Float,
  options: AttentionBlockOptions,
): void {
  const where = 'attentionBlockReverseBackward';
  blockArgs(where, be, cfg, weights, options);
  const w = blockWeights(cfg, kind, weights, x, out, options);
  const g = blockWeights(cfg, kind, grads, x, out, options); // the gradients have the weights' shapes
  const { batch: B, seqLen: L } = options;
  checkLength('ReformerAttention reverse backward: dOut', dOut, { batch: B, seq: L, hidden: headLayout(cfg).hidden });
  checkLength('ReformerAttention reverse backward: dx', dx, { batch: B, seq: L, hidden: headLayout(cfg).hidden });
  if (kind === 'local') {
    be.scope(() => localReverseBackward(be, cfg, w, g, x, out, dOut, dx, options));
    return;
  }
  be.scope(() => lshReverseBackward(be, cfg, w, g, x, out, dOut, dx, options));
}

function lshReverseBackward(
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
  // the forward's resolution (block-lsh.ts), replaying the buckets
  const spec = {
    ...lshSpecFromConfig(cfg, B, L, {
      ...(options.numHashes !== undefined ? { numHashes: options.numHashes } : {}),
      ...(options.isDecoder !== undefined ? { isDecoder: options.isDecoder } : {}),
    }),
    blockRows: options.blockRows ?? ATTENTION_BLOCK_ROWS,
  };
  const plan = planLsh(be, spec, mask, {
    rotations: options.rotations ?? null,
    rng: options.rng ?? null,
    buckets: options.buckets ?? null,
    paperExact: options.paperExact ?? false,
  });
  const R = plan.head.numHashes;
  const RL = R * L;
  const dropout = options.dropout && options.dropout.prob > 0 ? { prob: options.dropout.prob, seed: options.dropout.seed } : null;
  const shortPath = plan.head.chunking.shortPath;
  const paperBuckets = plan.head.paperExact && !shortPath;
  // ---- LayerNorm of every row (per row the forward's values)
  const { normed, mean, rstd } = layerNormAllRows(
    be,
    x,
    rows,
    D,
    { gamma: w.gamma, beta: w.beta, eps: cfg.layer_norm_eps },
    plan.head.blockRows,
  );
  const nb = Math.min(L, Math.max(1, plan.head.blockRows));
  const hostRows = options.hostBlockRows ?? HOST_BLOCK_ROWS;
  const dNormed = floatsLike(be, x, rows * D); // [B·L, D] accumulated over the heads
  const geo = {
    batch: B,
    seqLen: L,
    heads: H,
    headSize: d,
    hidden: D,
    numHashes: R,
    chunk: plan.head.chunking.chunk,
    causal: plan.head.causal,
    dropout,
    mask,
    blockRows: plan.head.blockRows,
    hostBlockRows: hostRows,
  };
  const mw: LshBlockMatrices = { wo: w.wo, wqk: w.proj[0]!, wv: w.proj[1]! };
  const mg: LshBlockMatrices = { wo: g.wo, wqk: g.proj[0]!, wv: g.proj[1]! };
  for (let h = 0; h < H; h++) {
    be.scope(() => {
      // ---- replay head h (all batch elements), keeping its forward constants
      const qk = be.floats(rows * d); // [B·L, d]
      const v = be.floats(rows * d); // [B·L, d]
      const acc = be.floats(rows * d); // [B·L, d] head output a_h
      const sorted = be.ints(B * RL); // [B, R·L]
      const lse = be.floats(B * RL); // [B, L, R]
      const outPerRound = be.floats(B * RL * d); // [B, L, R, d]
      const buckets = shortPath ? null : be.ints(B * RL); // [B, R, L] the (replayed) buckets
      for (let b = 0; b < B; b++) {
        for (let r0 = 0; r0 < L; r0 += nb) {
          const nr = Math.min(nb, L - r0);
          const row0 = b * L + r0;
          withRows(be, normed, D, row0, nr, 'read', (a) => {
            for (const [p, dst] of [
              [w.proj[0]!, qk],
              [w.proj[1]!, v],
            ] as const) {
              be.gemm({ m: nr, n: d, k: D, a, lda: D, b: p, bOffset: h * d * D, ldb: D, transB: true, c: dst, cOffset: row0 * d, ldc: d });
            }
          });
        }
        const bh = b * H + h;
        lshHeadForward(
          be,
          { ...plan.head, dropout: headDropout(dropout, bh) },
          {
            qk,
            qkOffset: b * L * d,
            ldqk: d,
            v,
            vOffset: b * L * d,
            ldv: d,
            mask,
            maskOffset: b * L,
            rotations: plan.rotations,
            rotationsOffset: h * plan.rotationStride,
            replayBuckets: plan.replayBuckets ? plan.replayBuckets.subarray(bh * RL, (bh + 1) * RL) : null,
          },
          { acc, accOffset: b * L * d, ldAcc: d },
          {
            ...(buckets ? { buckets: buckets.subarray(b * RL, (b + 1) * RL) } : {}),
            sorted: sorted.subarray(b * RL, (b + 1) * RL),
            lse: lse.subarray(b * RL, (b + 1) * RL),
            outPerRound: outPerRound.subarray(b * RL * d, (b + 1) * RL * d),
          },
        );
        // out += a_h·W_o,hᵀ
        headOutputForward(be, { D, d, all: H * d, hostRows }, h, L, w.wo, { buf: acc, offset: b * L * d, ld: d }, out, b * L * D);
      }
      // ---- backward of head h
      lshBlockHeadBackward(
        be,
        geo,
        mw,
        mg,
        h,
        {
          attn: { buf: acc, offset: 0, ld: d },
          qk: { buf: qk, offset: 0, ld: d },
          v: { buf: v, offset: 0, ld: d },
          constants: (b) => {
            return {
              sorted: sorted.subarray(b * RL, (b + 1) * RL),
              lse,
              lseOffset: b * RL,
              outPerRound,
              outPerRoundOffset: b * RL * d,
              buckets: paperBuckets && buckets ? buckets.subarray(b * RL, (b + 1) * RL) : null,
            };
          },
        },
        normed,
        dOut,
        dNormed,
      );
    });
  }
  // ---- forward: n = LayerNorm(x)·γ + β, once for all heads
  layerNormBackwardStream(
    be,
    {
      rows,
      cols: D,
      dy: dNormed,
      x,
      mean,
      rstd,
      gamma: w.gamma,
      dx,
      dgamma: g.gamma,
      dbeta: g.beta,
    },
    hostRows,
  );
}
