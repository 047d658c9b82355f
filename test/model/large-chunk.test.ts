/**
 * Chunk lengths of 16384–32768 (one chunk spanning a long sequence): the chunk attention's [chunk, window]
 * score scratch is chunk² · 4 bytes and more. Regression of issue 18 bug 1: its size was computed in
 * 32-bit arithmetic and wrapped at 2^32 (the kernel then trapped with "memory access out of bounds"), and
 * the memory estimate did not count it (29.5× under at L = 8192 with one chunk).
 */
import { describe, expect, it } from 'vitest';
import { chunkAttentionScratchBytes } from '../../src/backend/ops/attention/scratch.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ResourceError } from '../../src/errors.js';
import { estimateMemory } from '../../src/model/memory/estimate.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { Rng } from '../../src/util/rng.js';

const be = loadWasmBackendSync({ threads: 1 });

describe('large chunk lengths', () => {
  it('the kernel reports the scratch size without wrapping, equal to the TypeScript twin', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 200; i++) {
      const d = 1 + rng.int(128);
      const c = 1 + rng.int(40000);
      const before = rng.int(3);
      const after = rng.int(2);
      for (const backward of [0, 1]) {
        const kernel = be.kernels.chunkAttentionScratchBytes(d, c, before, after, backward);
        expect(kernel).toBe(chunkAttentionScratchBytes(d, c, before, after, backward === 1));
      }
    }
    // chunk 32768, one chunk before: S alone is 32768 × 65536 × 4 bytes = 8 GiB (it used to wrap to a small number)
    expect(be.kernels.chunkAttentionScratchBytes(64, 32768, 1, 0, 0)).toBeGreaterThan(8 * 2 ** 30);
  });

  it('a chunk whose scratch cannot fit the memory is a ResourceError naming the chunk fields, not a trap', () => {
    be.scope(() => {
      const n = 32768;
      const d = 4;
      const q = be.floats(n * d);
      const pos = be.ints(n);
      for (let i = 0; i < n; i++) pos[i] = i;
      const run = () =>
        be.chunkAttentionForward({
          n,
          d,
          chunkLength: n,
          numChunksBefore: 0,
          numChunksAfter: 0,
          q,
          k: q,
          v: q,
          pos,
          causal: true,
          maskValue: -1e9,
          selfMaskValue: -1e5,
          out: be.floats(n * d),
          lse: be.floats(n),
        });
      expect(run).toThrow(ResourceError);
      expect(run).toThrow(/lsh_attn_chunk_length \/ local_attn_chunk_length/);
    });
  });

  it('a model with one chunk spanning 32768 tokens is refused with the estimate before anything runs', () => {
    const cfg = config(32768);
    const model = new ReformerModelWithLMHead(be, cfg, {});
    const ids = new Int32Array(32768);
    expect(() => model.loss({ inputIds: ids, batch: 1, seqLen: 32768 })).toThrow(ResourceError);
  });

  it('the estimate counts the score scratch: L = 8192 in one chunk, measured ≤ estimate ≤ 1.1 × measured + 4 MiB', () => {
    const L = 8192;
    const cfg = config(L);
    be.scope(() => {
      const start = be.arena.liveBytes;
      const model = new ReformerModelWithLMHead(be, cfg, {});
      const rng = new Rng(1);
      const ids = new Int32Array(L).map(() => rng.int(cfg.vocab_size));
      be.arena.resetPeak();
      be.scope(() => model.loss({ inputIds: ids, batch: 1, seqLen: L }));
      const measured = be.arena.peakBytes - start;
      const est = estimateMemory(cfg, { batch: 1, seqLen: L, mode: 'forward' });
      expect(measured).toBeGreaterThan(L * L * 4); // the [chunk, window] scores dominate
      expect(est.bytes).toBeGreaterThanOrEqual(measured);
      expect(est.bytes).toBeLessThanOrEqual(1.1 * measured + 4 * 2 ** 20);
    });
  });
});

/** One LSH layer whose chunk spans the whole sequence (the short path: plain attention over L). */
function config(L: number): ReformerConfig {
  return new ReformerConfig({
    vocab_size: 16,
    hidden_size: 16,
    num_attention_heads: 1,
    attention_head_size: 8,
    feed_forward_size: 16,
    attn_layers: ['lsh'],
    lsh_attn_chunk_length: L,
    num_hashes: 1,
    num_buckets: 2,
    is_decoder: true,
    axial_pos_embds: false,
    max_position_embeddings: L,
    hidden_dropout_prob: 0,
    pad_token_id: 0,
  });
}
