/**
 * Laws of the reversible layers (paper Sec. 3, Eq. 7–9):
 * - the inverse rebuilds (X1, X2) from (Y1, Y2): near-exact in float64, close in float32;
 * - reversible-backward gradients == store-activations gradients (every parameter and the input);
 * checked on the bare machinery with feed-forward sub-layers (F = G = FF with dropout) and on whole
 * models with LSH and local attention.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import type { FeedForwardSpec, FeedForwardWeights } from '../../src/nn/feed-forward.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { ReformerModel } from '../../src/model/reformer-model.js';
import {
  reversibleBackward,
  reversibleForward,
  reversibleInverse,
  type ReversibleBlock,
  type SublayerCall,
} from '../../src/model/reversible.js';
import { FeedForwardSublayer } from '../../src/model/sublayers.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers/close.js';
import { arbTinyCase, type TinyCase } from './arbitraries.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { runs } from '../helpers/runs.js';

const f64 = new ReferenceBackend({ dtype: 'f64' });
const f32 = new ReferenceBackend({ dtype: 'f32' });

/** Named tolerances of these laws. */
const TOL = {
  inverse64: { atol: 1e-11, rtol: 1e-11 },
  inverse32: { atol: 2e-5, rtol: 2e-5 },
  grads64: { atol: 1e-11, rtol: 1e-9 },
  grads32: { atol: 2e-5, rtol: 2e-4 },
} as const;

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

/** Scaled tolerance: atol·max(1, max|want|). */
function scaled(tol: { atol: number; rtol: number }, want: ArrayLike<number>): { atol: number; rtol: number } {
  return { atol: tol.atol * Math.max(1, maxAbs(want)), rtol: tol.rtol };
}

// ------------------------------------------------------------------ machinery with FF sub-layers

interface FfStack {
  blocks: ReversibleBlock[];
  params: Float;
  grads: Float;
}

function ffStack(be: Backend, layers: number, D: number, F: number, dropout: number, chunk: number, seed: number): FfStack {
  const per = 2 * D + F * D + F + D * F + D;
  const params = be.floats(2 * layers * per);
  const grads = be.floats(2 * layers * per);
  new Rng(seed).fillNormal(params, 0, 0.5);
  const spec: FeedForwardSpec = { hidden: D, inner: F, act: 'gelu_new', eps: 1e-12, chunkSize: chunk, dropout };
  let off = 0;
  const take = (buf: Float, o: number): FeedForwardWeights => {
    let p = o;
    const v = (n: number): Float => {
      p += n;
      return buf.subarray(p - n, p);
    };
    return { lnWeight: v(D), lnBias: v(D), w1: v(F * D), b1: v(F), w2: v(D * F), b2: v(D) };
  };
  const blocks: ReversibleBlock[] = [];
  for (let l = 0; l < layers; l++) {
    const f = new FeedForwardSublayer(be, spec, take(params, off), take(grads, off));
    off += per;
    const g = new FeedForwardSublayer(be, spec, take(params, off), take(grads, off));
    off += per;
    blocks.push({ f, g });
  }
  return { blocks, params, grads };
}

const arbStack = fc.record({
  layers: fc.integer({ min: 1, max: 4 }),
  D: fc.integer({ min: 2, max: 7 }),
  F: fc.integer({ min: 2, max: 9 }),
  rows: fc.integer({ min: 1, max: 12 }),
  dropout: fc.constantFrom(0, 0.3),
  chunk: fc.constantFrom(0, 2, 5),
  seed: fc.integer({ min: 0, max: 2 ** 30 }),
});

