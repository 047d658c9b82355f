/**
 * The configuration fields the attention code reads (HF `ReformerConfig` names; the defaults are the
 * config's, src/config/fields.ts), the masking constants, and the chunking rule shared by LSH and
 * local attention.
 *
 * `AttentionConfig` is a structural subset of `ReformerConfigFields`: a `ReformerConfig` (or an HF
 * `config.json` object) can be passed wherever an `AttentionConfig` is expected. `attentionConfig()`
 * completes a partial one with HF's defaults.
 */
import { ConfigError, ShapeError } from '../errors.js';
import { REFORMER_DEFAULTS, type ReformerConfigFields } from '../config/fields.js';
import { objectArg } from '../util/args.js';

/** The `ReformerConfig` fields attention reads. */
export const ATTENTION_FIELDS = [
  'hidden_size',
  'num_attention_heads',
  'attention_head_size',
  'is_decoder',
  'layer_norm_eps',
  'num_hashes',
  'num_buckets',
  'lsh_attn_chunk_length',
  'lsh_num_chunks_before',
  'lsh_num_chunks_after',
  'hash_seed',
  'max_position_embeddings',
  'local_attn_chunk_length',
  'local_num_chunks_before',
  'local_num_chunks_after',
] as const;

/** The attention fields of HF's `ReformerConfig` (names, meanings and defaults: src/config/fields.ts). */
export type AttentionConfig = Pick<ReformerConfigFields, (typeof ATTENTION_FIELDS)[number]>;

/**
 * An `AttentionConfig` with every field given in `fields` and HF's default for the others (no validation
 * of the values here: the attention functions check the fields they read).
 * @throws ConfigError('fields') unless `fields` is an object (or absent).
 */
export function attentionConfig(fields: Partial<AttentionConfig> = {}): AttentionConfig {
  objectArg('attentionConfig', 'fields', fields, 'an object of HF ReformerConfig attention fields such as { num_hashes: 2 } (or none)');
  const out: Record<string, unknown> = {};
  for (const k of ATTENTION_FIELDS) out[k] = fields[k] !== undefined ? fields[k] : REFORMER_DEFAULTS[k];
  return out as unknown as AttentionConfig;
}

/**
 * The config argument of the attention functions: an object (a `ReformerConfig`, a parsed config.json,
 * or `attentionConfig({...})`). O(1); the fields are checked where they are read (`headLayout`, `chunkingFor`).
 * @throws ConfigError('config').
 */
export function attentionConfigArg(where: string, cfg: unknown): asserts cfg is AttentionConfig {
  objectArg(where, 'config', cfg, 'an AttentionConfig (a ReformerConfig, or attentionConfig({...}) for HF defaults)');
}

/** HF fp32 mask value for padding and causal masking (`mask_value_float32`). */
export const MASK_VALUE = -1e9;
/** HF fp32 self-mask value of shared-QK attention (`self_mask_value_float32`; paper App. A: 10^5). */
export const SELF_MASK_VALUE = -1e5;
/** Epsilon of HF's key length-normalisation `_len_norm` (`x·rsqrt(mean(x²) + 1e-6)`). */
export const KEY_NORM_EPS = 1e-6;

/** Chunking of one attention type. */
export interface ChunkSpec {
  chunkLength: number;
  numChunksBefore: number;
  numChunksAfter: number;
}

/** The `lsh_*` chunking fields. */
export function lshChunkSpec(cfg: AttentionConfig): ChunkSpec {
  return { chunkLength: cfg.lsh_attn_chunk_length, numChunksBefore: cfg.lsh_num_chunks_before, numChunksAfter: cfg.lsh_num_chunks_after };
}

/** The `local_*` chunking fields. */
export function localChunkSpec(cfg: AttentionConfig): ChunkSpec {
  return {
    chunkLength: cfg.local_attn_chunk_length,
    numChunksBefore: cfg.local_num_chunks_before,
    numChunksAfter: cfg.local_num_chunks_after,
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

/** The chunking a forward of length L actually uses. */
export interface Chunking {
  /** The configured chunking, or for the short path one chunk of L without neighbours. */
  readonly chunk: ChunkSpec;
  /** `L ≤ chunk length`: HF's plain attention over all positions (LSH: no hashing, one round). */
  readonly shortPath: boolean;
}

/**
 * HF's sequence-length rule for chunked attention (`prefix` names the config fields, `lsh` or `local`):
 * `L ≤ chunk length` takes the short path (ordinary attention over all positions); otherwise L must be
 * a multiple of the chunk length. Padding is the model's job.
 * @throws ConfigError for a bad chunk field; ShapeError for a bad length (names the next valid length).
 */
export function chunkingFor(prefix: 'lsh' | 'local', spec: ChunkSpec, seqLen: number): Chunking {
  checkPositiveInt(`${prefix}_attn_chunk_length`, spec.chunkLength);
  checkNonNegativeInt(`${prefix}_num_chunks_before`, spec.numChunksBefore);
  checkNonNegativeInt(`${prefix}_num_chunks_after`, spec.numChunksAfter);
  if (!Number.isInteger(seqLen) || seqLen < 1) {
    throw new ShapeError(`${prefix} attention: sequence length must be a positive integer, got ${seqLen}`);
  }
  const c = spec.chunkLength;
  if (seqLen <= c) return { chunk: { chunkLength: seqLen, numChunksBefore: 0, numChunksAfter: 0 }, shortPath: true };
  if (seqLen % c !== 0) {
    const next = Math.ceil(seqLen / c) * c;
    throw new ShapeError(
      `${prefix} attention: sequence length ${seqLen} is not a multiple of ${prefix}_attn_chunk_length ` +
        `${c}; pad the input to ${next} (attention_mask 0 on the padding) or use a length <= ${c}`,
    );
  }
  return { chunk: spec, shortPath: false };
}

/** Query rows per streamed block of the attention forward (rounded to whole chunks; at least one chunk). */
export const ATTENTION_BLOCK_ROWS = 4096;

/** Query chunks per streamed block. */
export function chunksPerBlock(chunkLength: number, blockRows = ATTENTION_BLOCK_ROWS): number {
  return Math.max(1, Math.floor(blockRows / chunkLength));
}
