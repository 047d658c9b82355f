/**
 * Length rules of the encoder that several modules need (the model, the memory estimate, generation):
 * HF's chunk-length multiple for eval padding, the longest input a model takes and the block size of
 * the streamed output.
 */
import type { ReformerConfig } from '../config/reformer-config.js';
import { requireReformerConfig } from './validate-inputs.js';

/** Rows per block of the final LayerNorm and the output sink (at most ~16 MiB of [block, vocab] logits downstream). */
export function outputBlockRows(config: Pick<ReformerConfig, 'vocab_size'>): number {
  return Math.max(64, Math.min(4096, Math.floor((4 << 20) / Math.max(1, config.vocab_size))));
}

/**
 * lcm and min of the chunk lengths in use (HF `_get_least_common_mult_chunk_len`, `_get_min_chunk_len`).
 * @throws ConfigError unless `config` is a `ReformerConfig`.
 */
export function chunkLengthRule(config: ReformerConfig): { lcm: number; min: number } {
  requireReformerConfig(config, 'chunkLengthRule');
  const lengths = [...new Set(config.attn_layers)].map((t) =>
    t === 'lsh' ? config.lsh_attn_chunk_length : config.local_attn_chunk_length,
  );
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const lcm = lengths.reduce((a, b) => (a * b) / gcd(a, b));
  return { lcm, min: Math.min(...lengths) };
}

/**
 * The longest input a model of this config takes: min(max_position_embeddings, Π axial_pos_shape with
 * axial position embeddings), lowered to a multiple of the chunk lengths' lcm where longer inputs would
 * be padded past it (HF's eval padding). Generation's window and the decode cache's bound.
 */
export function maxContextLength(config: ReformerConfig): number {
  const cap = config.axial_pos_embds
    ? Math.min(
        config.max_position_embeddings,
        config.axial_pos_shape.reduce((a, b) => a * b, 1),
      )
    : config.max_position_embeddings;
  const { lcm, min } = chunkLengthRule(config);
  // inputs longer than the shortest chunk are padded to a multiple of lcm, which must stay ≤ cap
  return Math.max(Math.floor(cap / lcm) * lcm, Math.min(cap, min));
}
