/**
 * The LSH attention block, head by head (see block.ts for the contract): LayerNorm and the head's
 * projections in row blocks, `lshHeadForward` (lsh-head.ts), then the head's slice of `W_o` added into y.
 * Without a cache, x and y may be host-resident (backend/host-streams.ts): x is read and y updated by
 * row blocks with the same kernel calls, so the bits are those of arena buffers.
 */
import type { Backend, Float } from '../backend/backend.js';
import { HOST_BLOCK_ROWS, withRows } from '../backend/host-streams.js';
import { headOutputForward } from './head-linear.js';
import type { AttentionBlockOptions } from './block.js';
import { commonCache, type AttentionBlockCache, type AttentionBlockResult, type AttentionKeep, type BlockWeights } from './block-cache.js';
import { ATTENTION_BLOCK_ROWS, headLayout, type AttentionConfig } from './config.js';
import { lshSpecFromConfig, newLshCache, planLsh, runLshHead } from './lsh.js';
import type { LshSelfAttentionCache } from './lsh-module.js';

export function lshBlock(
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
  const rows = B * L;
  const dropout = options.dropout ?? null;
  let cache: AttentionBlockCache | null = null;
  let qk: Float | null = null;
  let v: Float | null = null;
  if (keep === 'cache') {
    qk = be.floats(rows * all); // [B, L, H·d]
    v = be.floats(rows * all); // [B, L, H·d]
    const lsh = newLshCache(be, plan, qk, v, mask, dropout);
    const common = commonCache(be, rows, D, all);
    cache = {
      kind: 'lsh',
      batch: B,
      seqLen: L,
      hidden: D,
      x,
      ...common,
      self: { kind: 'lsh', x: common.normed, hidden: D, attention: lsh }, // the projections read the LayerNorm output
      buckets: lsh.buckets,
      numBuckets: lsh.numBuckets,
    };
  }
  const captured = keep === 'buckets' && !plan.head.chunking.shortPath ? new Int32Array(B * H * RL) : null;
  be.scope(() => {
    const nb = Math.min(L, Math.max(1, plan.head.blockRows)); // rows per LayerNorm / projection block
    const xn = cache ? null : be.floats(nb * D); // [block, D] LayerNorm(x) rows
    const mean = cache ? null : be.floats(nb);
    const rstd = cache ? null : be.floats(nb);
    const qkH = cache ? null : be.floats(L * d); // [L, d] shared query/key vectors of head h
    const vH = cache ? null : be.floats(L * d); // [L, d] values of head h
    const accH = cache ? null : be.floats(L * d); // [L, d] head output
    const bucketsH = captured ? be.ints(RL) : null;
    const eps = cfg.layer_norm_eps;
    const hostRows = options.hostBlockRows ?? HOST_BLOCK_ROWS;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        // ---- projections of head h: qk_h = LayerNorm(x)·W_qk[h]ᵀ, v_h = LayerNorm(x)·W_v[h]ᵀ, in row blocks
        for (let r0 = 0; r0 < L; r0 += nb) {
          const nr = Math.min(nb, L - r0);
          const row0 = b * L + r0;
          let a: Float;
          let aOffset: number;
          if (cache) {
            if (h === 0) {
              be.layerNormForward({
                rows: nr,
                cols: D,
                x: x.subarray(row0 * D, (row0 + nr) * D), // store mode: x is a backend buffer
                gamma: w.gamma,
                beta: w.beta,
                eps,
                y: cache.normed.subarray(row0 * D, (row0 + nr) * D),
                mean: cache.mean.subarray(row0, row0 + nr),
                rstd: cache.rstd.subarray(row0, row0 + nr),
              });
            }
            a = cache.normed;
            aOffset = row0 * D;
          } else {
            withRows(be, x, D, row0, nr, 'read', (xr) =>
              be.layerNormForward({
                rows: nr,
                cols: D,
                x: xr,
                gamma: w.gamma,
                beta: w.beta,
                eps,
                y: xn!.subarray(0, nr * D),
                mean: mean!.subarray(0, nr),
                rstd: rstd!.subarray(0, nr),
              }),
            );
            a = xn!;
            aOffset = 0;
          }
          for (const [p, out] of [
            [w.proj[0]!, qk ?? qkH!],
            [w.proj[1]!, v ?? vH!],
          ] as const) {
            be.gemm({
              m: nr,
              n: d,
              k: D,
              a,
              aOffset,
              lda: D,
              b: p,
              bOffset: h * d * D,
              ldb: D,
              transB: true,
              c: out,
              cOffset: cache ? row0 * all + h * d : r0 * d,
              ldc: cache ? all : d,
            });
          }
        }
        // ---- attention of head h (lsh-head.ts)
        const off = cache ? b * L * all + h * d : 0;
        const ld = cache ? all : d;
        const acc = cache ? cache.attnOut : accH!;
        runLshHead(
          be,
          plan,
          cache ? (cache.self as LshSelfAttentionCache).attention : null,
          b,
          h,
          { qk: qk ?? qkH!, qkOffset: off, ldqk: ld, v: v ?? vH!, vOffset: off, ldv: ld },
          { acc, accOffset: off, ldAcc: ld },
          mask,
          dropout,
          bucketsH,
        );
        if (captured) captured.set(bucketsH!, (b * H + h) * RL);
        // ---- y += o_h · W_o[:, h·d:(h+1)·d]ᵀ (a host-resident y by row blocks: the same bits)
        headOutputForward(be, { D, d, all, hostRows }, h, L, w.wo, { buf: acc, offset: off, ld }, y, b * L * D);
      }
    }
  });
  return { buckets: cache ? cache.buckets : captured, numBuckets: plan.head.numBuckets, cache };
}
