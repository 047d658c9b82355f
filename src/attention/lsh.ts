/**
 * LSH self-attention (Kitaev et al. 2020 Sec. 2 and App. A), HuggingFace `LSHSelfAttention` semantics.
 *
 * Per batch element b and head h (all buffers below are per (b, h) unless noted):
 *
 *   1. hash   buckets[n, t] = h⁽ⁿ⁾(qk_t) + n·N_eff                    Eq. 4 / Eq. 6, HF offsets
 *   2. sort   slot k ↦ i_k = n·L + t, ordered by (bucket_i, i)          Sec. 2 "sort by bucket, then position"
 *   3. attend chunks of c sorted slots see chunks −before…+after (wrap) Eq. 5 / Eq. 11 (HF `_look_adjacent`)
 *             q = qk, k̂ = qk / rms(qk) / √d, masks by replacement       Sec. 2 shared-QK, self-mask 10⁵
 *   4. unsort o⁽ⁿ⁾_t and z⁽ⁿ⁾_t = logsumexp of the window                 Eq. 13 (z(i, P_i^(r)))
 *   5. merge  o_t = Σ_n exp(z⁽ⁿ⁾_t − logsumexp_n z⁽ⁿ⁾_t) · o⁽ⁿ⁾_t           Eq. 12
 *
 * With `paperExact` the attention step also masks keys of other buckets/rounds and subtracts
 * log N_ij (App. A Eq. 14–16); HF and trax v2 do neither (see ../shared/REFERENCE.md §6).
 * Short sequences (`seqLen <= lsh_attn_chunk_length`) skip hashing: one round, one chunk of all
 * positions (HF `do_standard_self_attention`).
 *
 * Memory: the cache holds O(batch·heads·num_hashes·seqLen·headSize) values; no [seq, seq] buffer
 * is ever allocated (temporaries are per head, O(num_hashes·seqLen·headSize)).
 */
import { attentionDropoutCallSeed } from '../backend/ops/attention/dropout.js';
import type { AttentionDropout, Backend, Float } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { checkBatchSeq, checkLength, copyMask, linearBackward, linearForward } from './common.js';
import {
  ATTENTION_DEFAULTS,
  KEY_NORM_EPS,
  MASK_VALUE,
  SELF_MASK_VALUE,
  autoNumBuckets,
  checkChunkSpec,
  checkSequenceLength,
  headLayout,
  lshChunkSpec,
  type AttentionConfig,
  type ChunkSpec,
  type NumBuckets,
} from './config.js';
import { checkBuckets, drawRotations, effectiveBucketCount, hashBuckets, maskHasPadding, rotationShape, sortBuckets } from './hashing.js';

/** What the LSH attention computes over already-projected vectors (resolved from the config). */
export interface LshAttentionSpec {
  batch: number;
  seqLen: number;
  heads: number;
  headSize: number;
  /** R = `num_hashes` of this forward. */
  numHashes: number;
  /** `num_buckets`; null = automatic (HF `_set_num_buckets`, needs `maxPositionEmbeddings`). */
  numBuckets: NumBuckets | null;
  chunk: ChunkSpec;
  /** HF `is_decoder`: key position > query position is masked. */
  causal: boolean;
  /** For the automatic `num_buckets` rule. */
  maxPositionEmbeddings?: number;
  /** HF `hash_seed`: if set, rotations come from `new Rng(hashSeed)` at every draw. */
  hashSeed?: number | null;
}

/** Per-call inputs of LSH attention. */
export interface LshAttentionOptions {
  /** `[batch, seqLen]` HF attention mask (1 = real token, 0 = padding); masks keys only. */
  attentionMask?: ArrayLike<number> | null;
  /** Injected rotations `[heads, headSize, numHashes, rotationSize/2]` (e.g. HF's `cap:rotations`). */
  rotations?: Float | null;
  /** Generator for the rotations when neither `rotations` nor `hash_seed` is given. */
  rng?: Rng | null;
  /**
   * Offset buckets `[batch, heads, numHashes, seqLen]` of an earlier forward (`cache.buckets`): no
   * hashing and no rotation draw happen (reversible recompute; HF passes `buckets` the same way).
   */
  buckets?: Int32Array | null;
  /** Paper-exact multi-round attention (App. A): cross-bucket masking and the N_ij correction. Default false (HF). */
  paperExact?: boolean;
  /**
   * Dropout on the attention probabilities (HF `lsh_attention_probs_dropout_prob`, training only), with the
   * layer's seed: head h of batch element b uses `attentionDropoutCallSeed(seed, b·heads + h)`, so a replaying
   * forward (reversible recompute) and the backward see the same mask. Null: none.
   */
  dropout?: AttentionDropout | null;
}

