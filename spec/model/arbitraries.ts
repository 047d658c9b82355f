/**
 * fast-check arbitraries for model specs: tiny but complete Reformer configs (local and LSH layers,
 * causal or not, axial or plain positions, factorised buckets, dropout) and inputs (ids, padding masks,
 * labels with −100), small enough for float64 finite differences on the reference backend.
 */
import fc from 'fast-check';
import type { AttnLayerType, HiddenAct } from '../../src/config/fields.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';

export interface TinyCase {
  readonly config: ReformerConfig;
  readonly batch: number;
  readonly seqLen: number;
  /** [batch, seqLen] ids */
  readonly ids: Int32Array;
  /** [batch, seqLen] 1/0, or null */
  readonly mask: Int32Array | null;
  /** [batch, seqLen] labels with −100 on padding and a few random positions */
  readonly labels: Int32Array;
  /** seed for the model's initialisation / generator */
  readonly seed: number;
}

export interface TinyOptions {
  /** Causal LM (is_decoder, no look-ahead) only. */
  readonly causalOnly?: boolean;
  /** Allowed activations (gradient checks avoid relu's kink). */
  readonly acts?: readonly HiddenAct[];
  /** Allow dropout > 0 (hidden, and attention probabilities of LSH and local layers). */
  readonly dropout?: boolean;
  /** Allow padding masks. */
  readonly padding?: boolean;
}

/** A tiny valid config + input. Sequence length 16 (axial [4, 4]) with chunk lengths 4 or 8. */
export function arbTinyCase(opts: TinyOptions = {}): fc.Arbitrary<TinyCase> {
  return fc
    .record({
      layers: fc.array(fc.constantFrom<AttnLayerType>('lsh', 'local'), { minLength: 1, maxLength: 3 }),
      heads: fc.integer({ min: 1, max: 2 }),
      headSize: fc.constantFrom(2, 3, 4),
      hidden: fc.constantFrom(6, 8),
      ff: fc.integer({ min: 3, max: 9 }),
      lshChunk: fc.constantFrom(4, 8),
      localChunk: fc.constantFrom(4, 8),
      numHashes: fc.integer({ min: 1, max: 2 }),
      numBuckets: fc.constantFrom<number | number[]>(2, 4, [2, 2]),
      axial: fc.boolean(),
      act: fc.constantFrom<HiddenAct>(...(opts.acts ?? (['relu', 'gelu', 'gelu_new'] as const))),
      causal: opts.causalOnly ? fc.constant(true) : fc.boolean(),
      before: fc.integer({ min: 0, max: 1 }),
      after: fc.integer({ min: 0, max: 1 }),
      dropout: opts.dropout ? fc.constantFrom(0, 0.2) : fc.constant(0),
      attnDropout: opts.dropout ? fc.constantFrom(0, 0.3) : fc.constant(0),
      ffChunk: fc.constantFrom(0, 5),
      batch: fc.integer({ min: 1, max: 2 }),
      padded: opts.padding === false ? fc.constant(false) : fc.boolean(),
      padLen: fc.integer({ min: 1, max: 6 }),
      vocab: fc.integer({ min: 5, max: 13 }),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
      initStd: fc.constantFrom(0.3, 0.6),
    })
    .map((r) => {
      const L = 16;
      const after = r.causal ? 0 : r.after;
      const config = new ReformerConfig({
        vocab_size: r.vocab,
        hidden_size: r.hidden,
        num_attention_heads: r.heads,
        attention_head_size: r.headSize,
        feed_forward_size: r.ff,
        attn_layers: r.layers,
        lsh_attn_chunk_length: r.lshChunk,
        local_attn_chunk_length: r.localChunk,
        lsh_num_chunks_before: r.before,
        local_num_chunks_before: r.before,
        lsh_num_chunks_after: after,
        local_num_chunks_after: after,
        num_hashes: r.numHashes,
        num_buckets: r.numBuckets,
        is_decoder: r.causal,
        hidden_act: r.act,
        axial_pos_embds: r.axial,
        axial_pos_shape: [4, 4],
        axial_pos_embds_dim: [r.hidden / 2, r.hidden / 2],
        max_position_embeddings: L,
        hidden_dropout_prob: r.dropout,
        lsh_attention_probs_dropout_prob: r.attnDropout,
        local_attention_probs_dropout_prob: r.attnDropout,
        chunk_size_feed_forward: r.ffChunk,
        chunk_size_lm_head: r.ffChunk,
        initializer_range: r.initStd,
        axial_norm_std: 1,
        pad_token_id: 0,
        eos_token_id: 1,
      });
      // inputs from a small LCG seeded by r.seed (fast-check shrinks the seed, not the arrays)
      let s = r.seed >>> 0;
      const next = (n: number): number => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return s % n;
      };
      const ids = new Int32Array(r.batch * L);
      const labels = new Int32Array(r.batch * L);
      const mask = r.padded ? new Int32Array(r.batch * L).fill(1) : null;
      for (let b = 0; b < r.batch; b++) {
        for (let t = 0; t < L; t++) {
          const i = b * L + t;
          ids[i] = next(r.vocab);
          labels[i] = next(7) === 0 ? -100 : ids[i]!;
          // batch element b pads its last padLen positions (right padding) when masked
          if (mask && b === r.batch - 1 && t >= L - r.padLen) {
            mask[i] = 0;
            ids[i] = 0;
            labels[i] = -100;
          }
        }
      }
      return { config, batch: r.batch, seqLen: L, ids, mask, labels, seed: r.seed };
    });
}
