/**
 * LSH self-attention (Kitaev et al. 2020 Sec. 2 and App. A) over all batch elements and heads, HF
 * `LSHSelfAttention` semantics: the resolution of a forward (chunking, rounds, num_buckets, padding
 * bucket, rotations), the cache a backward needs, and the HF module with its projections.
 *
 * Every (batch element, head) runs `lshHeadForward` (lsh-head.ts), the library's one LSH forward; the
 * cache is that function's sink. The backward is lsh-backward.ts.
 *
 * Memory: the cache holds O(batch·heads·num_hashes·seqLen·headSize) values; no [seq, seq] buffer is ever
 * allocated. A forward that keeps nothing (evaluation) goes through the attention block (block.ts),
 * head by head.
 */
import type { AttentionDropout, Backend, Float } from '../backend/backend.js';
import { attentionDropoutCallSeed } from '../backend/ops/attention/dropout.js';
import { resolveNumBuckets, type NumBuckets } from '../config/buckets.js';
import { ShapeError } from '../errors.js';
import { backendArg, dimsArg, floatArg, optionsArg } from '../util/args.js';
import type { Rng } from '../util/rng.js';
import { checkBatchSeq, checkLength, copyMask } from './common.js';
import {
  ATTENTION_BLOCK_ROWS,
  attentionConfigArg,
  chunkingFor,
  headLayout,
  lshChunkSpec,
  type AttentionConfig,
  type ChunkSpec,
} from './config.js';
import { checkBuckets, drawRotations, effectiveBucketCount, maskHasPadding, rotationShape } from './hashing.js';
import { lshHeadForward, type LshHeadSpec } from './lsh-head.js';

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
  maxPositionEmbeddings: number;
  /** HF `hash_seed`: if set, rotations come from `new Rng(hashSeed)` at every draw. */
  hashSeed: number | null;
  /** Query rows per streamed block (default ATTENTION_BLOCK_ROWS). Changes memory and speed, never results. */
  blockRows?: number;
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
  /** The forward's inputs `[batch, seqLen, heads·headSize]`; must stay unchanged until the backward. */
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
  /** `[batch, heads, seqLen, numHashes, headSize]`: per-round outputs o⁽ⁿ⁾_t, unsorted. */
  readonly outPerRound: Float;
  /** Sorted slots per block of the backward (the forward's `blockRows`); changes memory and speed, never results. */
  readonly blockRows: number;
}

/** The members an `LshAttentionSpec` (and its cache) must carry as positive integers. */
const LSH_DIMS = ['batch', 'seqLen', 'heads', 'headSize', 'numHashes'] as const;

/**
 * Checks an `LshAttentionSpec` argument, or an `LshAttentionCache` (which carries the spec) (O(1)).
 * @throws ShapeError naming the missing or bad member.
 */
export function lshSpecArg(
  where: string,
  spec: unknown,
  name = 'spec',
  what = 'an LshAttentionSpec (lshSpecFromConfig(config, batch, seqLen))',
): asserts spec is LshAttentionSpec {
  dimsArg(where, name, spec, LSH_DIMS, what);
  dimsArg(where, `${name}.chunk`, spec.chunk, ['chunkLength'], 'a chunking {chunkLength, numChunksBefore, numChunksAfter}');
}

/**
 * Resolves an `LshAttentionSpec` from the config (HF field names) for a given batch and length.
 * `numHashes` overrides `num_hashes` (HF allows a per-forward value); `isDecoder` overrides `is_decoder`.
 * @throws ConfigError (no config object, bad head fields, `overrides` not an object), ShapeError
 *   (batch or seqLen not a positive integer).
 */
export function lshSpecFromConfig(
  cfg: AttentionConfig,
  batch: number,
  seqLen: number,
  overrides: { numHashes?: number; isDecoder?: boolean } = {},
): LshAttentionSpec {
  attentionConfigArg('lshSpecFromConfig', cfg);
  checkBatchSeq('lshSpecFromConfig', batch, seqLen);
  optionsArg('lshSpecFromConfig', overrides, '{ numHashes: 4, isDecoder: true }');
  const { heads, headSize } = headLayout(cfg);
  return {
    batch,
    seqLen,
    heads,
    headSize,
    numHashes: overrides.numHashes ?? cfg.num_hashes,
    numBuckets: cfg.num_buckets ?? null,
    chunk: lshChunkSpec(cfg),
    causal: overrides.isDecoder ?? cfg.is_decoder,
    maxPositionEmbeddings: cfg.max_position_embeddings,
    hashSeed: cfg.hash_seed ?? null,
  };
}