describe('reversible machinery (F = G = feed-forward)', () => {
  it('inverse rebuilds the inputs: near-exact in f64, close in f32', () => {
    fc.assert(
      fc.property(arbStack, (s) => {
        for (const [be, tol] of [
          [f64, TOL.inverse64],
          [f32, TOL.inverse32],
        ] as const) {
          const st = ffStack(be, s.layers, s.D, s.F, s.dropout, s.chunk, s.seed);
          const n = s.rows * s.D;
          const x1 = be.floats(n);
          const x2 = be.floats(n);
          new Rng(s.seed + 1).fillNormal(x1);
          new Rng(s.seed + 2).fillNormal(x2);
          const want1 = x1.slice();
          const want2 = x2.slice();
          const call: SublayerCall = { batch: 1, seqLen: s.rows, training: true, attentionMask: null, rng: new Rng(s.seed + 3) };
          const rec = reversibleForward(be, st.blocks, x1, x2, n, call, 'reversible');
          reversibleInverse(be, st.blocks, rec, rec.y1, rec.y2);
          expectClose(rec.y1, want1, scaled(tol, want1), `X1 (${be.name})`);
          expectClose(rec.y2, want2, scaled(tol, want2), `X2 (${be.name})`);
        }
      }),
      { numRuns: runs(40) },
    );
  });

  it('reversible-backward gradients == store-activations gradients (params and inputs)', () => {
    fc.assert(
      fc.property(arbStack, (s) => {
        const run = (mode: 'reversible' | 'store') => {
          const be = f64;
          const st = ffStack(be, s.layers, s.D, s.F, s.dropout, s.chunk, s.seed);
          const n = s.rows * s.D;
          const x1 = be.floats(n);
          const x2 = be.floats(n);
          new Rng(s.seed + 1).fillNormal(x1);
          new Rng(s.seed + 2).fillNormal(x2);
          const call: SublayerCall = { batch: 1, seqLen: s.rows, training: true, attentionMask: null, rng: new Rng(s.seed + 3) };
          const rec = reversibleForward(be, st.blocks, x1, x2, n, call, mode);
          const dy1 = be.floats(n);
          const dy2 = be.floats(n);
          new Rng(s.seed + 4).fillNormal(dy1);
          new Rng(s.seed + 5).fillNormal(dy2);
          reversibleBackward(be, st.blocks, rec, dy1, dy2);
          return { grads: st.grads, dx1: dy1, dx2: dy2 };
        };
        const a = run('reversible');
        const b = run('store');
        expectClose(a.grads, b.grads, scaled(TOL.grads64, b.grads), 'parameter gradients');
        expectClose(a.dx1, b.dx1, scaled(TOL.grads64, b.dx1), 'dX1');
        expectClose(a.dx2, b.dx2, scaled(TOL.grads64, b.dx2), 'dX2');
      }),
      { numRuns: runs(40) },
    );
  });

  it('the law can fail: inverting with fresh dropout masks (no replay) does not rebuild the inputs', () => {
    const be = f64;
    const st = ffStack(be, 2, 4, 6, 0.5, 0, 11);
    const n = 8 * 4;
    const x1 = be.floats(n);
    const x2 = be.floats(n);
    new Rng(1).fillNormal(x1);
    new Rng(2).fillNormal(x2);
    const want = x2.slice();
    const call: SublayerCall = { batch: 1, seqLen: 8, training: true, attentionMask: null, rng: new Rng(3) };
    const rec = reversibleForward(be, st.blocks, x1, x2, n, call, 'reversible');
    const forged = { ...rec, states: rec.states.map(() => ({ f: { seeds: [1, 2] }, g: { seeds: [3, 4] } })) };
    reversibleInverse(be, st.blocks, forged, rec.y1, rec.y2);
    let err = 0;
    for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(rec.y2[i]! - want[i]!));
    expect(err).toBeGreaterThan(1e-3);
  });
});

// ------------------------------------------------------------------ whole models

/**
 * The shrunk counterexample of FC_SEED=661066044 (a CI run): its f32 inverse error (9.9e-5) was within
 * rounding of the residual stream (|Y1| 14.1) but not of the embedding (|emb| 2.95), which the
 * tolerance used to scale by. Replayed in every run as an explicit example.
 */
