/**
 * What "causal" means for a Reformer decoder (README "Causality of LSH attention"; HF and trax behave the
 * same way). Two halves, each pinned:
 * - local attention and every other part of the model are strictly causal: the logits at t never change
 *   when tokens after t change (bit for bit);
 * - LSH attention is causal only given the buckets: no query attends to a later key, but the later
 *   tokens' buckets move the chunk boundaries of the sorted sequence, so the logits at t can change when
 *   tokens after t change. The attention-level laws are in spec/attention/lsh-laws.spec.ts.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import type { AttnLayerType } from '../../src/config/fields.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { Rng } from '../../src/util/rng.js';

const be = new ReferenceBackend({ dtype: 'f64' });
const L = 64;
const V = 32;

function model(layers: AttnLayerType[], seed: number): ReformerModelWithLMHead {
  const cfg = new ReformerConfig({
    vocab_size: V,
    hidden_size: 16,
    num_attention_heads: 2,
    attention_head_size: 8,
    feed_forward_size: 32,
    attn_layers: layers,
    lsh_attn_chunk_length: 8,
    local_attn_chunk_length: 8,
    num_hashes: 2,
    num_buckets: 4,
    hash_seed: 1,
    is_decoder: true,
    axial_pos_embds: false,
    max_position_embeddings: L,
    hidden_dropout_prob: 0,
    pad_token_id: 0,
    initializer_range: 0.5, // order-one weights: attention far from uniform
  });
  return new ReformerModelWithLMHead(be, cfg, { seed });
}

/** Largest |Δ logit| over positions ≤ t when every token after t is replaced. */
function changeBefore(m: ReformerModelWithLMHead, t: number, seed: number): { before: number; after: number } {
  const rng = new Rng(seed);
  const a = new Int32Array(L).map(() => rng.int(V));
  const b = a.slice();
  for (let i = t + 1; i < L; i++) b[i] = (a[i]! + 1 + rng.int(V - 1)) % V;
  const la = m.logits({ inputIds: a, batch: 1, seqLen: L });
  const lb = m.logits({ inputIds: b, batch: 1, seqLen: L });
  let before = 0;
  let after = 0;
  for (let i = 0; i < L * V; i++) {
    const d = Math.abs(la[i]! - lb[i]!);
    if (Math.floor(i / V) <= t) before = Math.max(before, d);
    else after = Math.max(after, d);
  }
  return { before, after };
}

describe('causality of a Reformer decoder', () => {
  it('local attention only: the logits at t never depend on tokens after t (bit for bit)', () => {
    const m = model(['local', 'local'], 3);
    for (const t of [0, 7, 8, 30, 62]) {
      const r = changeBefore(m, t, t + 1);
      expect(r.before).toBe(0);
      expect(r.after).toBeGreaterThan(0); // the change is real
    }
  });

  it('with LSH layers the logits at t can depend on tokens after t (through the chunk boundaries only)', () => {
    const m = model(['local', 'lsh'], 3);
    let worst = 0;
    for (let s = 0; s < 10; s++) worst = Math.max(worst, changeBefore(m, 31, 100 + s).before);
    expect(worst).toBeGreaterThan(1e-3);
  });
});