/** Everything the backward needs; also HF's captured intermediates (see `lshCaptures`). */
export interface LshAttentionCache {
  readonly batch: number;
  readonly seqLen: number;
  readonly heads: number;
  readonly headSize: number;
  /** Rounds used (1 on the short path). */
  readonly numHashes: number;
  /** Resolved `num_buckets` (null on the short path, which does not hash). Store it in the config if it was automatic. */
  readonly numBuckets: NumBuckets | null;
  /** Buckets per round incl. the padding bucket (0 on the short path). */
  readonly numBucketsEff: number;
  /** Chunking actually used (the short path is one chunk of seqLen). */
  readonly chunk: ChunkSpec;
  readonly causal: boolean;
  readonly paperExact: boolean;
  /** Attention-probability dropout of the forward (the layer's seed), replayed by the backward; null: none. */
  readonly dropout: AttentionDropout | null;
  /** True if `seqLen <= lsh_attn_chunk_length` (no hashing, plain attention). */
  readonly shortPath: boolean;
  /** References to the forward's inputs `[batch, seqLen, heads·headSize]`; must stay unchanged until the backward. */
  readonly qk: Float;
  readonly v: Float;
  /** `[batch, seqLen]` copy of the attention mask, or null. */
  readonly attentionMask: Int32Array | null;
  /** Rotations used `[heads, headSize, numHashes, rotationSize/2]`; null on the short path or when buckets were replayed. */
  readonly rotations: Float | null;
  /** Offset buckets `[batch, heads, numHashes, seqLen]` (HF `cap:buckets`); null on the short path. */
  readonly buckets: Int32Array | null;
  /** `[batch, heads, numHashes·seqLen]`: flat index `n·L + t` at each sorted slot (HF `sorted_bucket_idx`). */
  readonly sorted: Int32Array;
  /** `[batch, heads, numHashes·seqLen]`: inverse of `sorted` (HF `undo_sorted_bucket_idx`). */
  readonly undoSorted: Int32Array;
  /** `[batch, heads, seqLen, numHashes]`: per-round log-sum-exp z⁽ⁿ⁾_t of the window (stored at buffer precision). */
  readonly lse: Float;
  /** `[batch, heads, seqLen, numHashes]`: round weights exp(z⁽ⁿ⁾_t − logsumexp_n z⁽ⁿ⁾_t) (Eq. 12). */
  readonly weights: Float;
  /** `[batch, heads, seqLen, numHashes, headSize]`: per-round outputs o⁽ⁿ⁾_t, unsorted. */
  readonly outPerRound: Float;
}

/**
 * Resolves an `LshAttentionSpec` from the config (HF field names) for a given batch and length.
 * `numHashes` overrides `num_hashes` (HF allows a per-forward value); `isDecoder` overrides `is_decoder`.
 */
export function lshSpecFromConfig(
  cfg: AttentionConfig,
  batch: number,
  seqLen: number,
  overrides: { numHashes?: number; isDecoder?: boolean } = {},
): LshAttentionSpec {
  const { heads, headSize } = headLayout(cfg);
  return {
    batch,
    seqLen,
    heads,
    headSize,
    numHashes: overrides.numHashes ?? cfg.num_hashes ?? ATTENTION_DEFAULTS.num_hashes,
    numBuckets: cfg.num_buckets ?? null,
    chunk: lshChunkSpec(cfg),
    causal: overrides.isDecoder ?? cfg.is_decoder,
    maxPositionEmbeddings: cfg.max_position_embeddings ?? ATTENTION_DEFAULTS.max_position_embeddings,
    hashSeed: cfg.hash_seed ?? null,
  };
}

