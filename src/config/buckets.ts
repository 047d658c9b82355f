/**
 * The rules of HF's `num_buckets` field (`LSHSelfAttention`, Kitaev et al. 2020 Sec. 2): one home for
 * validating it, counting buckets, sizing the rotations and resolving `null` (`_set_num_buckets`).
 * The config validation, the attention code and the memory estimate all use these.
 */
import { ConfigError, ShapeError } from '../errors.js';
import { objectArg } from '../util/args.js';

/** A resolved `num_buckets`: an even int, or a list of even factors (factorised hashing, count = product). */
export type NumBuckets = number | readonly number[];

/** Largest size or id: token ids, positions and indices are int32 in the kernels. */
export const MAX_CONFIG_INT = 0x7fffffff;

/**
 * Bucket factors of a `num_buckets` value: an int `n` is `[n]`; a list is used as is.
 * @throws ConfigError('num_buckets') unless every factor is an even integer ≥ 2 (angular LSH takes the
 *   argmax over [xR, −xR]) and the product fits an int32.
 */
export function bucketFactors(numBuckets: NumBuckets): number[] {
  const list = typeof numBuckets === 'number' ? [numBuckets] : Array.isArray(numBuckets) ? [...numBuckets] : null;
  if (list === null) {
    throw new ConfigError('num_buckets', `must be an even integer, a list of even factors or null, got ${show(numBuckets)}`);
  }
  if (list.length === 0)
    throw new ConfigError('num_buckets', 'is an empty list; give even factors such as [8, 8], an even integer, or null');
  list.forEach((f, i) => {
    if (typeof f !== 'number' || !Number.isInteger(f) || f < 2 || f % 2 !== 0 || f > MAX_CONFIG_INT) {
      const where = typeof numBuckets === 'number' ? '' : `factor ${i} `;
      throw new ConfigError(
        'num_buckets',
        `${where}must be an even integer ≥ 2 (angular LSH splits [xR, −xR]), got ${show(f)}; e.g. ${evenAbove(f)}`,
      );
    }
  });
  const total = list.reduce((a, f) => a * f, 1);
  if (total > MAX_CONFIG_INT) {
    throw new ConfigError(
      'num_buckets',
      `factors [${list.join(', ')}] multiply to ${total} buckets, more than ${MAX_CONFIG_INT}; use fewer or smaller factors`,
    );
  }
  return list;
}

/** Π factors: the number of buckets per round, before HF's padding bucket. */
export function bucketCount(numBuckets: NumBuckets): number {
  return bucketFactors(numBuckets).reduce((a, f) => a * f, 1);
}

/** Σ factors / 2: the last axis of the rotations `[heads, d, num_hashes, rotationSize/2]` (HF `rotations_shape`). */
export function rotationHalfSize(numBuckets: NumBuckets): number {
  return bucketFactors(numBuckets).reduce((a, f) => a + f / 2, 0);
}

/** The config fields the `num_buckets` rule reads. */
export interface NumBucketsFields {
  readonly num_buckets: NumBuckets | null;
  readonly lsh_attn_chunk_length: number;
  readonly max_position_embeddings: number;
}

/**
 * `num_buckets` for an LSH forward of (padded) length `seqLen`: the configured value, or for `null`
 * HF's `_set_num_buckets`: `e = bit_length(2·(L // c)) − 1`, `N = 2^e`, factorised to
 * `[2^(e//2), 2^(e − e//2)]` when `N > 2·max(⌊sqrt(max_position_embeddings // c)⌋, c)`. HF stores the
 * result at the layer's first hashing forward and reuses it for every later length; callers do the same.
 * @throws ShapeError for `null` when `seqLen ≤ lsh_attn_chunk_length` (such a forward takes the short
 *   path, hashes nothing and so fixes no bucket count); ConfigError('config') unless `config` is an object.
 */
export function resolveNumBuckets(config: NumBucketsFields, seqLen: number): NumBuckets {
  objectArg(
    'resolveNumBuckets',
    'config',
    config,
    'the num_buckets fields {num_buckets, lsh_attn_chunk_length, max_position_embeddings} (a ReformerConfig)',
  );
  if (config.num_buckets !== null) return config.num_buckets;
  const c = config.lsh_attn_chunk_length;
  if (!(seqLen > c)) {
    throw new ShapeError(
      `lsh attention: the automatic num_buckets needs a sequence longer than lsh_attn_chunk_length (${seqLen} <= ${c}); ` +
        'such a short sequence uses full attention and needs no buckets: set num_buckets or resolve it at a longer length',
    );
  }
  const e = bitLength(2 * Math.floor(seqLen / c)) - 1;
  const n = 2 ** e;
  const limit = 2 * Math.max(Math.floor(Math.sqrt(Math.floor(config.max_position_embeddings / c))), c);
  if (n > limit) return Object.freeze([2 ** Math.floor(e / 2), 2 ** (e - Math.floor(e / 2))]);
  return n;
}

function bitLength(n: number): number {
  let bits = 0;
  for (let x = n; x > 0; x = Math.floor(x / 2)) bits++;
  return bits;
}

function evenAbove(x: unknown): number {
  const n = typeof x === 'number' && Number.isFinite(x) ? Math.max(2, Math.ceil(Math.abs(x))) : 2;
  return Math.min(n % 2 === 0 ? n : n + 1, MAX_CONFIG_INT - 1);
}

function show(v: unknown): string {
  if (typeof v === 'string') return `"${v}" (a string)`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map((x) => show(x)).join(', ')}]`;
  if (typeof v === 'object') return 'an object';
  return String(v);
}
