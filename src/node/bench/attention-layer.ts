/**
 * One attention layer of the reference config, LSH or exact, in evaluation mode (what
 * `reformer bench attention` times; each measurement runs in its own process: attention-child.ts).
 *
 * Reference config: hidden_size 256, num_attention_heads 4, attention_head_size 64, num_hashes 4,
 * lsh_attn_chunk_length 64, lsh_num_chunks_before 1, lsh_num_chunks_after 0, is_decoder true,
 * num_buckets automatic (HF rule with max_position_embeddings = seq_len), hash_seed 1.
 *
 * The layer is HF's `ReformerAttention` block: `y += W_o · SelfAttn(LayerNorm(x))`, x, y: [1, L, 256].
 * - LSH: the model's attention forward (src/attention/block.ts `attentionBlockAddForward`, keeping nothing:
 *   head by head, hash + sort, chunk attention over blocks of sorted chunks, online softmax over rounds),
 *   O(L·num_hashes) memory.
 * - exact: the same block with full causal shared-QK attention (HF's short-path semantics: keys
 *   length-normalised, self-mask −1e5, causal −1e9) computed by the same chunk-attention kernel with a
 *   window of ALL keys (query chunks of 64, numChunksBefore = L/64 − 1): O(L²) time, O(L) memory
 *   (scores are never materialised: a 64 × L tile per thread). A materialising implementation would
 *   need L²·4 bytes per head (1 GiB at 16384, 16 GiB at 65536) and could not run past L = 32768 in a
 *   4 GiB WebAssembly memory.
 */
import type { Backend, Float } from '../../backend/backend.js';
import { attentionBlockAddForward, type LshAttentionBlockWeights } from '../../attention/block.js';
import { attentionConfig, KEY_NORM_EPS, MASK_VALUE, SELF_MASK_VALUE, type AttentionConfig } from '../../attention/config.js';
import { Rng } from '../../util/rng.js';

export type LayerMode = 'lsh' | 'exact';

/** The reference config of the benchmark at sequence length L. */
export function referenceAttentionConfig(seqLen: number): AttentionConfig {
  return attentionConfig({
    hidden_size: 256,
    num_attention_heads: 4,
    attention_head_size: 64,
    is_decoder: true,
    num_hashes: 4,
    lsh_attn_chunk_length: 64,
    lsh_num_chunks_before: 1,
    lsh_num_chunks_after: 0,
    max_position_embeddings: seqLen,
    hash_seed: 1,
  });
}

export interface BenchLayer {
  readonly config: AttentionConfig;
  readonly seqLen: number;
  readonly x: Float;
  readonly y: Float;
  readonly weights: LshAttentionBlockWeights;
  /** y += F(x) once. */
  run(): void;
}

/**
 * Allocates x (random N(0, 1)), y and random weights for one layer of length `seqLen` and returns it.
 * @throws ShapeError if seqLen is not a multiple of 64; ResourceError if it does not fit the memory
 */
export function createBenchLayer(be: Backend, mode: LayerMode, seqLen: number, seed = 1): BenchLayer {
  const config = referenceAttentionConfig(seqLen);
  const D = config.hidden_size;
  const all = config.num_attention_heads * config.attention_head_size;
  const rng = new Rng(seed);
  const normal = (n: number, std: number): Float => {
    const a = be.floats(n);
    rng.fillNormal(a, 0, std);
    return a;
  };
  const weights: LshAttentionBlockWeights = {
    'layer_norm.weight': be.floats(D).fill(1),
    'layer_norm.bias': be.floats(D),
    'self_attention.query_key.weight': normal(all * D, 1 / Math.sqrt(D)),
    'self_attention.value.weight': normal(all * D, 1 / Math.sqrt(D)),
    'output.dense.weight': normal(D * all, 1 / Math.sqrt(all)),
  };
  const x = normal(seqLen * D, 1);
  // y is written once here, as the residual stream it stands for is in the model (X1 holds data before
  // any layer runs). A never-touched buffer would make the first timed `y +=` take two page faults per
  // 4 KiB page (the read maps the zero page, the write copies it): about 5 s at 2^20 tokens on the
  // 2-vCPU VM, counted at L ≥ 262144 where the first call is the timed one, and not at shorter lengths.
  const y = be.floats(seqLen * D);
  y.fill(0);
  const run =
    mode === 'lsh'
      ? () => void attentionBlockAddForward(be, config, 'lsh', weights, x, y, { batch: 1, seqLen })
      : () => exactBlockAddForward(be, config, weights, x, y, seqLen);
  return { config, seqLen, x, y, weights, run };
}

/**
 * `y += W_o · ExactSharedQkAttention(LayerNorm(x))` for one sequence (batch 1), head by head, with the
 * chunk-attention kernel over a window of all keys (see the file header). L must be a multiple of 64
 * (or at most 64: one chunk).
 */
export function exactBlockAddForward(
  be: Backend,
  cfg: AttentionConfig,
  weights: LshAttentionBlockWeights,
  x: Float,
  y: Float,
  L: number,
): void {
  const D = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const d = cfg.attention_head_size;
  const all = H * d;
  const c = Math.min(L, 64);
  const numChunks = L / c;
  be.scope(() => {
    const xn = be.floats(L * D);
    be.layerNormForward({
      rows: L,
      cols: D,
      x,
      gamma: weights['layer_norm.weight'],
      beta: weights['layer_norm.bias'],
      eps: cfg.layer_norm_eps,
      y: xn,
      mean: be.floats(L),
      rstd: be.floats(L),
    });
    const pos = be.ints(L);
    for (let t = 0; t < L; t++) pos[t] = t;
    const qk = be.floats(L * d);
    const v = be.floats(L * d);
    const k = be.floats(L * d);
    const rstd = be.floats(L);
    const o = be.floats(L * d);
    const lse = be.floats(L);
    for (let h = 0; h < H; h++) {
      be.gemm({
        m: L,
        n: d,
        k: D,
        a: xn,
        lda: D,
        b: weights['self_attention.query_key.weight'],
        bOffset: h * d * D,
        ldb: D,
        transB: true,
        c: qk,
        ldc: d,
      });
      be.gemm({
        m: L,
        n: d,
        k: D,
        a: xn,
        lda: D,
        b: weights['self_attention.value.weight'],
        bOffset: h * d * D,
        ldb: D,
        transB: true,
        c: v,
        ldc: d,
      });
      // HF `_len_and_dim_norm`: k̂ = q·rsqrt(mean(q²) + 1e-6)/√d
      be.rmsNormForward({ rows: L, cols: d, x: qk, y: k, rstd, eps: KEY_NORM_EPS, scale: 1 / Math.sqrt(d) });
      // every query chunk sees all L keys (the window wraps around: chunks c+1 … c−1, then c)
      be.chunkAttentionForward({
        n: L,
        d,
        chunkLength: c,
        numChunksBefore: numChunks - 1,
        numChunksAfter: 0,
        q: qk,
        k,
        v,
        pos,
        causal: cfg.is_decoder,
        maskValue: MASK_VALUE,
        selfMaskValue: SELF_MASK_VALUE,
        out: o,
        lse,
      });
      be.gemm({
        m: L,
        n: D,
        k: d,
        a: o,
        lda: d,
        b: weights['output.dense.weight'],
        bOffset: h * d,
        ldb: all,
        transB: true,
        c: y,
        ldc: D,
        accumulate: true,
      });
    }
  });
}
