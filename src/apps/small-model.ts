/**
 * The HF `ReformerConfig` fields of the applications' small models (duplication, genome, forecast,
 * fashion-mnist; passkey to follow): one place for what they share. Browser-safe.
 *
 * Every such model: `gelu_new` (trax ReformerLM's FastGelu), no dropout (short runs), untied output
 * embeddings, no EOS token, chunks of its attention layers one back; causal (HF `is_decoder`, no chunk
 * ahead) unless `causal: false` (bidirectional, one chunk ahead as well: the CLI's task models do the
 * same). Positions: HF axial embeddings `[rows, cols]` with dims [d/2, d/2], or learned absolute ones.
 *
 * The builder does not validate: each application checks its own spec first (with its own field
 * names, e.g. `checkForecastModelSpec`), and `new ReformerConfig(...)` checks the fields again.
 */
import type { ReformerConfigInput } from '../config/fields.js';

/** The shape of a small model, in the applications' terms. */
export interface SmallModelSpec {
  /** HF vocab_size. */
  readonly vocabSize: number;
  /** HF pad_token_id (e.g. N for the genome: it only pads an evaluation window, never read causally). */
  readonly padTokenId: number;
  /** Causal LM (default true); false: a bidirectional encoder (classifiers). */
  readonly causal?: boolean;
  /** d_model (HF hidden_size); even with axial positions. */
  readonly hidden: number;
  /** HF num_attention_heads; attention_head_size = hidden / heads. */
  readonly heads: number;
  /** HF feed_forward_size. */
  readonly feedForward: number;
  /** HF attn_layers, e.g. ['local', 'lsh']. */
  readonly attnLayers: readonly ('local' | 'lsh')[];
  /** HF local_attn_chunk_length. */
  readonly localChunk: number;
  /** HF lsh_attn_chunk_length. */
  readonly lshChunk: number;
  /** HF num_hashes (training). */
  readonly numHashes: number;
  /** HF num_buckets; null: HF's rule 2·L/chunk at the first LSH forward. */
  readonly numBuckets: number | null;
  /** HF max_position_embeddings: the training length. */
  readonly maxPositions: number;
  /** HF axial_pos_shape [rows, cols] (rows · cols = maxPositions), or null for learned absolute positions. */
  readonly axialShape: readonly [number, number] | null;
  /** HF axial_norm_std (only with axialShape); absent: HF's 1.0. */
  readonly axialNormStd?: number;
  /** HF initializer_range; absent: HF's 0.02. */
  readonly initializerRange?: number;
  /** Write chunk_size_feed_forward and chunk_size_lm_head 0 (no chunking, HF's default) into the config. */
  readonly unchunked?: boolean;
}

/**
 * The config fields of `s` (see the file header), in the order the genome's results.json has printed them.
 * Source: HF `ReformerConfig` (transformers' configuration_reformer.py) field by field.
 */
export function smallModelConfig(s: SmallModelSpec): ReformerConfigInput {
  const causal = s.causal ?? true;
  const ahead = causal ? 0 : 1;
  const axial = s.axialShape;
  return {
    vocab_size: s.vocabSize,
    pad_token_id: s.padTokenId,
    eos_token_id: null,
    is_decoder: causal,
    hidden_size: s.hidden,
    num_attention_heads: s.heads,
    attention_head_size: s.hidden / s.heads,
    feed_forward_size: s.feedForward,
    attn_layers: [...s.attnLayers],
    local_attn_chunk_length: s.localChunk,
    lsh_attn_chunk_length: s.lshChunk,
    local_num_chunks_before: 1,
    local_num_chunks_after: ahead,
    lsh_num_chunks_before: 1,
    lsh_num_chunks_after: ahead,
    num_hashes: s.numHashes,
    num_buckets: s.numBuckets,
    axial_pos_embds: axial !== null,
    ...(axial !== null ? { axial_pos_shape: [axial[0], axial[1]], axial_pos_embds_dim: [s.hidden / 2, s.hidden / 2] } : {}),
    max_position_embeddings: s.maxPositions,
    ...(axial !== null && s.axialNormStd !== undefined ? { axial_norm_std: s.axialNormStd } : {}),
    ...(s.initializerRange !== undefined ? { initializer_range: s.initializerRange } : {}),
    hidden_act: 'gelu_new',
    hidden_dropout_prob: 0,
    local_attention_probs_dropout_prob: 0,
    lsh_attention_probs_dropout_prob: 0,
    ...(s.unchunked ? { chunk_size_feed_forward: 0, chunk_size_lm_head: 0 } : {}),
    tie_word_embeddings: false,
  };
}
