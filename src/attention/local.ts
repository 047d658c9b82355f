/**
 * Local (chunked) self-attention, HuggingFace `LocalSelfAttention` semantics (not in the paper; trax
 * `SelfAttention(chunk_len)`):
 *
 *   q = x·W_qᵀ,  k = x·W_kᵀ / √d,  v = x·W_vᵀ                   (no biases, no key normalisation)
 *   positions are cut into chunks of c; query chunk j sees key chunks j−before … j+after modulo L/c
 *   (wrap-around, also in non-causal mode); masked scores become −1e9 (padding keys, and
 *   key position > query position when causal); no self-mask; softmax; p·v.
 *
 * If `seqLen <= local_attn_chunk_length` it is ordinary attention over all positions (HF short path).
 *
 * HF quirk kept on purpose: a query whose window holds no valid key (e.g. a padded position 0 under a
 * causal mask) has all scores at −1e9, so its softmax spreads over the whole window, future keys
 * included (in fp32 the stored lse rounds to −1e9 and every probability becomes 1). Only padded
 * queries can be in that state (a real query always sees itself), and their outputs are ignored.
 */
import { attentionDropoutCallSeed } from '../backend/ops/attention/dropout.js';
import type { AttentionDropout, Backend, Float } from '../backend/backend.js';
import { checkBatchSeq, checkLength, copyMask, iota, linearBackward, linearForward } from './common.js';
import {
  MASK_VALUE,
  checkChunkSpec,
  checkSequenceLength,
  headLayout,
  localChunkSpec,
  type AttentionConfig,
  type ChunkSpec,
} from './config.js';

export interface LocalAttentionSpec {
  batch: number;
  seqLen: number;
  heads: number;
  headSize: number;
  chunk: ChunkSpec;
  /** HF `is_decoder`. */
  causal: boolean;
}

export interface LocalAttentionCache {
  readonly batch: number;
  readonly seqLen: number;
  readonly heads: number;
  readonly headSize: number;
  /** Chunking actually used (the short path is one chunk of seqLen). */
  readonly chunk: ChunkSpec;
  readonly causal: boolean;
  readonly shortPath: boolean;
  /** References to the forward's inputs `[batch, seqLen, heads·headSize]` (unscaled k). */
  readonly q: Float;
  readonly k: Float;
  readonly v: Float;
  /** `[batch, seqLen, heads·headSize]`: k / √d, the keys actually attended with. */
  readonly kScaled: Float;
  readonly attentionMask: Int32Array | null;
  /** `[batch, heads, seqLen]` log-sum-exp of each query's window. */
  readonly lse: Float;
  /** Attention-probability dropout of the forward (the layer's seed), replayed by the backward; null: none. */
  readonly dropout: AttentionDropout | null;
}

/** Resolves a `LocalAttentionSpec` from the config (HF names); `isDecoder` overrides `is_decoder`. */
export function localSpecFromConfig(
  cfg: AttentionConfig,
  batch: number,
  seqLen: number,
  overrides: { isDecoder?: boolean } = {},
): LocalAttentionSpec {
  const { heads, headSize } = headLayout(cfg);
  return { batch, seqLen, heads, headSize, chunk: localChunkSpec(cfg), causal: overrides.isDecoder ?? cfg.is_decoder };
}

/**
 * Local attention over projected vectors.
 * @param q,k,v `[batch, seqLen, heads·headSize]` (k unscaled; divided by √d here, as HF)
 * @param attentionMask `[batch, seqLen]` (1 = real, 0 = padding; masks keys), or null
 * @param dropout dropout on the attention probabilities (HF `local_attention_probs_dropout_prob`, training
 *   only) with the layer's seed; head h of batch element b uses `attentionDropoutCallSeed(seed, b·heads + h)`.
 * @returns out `[batch, seqLen, heads·headSize]` and the cache.
 * @throws ShapeError for bad lengths (names the next valid sequence length).
 */