/**
 * LSH attention over projected vectors (no weights).
 *
 * @param qk shared query/key vectors `[batch, seqLen, heads·headSize]` (head h = channels h·d … h·d+d−1)
 * @param v  values `[batch, seqLen, heads·headSize]`
 * @returns out `[batch, seqLen, heads·headSize]` (heads merged as in HF) and the cache for the backward.
 * @throws ShapeError for bad lengths (`seqLen` > chunk length and not a multiple of it names the next
 *   valid length), ConfigError for a bad `num_buckets`, UsageError if rotations cannot be obtained.
 */
export function lshAttentionForward(
  be: Backend,
  spec: LshAttentionSpec,
  qk: Float,
  v: Float,
  options: LshAttentionOptions = {},
): { out: Float; cache: LshAttentionCache } {
  const { batch: B, seqLen: L, heads: H, headSize: d } = spec;
  checkBatchSeq('lsh attention', B, L);
  const all = H * d;
  checkLength('lsh attention: query_key vectors', qk, { batch: B, seq: L, heads·head_size: all });
  checkLength('lsh attention: value vectors', v, { batch: B, seq: L, heads·head_size: all });
  checkChunkSpec('lsh', spec.chunk);
  if (!Number.isInteger(spec.numHashes) || spec.numHashes < 1) {
    throw new ShapeError(`lsh attention: num_hashes must be a positive integer, got ${spec.numHashes}`);
  }
  const mask = copyMask(be, 'lsh attention', options.attentionMask, B, L);
  const shortPath = checkSequenceLength('lsh', L, spec.chunk.chunkLength);

  // ---- 1-2. hash and sort (or the identity order of the short path)
  let R: number;
  let chunk: ChunkSpec;
  let numBuckets: NumBuckets | null = null;
  let nEff = 0;
  let rotations: Float | null = null;
  let buckets: Int32Array | null = null;
  if (shortPath) {
    R = 1; // HF: no hashing, ordinary attention over all L positions
    chunk = { chunkLength: L, numChunksBefore: 0, numChunksAfter: 0 };
  } else {
    R = spec.numHashes;
    chunk = spec.chunk;
    numBuckets =
      spec.numBuckets ?? autoNumBuckets(L, chunk.chunkLength, spec.maxPositionEmbeddings ?? ATTENTION_DEFAULTS.max_position_embeddings);
    nEff = effectiveBucketCount(numBuckets, maskHasPadding(mask));
    if (options.buckets) {
      checkBuckets(options.buckets, B, H, R, L, nEff);
      buckets = be.ints(options.buckets.length);
      buckets.set(options.buckets);
    } else {
      const shape = rotationShape(H, d, R, numBuckets);
      if (options.rotations) {
        checkLength('lsh attention: rotations', options.rotations, {
          heads: shape[0],
          head_size: shape[1],
          num_hashes: shape[2],
          'rotation_size/2': shape[3],
        });
        rotations = options.rotations;
      } else {
        rotations = drawRotations(be, shape, spec.hashSeed, options.rng);
      }
      buckets = hashBuckets(be, {
        qk,
        batch: B,
        seqLen: L,
        heads: H,
        headSize: d,
        numHashes: R,
        numBuckets,
        rotations,
        attentionMask: mask,
      });
    }
  }
  const RL = R * L;
  const sorted = be.ints(B * H * RL); // [B, H, R·L]
  const undoSorted = be.ints(B * H * RL); // [B, H, R·L]
  for (let bh = 0; bh < B * H; bh++) {
    if (buckets) {
      sortBuckets(be, buckets, bh * RL, RL, R * nEff, sorted, undoSorted);
    } else {
      for (let i = 0; i < L; i++) sorted[bh * L + i] = undoSorted[bh * L + i] = i;
    }
  }

  const cache: LshAttentionCache = {
    batch: B,
    seqLen: L,
    heads: H,
    headSize: d,
    numHashes: R,
    numBuckets,
    numBucketsEff: nEff,
    chunk,
    causal: spec.causal,
    paperExact: !shortPath && (options.paperExact ?? false),
    dropout: options.dropout && options.dropout.prob > 0 ? { prob: options.dropout.prob, seed: options.dropout.seed } : null,
    shortPath,
    qk,
    v,
    attentionMask: mask,
    rotations,
    buckets,
    sorted,
    undoSorted,
    lse: be.floats(B * H * L * R), // [B, H, L, R]
    weights: be.floats(B * H * L * R), // [B, H, L, R]
    outPerRound: be.floats(B * H * L * R * d), // [B, H, L, R, d]
  };
  const out = be.floats(B * L * all); // [B, L, H·d]

  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      be.scope(() => {
        const bh = b * H + h;
        const rows = sortedRows(be, cache, b, h); // pos, tMajor, keyValid: [R·L]
        const qkOff = b * L * all + h * d; // head h of batch b in [B, L, H·d]
        // ---- 3. attend in sorted order
        const qs = be.floats(RL * d); // [R·L, d] queries q_k = qk[p_k]
        const ks = be.floats(RL * d); // [R·L, d] keys k̂_k
        const vs = be.floats(RL * d); // [R·L, d] values v[p_k]
        const rstd = be.floats(RL); // [R·L]
        gatherHead(be, cache, rows.pos, qkOff, qs, vs, ks, rstd);
        const os = be.floats(RL * d); // [R·L, d] sorted per-round outputs
        const lseS = be.floats(RL); // [R·L] sorted per-round log-sum-exp
        be.chunkAttentionForward({
          ...attentionParams(cache, rows, qs, ks, vs, bh),
          out: os,
          lse: lseS,
        });
        // ---- 4. unsort into the (t, n) layout (HF `ReverseSort`, here straight to [L, R])
        be.scatterRows({
          rows: RL,
          cols: d,
          index: rows.tMajor,
          src: os,
          ldSrc: d,
          dst: cache.outPerRound,
          dstOffset: bh * RL * d,
          ldDst: d,
        });
        be.scatterRows({ rows: RL, cols: 1, index: rows.tMajor, src: lseS, ldSrc: 1, dst: cache.lse, dstOffset: bh * RL, ldDst: 1 });
        // ---- 5. combine rounds, Eq. 12: w_{t,n} = exp(z_{t,n} − logsumexp_n z_{t,n}) (stored precision, HF fp32)
        const zAll = be.floats(L); // [L] logsumexp over rounds
        be.softmaxRows({ rows: L, cols: R, s: cache.lse, sOffset: bh * RL, lds: R, p: cache.weights, pOffset: bh * RL, ldp: R, lse: zAll });
        // o_t = Σ_n w_{t,n} o⁽ⁿ⁾_t : one [1, R]·[R, d] product per position, written into head h of out
        be.gemmBatched({
          batch: L,
          m: 1,
          n: d,
          k: R,
          a: cache.weights,
          aOffset: bh * RL,
          lda: R,
          strideA: R,
          b: cache.outPerRound,
          bOffset: bh * RL * d,
          ldb: d,
          strideB: R * d,
          c: out,
          cOffset: qkOff,
          ldc: d,
          strideC: all,
        });
      });
    }
  }
  return { out, cache };
}

