/**
 * Model presets for the CLI (`--preset tiny|small|base`). Each is a real Reformer in HF's terms:
 * mixed local and LSH layers (the trax/HF enwik8 pattern), axial position embeddings, reversible
 * layers, and the HF enwik8 byte vocabulary (id = byte + 2, 0 = pad, 1 = end of text; 258 ids).
 *
 * Sizing rule (2 CPU cores, about 10 minutes of training for the default): one training token costs
 * about 4× its forward FLOPs (forward, reversible recompute, backward ≈ 2×). The forward per token and
 * layer is ≈ 2·(projections + feed-forward) + attention-window work:
 *   local: 2·4·D²  + 2·2·D·F  + 4·H·d·W_local        (W = (before + 1)·chunk keys per query)
 *   lsh:   2·3·D²  + 2·2·D·F  + 4·H·d·W_lsh·R        (+ hashing, sorting)
 * plus the LM head 2·2D·V. `small` (D 128, F 256, H·d 128, W_local 8, W_lsh 128, R 1, 4 layers, V 258;
 * 603k parameters) is ≈ 1.3 MFLOP per token forward, ≈ 5 MFLOP per trained token, ≈ 21 GFLOP per
 * 4096-token step. Measured on the development machine (2 cores): one training step (batch 1, 4096
 * tokens, reversible backward) takes ≈ 0.4 s with the SIMD WASM backend on both cores (≈ 0.6 s on one;
 * ≈ 72 s with the plain reference backend), so the 8.5 minutes of `npm start` give ≈ 1,200 steps ≈ 5 M
 * tokens, a few passes over the ~1 MB embedded corpus: enough for a byte-level model to learn spelling
 * and common words. Larger widths would see fewer tokens than they have parameters in that time.
 *
 * Initialisation (measured, docs/TRAINING.md): HF's `axial_norm_std` 1.0 makes the position embeddings
 * 50× larger than the word embeddings (`initializer_range` 0.02); a short run then stays at the unigram
 * level (4.6 bits per byte after 265 steps). `small` and `tiny` use 0.02 for both.
 *
 * Local window (measured, docs/TRAINING.md "The local window"): with `local_attn_chunk_length` 64 a
 * query's 64–127 keys start out equally weighted, and the model sat on the ≈ 3.5 bits-per-byte bigram
 * plateau for ≈ 600 steps (`small`: 3.50 at step 400, 3.00 at 600). With chunk 4 (4–7 keys: the last few
 * characters) even the untrained uniform weights carry the previous characters, and it leaves the
 * plateau by step 200 (`small`: 2.91 at 200, 2.51 at 400; `tiny`: 2.67 at 400 against 3.49 with chunk
 * 64). The LSH layers still attend across the whole window.
 */
import { ConfigError } from '../errors.js';
import type { ReformerConfigInput } from './fields.js';
import { ReformerConfig } from './reformer-config.js';
import { resolveOptions, type ReformerOptions } from './options.js';

export type PresetName = 'tiny' | 'small' | 'base';

/** The preset the CLI uses when none is given. */
export const DEFAULT_PRESET: PresetName = 'small';

export const PRESET_NAMES: readonly PresetName[] = Object.freeze(['tiny', 'small', 'base']);

export interface Preset {
  readonly name: PresetName;
  readonly config: ReformerConfig;
  readonly options: ReformerOptions;
  /** Training sequence length: `Π axial_pos_shape` (HF requires equality in training). */
  readonly seqLen: number;
  /** Why each choice was made (shown by the CLI's `--help` / model card). */
  readonly notes: readonly string[];
}

/** HF enwik8 conventions shared by all presets. */
const BYTE_LM: ReformerConfigInput = {
  vocab_size: 258, // 256 bytes + pad (0) + end of text (1); byte b has id b + 2 (HF google/reformer-enwik8 card)
  pad_token_id: 0,
  eos_token_id: 1,
  is_decoder: true, // causal LM (ReformerModelWithLMHead requires it)
  lsh_num_chunks_after: 0, // causal: never look ahead
  local_num_chunks_after: 0,
  lsh_num_chunks_before: 1, // paper Sec. 2: a chunk attends to itself and one chunk back
  local_num_chunks_before: 1,
  hidden_act: 'gelu_new', // trax ReformerLM's FastGelu
  axial_pos_embds: true,
  tie_word_embeddings: false,
};