/** A forward of LSH attention over all (batch element, head), resolved: what every head runs. */
export interface LshPlan {
  readonly head: Omit<LshHeadSpec, 'dropout'>;
  readonly batch: number;
  readonly heads: number;
  /** Rotations `[heads, headSize, numHashes, rotationSize/2]`, or null (short path, or buckets replayed). */
  readonly rotations: Float | null;
  /** Replayed offset buckets `[batch, heads, numHashes, seqLen]` (checked), or null. */
  readonly replayBuckets: Int32Array | null;
  /** Rotation floats per head (0 without rotations). */
  readonly rotationStride: number;
}

/**
 * Resolves one forward: chunking (HF's length rule), rounds, num_buckets (`resolveNumBuckets`), N_eff
 * (HF adds the padding bucket for the whole batch when any mask entry is 0) and the rotations (injected,
 * re-seeded by `hash_seed`, or drawn from `rng`) or the replayed buckets.
 * @throws ShapeError (lengths, num_hashes, replayed buckets), ConfigError (chunk fields, num_buckets),
 *   UsageError (no source of rotations).
 */
export function planLsh(
  be: Backend,
  spec: LshAttentionSpec,
  mask: Int32Array | null,
  options: Pick<LshAttentionOptions, 'rotations' | 'rng' | 'buckets' | 'paperExact'>,
): LshPlan {
  const { batch: B, seqLen: L, heads: H, headSize: d } = spec;
  if (!Number.isInteger(spec.numHashes) || spec.numHashes < 1) {
    throw new ShapeError(`lsh attention: num_hashes must be a positive integer, got ${spec.numHashes}`);
  }
  const chunking = chunkingFor('lsh', spec.chunk, L);
  const R = chunking.shortPath ? 1 : spec.numHashes; // HF: the short path is ordinary attention, one round
  let numBuckets: NumBuckets | null = null;
  let nEff = 0;
  let rotations: Float | null = null;
  let replayBuckets: Int32Array | null = null;
  let rotationStride = 0;
  if (!chunking.shortPath) {
    numBuckets = resolveNumBuckets(
      { num_buckets: spec.numBuckets, lsh_attn_chunk_length: spec.chunk.chunkLength, max_position_embeddings: spec.maxPositionEmbeddings },
      L,
    );
    nEff = effectiveBucketCount(numBuckets, maskHasPadding(mask));
    if (options.buckets) {
      checkBuckets(options.buckets, B, H, R, L, nEff);
      replayBuckets = options.buckets;
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
      rotationStride = shape[1] * shape[2] * shape[3];
    }
  }
  return {
    head: {
      seqLen: L,
      headSize: d,
      numHashes: R,
      chunking,
      causal: spec.causal,
      numBuckets,
      bucketsPerRound: nEff,
      paperExact: !chunking.shortPath && (options.paperExact ?? false),
      blockRows: spec.blockRows ?? ATTENTION_BLOCK_ROWS,
    },
    batch: B,
    heads: H,
    rotations,
    replayBuckets,
    rotationStride,
  };
}

/** The per-call dropout of head h of batch element b (null when inactive). */
export function headDropout(dropout: AttentionDropout | null | undefined, bh: number): AttentionDropout | null {
  return dropout && dropout.prob > 0 ? { prob: dropout.prob, seed: attentionDropoutCallSeed(dropout.seed, bh) } : null;
}

/**
 * LSH attention over projected vectors (no weights), keeping the cache for the backward.
 *
 * @param qk shared query/key vectors `[batch, seqLen, heads·headSize]` (head h = channels h·d … h·d+d−1)
 * @param v  values `[batch, seqLen, heads·headSize]`
 * @returns out `[batch, seqLen, heads·headSize]` (heads merged as in HF) and the cache for the backward.
 * @throws ShapeError for bad lengths (`seqLen` > chunk length and not a multiple of it names the next
 *   valid length) or a malformed spec, ConfigError for a bad `num_buckets` (or no backend, options not
 *   an object), UsageError if rotations cannot be obtained.
 */
export function lshAttentionForward(
  be: Backend,
  spec: LshAttentionSpec,
  qk: Float,
  v: Float,
  options: LshAttentionOptions = {},
): { out: Float; cache: LshAttentionCache } {
  backendArg('lshAttentionForward', be);
  lshSpecArg('lshAttentionForward', spec);
  optionsArg('lshAttentionForward', options, '{ attentionMask, rotations, rng }');
  const { batch: B, seqLen: L, heads: H, headSize: d } = spec;
  checkBatchSeq('lsh attention', B, L);
  const all = H * d;
  checkLength('lsh attention: query_key vectors', qk, { batch: B, seq: L, heads·head_size: all });
  checkLength('lsh attention: value vectors', v, { batch: B, seq: L, heads·head_size: all });
  const mask = copyMask(be, 'lsh attention', options.attentionMask, B, L);
  const plan = planLsh(be, spec, mask, options);
  const cache = newLshCache(be, plan, qk, v, mask, options.dropout ?? null);
  const out = be.floats(B * L * all); // [B, L, H·d]
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      runLshHead(
        be,
        plan,
        cache,
        b,
        h,
        { qk, qkOffset: b * L * all + h * d, ldqk: all, v, vOffset: b * L * all + h * d, ldv: all },
        {
          acc: out,
          accOffset: b * L * all + h * d,
          ldAcc: all,
        },
      );
    }
  }
  return { out, cache };
}

