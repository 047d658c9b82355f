/**
 * Law: there is one forward. Evaluation, the training forward and the reversible recompute run the same
 * code (src/attention/block.ts, lsh-head.ts, nn/feed-forward.ts), and what a call keeps for a backward
 * never changes what it computes:
 *
 * - Attention block: `y += F(x)` keeping nothing, the LSH buckets, or the whole cache gives the same
 *   bits, and the kept buckets agree, for every chunking, mask, round count, the short path,
 *   paper-exact attention and attention dropout; on the reference backend (f32, f64) and WASM.
 * - The block equals the HF module composition LayerNorm → LSHSelfAttention / LocalSelfAttention →
 *   output dense (float64, up to rounding: the block projects and merges head by head).
 * - The streamed block size never changes results (reference backend: bit-identical).
 * - Model: the evaluation forward equals the training forward (reversible and store-activations,
 *   dropout 0) bit for bit on both backends, with the same buckets; the streamed loss/logits equal the
 *   LM head on the output; the streamed training step (`trainRows`) gives the gradients of forward +
 *   `backward`; `forwardRows` hands out the rows of `forward().output`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { attentionBlockAddForward, type AttentionBlockWeights, type AttentionKeep, type AttentionKind } from '../../src/attention/block.js';
import { localSelfAttentionForward } from '../../src/attention/local.js';
import { lshSelfAttentionForward } from '../../src/attention/lsh-module.js';
import { ReformerModel } from '../../src/model/reformer-model.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { lmHeadForward, lmHeadLoss } from '../../src/nn/lm-head.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { Rng } from '../../src/util/rng.js';
import { arbCase, configOf, copyOf, maskOf, normal, seqLenOf, type AttnCase } from '../attention/helpers.js';
import { expectClose } from '../helpers/close.js';
import { runs } from '../helpers/runs.js';
import { arbTinyCase } from './arbitraries.js';

/** Float64: the block and the module composition sum the output projection in another order (head by head). */
const TOL_F64 = { atol: 1e-9, rtol: 1e-9 } as const;

const f64 = new ReferenceBackend({ dtype: 'f64' });
const f32 = new ReferenceBackend({ dtype: 'f32' });
const wasm = loadWasmBackendSync({ threads: 1, poisonFreed: true });

function blockWeights(be: Backend, kind: AttentionKind, c: AttnCase, rng: Rng): AttentionBlockWeights {
  const all = c.heads * c.headSize;
  const proj = kind === 'lsh' ? ['query_key', 'value'] : ['query', 'key', 'value'];
  const w: Record<string, Float> = {
    'layer_norm.weight': normal(be, c.hidden, rng),
    'layer_norm.bias': normal(be, c.hidden, rng),
    'output.dense.weight': normal(be, c.hidden * all, rng, 0.5),
  };
  for (const p of proj) w[`self_attention.${p}.weight`] = normal(be, all * c.hidden, rng, 0.7);
  return w as unknown as AttentionBlockWeights;
}

interface BlockRun {
  kind: AttentionKind;
  c: AttnCase;
  short: boolean;
  paper: boolean;
  dropout: boolean;
  blockRows: number;
}

const arbBlockRun: fc.Arbitrary<BlockRun> = arbCase({ maxNumChunks: 7, maxHashes: 3 }).chain((c) =>
  fc.record({
    c: fc.constant(c),
    kind: fc.constantFrom<AttentionKind>('lsh', 'local'),
    short: fc.boolean(),
    paper: fc.boolean(),
    dropout: fc.boolean(),
    blockRows: fc.constantFrom(c.chunkLength, 2 * c.chunkLength, 3 * c.chunkLength, 4096),
  }),
);

