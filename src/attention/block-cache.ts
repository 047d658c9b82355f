/**
 * What an attention block forward keeps (block.ts): the backward's cache, the kept LSH buckets, and the
 * buffers both kinds of block keep.
 */
import type { Backend, Float } from '../backend/backend.js';
import type { NumBuckets } from '../config/buckets.js';
import type { AttentionKind } from './block.js';
import type { LocalSelfAttentionCache } from './local.js';
import type { LshSelfAttentionCache } from './lsh-module.js';

export interface AttentionBlockCache {
  readonly kind: AttentionKind;
  readonly batch: number;
  readonly seqLen: number;
  readonly hidden: number;
  /** Reference to the input `[batch, seqLen, hidden]`; must stay unchanged until the backward. */
  readonly x: Float;
  /** LayerNorm output `[batch, seqLen, hidden]` (HF `cap:layer_norm_out`). */
  readonly normed: Float;
  readonly mean: Float;
  readonly rstd: Float;
  /** Self-attention output before `output.dense` `[batch, seqLen, heads·headSize]` (HF `cap:self_attention_out`). */
  readonly attnOut: Float;
  readonly self: LshSelfAttentionCache | LocalSelfAttentionCache;
  /** LSH: the offset buckets `[batch, heads, numHashes, seqLen]` to replay; null for local attention or the short path. */
  readonly buckets: Int32Array | null;
  /** LSH: the resolved `num_buckets` (store it in the config when it was automatic); null otherwise. */
  readonly numBuckets: NumBuckets | null;
}

/** What a forward keeps: nothing (evaluation), the LSH buckets (a plain copy, to replay or capture), or the backward's cache. */
export type AttentionKeep = 'none' | 'buckets' | 'cache';

export interface AttentionBlockResult {
  /** LSH offset buckets `[batch, heads, numHashes, seqLen]` (keep 'buckets': a plain copy; 'cache': the cache's), else null. */
  readonly buckets: Int32Array | null;
  /** LSH: the resolved `num_buckets` (null on the short path and for local attention). */
  readonly numBuckets: NumBuckets | null;
  /** keep 'cache': everything the backward needs; else null. */
  readonly cache: AttentionBlockCache | null;
}

export interface BlockWeights {
  gamma: Float;
  beta: Float;
  wo: Float;
  /** LSH: [query_key, value]; local: [query, key, value]. */
  proj: Float[];
}

/** The cache buffers common to both kinds (allocated in the caller's scope). */
export function commonCache(be: Backend, rows: number, D: number, all: number) {
  return { normed: be.floats(rows * D), mean: be.floats(rows), rstd: be.floats(rows), attnOut: be.floats(rows * all) };
}