export function localAttentionForward(
  be: Backend,
  spec: LocalAttentionSpec,
  q: Float,
  k: Float,
  v: Float,
  attentionMask: ArrayLike<number> | null = null,
  dropout: AttentionDropout | null = null,
): { out: Float; cache: LocalAttentionCache } {
  const { batch: B, seqLen: L, heads: H, headSize: d } = spec;
  checkBatchSeq('local attention', B, L);
  const all = H * d;
  for (const [name, t] of [
    ['query', q],
    ['key', k],
    ['value', v],
  ] as const) {
    checkLength(`local attention: ${name} vectors`, t, { batch: B, seq: L, heads·head_size: all });
  }
  checkChunkSpec('local', spec.chunk);
  const mask = copyMask(be, 'local attention', attentionMask, B, L);
  const shortPath = checkSequenceLength('local', L, spec.chunk.chunkLength);
  const chunk = shortPath ? { chunkLength: L, numChunksBefore: 0, numChunksAfter: 0 } : spec.chunk;
  // HF: key_vectors = key_vectors / sqrt(attention_head_size)
  const kScaled = be.floats(B * L * all);
  kScaled.set(k);
  be.scale(kScaled, 1 / Math.sqrt(d), kScaled.length);
  const cache: LocalAttentionCache = {
    batch: B,
    seqLen: L,
    heads: H,
    headSize: d,
    chunk,
    causal: spec.causal,
    shortPath,
    q,
    k,
    v,
    kScaled,
    attentionMask: mask,
    lse: be.floats(B * H * L), // [B, H, L]
    dropout: dropout && dropout.prob > 0 ? { prob: dropout.prob, seed: dropout.seed } : null,
  };
  const out = be.floats(B * L * all); // [B, L, H·d]
  be.scope(() => {
    const pos = iota(be, L); // sequence order: row t is position t
    for (let b = 0; b < B; b++) {
      const keyValid = mask ? mask.subarray(b * L, (b + 1) * L) : null;
      for (let h = 0; h < H; h++) {
        const off = b * L * all + h * d;
        be.chunkAttentionForward({
          ...localParams(cache, pos, keyValid, off, b * H + h),
          out,
          outOffset: off,
          ldOut: all,
          lse: cache.lse,
          lseOffset: (b * H + h) * L,
        });
      }
    }
  });
  return { out, cache };
}

/**
 * Backward of `localAttentionForward`: ACCUMULATES `dq`, `dk` (for the unscaled k) and `dv`
 * (`[batch, seqLen, heads·headSize]`). `dOut`: `[batch, seqLen, heads·headSize]`.
 */
export function localAttentionBackward(be: Backend, cache: LocalAttentionCache, dOut: Float, dq: Float, dk: Float, dv: Float): void {
  const { batch: B, seqLen: L, heads: H, headSize: d } = cache;
  const all = H * d;
  for (const [name, t] of [
    ['dOut', dOut],
    ['dq', dq],
    ['dk', dk],
    ['dv', dv],
  ] as const) {
    checkLength(`local attention backward: ${name}`, t, { batch: B, seq: L, heads·head_size: all });
  }
  be.scope(() => {
    const pos = iota(be, L);
    const dkScaled = be.floats(B * L * all); // gradient w.r.t. k/√d
    for (let b = 0; b < B; b++) {
      const keyValid = cache.attentionMask ? cache.attentionMask.subarray(b * L, (b + 1) * L) : null;
      for (let h = 0; h < H; h++) {
        const off = b * L * all + h * d;
        // forward: out = softmax(masked q·(k/√d)ᵀ)·v per window
        be.chunkAttentionBackward({
          ...localParams(cache, pos, keyValid, off, b * H + h),
          lse: cache.lse,
          lseOffset: (b * H + h) * L,
          dOut,
          dOutOffset: off,
          ldOut: all,
          dq,
          dk: dkScaled,
          dv,
        });
      }
    }
    // forward: kScaled = k/√d  ⇒  dk += dkScaled/√d
    be.axpy(dk, 1 / Math.sqrt(d), dkScaled, dkScaled.length);
  });
}

function localParams(cache: LocalAttentionCache, pos: Int32Array, keyValid: Int32Array | null, off: number, bh: number) {
  const all = cache.heads * cache.headSize;
  return {
    n: cache.seqLen,
    d: cache.headSize,
    chunkLength: cache.chunk.chunkLength,
    numChunksBefore: cache.chunk.numChunksBefore,
    numChunksAfter: cache.chunk.numChunksAfter,
    q: cache.q,
    qOffset: off,
    ldq: all,
    k: cache.kScaled,
    kOffset: off,
    ldk: all,
    v: cache.v,
    vOffset: off,
    ldv: all,
    pos,
    keyValid,
    causal: cache.causal,
    maskValue: MASK_VALUE,
    selfMaskValue: null, // HF LocalSelfAttention has no self-mask
    dropout: cache.dropout ? { prob: cache.dropout.prob, seed: attentionDropoutCallSeed(cache.dropout.seed, bh) } : null,
  };
}