/** y0 + F(x) of one case, keeping `keep`; returns y and the kept buckets. */
function runBlock(be: Backend, r: BlockRun, keep: AttentionKeep, blockRows = r.blockRows): { y: Float; buckets: Int32Array | null } {
  const { c, kind, short } = r;
  const L = short ? c.chunkLength : seqLenOf(c);
  // short: seqLen <= chunk length, one chunk and one round (HF's plain-attention path)
  const cfg = short ? { ...configOf(c), lsh_attn_chunk_length: L + (c.seed % 3), local_attn_chunk_length: L + (c.seed % 3) } : configOf(c);
  const rng = new Rng(c.seed);
  const w = blockWeights(be, kind, c, rng);
  const x = normal(be, c.batch * L * c.hidden, rng);
  const y = normal(be, c.batch * L * c.hidden, rng);
  const maskJs = maskOf(c.mask, c.batch, L, rng);
  const res = attentionBlockAddForward(
    be,
    cfg,
    kind,
    w,
    x,
    y,
    {
      batch: c.batch,
      seqLen: L,
      attentionMask: maskJs,
      rng: new Rng(c.seed + 1),
      paperExact: r.paper,
      dropout: r.dropout ? { prob: 0.3, seed: c.seed >>> 0 } : null,
      blockRows,
    },
    keep,
  );
  return { y, buckets: res.buckets ? Int32Array.from(res.buckets) : null };
}

describe('attention block: what a forward keeps never changes what it computes', () => {
  for (const [name, be] of [
    ['reference f64', f64],
    ['reference f32', f32],
    ['WASM', wasm],
  ] as const) {
    it(`keep none / buckets / cache: the same bits and the same buckets (${name})`, () => {
      fc.assert(
        fc.property(arbBlockRun, (r) => {
          be.scope(() => {
            const none = runBlock(be, r, 'none');
            const kept = runBlock(be, r, 'buckets');
            const cache = runBlock(be, r, 'cache');
            expect(Array.from(kept.y)).toEqual(Array.from(none.y));
            expect(Array.from(cache.y)).toEqual(Array.from(none.y));
            expect(none.buckets).toBeNull();
            if (r.kind === 'lsh' && !r.short) {
              expect(kept.buckets).not.toBeNull();
              expect(Array.from(cache.buckets!)).toEqual(Array.from(kept.buckets!));
            } else {
              expect(kept.buckets).toBeNull();
            }
          });
        }),
        { numRuns: runs(be === wasm ? 40 : 60) },
      );
    });
  }

  it('the streamed block size never changes the result (reference backend: bit-identical)', () => {
    fc.assert(
      fc.property(arbBlockRun, (r) => {
        f64.scope(() => {
          const a = runBlock(f64, r, 'cache', r.c.chunkLength);
          const b = runBlock(f64, r, 'cache', 4096);
          expect(Array.from(a.y)).toEqual(Array.from(b.y));
          expect(a.buckets ? Array.from(a.buckets) : null).toEqual(b.buckets ? Array.from(b.buckets) : null);
        });
      }),
      { numRuns: runs(60) },
    );
  });

  it('the block equals LayerNorm → the HF self-attention module → output dense (float64)', () => {
    fc.assert(
      fc.property(
        arbBlockRun.filter((r) => !r.paper && !r.dropout),
        (r) => {
          f64.scope(() => {
            const { c, kind } = r;
            const L = r.short ? c.chunkLength : seqLenOf(c);
            const cfg = r.short ? { ...configOf(c), lsh_attn_chunk_length: L + 1, local_attn_chunk_length: L + 1 } : configOf(c);
            const rng = new Rng(c.seed);
            const w = blockWeights(f64, kind, c, rng) as unknown as Record<string, Float>;
            const x = normal(f64, c.batch * L * c.hidden, rng);
            const y0 = normal(f64, c.batch * L * c.hidden, rng);
            const mask = maskOf(c.mask, c.batch, L, rng);
            const got = copyOf(f64, y0);
            attentionBlockAddForward(f64, cfg, kind, w as unknown as AttentionBlockWeights, x, got, {
              batch: c.batch,
              seqLen: L,
              attentionMask: mask,
              rng: new Rng(c.seed + 1),
            });
            // reference composition: LayerNorm, the HF module on all rows, then W_o on all heads at once
            const rows = c.batch * L;
            const D = c.hidden;
            const all = c.heads * c.headSize;
            const normed = f64.floats(rows * D);
            f64.layerNormForward({
              rows,
              cols: D,
              x,
              gamma: w['layer_norm.weight']!,
              beta: w['layer_norm.bias']!,
              eps: 1e-12,
              y: normed,
              mean: f64.floats(rows),
              rstd: f64.floats(rows),
            });
            const opts = { batch: c.batch, seqLen: L, attentionMask: mask };
            const attn =
              kind === 'lsh'
                ? lshSelfAttentionForward(
                    f64,
                    cfg,
                    { 'query_key.weight': w['self_attention.query_key.weight']!, 'value.weight': w['self_attention.value.weight']! },
                    normed,
                    { ...opts, rng: new Rng(c.seed + 1) },
                  ).out
                : localSelfAttentionForward(
                    f64,
                    cfg,
                    {
                      'query.weight': w['self_attention.query.weight']!,
                      'key.weight': w['self_attention.key.weight']!,
                      'value.weight': w['self_attention.value.weight']!,
                    },
                    normed,
                    opts,
                  ).out;
            const want = copyOf(f64, y0);
            f64.gemm({
              m: rows,
              n: D,
              k: all,
              a: attn,
              lda: all,
              b: w['output.dense.weight']!,
              ldb: all,
              transB: true,
              c: want,
              ldc: D,
              accumulate: true,
            });
            expectClose(got, want, TOL_F64, `${kind} block vs module composition`);
          });
        },
      ),
      { numRuns: runs(60) },
    );
  });
});