/**
 * Backward of `lshAttentionForward`. Buckets, sort and masks are the forward's constants (HF
 * detaches the hashing); the gradient flows through the round weights (via the per-round lse), the
 * softmax, the key normalisation and the gathers. ACCUMULATES into `dqk` and `dv`
 * (`[batch, seqLen, heads·headSize]`). `dOut`: `[batch, seqLen, heads·headSize]`.
 */
export function lshAttentionBackward(be: Backend, cache: LshAttentionCache, dOut: Float, dqk: Float, dv: Float): void {
  const { batch: B, seqLen: L, heads: H, headSize: d, numHashes: R } = cache;
  const all = H * d;
  const RL = R * L;
  checkLength('lsh attention backward: dOut', dOut, { batch: B, seq: L, heads·head_size: all });
  checkLength('lsh attention backward: dqk', dqk, { batch: B, seq: L, heads·head_size: all });
  checkLength('lsh attention backward: dv', dv, { batch: B, seq: L, heads·head_size: all });
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      be.scope(() => {
        const bh = b * H + h;
        const rows = sortedRows(be, cache, b, h);
        const qkOff = b * L * all + h * d;
        // forward: o_t = Σ_n w_{t,n} o⁽ⁿ⁾_t
        //   ⇒ dw_{t,n} = dOut_t · o⁽ⁿ⁾_t    and    do⁽ⁿ⁾_t = w_{t,n} · dOut_t
        const dw = be.floats(L * R); // [L, R]
        be.gemmBatched({
          batch: L,
          m: 1,
          n: R,
          k: d,
          a: dOut,
          aOffset: qkOff,
          lda: d,
          strideA: all,
          b: cache.outPerRound,
          bOffset: bh * RL * d,
          ldb: d,
          transB: true,
          strideB: R * d,
          c: dw,
          ldc: R,
          strideC: R,
        });
        const dOt = be.floats(RL * d); // [L, R, d]
        be.gemmBatched({
          batch: L,
          m: R,
          n: d,
          k: 1,
          a: cache.weights,
          aOffset: bh * RL,
          lda: 1,
          strideA: R,
          b: dOut,
          bOffset: qkOff,
          ldb: d,
          strideB: all,
          c: dOt,
          ldc: d,
          strideC: R * d,
        });
        // forward: w_{t,·} = softmax_n(z_{t,·})  ⇒  dz_{t,n} = w_{t,n}(dw_{t,n} − Σ_m w_{t,m} dw_{t,m})
        const dz = be.floats(L * R); // [L, R]
        be.softmaxRowsBackward({ rows: L, cols: R, p: cache.weights, pOffset: bh * RL, ldp: R, dp: dw, lddp: R, ds: dz, ldds: R });
        // forward: unsort (scatter by tMajor)  ⇒  backward: sort (gather by tMajor)
        const dOs = be.floats(RL * d); // [R·L, d]
        const dLseS = be.floats(RL); // [R·L]
        const lseS = be.floats(RL); // [R·L] forward lse in sorted order
        be.gatherRows({ rows: RL, cols: d, index: rows.tMajor, src: dOt, ldSrc: d, dst: dOs, ldDst: d });
        be.gatherRows({ rows: RL, cols: 1, index: rows.tMajor, src: dz, ldSrc: 1, dst: dLseS, ldDst: 1 });
        be.gatherRows({ rows: RL, cols: 1, index: rows.tMajor, src: cache.lse, srcOffset: bh * RL, ldSrc: 1, dst: lseS, ldDst: 1 });
        // recompute the sorted q, k̂, v (same order as the forward; nothing is re-hashed)
        const qs = be.floats(RL * d);
        const ks = be.floats(RL * d);
        const vs = be.floats(RL * d);
        const rstd = be.floats(RL);
        gatherHead(be, cache, rows.pos, qkOff, qs, vs, ks, rstd);
        // forward: o = softmax(masked q·k̂ᵀ)·v per window, z = logsumexp  ⇒  dq, dk̂, dv in sorted order
        const dqs = be.floats(RL * d);
        const dks = be.floats(RL * d);
        const dvs = be.floats(RL * d);
        be.chunkAttentionBackward({
          ...attentionParams(cache, rows, qs, ks, vs, bh),
          lse: lseS,
          dOut: dOs,
          dLse: dLseS,
          dq: dqs,
          dk: dks,
          dv: dvs,
        });
        // forward: k̂ = q·rsqrt(mean(q²) + 1e-6)/√d  ⇒  dq += ∂k̂/∂q · dk̂ (keys are the shared vectors too)
        be.rmsNormBackward({ rows: RL, cols: d, dy: dks, x: qs, rstd, scale: 1 / Math.sqrt(d), dx: dqs });
        // forward: q_k = qk[p_k], v_k = v[p_k] (gather = sort)  ⇒  scatter-add back (R copies per position add up)
        be.scatterAddRows({ rows: RL, cols: d, index: rows.pos, src: dqs, ldSrc: d, dst: dqk, dstOffset: qkOff, ldDst: all });
        be.scatterAddRows({ rows: RL, cols: d, index: rows.pos, src: dvs, ldSrc: d, dst: dv, dstOffset: qkOff, ldDst: all });
      });
    }
  }
}

