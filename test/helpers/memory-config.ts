/**
 * The small decoder config of the memory tests (test/model/memory-estimate.test.ts,
 * memory-estimate-host.test.ts, decode-memory.test.ts), whose estimates are checked against the WASM arena's
 * measured high-water mark: vocab 64, hidden 64, 2 heads × 32, feed-forward 256 (relu), LSH chunks of 32
 * and local chunks of 64 with one chunk before, 2 hash rounds, causal, no dropout, pad id 0, axial
 * positions [a0, L / a0] (dims [32, 32]) with a0 = 2^⌊log2(L) / 2⌋ and max_position_embeddings = L.
 */
import type { AttnLayerType, ReformerConfigInput } from '../../src/config/fields.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';

/**
 * That config for `layers` and length `L` (a power of two), with `changes` on top (e.g.
 * `{ hidden_dropout_prob: 0.1 }`); a new config each call. @throws ConfigError as `ReformerConfig`.
 */
export function memoryTestConfig(layers: AttnLayerType[], L: number, changes: ReformerConfigInput = {}): ReformerConfig {
  const a0 = 2 ** Math.floor(Math.log2(L) / 2);
  return new ReformerConfig({
    vocab_size: 64,
    hidden_size: 64,
    num_attention_heads: 2,
    attention_head_size: 32,
    feed_forward_size: 256,
    attn_layers: layers,
    lsh_attn_chunk_length: 32,
    local_attn_chunk_length: 64,
    lsh_num_chunks_before: 1,
    local_num_chunks_before: 1,
    num_hashes: 2,
    is_decoder: true,
    hidden_act: 'relu',
    axial_pos_embds: true,
    axial_pos_shape: [a0, L / a0],
    axial_pos_embds_dim: [32, 32],
    max_position_embeddings: L,
    hidden_dropout_prob: 0,
    pad_token_id: 0,
    ...changes,
  });
}