describe('model: one forward for evaluation and training', () => {
  for (const [name, be] of [
    ['reference f64', f64],
    ['WASM', wasm],
  ] as const) {
    it(`evaluation forward == training forward (reversible and store), bit for bit, same buckets (${name})`, () => {
      fc.assert(
        fc.property(arbTinyCase({ dropout: false }), fc.boolean(), (tc, paperExactAttention) => {
          be.scope(() => {
            const input = { inputIds: tc.ids, batch: tc.batch, seqLen: tc.seqLen, attentionMask: tc.mask };
            const make = (reversible: boolean) =>
              new ReformerModel(be, tc.config, { options: { seed: tc.seed, reversible, paperExactAttention } });
            const ev = make(true).forward({ ...input, training: false });
            for (const reversible of [true, false]) {
              const tr = make(reversible).forward({ ...input, training: true });
              expect(Array.from(tr.output)).toEqual(Array.from(ev.output));
              expect(tr.buckets.map((b) => (b ? Array.from(b) : null))).toEqual(ev.buckets.map((b) => (b ? Array.from(b) : null)));
            }
          });
        }),
        { numRuns: runs(be === wasm ? 15 : 25) },
      );
    });
  }

  it('streamed loss/logits == the LM head on the output (float64)', () => {
    fc.assert(
      fc.property(arbTinyCase({ dropout: false, causalOnly: true }), (tc) => {
        f64.scope(() => {
          const input = { inputIds: tc.ids, batch: tc.batch, seqLen: tc.seqLen, attentionMask: tc.mask };
          const model = new ReformerModelWithLMHead(f64, tc.config, { seed: tc.seed });
          const ev = model.reformer.forward({ ...input, training: false });
          const D2 = 2 * tc.config.hidden_size;
          const V = tc.config.vocab_size;
          const w = { weight: model.parameters.param('lm_head.decoder.weight'), bias: model.parameters.param('lm_head.bias') };
          const batch = { ...input, labels: tc.labels };
          const fresh = () => new ReformerModelWithLMHead(f64, tc.config, { seed: tc.seed });
          const want = lmHeadLoss(f64, w, ev.output, tc.batch, tc.seqLen, D2, V, tc.labels, 0, null);
          const got = fresh().loss(batch);
          expect(got.tokens).toBe(want.tokens);
          expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(want.loss)));
          const wantLogits = f64.floats(tc.batch * tc.seqLen * V);
          lmHeadForward(f64, w, ev.output, tc.batch * tc.seqLen, D2, V, 0, wantLogits);
          expectClose(fresh().logits(batch), wantLogits, TOL_F64, 'logits');
        });
      }),
      { numRuns: runs(25) },
    );
  });

  it('streamed training step (trainRows) == forward + backward: loss, every parameter gradient, dEmbedding (with dropout)', () => {
    fc.assert(
      fc.property(arbTinyCase({ dropout: true, causalOnly: true }), fc.boolean(), (tc, reversible) => {
        f64.scope(() => {
          const batch = { inputIds: tc.ids, batch: tc.batch, seqLen: tc.seqLen, attentionMask: tc.mask, labels: tc.labels };
          const a = new ReformerModelWithLMHead(f64, tc.config, { seed: tc.seed, reversible });
          const b = new ReformerModelWithLMHead(f64, tc.config, { seed: tc.seed, reversible });
          a.parameters.zeroGrads();
          b.parameters.zeroGrads();
          const streamed = a.forwardBackward(batch);
          // reference: materialised output, LM head loss on it, ReformerModel.backward
          const enc = b.reformer.forward({ inputIds: tc.ids, batch: tc.batch, seqLen: tc.seqLen, attentionMask: tc.mask, training: true });
          const D2 = 2 * tc.config.hidden_size;
          const dOut = f64.floats(tc.batch * tc.seqLen * D2);
          const P = b.parameters;
          const want = lmHeadLoss(
            f64,
            { weight: P.param('lm_head.decoder.weight'), bias: P.param('lm_head.bias') },
            enc.output,
            tc.batch,
            tc.seqLen,
            D2,
            tc.config.vocab_size,
            tc.labels,
            tc.config.chunk_size_lm_head,
            { weight: P.grad('lm_head.decoder.weight'), bias: P.grad('lm_head.bias'), dh: dOut },
          );
          const dEmb = b.reformer.backward(enc, dOut);
          expect(Math.abs(streamed.loss - want.loss)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(want.loss)));
          expectClose(streamed.dEmbedding, dEmb, TOL_F64, 'dEmbedding');
          expectClose(a.grads, b.grads, TOL_F64, 'parameter gradients');
        });
      }),
      { numRuns: runs(20) },
    );
  });

  it('ReformerModel.forwardRows hands out exactly the rows of forward().output (eval padding cut off)', () => {
    fc.assert(
      fc.property(arbTinyCase({ dropout: false }), fc.integer({ min: 1, max: 5 }), (tc, cut) => {
        f64.scope(() => {
          const L = tc.seqLen - cut; // not a multiple of the chunk lcm: eval auto-padding
          const ids = new Int32Array(tc.batch * L);
          for (let b = 0; b < tc.batch; b++) ids.set(tc.ids.subarray(b * tc.seqLen, b * tc.seqLen + L), b * L);
          const input = { inputIds: ids, batch: tc.batch, seqLen: L, training: false };
          const want = new ReformerModel(f64, tc.config, { options: { seed: tc.seed } }).forward(input).output;
          const got = new Float64Array(want.length);
          const D2 = 2 * tc.config.hidden_size;
          let covered = 0;
          new ReformerModel(f64, tc.config, { options: { seed: tc.seed } }).forwardRows(input, (r0, n, h) => {
            got.set(h.subarray(0, n * D2), r0 * D2);
            covered += n;
          });
          expect(covered).toBe(tc.batch * L);
          expect(Array.from(got)).toEqual(Array.from(want));
        });
      }),
      { numRuns: runs(20) },
    );
  });
});