interface SortedRows {
  /** [R·L] sequence position p_k of sorted slot k */
  pos: Int32Array;
  /** [R·L] row of slot k in the (t, n) layout: t·R + n */
  tMajor: Int32Array;
  /** [R·L] attention_mask of the key at slot k, or null */
  keyValid: Int32Array | null;
}

/** Index vectors of one (b, h) in sorted order, from the cached permutation (temporaries of the caller's scope). */
function sortedRows(be: Backend, cache: LshAttentionCache, b: number, h: number): SortedRows {
  const { seqLen: L, numHashes: R } = cache;
  const RL = R * L;
  const base = (b * cache.heads + h) * RL;
  const pos = be.ints(RL);
  const tMajor = be.ints(RL);
  const keyValid = cache.attentionMask ? be.ints(RL) : null;
  for (let k = 0; k < RL; k++) {
    const i = cache.sorted[base + k]!; // i = n·L + t
    const t = i % L;
    pos[k] = t;
    tMajor[k] = t * R + (i - t) / L;
    if (keyValid) keyValid[k] = cache.attentionMask![b * L + t]!;
  }
  return { pos, tMajor, keyValid };
}

/** qs = qk[pos], vs = v[pos] for head h; ks = qs·rsqrt(mean(qs²) + 1e-6)/√d (HF `_len_and_dim_norm`). */
function gatherHead(
  be: Backend,
  cache: LshAttentionCache,
  pos: Int32Array,
  qkOff: number,
  qs: Float,
  vs: Float,
  ks: Float,
  rstd: Float,
): void {
  const { headSize: d, heads: H } = cache;
  const RL = pos.length;
  const all = H * d;
  be.gatherRows({ rows: RL, cols: d, index: pos, src: cache.qk, srcOffset: qkOff, ldSrc: all, dst: qs, ldDst: d });
  be.gatherRows({ rows: RL, cols: d, index: pos, src: cache.v, srcOffset: qkOff, ldSrc: all, dst: vs, ldDst: d });
  be.rmsNormForward({ rows: RL, cols: d, x: qs, y: ks, rstd, eps: KEY_NORM_EPS, scale: 1 / Math.sqrt(d) });
}