const PRESETS: Partial<Record<string, { config: ReformerConfigInput; notes: string[] }>> = {
  tiny: {
    config: {
      ...BYTE_LM,
      hidden_size: 64,
      num_attention_heads: 2,
      attention_head_size: 32,
      feed_forward_size: 128,
      attn_layers: ['local', 'lsh'],
      local_attn_chunk_length: 4, // a query sees 4–7 keys: leaves the ≈ 3.5 plateau after ≈ 150 steps, not ≈ 800 (docs/TRAINING.md)
      lsh_attn_chunk_length: 64,
      num_hashes: 1,
      num_buckets: 32, // 2·L/chunk = 2·1024/64 (paper: chunk m = 2l/n_buckets)
      axial_pos_shape: [32, 32],
      axial_pos_embds_dim: [32, 32],
      max_position_embeddings: 1024,
      axial_norm_std: 0.02, // as the word embeddings (HF's 1.0 drowns the tokens in a short run)
      hidden_dropout_prob: 0,
      local_attention_probs_dropout_prob: 0,
      lsh_attention_probs_dropout_prob: 0,
      chunk_size_feed_forward: 0,
      chunk_size_lm_head: 0,
    },
    notes: [
      'smoke-test size: 2 layers (one local with chunk 4, one LSH with chunk 64), hidden 64, sequence 1024 (axial 32×32); seconds per step even on the reference backend',
    ],
  },
  small: {
    config: {
      ...BYTE_LM,
      hidden_size: 128, // each reversible stream; the encoder output is 256 wide
      num_attention_heads: 2,
      attention_head_size: 64, // H·d = 128 = D, as in HF's crime-and-punishment checkpoint (2 × 64)
      feed_forward_size: 256, // 2·D: the feed-forward dominates FLOPs at this width; 4·D would cost ~40% more per step
      attn_layers: ['local', 'lsh', 'local', 'lsh'], // HF crime-and-punishment pattern: local layers are cheap and exact, LSH layers reach across the whole 4096 tokens
      local_attn_chunk_length: 4, // a query sees 4–7 keys (chunk + one chunk back): short-range n-gram context from the first steps; the LSH layers reach across the window (docs/TRAINING.md)
      lsh_attn_chunk_length: 64,
      num_hashes: 1, // training rounds; LSH-1 trained models improve with more rounds at eval (paper Table 2)
      num_buckets: 128, // 2·L/chunk = 2·4096/64 (paper Sec. 2: m = 2l/n_buckets); HF's auto rule gives the same
      axial_pos_shape: [64, 64], // 64·64 = 4096 = training length; a 4096×128 table would be 524k parameters, axial is 8k
      axial_pos_embds_dim: [64, 64],
      max_position_embeddings: 4096,
      axial_norm_std: 0.02, // as the word embeddings: HF's 1.0 keeps a 10-minute run at the unigram level (docs/TRAINING.md)
      hidden_dropout_prob: 0, // 10 minutes is far from over-fitting: dropout would only slow learning
      local_attention_probs_dropout_prob: 0,
      lsh_attention_probs_dropout_prob: 0,
      chunk_size_feed_forward: 0, // [4096, 256] activations are 4 MB: no need to trade speed for memory
      chunk_size_lm_head: 0,
    },
    notes: [
      'default: 4 layers local/lsh/local/lsh, hidden 128, 2 heads × 64, feed-forward 256, sequence 4096 (axial 64×64), local chunks 4, LSH chunks 64, 128 buckets, 1 hash round',
      'local chunk 4 (a query sees the last 4–7 characters): leaves the ≈ 3.5 bits-per-byte plateau by step 200 instead of ≈ 600 (docs/TRAINING.md)',
      '603k parameters, ≈ 22 GFLOP per 4096-token training step: ≈ 0.4 s per step with the SIMD backend on 2 cores (development machine, chunk 64), ≈ 1,200 steps in the 8.5 minutes of npm start; 400 reach 2.5 bits per byte',
      'axial_norm_std 0.02 (HF: 1.0): position embeddings as large as the word embeddings, so a short run gets past the unigram level',
      'dropout 0 and no chunking: a 10-minute run under-fits, and 4096-token activations are small',
    ],
  },
  base: {
    config: {
      ...BYTE_LM,
      hidden_size: 256,
      num_attention_heads: 4,
      attention_head_size: 64,
      feed_forward_size: 1024,
      attn_layers: ['local', 'local', 'lsh', 'local', 'local', 'lsh'], // trax/HF enwik8 pattern (mostly local, every third LSH)
      local_attn_chunk_length: 128,
      lsh_attn_chunk_length: 128,
      num_hashes: 2,
      num_buckets: [16, 16], // 2·16384/128 = 256 buckets, factorised as HF does above its limit
      axial_pos_shape: [128, 128],
      axial_pos_embds_dim: [128, 128],
      max_position_embeddings: 16384,
      hidden_dropout_prob: 0.05, // HF default: longer runs start to over-fit a ~1 MB corpus
      local_attention_probs_dropout_prob: 0.05, // HF defaults: 0.05 on local attention probabilities, 0 on LSH
      lsh_attention_probs_dropout_prob: 0,
      chunk_size_feed_forward: 1024, // paper Eq. 10: bounded [1024, 1024] feed-forward activations
      chunk_size_lm_head: 1024,
    },
    notes: [
      'longer runs or faster machines: 6 layers (enwik8 pattern), hidden 256, 4 heads × 64, sequence 16384 (axial 128×128), 2 hash rounds, chunked feed-forward and LM head',
    ],
  },
};

/**
 * A preset by name. `overrides` are HF fields applied on top (validated together).
 * @throws ConfigError for an unknown name (field `preset`) or invalid overrides.
 */
export function preset(
  name: PresetName = DEFAULT_PRESET,
  overrides: ReformerConfigInput = {},
  options: Partial<ReformerOptions> = {},
): Preset {
  const p = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!p) {
    throw new ConfigError('preset', `is ${JSON.stringify(name)}; choose one of ${PRESET_NAMES.join(', ')} (default ${DEFAULT_PRESET})`);
  }
  const config = new ReformerConfig({ ...p.config, ...overrides });
  const seqLen = config.axial_pos_shape.reduce((a, b) => a * b, 1);
  return Object.freeze({ name, config, options: resolveOptions(options), seqLen, notes: Object.freeze([...p.notes]) });
}
