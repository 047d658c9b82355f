/**
 * Shared arbitraries and builders of the attention specs: small random LSH / local configurations,
 * inputs drawn from a seeded `Rng`, padding masks of several shapes, and a finite-difference checker.
 */
import fc from 'fast-check';
import type { Backend, Float } from '../../src/backend/backend.js';
import type { AttentionConfig } from '../../src/attention/config.js';
import type { NumBuckets } from '../../src/config/buckets.js';
import type { Rng } from '../../src/util/rng.js';
import type { MeasuredError } from '../helpers/error-bounds.js';
import { entryEstimate, fdRow } from '../helpers/finite-difference.js';

export type MaskKind = 'none' | 'ones' | 'right' | 'left' | 'first' | 'holes';

export interface AttnCase {
  batch: number;
  heads: number;
  headSize: number;
  hidden: number;
  chunkLength: number;
  numChunks: number;
  numHashes: number;
  numBuckets: NumBuckets;
  before: number;
  after: number;
  causal: boolean;
  mask: MaskKind;
  seed: number;
}

export interface CaseBounds {
  maxBatch?: number;
  maxHeads?: number;
  maxHeadSize?: number;
  minHidden?: number;
  maxHidden?: number;
  maxChunkLength?: number;
  maxNumChunks?: number;
  maxHashes?: number;
  masks?: readonly MaskKind[];
}

/** Small random attention cases (sequence length = chunkLength·numChunks > chunkLength). */
export function arbCase(b: CaseBounds = {}): fc.Arbitrary<AttnCase> {
  return fc.record({
    batch: fc.integer({ min: 1, max: b.maxBatch ?? 2 }),
    heads: fc.integer({ min: 1, max: b.maxHeads ?? 2 }),
    headSize: fc.integer({ min: 2, max: b.maxHeadSize ?? 5 }),
    hidden: fc.integer({ min: b.minHidden ?? 2, max: b.maxHidden ?? 6 }),
    chunkLength: fc.integer({ min: 2, max: b.maxChunkLength ?? 4 }),
    numChunks: fc.integer({ min: 2, max: b.maxNumChunks ?? 4 }),
    numHashes: fc.integer({ min: 1, max: b.maxHashes ?? 3 }),
    numBuckets: fc.oneof(fc.constantFrom<NumBuckets>(2, 4, 6), fc.constantFrom<NumBuckets>([2, 2], [2, 4], [4, 2])),
    before: fc.integer({ min: 0, max: 2 }),
    after: fc.integer({ min: 0, max: 1 }),
    causal: fc.boolean(),
    mask: fc.constantFrom(...(b.masks ?? (['none', 'ones', 'right', 'left', 'first', 'holes'] as const))),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  });
}

export const seqLenOf = (c: AttnCase): number => c.chunkLength * c.numChunks;

/** HF-named config of a case; `short` makes the chunks as long as the sequence (short path). */
export function configOf(c: AttnCase): AttentionConfig {
  return {
    hidden_size: c.hidden,
    num_attention_heads: c.heads,
    attention_head_size: c.headSize,
    is_decoder: c.causal,
    layer_norm_eps: 1e-12,
    num_hashes: c.numHashes,
    num_buckets: c.numBuckets,
    lsh_attn_chunk_length: c.chunkLength,
    lsh_num_chunks_before: c.before,
    lsh_num_chunks_after: c.after,
    hash_seed: null,
    max_position_embeddings: 4096,
    local_attn_chunk_length: c.chunkLength,
    local_num_chunks_before: c.before,
    local_num_chunks_after: c.after,
  };
}

/** A `[batch, seqLen]` mask of the given kind (null for 'none'); every row keeps at least one real token. */
export function maskOf(kind: MaskKind, batch: number, seqLen: number, rng: Rng): Int32Array | null {
  if (kind === 'none') return null;
  const m = new Int32Array(batch * seqLen).fill(1);
  for (let b = 0; b < batch; b++) {
    const k = 1 + rng.int(seqLen - 1); // 1 … L−1 padded
    for (let t = 0; t < seqLen; t++) {
      let pad = false;
      if (kind === 'right') pad = t >= seqLen - k;
      else if (kind === 'left') pad = t < k;
      else if (kind === 'first') pad = t === 0;
      else if (kind === 'holes') pad = rng.uniform() < 0.35 && t !== k % seqLen;
      m[b * seqLen + t] = pad ? 0 : 1;
    }
  }
  return m;
}

/** A buffer of `be` filled with N(0, std²) from `rng`. */
export function normal(be: Backend, n: number, rng: Rng, std = 1): Float {
  const out = be.floats(n);
  rng.fillNormal(out, 0, std);
  return out;
}

/** Copy of a buffer into a fresh buffer of `be`. */
export function copyOf(be: Backend, src: ArrayLike<number>): Float {
  const out = be.floats(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]!;
  return out;
}

/** Σ a_i·b_i in float64. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Σ|a_i·b_i| in float64: the scale the rounding of `dot(a, b)` follows. */
export function dotAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! * b[i]!);
  return s;
}

/**
 * Finite differences of `loss` with respect to every entry of `param` (mutated and restored; Richardson-
 * extrapolated central differences), one row per entry of the law in spec/helpers/finite-difference.ts:
 * |analytic − R| ≤ k·(|D(h) − D(h/2)| + 3·u64·S/h + u64·|analytic|), S = `lossScale`.
 */
export function finiteDifferenceRows(
  name: string,
  param: Float,
  analytic: ArrayLike<number>,
  loss: () => number,
  lossScale: number,
  step = 1e-5,
): MeasuredError[] {
  const rows: MeasuredError[] = [];
  for (let i = 0; i < param.length; i++)
    rows.push(fdRow(`${name}[${i}]`, analytic[i]!, entryEstimate(param, i, loss, step), lossScale, step));
  return rows;
}
