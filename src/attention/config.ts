/**
 * The configuration fields the attention code reads, with HuggingFace `ReformerConfig` names, and the
 * checks and derived values shared by LSH attention, local attention and the attention block.
 *
 * `AttentionConfig` is a structural subset of HF's `ReformerConfig`: the model's full config object
 * can be passed wherever an `AttentionConfig` is expected.
 */
import { ConfigError, ShapeError } from '../errors.js';

/** HF `num_buckets`: an even int, a list of even factors (factorised hashing), or null (automatic). */
export type NumBuckets = number | readonly number[];

/** The `ReformerConfig` fields used by attention (HF names and meanings). */
export interface AttentionConfig {
  /** D: width of the residual stream. */
  readonly hidden_size: number;
  /** H: number of heads. */
  readonly num_attention_heads: number;
  /** d: size of one head; `H·d` may differ from D. */
  readonly attention_head_size: number;
  /** Causal masking (key position > query position is masked). */
  readonly is_decoder: boolean;
  /** LayerNorm epsilon of the attention block (HF default 1e-12). */
  readonly layer_norm_eps?: number;

  /** LSH: hash rounds R (HF default 1; may be overridden per forward). */
  readonly num_hashes?: number;
  /** LSH: buckets per round (int or factor list); null/undefined = automatic (see `autoNumBuckets`). */
  readonly num_buckets?: NumBuckets | null;
  /** LSH: chunk length c over the sorted sequence (HF default 64). */
  readonly lsh_attn_chunk_length?: number;
  readonly lsh_num_chunks_before?: number;
  readonly lsh_num_chunks_after?: number;
  /** LSH: if set, every rotation draw uses a generator seeded with this value (HF re-seeds torch). */
  readonly hash_seed?: number | null;
  /** Used by the automatic `num_buckets` rule only (HF default 4096). */
  readonly max_position_embeddings?: number;

  /** Local attention: chunk length (HF default 64). */
  readonly local_attn_chunk_length?: number;
  readonly local_num_chunks_before?: number;
  readonly local_num_chunks_after?: number;
}

/** HF fp32 mask value for padding and causal masking (`mask_value_float32`). */
export const MASK_VALUE = -1e9;
/** HF fp32 self-mask value of shared-QK attention (`self_mask_value_float32`; paper App. A: 10^5). */
export const SELF_MASK_VALUE = -1e5;
/** Epsilon of HF's key length-normalisation `_len_norm` (`x·rsqrt(mean(x²) + 1e-6)`). */
export const KEY_NORM_EPS = 1e-6;

/** HF defaults of the fields above (configuration_reformer.py). */
export const ATTENTION_DEFAULTS = {
  layer_norm_eps: 1e-12,
  num_hashes: 1,
  lsh_attn_chunk_length: 64,
  lsh_num_chunks_before: 1,
  lsh_num_chunks_after: 0,
  max_position_embeddings: 4096,
  local_attn_chunk_length: 64,
  local_num_chunks_before: 1,
  local_num_chunks_after: 0,
} as const;

/** Chunking of one attention type. */
export interface ChunkSpec {
  chunkLength: number;
  numChunksBefore: number;
  numChunksAfter: number;
}

export function lshChunkSpec(cfg: AttentionConfig): ChunkSpec {
  return {
    chunkLength: cfg.lsh_attn_chunk_length ?? ATTENTION_DEFAULTS.lsh_attn_chunk_length,
    numChunksBefore: cfg.lsh_num_chunks_before ?? ATTENTION_DEFAULTS.lsh_num_chunks_before,
    numChunksAfter: cfg.lsh_num_chunks_after ?? ATTENTION_DEFAULTS.lsh_num_chunks_after,
  };
}

export function localChunkSpec(cfg: AttentionConfig): ChunkSpec {
  return {
    chunkLength: cfg.local_attn_chunk_length ?? ATTENTION_DEFAULTS.local_attn_chunk_length,
    numChunksBefore: cfg.local_num_chunks_before ?? ATTENTION_DEFAULTS.local_num_chunks_before,
    numChunksAfter: cfg.local_num_chunks_after ?? ATTENTION_DEFAULTS.local_num_chunks_after,
  };
}

function checkPositiveInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ConfigError(field, `must be a positive integer, got ${String(v)}`);
  }
  return v;
}

function checkNonNegativeInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new ConfigError(field, `must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}

/** Checks the head layout fields; returns `{ hidden, heads, headSize, all = heads·headSize }`. */
export function headLayout(cfg: AttentionConfig): { hidden: number; heads: number; headSize: number; all: number } {
  const hidden = checkPositiveInt('hidden_size', cfg.hidden_size);
  const heads = checkPositiveInt('num_attention_heads', cfg.num_attention_heads);
  const headSize = checkPositiveInt('attention_head_size', cfg.attention_head_size);
  return { hidden, heads, headSize, all: heads * headSize };
}

/** Validates a chunk spec (config fields named by `prefix`, `lsh` or `local`). */
export function checkChunkSpec(prefix: 'lsh' | 'local', spec: ChunkSpec): void {
  checkPositiveInt(`${prefix}_attn_chunk_length`, spec.chunkLength);
  checkNonNegativeInt(`${prefix}_num_chunks_before`, spec.numChunksBefore);
  checkNonNegativeInt(`${prefix}_num_chunks_after`, spec.numChunksAfter);
}

/**
 * HF's sequence-length rule for chunked attention: `seqLen <= chunkLength` takes the short path
 * (ordinary attention over all positions); otherwise `seqLen` must be a multiple of `chunkLength`.
 * Padding is the model's job, so a bad length throws a ShapeError naming the next valid length.
 * @returns true for the short path.
 */
export function checkSequenceLength(prefix: 'lsh' | 'local', seqLen: number, chunkLength: number): boolean {
  if (!Number.isInteger(seqLen) || seqLen < 1) {
    throw new ShapeError(`${prefix} attention: sequence length must be a positive integer, got ${seqLen}`);
  }
  if (seqLen <= chunkLength) return true;
  if (seqLen % chunkLength !== 0) {
    const next = Math.ceil(seqLen / chunkLength) * chunkLength;
    throw new ShapeError(
      `${prefix} attention: sequence length ${seqLen} is not a multiple of ${prefix}_attn_chunk_length ` +
        `${chunkLength}; pad the input to ${next} (attention_mask 0 on the padding) or use a length <= ${chunkLength}`,
    );
  }
  return false;
}

/**
 * Bucket factors of a `num_buckets` value: an int `n` is `[n]`; a list is used as is.
 * Every factor must be an even integer >= 2 (HF asserts this).
 */
export function bucketFactors(numBuckets: NumBuckets): number[] {
  const factors = typeof numBuckets === 'number' ? [numBuckets] : [...numBuckets];
  if (factors.length === 0) throw new ConfigError('num_buckets', 'an empty list has no buckets; use an even int or e.g. [8, 8]');
  for (const f of factors) {
    if (typeof f !== 'number' || !Number.isInteger(f) || f < 2 || f % 2 !== 0) {
      throw new ConfigError(
        'num_buckets',
        `every bucket count must be an even integer >= 2 (angular LSH takes argmax over [xR, -xR]), got ` +
          `${JSON.stringify(numBuckets)}; use e.g. ${Math.max(2, Math.round(Number(f) / 2) * 2) || 2}`,
      );
    }
  }
  return factors;
}

/** Π factors: the number of buckets per round before the padding bucket. */
export function bucketCount(numBuckets: NumBuckets): number {
  return bucketFactors(numBuckets).reduce((a, f) => a * f, 1);
}

/** Σ factors / 2: the last axis of the rotations `[heads, d, num_hashes, rotationSize/2]`. */
export function rotationHalfSize(numBuckets: NumBuckets): number {
  return bucketFactors(numBuckets).reduce((a, f) => a + f / 2, 0);
}

/**
 * HF `_set_num_buckets`: with `num_buckets = None`, at the first LSH forward of length L,
 * `e = bit_length(2·(L // c)) − 1`, `N = 2^e`; if `N > 2·max(floor(sqrt(max_position_embeddings // c)), c)`
 * the factorised `[2^(e//2), 2^(e − e//2)]` is used. HF stores the result in the config and reuses it
 * for later lengths; callers should do the same with the value returned by the LSH forward.
 */
export function autoNumBuckets(seqLen: number, chunkLength: number, maxPositionEmbeddings: number): NumBuckets {
  const e = bitLength(2 * Math.floor(seqLen / chunkLength)) - 1;
  if (e < 1) {
    throw new ShapeError(
      `lsh attention: automatic num_buckets needs seq_len > lsh_attn_chunk_length (${seqLen} <= ${chunkLength}); ` +
        'short sequences use full attention and need no buckets',
    );
  }
  const n = 2 ** e;
  const limit = 2 * Math.max(Math.floor(Math.sqrt(Math.floor(maxPositionEmbeddings / chunkLength))), chunkLength);
  if (n > limit) return [2 ** Math.floor(e / 2), 2 ** (e - Math.floor(e / 2))];
  return n;
}

function bitLength(n: number): number {
  let bits = 0;
  while (n > 0) {
    bits++;
    n = Math.floor(n / 2);
  }
  return bits;
}
