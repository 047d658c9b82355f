/**
 * The fields of HuggingFace's `ReformerConfig` (transformers `configuration_reformer.py`) with HF's
 * names, meanings and defaults: the one set of defaults every module reads (attention, model, CLI).
 */
import type { NumBuckets } from './buckets.js';

/** The attention type of one layer (HF `attn_layers` entries). */
export type AttnLayerType = 'lsh' | 'local';

/** HF `hidden_act` values this library implements (`ACT2FN` entries). */
export type HiddenAct = 'relu' | 'gelu' | 'gelu_new';

/**
 * `num_buckets`: an even integer, a list of even factors (factorised hashing, bucket count = product),
 * or `null` (HF picks ≈ 2·L/chunk at the first LSH forward, see `resolveNumBuckets`).
 */
export type { NumBuckets } from './buckets.js';

/** Every field of HF's `ReformerConfig`, with HF's names. Shapes and units in the comments. */
export interface ReformerConfigFields {
  /** Per-head size d of queries/keys/values. `num_attention_heads·attention_head_size` need not equal `hidden_size`. */
  readonly attention_head_size: number;
  /** Attention type per layer; the number of layers is its length. */
  readonly attn_layers: readonly AttnLayerType[];
  /** Std of the normal init of the axial position weights. */
  readonly axial_norm_std: number;
  /** Axial (true) or plain learned (false) position embeddings. */
  readonly axial_pos_embds: boolean;
  /** Axial factorisation [n0, n1, ...] of positions; product == L in training, ≥ L in eval. */
  readonly axial_pos_shape: readonly number[];
  /** Width d_k of each axial table; must sum to `hidden_size`. */
  readonly axial_pos_embds_dim: readonly number[];
  /** Rows per LM-head chunk (0 = no chunking). Changes memory only, never results. */
  readonly chunk_size_lm_head: number;
  /** Rows per feed-forward chunk (0 = no chunking; paper Eq. 10). Changes memory only, never results. */
  readonly chunk_size_feed_forward: number;
  readonly eos_token_id: number | null;
  /** Inner width of the feed-forward. */
  readonly feed_forward_size: number;
  /** If set, every rotation draw is re-seeded with it (HF: `torch.manual_seed(hash_seed)`; testing only). */
  readonly hash_seed: number | null;
  readonly hidden_act: HiddenAct;
  /** Dropout on embeddings, attention output, feed-forward and final output (and axial rows in training). */
  readonly hidden_dropout_prob: number;
  /** Model width D of each reversible stream (the encoder output is 2·D wide). */
  readonly hidden_size: number;
  /** Std of the normal init of linear and embedding weights. */
  readonly initializer_range: number;
  /** Causal self-attention (required by the LM head). */
  readonly is_decoder: boolean;
  readonly layer_norm_eps: number;
  readonly local_num_chunks_before: number;
  readonly local_num_chunks_after: number;
  readonly local_attention_probs_dropout_prob: number;
  readonly local_attn_chunk_length: number;
  readonly lsh_attn_chunk_length: number;
  readonly lsh_attention_probs_dropout_prob: number;
  readonly lsh_num_chunks_before: number;
  readonly lsh_num_chunks_after: number;
  /** Longest sequence (after eval padding) the model accepts. */
  readonly max_position_embeddings: number;
  readonly num_attention_heads: number;
  readonly num_buckets: NumBuckets | null;
  /** Hash rounds R of LSH attention. */
  readonly num_hashes: number;
  readonly pad_token_id: number | null;
  readonly vocab_size: number;
  /** HF Reformer never ties (the decoder is [vocab, 2·D], the embedding [vocab, D]); must be false. */
  readonly tie_word_embeddings: boolean;
  /** Generation cache switch (kept for HF compatibility; this library has no generation cache). */
  readonly use_cache: boolean;
  readonly classifier_dropout: number | null;
  /** Derived: `attn_layers.length` (HF sets it in `__init__`). */
  readonly num_hidden_layers: number;
  /** Always "reformer". */
  readonly model_type: 'reformer';
}

