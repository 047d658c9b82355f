/**
 * The small config.json of the classifier tests (`reformer train --task classify --config`): the HF
 * fixture's classifier shape (test/fixtures: 2 layers local/lsh, hidden 32, 2×16 heads, ff 64, chunks of
 * 8, 4 buckets, axial positions [4, 8] = 32 tokens), byte vocabulary (the preset's), one hash round.
 */

/** That config with `changes` on top (e.g. `{ num_hashes: 2 }`); a new object each call. */
export function tinyClassifierConfig(changes: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hidden_size: 32,
    num_attention_heads: 2,
    attention_head_size: 16,
    feed_forward_size: 64,
    attn_layers: ['local', 'lsh'],
    local_attn_chunk_length: 8,
    lsh_attn_chunk_length: 8,
    num_buckets: 4,
    num_hashes: 1,
    axial_pos_shape: [4, 8],
    axial_pos_embds_dim: [16, 16],
    max_position_embeddings: 32,
    ...changes,
  };
}
