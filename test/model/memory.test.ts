/**
 * Memory behaviour (paper Sec. 3, Table 3), measured with a backend that counts live buffer elements
 * under `scope()` stack discipline (what the WASM arena frees):
 * - reversible training keeps one layer's activations at a time: its peak barely grows with depth,
 *   while store-activations mode grows by at least the two streams [L, D] per layer;
 * - a chunked feed-forward bounds the [rows, feed_forward_size] temporaries.
 */
import { describe, expect, it } from 'vitest';
import type { Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { Rng } from '../../src/util/rng.js';

/** Reference backend that tracks live elements (floats + ints) and their peak, freeing at scope exit. */
class CountingBackend extends ReferenceBackend {
  live = 0;
  peak = 0;
  override floats(n: number): Float {
    this.bump(n);
    return super.floats(n);
  }
  override ints(n: number): Int32Array {
    this.bump(n);
    return super.ints(n);
  }
  override scope<T>(fn: () => T): T {
    const mark = this.live;
    try {
      return fn();
    } finally {
      this.live = mark;
    }
  }
  private bump(n: number): void {
    this.live += n;
    this.peak = Math.max(this.peak, this.live);
  }
}

const L = 64;
const D = 16;

function config(layers: number, ffChunk = 0): ReformerConfig {
  return new ReformerConfig({
    vocab_size: 16,
    hidden_size: D,
    num_attention_heads: 2,
    attention_head_size: 8,
    feed_forward_size: 64,
    attn_layers: Array.from({ length: layers }, (_, i) => (i % 2 === 0 ? 'local' : 'lsh')),
    local_attn_chunk_length: 16,
    lsh_attn_chunk_length: 16,
    num_buckets: 4,
    is_decoder: true,
    axial_pos_shape: [8, 8],
    axial_pos_embds_dim: [8, 8],
    max_position_embeddings: L,
    hidden_dropout_prob: 0,
    local_attention_probs_dropout_prob: 0,
    chunk_size_feed_forward: ffChunk,
  });
}

/** Peak live elements of one training step above what existed before it (parameters excluded). */
function stepPeak(layers: number, reversible: boolean, ffChunk = 0): number {
  const be = new CountingBackend();
  const m = new ReformerModelWithLMHead(be, config(layers, ffChunk), { reversible });
  const r = new Rng(1);
  const ids = new Int32Array(L).map(() => r.int(16));
  const before = be.live;
  be.peak = before;
  be.scope(() => m.lossAndGrad({ inputIds: ids, batch: 1, seqLen: L }));
  return be.peak - before;
}

describe('activation memory', () => {
  it('reversible: the peak barely grows with depth; store-activations grows by ≥ 2·L·D per layer', () => {
    const rev2 = stepPeak(2, true);
    const rev6 = stepPeak(6, true);
    const store2 = stepPeak(2, false);
    const store6 = stepPeak(6, false);
    const revPerLayer = (rev6 - rev2) / 4;
    const storePerLayer = (store6 - store2) / 4;
    console.log(`peak live elements per extra layer: reversible ${revPerLayer}, store ${storePerLayer} (L·D = ${L * D})`);
    expect(storePerLayer).toBeGreaterThanOrEqual(2 * L * D);
    // what a reversible layer keeps: its buckets (ints) and seeds, far below one [L, D] stream
    expect(revPerLayer).toBeLessThan(0.5 * L * D);
  });

  it('a chunked feed-forward lowers the peak (temporaries [chunk, F] instead of [L, F])', () => {
    const whole = stepPeak(2, true, 0);
    const chunked = stepPeak(2, true, 8);
    expect(chunked).toBeLessThan(whole);
  });
});