/** HF's defaults (`ReformerConfig.__init__` and, for `chunk_size_feed_forward`, `PretrainedConfig`). */
export const REFORMER_DEFAULTS: Readonly<Omit<ReformerConfigFields, 'num_hidden_layers' | 'model_type'>> = Object.freeze({
  attention_head_size: 64,
  attn_layers: Object.freeze(['local', 'lsh', 'local', 'lsh', 'local', 'lsh'] as AttnLayerType[]),
  axial_norm_std: 1.0,
  axial_pos_embds: true,
  axial_pos_shape: Object.freeze([64, 64]),
  axial_pos_embds_dim: Object.freeze([64, 192]),
  chunk_size_lm_head: 0,
  chunk_size_feed_forward: 0,
  eos_token_id: 2,
  feed_forward_size: 512,
  hash_seed: null,
  hidden_act: 'relu',
  hidden_dropout_prob: 0.05,
  hidden_size: 256,
  initializer_range: 0.02,
  is_decoder: false,
  layer_norm_eps: 1e-12,
  local_num_chunks_before: 1,
  local_num_chunks_after: 0,
  local_attention_probs_dropout_prob: 0.05,
  local_attn_chunk_length: 64,
  lsh_attn_chunk_length: 64,
  lsh_attention_probs_dropout_prob: 0.0,
  lsh_num_chunks_before: 1,
  lsh_num_chunks_after: 0,
  max_position_embeddings: 4096,
  num_attention_heads: 12,
  num_buckets: null,
  num_hashes: 1,
  pad_token_id: 0,
  vocab_size: 320,
  tie_word_embeddings: false,
  use_cache: true,
  classifier_dropout: null,
});

/** Names of the Reformer fields (everything else in a config.json goes to `extra`). */
export const REFORMER_FIELD_NAMES: readonly string[] = Object.freeze([
  ...Object.keys(REFORMER_DEFAULTS),
  'num_hidden_layers',
  'model_type',
]);

/**
 * Fields of HF's generic `PretrainedConfig` that a Reformer config.json may carry (written by
 * `save_pretrained` or the Hub); kept in `extra` like any other unknown key, but expected there.
 */
export const HF_PRETRAINED_CONFIG_FIELD_NAMES: readonly string[] = Object.freeze([
  '_name_or_path',
  'add_cross_attention',
  'architectures',
  'bad_words_ids',
  'bos_token_id',
  'chunk_size_feed_forward',
  'cross_attention_hidden_size',
  'decoder_start_token_id',
  'diversity_penalty',
  'do_sample',
  'early_stopping',
  'eos_token_id',
  'finetuning_task',
  'forced_bos_token_id',
  'forced_eos_token_id',
  'id2label',
  'is_encoder_decoder',
  'label2id',
  'length_penalty',
  'max_length',
  'min_length',
  'no_repeat_ngram_size',
  'num_beam_groups',
  'num_beams',
  'num_return_sequences',
  'output_attentions',
  'output_hidden_states',
  'output_scores',
  'prefix',
  'problem_type',
  'pruned_heads',
  'remove_invalid_values',
  'repetition_penalty',
  'return_dict',
  'return_dict_in_generate',
  'sep_token_id',
  'task_specific_params',
  'temperature',
  'tie_encoder_decoder',
  'tie_word_embeddings',
  'tokenizer_class',
  'top_k',
  'top_p',
  'torch_dtype',
  'torchscript',
  'transformers_version',
  'typical_p',
  'use_bfloat16',
  'use_cache',
]);

/**
 * Keys of a config object that are neither Reformer fields nor generic HF config fields: most likely a
 * misspelt field (they are kept and written back, as HF does, but change nothing).
 */
export function unrecognisedConfigKeys(obj: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(obj).filter((k) => !REFORMER_FIELD_NAMES.includes(k) && !HF_PRETRAINED_CONFIG_FIELD_NAMES.includes(k));
}

/** Input of the constructor: any subset of the fields, plus unknown keys (kept in `extra`). */
export type ReformerConfigInput = Partial<{ -readonly [K in keyof ReformerConfigFields]: unknown }> & Record<string, unknown>;
