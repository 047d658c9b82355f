/**
 * `repeatAxialPositions` (model/extend-positions.ts): a model of length k·L whose coarse axial table is
 * the trained one repeated. Pinned: sequences of length ≤ L get bit-identical logits from both models
 * (LSH and local layers); the position table of the copy has period L (rows compared with the
 * original's); every other parameter is copied; k = ⌈seqLen / L⌉; a model without axial embeddings is
 * refused with the field named.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { AXIAL_COARSE_TABLE, repeatAxialPositions, repeatedAxialLength } from '../../src/model/extend-positions.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { Rng } from '../../src/util/rng.js';

const be = new ReferenceBackend({ dtype: 'f64' });
const V = 16;

function model(seed: number, axial = true): ReformerModelWithLMHead {
  const cfg = new ReformerConfig({
    vocab_size: V,
    hidden_size: 16,
    num_attention_heads: 2,
    attention_head_size: 8,
    feed_forward_size: 32,
    attn_layers: ['local', 'lsh'],
    lsh_attn_chunk_length: 8,
    local_attn_chunk_length: 4,
    num_hashes: 2,
    num_buckets: 4,
    is_decoder: true,
    axial_pos_embds: axial,
    axial_pos_shape: [4, 8],
    axial_pos_embds_dim: [8, 8],
    max_position_embeddings: 32,
    hidden_dropout_prob: 0,
    pad_token_id: 0,
    initializer_range: 0.5,
  });
  return new ReformerModelWithLMHead(be, cfg, { seed });
}

describe('repeatAxialPositions', () => {
  it('k = ⌈seqLen / L⌉; the copy takes k·L positions, keeps num_buckets and every non-positional weight', () => {
    const m = model(1);
    expect(repeatedAxialLength(m, 100)).toEqual({ trained: 32, extended: 128 });
    expect(repeatedAxialLength(m, 32)).toEqual({ trained: 32, extended: 32 });
    const c = repeatAxialPositions(m, 100);
    expect(c.config.axial_pos_shape).toEqual([16, 8]);
    expect(c.config.max_position_embeddings).toBe(128);
    expect(c.config.num_buckets).toBe(4);
    for (const e of m.parameters.entries) {
      if (e.name === AXIAL_COARSE_TABLE) continue;
      expect(Array.from(c.parameters.param(e.name)), e.name).toEqual(Array.from(m.parameters.param(e.name)));
    }
  });

  it('the coarse table repeats with period n₀: position t of the copy has the embedding of t mod L', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 33, max: 200 }), (seed, seqLen) => {
        const m = model(seed);
        const c = repeatAxialPositions(m, seqLen);
        const src = m.parameters.param(AXIAL_COARSE_TABLE);
        const dst = c.parameters.param(AXIAL_COARSE_TABLE);
        const d0 = 8;
        const rows = dst.length / d0;
        expect(rows).toBe((Math.ceil(seqLen / 32) * 32) / 8);
        for (let i = 0; i < rows; i++) {
          for (let j = 0; j < d0; j++) expect(Object.is(dst[i * d0 + j], src[(i % 4) * d0 + j])).toBe(true);
        }
      }),
      { numRuns: 20 },
    );
  });

  it('a sequence of the training length gets bit-identical logits from the copy (LSH rotations continue the same stream)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 4 }), (seed, k) => {
        const m = model(seed);
        const rng = new Rng(seed + 7);
        const ids = new Int32Array(32).map(() => rng.int(V));
        m.logits({ inputIds: ids.map((x) => (x + 1) % V), batch: 1, seqLen: 32 }); // advances m's random stream
        const c = repeatAxialPositions(m, 32 * k);
        const a = c.logits({ inputIds: ids, batch: 1, seqLen: 32 });
        const b = m.logits({ inputIds: ids, batch: 1, seqLen: 32 });
        for (let i = 0; i < a.length; i++) expect(Object.is(a[i], b[i])).toBe(true);
      }),
      { numRuns: 8 },
    );
  });

  it('a copy runs windows longer than the trained model accepts', () => {
    const m = model(3);
    const ids = new Int32Array(96).map((_, i) => (i * 7) % V);
    expect(() => m.logits({ inputIds: ids, batch: 1, seqLen: 96 })).toThrow(/position|axial/);
    const c = repeatAxialPositions(m, 96);
    const out = c.logits({ inputIds: ids, batch: 1, seqLen: 96 });
    expect(out.length).toBe(96 * V);
    expect(out.every((x) => Number.isFinite(x))).toBe(true);
  });

  it('refuses a model without axial embeddings, naming the field', () => {
    expect(() => repeatAxialPositions(model(1, false), 64)).toThrow(/axial_pos_embds: false/);
    expect(() => repeatAxialPositions({} as ReformerModelWithLMHead, 64)).toThrow(/ReformerModelWithLMHead/);
  });
});
