/**
 * HF fixtures, attention level, checked directly (the conformance runner checks the same files
 * through its registry): outputs, per-round lse, buckets and sort indices.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { lshCaptures } from '../../src/attention/lsh.js';
import { lshSelfAttentionForward } from '../../src/attention/lsh-module.js';
import { localSelfAttentionForward } from '../../src/attention/local.js';
import { attentionBlockForward } from '../../src/attention/block.js';
import { loadFixture } from '../../spec/helpers/fixtures.js';
import { scaledError } from '../../spec/helpers/close.js';

const RTOL = 2e-5;

function f32(be: ReferenceBackend, src: Float32Array) {
  const out = be.floats(src.length);
  out.set(src);
  return out;
}

const LSH_CASES = [
  'lsh_nh1_nb8_c8_enc',
  'lsh_nh2_nb4_c16_causal',
  'lsh_nh4_nb8_c8_b1a1_holes',
  'lsh_nh2_nb2x4_c8_b0a0_pad',
  'lsh_nh2_nb8_c8_causal_pad',
  'lsh_auto_buckets_hashseed',
  'lsh_standard_attn_short_seq',
];

describe('HF LSHSelfAttention fixtures (reference backend, f32)', () => {
  for (const name of LSH_CASES) {
    it(name, () => {
      const be = new ReferenceBackend();
      const fx = loadFixture(name);
      const cfg = fx.json.config;
      const t = fx.tensors;
      const [B, L] = t.entry('in:hidden_states').shape as number[];
      const r = lshSelfAttentionForward(
        be,
        cfg,
        { 'query_key.weight': f32(be, t.float32('query_key.weight')), 'value.weight': f32(be, t.float32('value.weight')) },
        f32(be, t.float32('in:hidden_states')),
        {
          batch: B!,
          seqLen: L!,
          attentionMask: t.has('in:attention_mask') ? t.int32('in:attention_mask') : null,
          rotations: t.has('cap:rotations') ? f32(be, t.float32('cap:rotations')) : null,
        },
      );
      const want = t.float32('out:hidden_states');
      expect(scaledError(r.out, want)).toBeLessThan(RTOL);
      if (t.has('cap:buckets')) {
        const a = r.cache.attention;
        expect(Array.from(a.buckets!)).toEqual(Array.from(t.int32('cap:buckets')));
        expect(Array.from(a.sorted)).toEqual(Array.from(t.int32('cap:sorted_bucket_idx')));
        expect(Array.from(a.undoSorted)).toEqual(Array.from(t.int32('cap:undo_sorted_bucket_idx')));
        const caps = lshCaptures(a);
        expect(scaledError(caps.lse, t.float32('cap:lse'))).toBeLessThan(RTOL);
        expect(scaledError(caps.outPerHash, t.float32('cap:out_per_hash'))).toBeLessThan(RTOL);
        expect(r.numBuckets).toEqual(fx.json.effective_num_buckets);
      }
    });
  }
});

describe('HF LocalSelfAttention fixtures', () => {
  for (const name of ['local_c16_b1a0_enc', 'local_c8_b1a0_causal_pad', 'local_c8_b0a0_causal', 'local_standard_attn_short_seq']) {
    it(name, () => {
      const be = new ReferenceBackend();
      const fx = loadFixture(name);
      const t = fx.tensors;
      const [B, L] = t.entry('in:hidden_states').shape as number[];
      const r = localSelfAttentionForward(
        be,
        fx.json.config,
        {
          'query.weight': f32(be, t.float32('query.weight')),
          'key.weight': f32(be, t.float32('key.weight')),
          'value.weight': f32(be, t.float32('value.weight')),
        },
        f32(be, t.float32('in:hidden_states')),
        { batch: B!, seqLen: L!, attentionMask: t.has('in:attention_mask') ? t.int32('in:attention_mask') : null },
      );
      expect(scaledError(r.out, t.float32('out:hidden_states'))).toBeLessThan(RTOL);
    });
  }
});

describe('HF ReformerAttention fixture', () => {
  it('lsh_attention_block_causal', () => {
    const be = new ReferenceBackend();
    const fx = loadFixture('lsh_attention_block_causal');
    const t = fx.tensors;
    const [B, L] = t.entry('in:hidden_states').shape as number[];
    const w = (n: string) => f32(be, t.float32(n));
    const r = attentionBlockForward(
      be,
      fx.json.config,
      'lsh',
      {
        'layer_norm.weight': w('layer_norm.weight'),
        'layer_norm.bias': w('layer_norm.bias'),
        'self_attention.query_key.weight': w('self_attention.query_key.weight'),
        'self_attention.value.weight': w('self_attention.value.weight'),
        'output.dense.weight': w('output.dense.weight'),
      },
      w('in:hidden_states'),
      { batch: B!, seqLen: L!, rotations: w('cap:rotations') },
    );
    expect(scaledError(r.cache.normed, t.float32('cap:layer_norm_out'))).toBeLessThan(RTOL);
    expect(scaledError(r.cache.attnOut, t.float32('cap:self_attention_out'))).toBeLessThan(RTOL);
    expect(scaledError(r.out, t.float32('out:hidden_states'))).toBeLessThan(RTOL);
    expect(Array.from(r.cache.buckets!)).toEqual(Array.from(t.int32('cap:buckets')));
  });
});