const REGRESSION_661066044: TinyCase = {
  config: new ReformerConfig({
    vocab_size: 5,
    hidden_size: 8,
    num_attention_heads: 2,
    attention_head_size: 2,
    feed_forward_size: 5,
    attn_layers: ['local', 'lsh'],
    lsh_attn_chunk_length: 4,
    local_attn_chunk_length: 4,
    lsh_num_chunks_before: 0,
    lsh_num_chunks_after: 0,
    local_num_chunks_before: 0,
    local_num_chunks_after: 0,
    num_hashes: 1,
    num_buckets: [2, 2],
    is_decoder: true,
    hidden_act: 'gelu',
    axial_pos_embds: false,
    axial_pos_shape: [4, 4],
    axial_pos_embds_dim: [4, 4],
    max_position_embeddings: 16,
    hidden_dropout_prob: 0.2,
    lsh_attention_probs_dropout_prob: 0,
    local_attention_probs_dropout_prob: 0,
    chunk_size_feed_forward: 0,
    chunk_size_lm_head: 0,
    initializer_range: 0.6,
    axial_norm_std: 1,
    pad_token_id: 0,
    eos_token_id: 1,
  }),
  batch: 2,
  seqLen: 16,
  ids: Int32Array.from([3, 2, 1, 2, 1, 1, 4, 1, 0, 2, 0, 4, 3, 3, 2, 2, 2, 3, 0, 1, 1, 2, 4, 3, 0, 1, 4, 4, 0, 1, 2, 2]),
  mask: null,
  labels: Int32Array.from([
    3, 2, 1, -100, 1, 1, 4, 1, 0, -100, 0, 4, 3, 3, -100, 2, -100, -100, 0, 1, -100, 2, 4, 3, 0, 1, 4, 4, 0, 1, 2, 2,
  ]),
  seed: 27,
};

describe('reversible Reformer (LSH and local attention)', () => {
  it('reconstructed layer-0 inputs equal the embedding output (f64 near-exact, f32 close)', () => {
    fc.assert(
      fc.property(arbTinyCase({ dropout: true }), (c) => {
        for (const [be, tol] of [
          [f64, TOL.inverse64],
          [f32, TOL.inverse32],
        ] as const) {
          const model = new ReformerModel(be, c.config, { options: { seed: c.seed } });
          const fwd = model.forward({ inputIds: c.ids, batch: c.batch, seqLen: c.seqLen, attentionMask: c.mask, training: true });
          const { y1, y2 } = fwd.tape!.run.record;
          const { x1, x2 } = model.reconstructInputs(fwd);
          // X1 = Y1 − F(X2) cancels: its rounding error follows the size of the residual stream (the
          // last layer's Y1, Y2, which grow with depth and weight scale), not the size of X1 itself
          // (FC_SEED=661066044: |emb| 2.95, |Y1| 14.1, f32 error 9.9e-5).
          const t = { atol: tol.atol * Math.max(1, maxAbs(fwd.embedding), maxAbs(y1), maxAbs(y2)), rtol: tol.rtol };
          expectClose(x1, fwd.embedding, t, `X1 (${be.name})`);
          expectClose(x2, fwd.embedding, t, `X2 (${be.name})`);
        }
      }),
      { numRuns: runs(25), examples: [[REGRESSION_661066044]] },
    );
  });

  it('LM: reversible gradients == store-activations gradients (f64 tight, f32 close), same loss', () => {
    fc.assert(
      fc.property(arbTinyCase({ causalOnly: true, dropout: true }), (c) => {
        for (const [be, tol] of [
          [f64, TOL.grads64],
          [f32, TOL.grads32],
        ] as const) {
          const run = (reversible: boolean) => {
            const m = new ReformerModelWithLMHead(be, c.config, { seed: c.seed, reversible });
            const r = m.forwardBackward({ inputIds: c.ids, batch: c.batch, seqLen: c.seqLen, attentionMask: c.mask, labels: c.labels });
            return { loss: r.loss, grads: m.grads, dEmb: r.dEmbedding };
          };
          const a = run(true);
          const b = run(false);
          expect(a.loss).toBe(b.loss); // identical forward
          expectClose(a.grads, b.grads, scaled(tol, b.grads), `gradients (${be.name})`);
          expectClose(a.dEmb, b.dEmb, scaled(tol, b.dEmb), `d embedding (${be.name})`);
        }
      }),
      { numRuns: runs(20) },
    );
  });
});