/** The chunked-attention parameters shared by forward and backward (HF masks: −1e9, self −1e5). */
function attentionParams(cache: LshAttentionCache, rows: SortedRows, qs: Float, ks: Float, vs: Float, bh: number) {
  const RL = rows.pos.length;
  return {
    n: RL,
    d: cache.headSize,
    chunkLength: cache.chunk.chunkLength,
    numChunksBefore: cache.chunk.numChunksBefore,
    numChunksAfter: cache.chunk.numChunksAfter,
    q: qs,
    k: ks,
    v: vs,
    pos: rows.pos,
    keyValid: rows.keyValid,
    causal: cache.causal,
    maskValue: MASK_VALUE,
    selfMaskValue: SELF_MASK_VALUE,
    paper:
      cache.paperExact && cache.buckets
        ? { seqLen: cache.seqLen, numHashes: cache.numHashes, buckets: cache.buckets.subarray(bh * RL, (bh + 1) * RL) }
        : null,
    dropout: cache.dropout ? { prob: cache.dropout.prob, seed: attentionDropoutCallSeed(cache.dropout.seed, bh) } : null,
  };
}

/**
 * HF's captured intermediates in HF layouts (plain arrays, for tests and the conformance runner):
 * `lse` `[batch, heads, numHashes·seqLen]` and `outPerHash` `[batch, heads, numHashes·seqLen, headSize]`
 * (index n·L + t), as HF's `cap:lse` / `cap:out_per_hash`.
 */
export function lshCaptures(cache: LshAttentionCache): { lse: Float64Array; outPerHash: Float64Array } {
  const { batch: B, heads: H, seqLen: L, numHashes: R, headSize: d } = cache;
  const lse = new Float64Array(B * H * R * L);
  const outPerHash = new Float64Array(B * H * R * L * d);
  for (let bh = 0; bh < B * H; bh++) {
    for (let t = 0; t < L; t++) {
      for (let n = 0; n < R; n++) {
        const src = bh * R * L + t * R + n; // [L, R] layout
        const dst = bh * R * L + n * L + t; // [R, L] layout
        lse[dst] = cache.lse[src]!;
        for (let j = 0; j < d; j++) outPerHash[dst * d + j] = cache.outPerRound[src * d + j]!;
      }
    }
  }
  return { lse, outPerHash };
}

// ------------------------------------------------------------------ the HF module (with projections)

/** HF `LSHSelfAttention` parameters (state_dict names): `[heads·headSize, hidden]` each, no bias. */
export interface LshSelfAttentionWeights {
  readonly 'query_key.weight': Float;
  readonly 'value.weight': Float;
}

