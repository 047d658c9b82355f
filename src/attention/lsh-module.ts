/**
 * HF `LSHSelfAttention` as a module: the shared query/key and value projections around
 * `lshAttentionForward` (lsh.ts), and the backward of those projections (lsh-backward.ts does the rest).
 */
import type { Backend, Float } from '../backend/backend.js';
import type { NumBuckets } from '../config/buckets.js';
import { linearBackward, linearForward } from '../nn/linear.js';
import { backendArg, objectArg, optionsArg } from '../util/args.js';
import { checkBatchSeq, checkLength } from './common.js';
import { type AttentionConfig, attentionConfigArg, headLayout } from './config.js';
import { type LshAttentionCache, type LshAttentionOptions, lshAttentionForward, lshSpecFromConfig } from './lsh.js';

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
 * @throws ConfigError (`backend`, `config`, `weights` or `options` not given, bad config fields),
 *   ShapeError (lengths of x, the weights, the mask), UsageError (no source of rotations).
 */
export function lshSelfAttentionForward(
  be: Backend,
  cfg: AttentionConfig,
  weights: LshSelfAttentionWeights,
  x: Float,
  options: LshSelfAttentionOptions,
): { out: Float; cache: LshSelfAttentionCache; numBuckets: NumBuckets | null } {
  const where = 'lshSelfAttentionForward';
  backendArg(where, be);
  attentionConfigArg(where, cfg);
  objectArg(where, 'weights', weights, 'the LSHSelfAttention weights (query_key.weight, value.weight)');
  optionsArg(where, options, '{ batch: 1, seqLen: 64 }', false);
  const { hidden: D, all } = headLayout(cfg);
  const { batch: B, seqLen: L } = options;
  checkBatchSeq('LSHSelfAttention', B, L);
  checkLength('LSHSelfAttention: hidden_states', x, { batch: B, seq: L, hidden: D });
  checkLength('LSHSelfAttention: query_key.weight', weights['query_key.weight'], { heads·head_size: all, hidden: D });
  checkLength('LSHSelfAttention: value.weight', weights['value.weight'], { heads·head_size: all, hidden: D });
  const qk = be.floats(B * L * all); // [B, L, H·d]
  const v = be.floats(B * L * all); // [B, L, H·d]
  linearForward(be, x, B * L, D, weights['query_key.weight'], all, null, qk);
  linearForward(be, x, B * L, D, weights['value.weight'], all, null, v);
  const spec = lshSpecFromConfig(cfg, B, L, {
    ...(options.numHashes !== undefined ? { numHashes: options.numHashes } : {}),
    ...(options.isDecoder !== undefined ? { isDecoder: options.isDecoder } : {}),
  });
  const { out, cache } = lshAttentionForward(be, spec, qk, v, options);
  return { out, cache: { kind: 'lsh', x, hidden: D, attention: cache }, numBuckets: cache.numBuckets };
}

/**
 * Backward of the projections of `lshSelfAttentionForward` given dqk, dv: ACCUMULATES
 * `grads['query_key.weight']`, `grads['value.weight']` and `dx` `[batch, seqLen, hidden]` (null to skip).
 */
export function lshProjectionsBackward(
  be: Backend,
  weights: LshSelfAttentionWeights,
  grads: LshSelfAttentionWeights,
  x: Float,
  rows: number,
  hidden: number,
  all: number,
  dqk: Float,
  dv: Float,
  dx: Float | null,
): void {
  checkLength('LSHSelfAttention backward: grads query_key.weight', grads['query_key.weight'], { heads·head_size: all, hidden });
  checkLength('LSHSelfAttention backward: grads value.weight', grads['value.weight'], { heads·head_size: all, hidden });
  // forward: qk = x·W_qkᵀ, v = x·W_vᵀ
  linearBackward(be, x, rows, hidden, weights['query_key.weight'], all, dqk, dx, grads['query_key.weight'], null);
  linearBackward(be, x, rows, hidden, weights['value.weight'], all, dv, dx, grads['value.weight'], null);
}