/** Allocates the cache of a forward (outside any scope: it lives until the backward). */
export function newLshCache(
  be: Backend,
  plan: LshPlan,
  qk: Float,
  v: Float,
  mask: Int32Array | null,
  dropout: AttentionDropout | null,
): LshAttentionCache {
  const { batch: B, heads: H } = plan;
  const { seqLen: L, headSize: d, numHashes: R, chunking } = plan.head;
  return {
    batch: B,
    seqLen: L,
    heads: H,
    headSize: d,
    numHashes: R,
    numBuckets: plan.head.numBuckets,
    numBucketsEff: plan.head.bucketsPerRound,
    chunk: chunking.chunk,
    causal: plan.head.causal,
    paperExact: plan.head.paperExact,
    dropout: dropout && dropout.prob > 0 ? { prob: dropout.prob, seed: dropout.seed } : null,
    shortPath: chunking.shortPath,
    qk,
    v,
    attentionMask: mask,
    rotations: plan.rotations,
    buckets: chunking.shortPath ? null : be.ints(B * H * R * L), // [B, H, R, L]
    sorted: be.ints(B * H * R * L), // [B, H, R·L]
    undoSorted: be.ints(B * H * R * L), // [B, H, R·L]
    lse: be.floats(B * H * L * R), // [B, H, L, R]
    outPerRound: be.floats(B * H * L * R * d), // [B, H, L, R, d]
    blockRows: plan.head.blockRows,
  };
}

/**
 * Runs head h of batch element b of a planned forward, keeping its part of `cache` when given, else its
 * offset buckets `[numHashes, seqLen]` in `bucketsOut` (a buffer of `be`) when given.
 */
export function runLshHead(
  be: Backend,
  plan: LshPlan,
  cache: LshAttentionCache | null,
  b: number,
  h: number,
  src: { qk: Float; qkOffset: number; ldqk: number; v: Float; vOffset: number; ldv: number },
  output: { acc: Float; accOffset: number; ldAcc: number },
  mask: Int32Array | null = cache ? cache.attentionMask : null,
  dropout: AttentionDropout | null = cache ? cache.dropout : null,
  bucketsOut: Int32Array | null = null,
): void {
  const { seqLen: L, numHashes: R, headSize: d } = plan.head;
  const bh = b * plan.heads + h;
  const RL = R * L;
  const sink = cache
    ? {
        ...(cache.buckets ? { buckets: cache.buckets.subarray(bh * RL, (bh + 1) * RL) } : {}),
        sorted: cache.sorted.subarray(bh * RL, (bh + 1) * RL),
        undoSorted: cache.undoSorted.subarray(bh * RL, (bh + 1) * RL),
        lse: cache.lse.subarray(bh * RL, (bh + 1) * RL),
        outPerRound: cache.outPerRound.subarray(bh * RL * d, (bh + 1) * RL * d),
      }
    : bucketsOut && !plan.head.chunking.shortPath
      ? { buckets: bucketsOut }
      : {};
  lshHeadForward(
    be,
    { ...plan.head, dropout: headDropout(dropout, bh) },
    {
      ...src,
      mask,
      maskOffset: b * L,
      rotations: plan.rotations,
      rotationsOffset: h * plan.rotationStride,
      replayBuckets: plan.replayBuckets ? plan.replayBuckets.subarray(bh * RL, (bh + 1) * RL) : null,
    },
    output,
    sink,
  );
}

/**
 * HF's captured intermediates in HF layouts (plain arrays, for tests and the conformance runner):
 * `lse` `[batch, heads, numHashes·seqLen]` and `outPerHash` `[batch, heads, numHashes·seqLen, headSize]`
 * (index n·L + t), as HF's `cap:lse` / `cap:out_per_hash`.
 * @throws ShapeError unless `cache` is the cache of `lshAttentionForward`.
 */
export function lshCaptures(cache: LshAttentionCache): { lse: Float64Array; outPerHash: Float64Array } {
  lshSpecArg('lshCaptures', cache, 'cache', 'the cache of lshAttentionForward');
  floatArg('lshCaptures', 'cache.lse', cache.lse);
  floatArg('lshCaptures', 'cache.outPerRound', cache.outPerRound);
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
