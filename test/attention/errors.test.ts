/** Attention errors say what was expected, what was given and how to fix it. */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { attentionBlockForward } from '../../src/attention/block.js';
import { attentionConfig } from '../../src/attention/config.js';
import { resolveNumBuckets } from '../../src/config/buckets.js';
import { lshSelfAttentionForward } from '../../src/attention/lsh-module.js';
import { localSelfAttentionForward } from '../../src/attention/local.js';
import { ConfigError, ShapeError, UsageError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';

const be = new ReferenceBackend();
const cfg = attentionConfig({
  hidden_size: 8,
  num_attention_heads: 2,
  attention_head_size: 4,
  is_decoder: true,
  num_hashes: 2,
  num_buckets: 4,
  lsh_attn_chunk_length: 8,
  lsh_num_chunks_before: 1,
  lsh_num_chunks_after: 0,
  local_attn_chunk_length: 8,
});
const w = () => ({ 'query_key.weight': be.floats(64), 'value.weight': be.floats(64) });
const x = (L: number) => be.floats(L * 8);

describe('attention errors', () => {
  it('a length that is not a multiple of the chunk length names the next valid length', () => {
    expect(() => lshSelfAttentionForward(be, cfg, w(), x(20), { batch: 1, seqLen: 20, rng: new Rng(1) })).toThrow(ShapeError);
    expect(() => lshSelfAttentionForward(be, cfg, w(), x(20), { batch: 1, seqLen: 20, rng: new Rng(1) })).toThrow(/pad the input to 24/);
    const lw = { 'query.weight': be.floats(64), 'key.weight': be.floats(64), 'value.weight': be.floats(64) };
    expect(() => localSelfAttentionForward(be, cfg, lw, x(9), { batch: 1, seqLen: 9 })).toThrow(
      /local_attn_chunk_length 8; pad the input to 16/,
    );
    // any length up to the chunk length is fine (short path)
    expect(() => lshSelfAttentionForward(be, cfg, w(), x(5), { batch: 1, seqLen: 5 })).not.toThrow();
  });

  it('odd or empty num_buckets is a ConfigError naming the field', () => {
    for (const nb of [3, [2, 3], [], 0]) {
      const bad = { ...cfg, num_buckets: nb as number };
      const run = () => lshSelfAttentionForward(be, bad, w(), x(16), { batch: 1, seqLen: 16, rng: new Rng(1) });
      expect(run).toThrow(ConfigError);
      expect(run).toThrow(/num_buckets/);
    }
  });

  it('no source of rotations is a UsageError that lists the three options', () => {
    expect(() => lshSelfAttentionForward(be, cfg, w(), x(16), { batch: 1, seqLen: 16 })).toThrow(UsageError);
    expect(() => lshSelfAttentionForward(be, cfg, w(), x(16), { batch: 1, seqLen: 16 })).toThrow(/rotations.*rng.*hash_seed/);
    // hash_seed alone is enough, and gives the same rotations every time (HF re-seeds)
    const seeded = { ...cfg, hash_seed: 7 };
    const a = lshSelfAttentionForward(be, seeded, w(), x(16), { batch: 1, seqLen: 16 });
    const b = lshSelfAttentionForward(be, seeded, w(), x(16), { batch: 1, seqLen: 16 });
    expect(Array.from(a.cache.attention.rotations!)).toEqual(Array.from(b.cache.attention.rotations!));
  });

  it('bad shapes and masks are ShapeErrors with the expected shape', () => {
    expect(() => lshSelfAttentionForward(be, cfg, w(), x(15), { batch: 1, seqLen: 16, rng: new Rng(1) })).toThrow(
      /hidden_states must have shape \[batch 1, seq 16, hidden 8\] = 128 elements, got 120/,
    );
    expect(() =>
      lshSelfAttentionForward(be, cfg, w(), x(16), { batch: 1, seqLen: 16, rng: new Rng(1), attentionMask: new Int32Array(16).fill(2) }),
    ).toThrow(/attention_mask values must be 0 \(padding\) or 1/);
    expect(() => lshSelfAttentionForward(be, cfg, w(), x(16), { batch: 1, seqLen: 16, rotations: be.floats(3) })).toThrow(
      /rotations must have shape \[heads 2, head_size 4, num_hashes 2, rotation_size\/2 2\]/,
    );
    expect(() => lshSelfAttentionForward(be, cfg, w(), x(16), { batch: 1, seqLen: 16, buckets: new Int32Array(64).fill(99) })).toThrow(
      /outside round 0's range/,
    );
  });

  it('a block with the wrong weights for its kind names the missing weight', () => {
    const weights = {
      'layer_norm.weight': be.floats(8),
      'layer_norm.bias': be.floats(8),
      'self_attention.query_key.weight': be.floats(64),
      'self_attention.value.weight': be.floats(64),
      'output.dense.weight': be.floats(64),
    };
    expect(() => attentionBlockForward(be, cfg, 'local', weights, x(16), { batch: 1, seqLen: 16 })).toThrow(
      /missing weight "self_attention.query.weight"/,
    );
  });

  it('automatic num_buckets follows HF _set_num_buckets', () => {
    const auto = (L: number, c: number, maxPos: number) =>
      resolveNumBuckets({ num_buckets: null, lsh_attn_chunk_length: c, max_position_embeddings: maxPos }, L);
    expect(auto(128, 4, 128)).toEqual([8, 8]); // lsh_auto_buckets_hashseed
    expect(auto(64, 8, 64)).toBe(16); // model_lm_eval_autopad (padded length 64)
    expect(auto(64, 8, 4096)).toBe(16);
    expect(auto(4096, 64, 4096)).toBe(128);
    expect(auto(65536, 64, 65536)).toEqual([32, 64]); // 2048 > 2·max(32, 64)
    expect(() => auto(4, 8, 64)).toThrow(ShapeError);
  });
});