// ------------------------------------------------------------------ the HF module (with projections)

/** HF `LocalSelfAttention` parameters (state_dict names): `[heads·headSize, hidden]` each, no bias. */
export interface LocalSelfAttentionWeights {
  readonly 'query.weight': Float;
  readonly 'key.weight': Float;
  readonly 'value.weight': Float;
}

export interface LocalSelfAttentionOptions {
  batch: number;
  seqLen: number;
  /** `[batch, seqLen]`, 1 = real token, 0 = padding. */
  attentionMask?: ArrayLike<number> | null;
  /** Overrides `is_decoder`. */
  isDecoder?: boolean;
  /** Attention-probability dropout with the layer's seed (training only); null: none. */
  dropout?: AttentionDropout | null;
}

export interface LocalSelfAttentionCache {
  readonly kind: 'local';
  /** Reference to the input `[batch, seqLen, hidden]`; must stay unchanged until the backward. */
  readonly x: Float;
  readonly hidden: number;
  readonly attention: LocalAttentionCache;
}

/**
 * HF `LocalSelfAttention.forward`.
 * @param x `[batch, seqLen, hidden_size]`
 * @returns out `[batch, seqLen, heads·headSize]` and the cache.
 */
export function localSelfAttentionForward(
  be: Backend,
  cfg: AttentionConfig,
  weights: LocalSelfAttentionWeights,
  x: Float,
  options: LocalSelfAttentionOptions,
): { out: Float; cache: LocalSelfAttentionCache } {
  const { hidden: D, all } = headLayout(cfg);
  const { batch: B, seqLen: L } = options;
  checkBatchSeq('LocalSelfAttention', B, L);
  checkLength('LocalSelfAttention: hidden_states', x, { batch: B, seq: L, hidden: D });
  const proj: Float[] = [];
  for (const name of ['query.weight', 'key.weight', 'value.weight'] as const) {
    checkLength(`LocalSelfAttention: ${name}`, weights[name], { heads·head_size: all, hidden: D });
    const y = be.floats(B * L * all); // [B, L, H·d]
    linearForward(be, x, weights[name], y, B * L, D, all);
    proj.push(y);
  }
  const spec = localSpecFromConfig(cfg, B, L, options.isDecoder !== undefined ? { isDecoder: options.isDecoder } : {});
  const { out, cache } = localAttentionForward(
    be,
    spec,
    proj[0]!,
    proj[1]!,
    proj[2]!,
    options.attentionMask ?? null,
    options.dropout ?? null,
  );
  return { out, cache: { kind: 'local', x, hidden: D, attention: cache } };
}

/**
 * Backward of `localSelfAttentionForward`: ACCUMULATES the three weight gradients and `dx`
 * `[batch, seqLen, hidden]` (null to skip). `dOut`: `[batch, seqLen, heads·headSize]`.
 */
export function localSelfAttentionBackward(
  be: Backend,
  weights: LocalSelfAttentionWeights,
  grads: LocalSelfAttentionWeights,
  cache: LocalSelfAttentionCache,
  dOut: Float,
  dx: Float | null,
): void {
  const a = cache.attention;
  const rows = a.batch * a.seqLen;
  const all = a.heads * a.headSize;
  const D = cache.hidden;
  for (const name of ['query.weight', 'key.weight', 'value.weight'] as const) {
    checkLength(`LocalSelfAttention backward: grads ${name}`, grads[name], { heads·head_size: all, hidden: D });
  }
  if (dx) checkLength('LocalSelfAttention backward: dx', dx, { batch: a.batch, seq: a.seqLen, hidden: D });
  be.scope(() => {
    const dq = be.floats(rows * all);
    const dk = be.floats(rows * all);
    const dv = be.floats(rows * all);
    localAttentionBackward(be, a, dOut, dq, dk, dv);
    // forward: q = x·W_qᵀ, k = x·W_kᵀ, v = x·W_vᵀ
    linearBackward(be, cache.x, weights['query.weight'], dq, grads['query.weight'], dx, rows, D, all);
    linearBackward(be, cache.x, weights['key.weight'], dk, grads['key.weight'], dx, rows, D, all);
    linearBackward(be, cache.x, weights['value.weight'], dv, grads['value.weight'], dx, rows, D, all);
  });
}