/** Options of the module forward: batch layout, per-call overrides and the LSH options. */
export interface LshSelfAttentionOptions extends LshAttentionOptions {
  batch: number;
  seqLen: number;
  /** Overrides `num_hashes` for this forward (HF allows it; e.g. more rounds at evaluation). */
  numHashes?: number;
  /** Overrides `is_decoder`. */
  isDecoder?: boolean;
}

export interface LshSelfAttentionCache {
  readonly kind: 'lsh';
  /** Reference to the input `[batch, seqLen, hidden]`; must stay unchanged until the backward. */
  readonly x: Float;
  readonly hidden: number;
  readonly attention: LshAttentionCache;
}

/**
 * HF `LSHSelfAttention.forward`: `qk = x·W_qkᵀ`, `v = x·W_vᵀ`, then `lshAttentionForward`.
 * @param x `[batch, seqLen, hidden_size]`
 * @returns out `[batch, seqLen, heads·headSize]` (no output projection here, as in HF), the cache, and
 *   the resolved `numBuckets` (the caller stores it in the config when `num_buckets` was automatic).
 */
export function lshSelfAttentionForward(
  be: Backend,
  cfg: AttentionConfig,
  weights: LshSelfAttentionWeights,
  x: Float,
  options: LshSelfAttentionOptions,
): { out: Float; cache: LshSelfAttentionCache; numBuckets: NumBuckets | null } {
  const { hidden: D, all } = headLayout(cfg);
  const { batch: B, seqLen: L } = options;
  checkBatchSeq('LSHSelfAttention', B, L);
  checkLength('LSHSelfAttention: hidden_states', x, { batch: B, seq: L, hidden: D });
  checkLength('LSHSelfAttention: query_key.weight', weights['query_key.weight'], { heads·head_size: all, hidden: D });
  checkLength('LSHSelfAttention: value.weight', weights['value.weight'], { heads·head_size: all, hidden: D });
  const qk = be.floats(B * L * all); // [B, L, H·d]
  const v = be.floats(B * L * all); // [B, L, H·d]
  linearForward(be, x, weights['query_key.weight'], qk, B * L, D, all);
  linearForward(be, x, weights['value.weight'], v, B * L, D, all);
  const spec = lshSpecFromConfig(cfg, B, L, {
    ...(options.numHashes !== undefined ? { numHashes: options.numHashes } : {}),
    ...(options.isDecoder !== undefined ? { isDecoder: options.isDecoder } : {}),
  });
  const { out, cache } = lshAttentionForward(be, spec, qk, v, options);
  return { out, cache: { kind: 'lsh', x, hidden: D, attention: cache }, numBuckets: cache.numBuckets };
}

/**
 * Backward of `lshSelfAttentionForward`: ACCUMULATES `grads['query_key.weight']`, `grads['value.weight']`
 * and `dx` `[batch, seqLen, hidden]` (null to skip). `dOut`: `[batch, seqLen, heads·headSize]`.
 */
export function lshSelfAttentionBackward(
  be: Backend,
  weights: LshSelfAttentionWeights,
  grads: LshSelfAttentionWeights,
  cache: LshSelfAttentionCache,
  dOut: Float,
  dx: Float | null,
): void {
  const a = cache.attention;
  const rows = a.batch * a.seqLen;
  const all = a.heads * a.headSize;
  const D = cache.hidden;
  checkLength('LSHSelfAttention backward: grads query_key.weight', grads['query_key.weight'], { heads·head_size: all, hidden: D });
  checkLength('LSHSelfAttention backward: grads value.weight', grads['value.weight'], { heads·head_size: all, hidden: D });
  if (dx) checkLength('LSHSelfAttention backward: dx', dx, { batch: a.batch, seq: a.seqLen, hidden: D });
  be.scope(() => {
    const dqk = be.floats(rows * all); // [B, L, H·d]
    const dv = be.floats(rows * all); // [B, L, H·d]
    lshAttentionBackward(be, a, dOut, dqk, dv);
    // forward: qk = x·W_qkᵀ, v = x·W_vᵀ
    linearBackward(be, cache.x, weights['query_key.weight'], dqk, grads['query_key.weight'], dx, rows, D, all);
    linearBackward(be, cache.x, weights['value.weight'], dv, grads['value.weight'], dx, rows, D, all);
  });
}
