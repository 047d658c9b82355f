/**
 * The local attention block, block by block of query chunks with their neighbour chunks (see block.ts
 * for the contract): LayerNorm and the q/k/v projections of the block's rows, the chunk attention of its
 * query chunks (all heads), `W_o` on its query rows added into y. Without a cache, x and y may be
 * host-resident (backend/host-streams.ts): the block's rows are copied in and its rows of y updated, the
 * same kernel calls on the same values.
 */
import type { Backend, Float } from '../backend/backend.js';
import { copyRows, withRows } from '../backend/host-streams.js';
import type { AttentionBlockOptions } from './block.js';
import { commonCache, type AttentionBlockCache, type AttentionBlockResult, type AttentionKeep, type BlockWeights } from './block-cache.js';
import { headLayout, localChunkSpec, type AttentionConfig } from './config.js';
import { localBlockRows, localBlocks, localChunkAttention, type LocalAttentionCache, type LocalSelfAttentionCache } from './local.js';

export function localBlock(
  be: Backend,
  cfg: AttentionConfig,
  w: BlockWeights,
  x: Float,
  y: Float,
  mask: Int32Array | null,
  options: AttentionBlockOptions,
  keep: AttentionKeep,
): AttentionBlockResult {
  const { hidden: D, heads: H, headSize: d, all } = headLayout(cfg);
  const { batch: B, seqLen: L } = options;
  const g = localBlocks(localChunkSpec(cfg), L, options.blockRows);
  const causal = options.isDecoder ?? cfg.is_decoder;
  const dropout = options.dropout && options.dropout.prob > 0 ? { prob: options.dropout.prob, seed: options.dropout.seed } : null;
  const rows = B * L;
  let cache: AttentionBlockCache | null = null;
  if (keep === 'cache') {
    const common = commonCache(be, rows, D, all);
    const attention: LocalAttentionCache = {
      batch: B,
      seqLen: L,
      heads: H,
      headSize: d,
      chunk: g.chunk,
      causal,
      shortPath: g.shortPath,
      q: be.floats(rows * all),
      kScaled: be.floats(rows * all),
      v: be.floats(rows * all),
      attentionMask: mask,
      lse: be.floats(B * H * L), // [B, H, L]
      dropout,
    };
    cache = {
      kind: 'local',
      batch: B,
      seqLen: L,
      hidden: D,
      x,
      ...common,
      self: { kind: 'local', x: common.normed, hidden: D, attention },
      buckets: null,
      numBuckets: null,
    };
  }
  be.scope(() => {
    const n = g.maxRows;
    const c = g.chunk.chunkLength;
    const k0 = g.chunk.numChunksBefore * c; // first query row of a block
    const idx = be.ints(n); // [ext] sequence position of each gathered row
    const keyValid = mask ? be.ints(n) : null; // [ext]
    const xb = be.floats(n * D); // [ext, D] gathered rows of x
    const nrm = be.floats(n * D); // [ext, D] LayerNorm(x)
    const mean = be.floats(n);
    const rstd = be.floats(n);
    const q = be.floats(n * all); // [ext, H·d]
    const k = be.floats(n * all); // [ext, H·d] keys / √d
    const v = be.floats(n * all); // [ext, H·d]
    const o = be.floats(n * all); // [ext, H·d] attention output (query rows only)
    const lse = be.floats(H * n); // [H, ext]
    const f = be.floats(g.chunksPerBlock * c * D); // [Q·c, D] block of F(x)
    for (let b = 0; b < B; b++) {
      for (let j0 = 0; j0 < g.numChunks; j0 += g.chunksPerBlock) {
        const nq = Math.min(g.chunksPerBlock, g.numChunks - j0);
        const { rows: ext, start } = localBlockRows(g, j0, nq, idx, keyValid, mask, b * L);
        // LayerNorm and projections of the block's rows (HF: q = x·W_qᵀ, k = x·W_kᵀ/√d, v = x·W_vᵀ)
        copyRows(be, {
          rows: ext,
          cols: D,
          index: idx.subarray(0, ext),
          src: x,
          srcOffset: b * L * D,
          ldSrc: D,
          dst: xb,
          dstOffset: 0,
          ldDst: D,
        });
        be.layerNormForward({
          rows: ext,
          cols: D,
          x: xb.subarray(0, ext * D),
          gamma: w.gamma,
          beta: w.beta,
          eps: cfg.layer_norm_eps,
          y: nrm.subarray(0, ext * D),
          mean: mean.subarray(0, ext),
          rstd: rstd.subarray(0, ext),
        });
        for (const [p, out] of [
          [w.proj[0]!, q],
          [w.proj[1]!, k],
          [w.proj[2]!, v],
        ] as const) {
          be.gemm({ m: ext, n: all, k: D, a: nrm, lda: D, b: p, ldb: D, transB: true, c: out, ldc: all });
        }
        be.scale(k, 1 / Math.sqrt(d), ext * all);
        localChunkAttention(be, {
          g,
          heads: H,
          headSize: d,
          causal,
          q,
          k,
          v,
          rows: ext,
          start,
          nq,
          idx,
          keyValid,
          out: o,
          lse,
          dropout,
          batchIndex: b,
        });
        // y[rows of the block] += attnOut·W_oᵀ
        const nr = nq * c;
        const t0 = b * L + j0 * c; // first query row in [B·L]
        be.gemm({ m: nr, n: D, k: all, a: o, aOffset: k0 * all, lda: all, b: w.wo, ldb: all, transB: true, c: f, ldc: D });
        withRows(be, y, D, t0, nr, 'update', (yb) => be.add(yb, yb, f, nr * D));
        if (cache) {
          // keep the query rows' LayerNorm, projections, output and log-sum-exp (each row is a query row once)
          const a = (cache.self as LocalSelfAttentionCache).attention;
          cache.normed.set(nrm.subarray(k0 * D, (k0 + nr) * D), t0 * D);
          cache.mean.set(mean.subarray(k0, k0 + nr), t0);
          cache.rstd.set(rstd.subarray(k0, k0 + nr), t0);
          for (const [src, dst] of [
            [q, a.q],
            [k, a.kScaled],
            [v, a.v],
            [o, cache.attnOut],
          ] as const) {
            dst.set(src.subarray(k0 * all, (k0 + nr) * all), t0 * all);
          }
          for (let h = 0; h < H; h++) a.lse.set(lse.subarray(h * ext + k0, h * ext + k0 + nr), (b * H + h) * L + j0 * c);
        }
      }
    }
  });
  return { buckets: null, numBuckets: null, cache };
}
