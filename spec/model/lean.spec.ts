/**
 * Law: the memory-lean evaluation paths compute the same function as the cached ones.
 *
 * - Attention block (src/attention/lean.ts): `y += F(x)` streamed (local: blocks of query chunks with
 *   their neighbours, wrapping; LSH: head by head, round by round, blocks of sorted slots whose
 *   neighbour chunks may lie in the previous or next round, and an online softmax over rounds) equals
 *   `y + attentionBlockForward(x).out` for every chunking, block size, mask, number of rounds and
 *   the short path; LSH buckets are the same (same rotation draw). Float64: equal up to rounding.
 * - Model: the lean evaluation forward (inference mode: `addForward` of every sub-layer) equals the
 *   cached training-mode forward when dropout is 0; the streamed LM loss/logits equal the LM head on
 *   the materialised output; the streamed training step (`trainRows`: final LayerNorm, loss and their
 *   backward block by block) gives the gradients of forward + `backward`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { attentionBlockForward, type AttentionBlockWeights, type AttentionKind } from '../../src/attention/block.js';
import { attentionBlockAddForward } from '../../src/attention/lean.js';
import { ReformerModel } from '../../src/model/reformer-model.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { lmHeadForward, lmHeadLoss } from '../../src/nn/lm-head.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { Rng } from '../../src/util/rng.js';
import { arbCase, configOf, copyOf, maskOf, normal, seqLenOf, type AttnCase } from '../attention/helpers.js';
import { expectClose } from '../helpers/close.js';
import { arbTinyCase } from './arbitraries.js';
import { runs } from '../helpers/runs.js';

/** Float64: the two paths sum in different orders (per-head projection, online round softmax). */
const TOL_F64 = { atol: 1e-9, rtol: 1e-9 } as const;
/** Float32 on the WASM backend, cases without self-only windows (see the WASM property). */
const TOL_F32 = { atol: 2e-5, rtol: 2e-4 } as const;

const f64 = new ReferenceBackend({ dtype: 'f64' });

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

/** y0 + F(x) both ways; returns [lean, cached] outputs and buckets. */
function bothWays(be: Backend, kind: AttentionKind, c: AttnCase, short: boolean, blockRows: number) {
  const L = short ? c.chunkLength : seqLenOf(c);
  // short: seqLen <= chunk length, one chunk and one round (HF's plain-attention path)
  const cfg = short ? { ...configOf(c), lsh_attn_chunk_length: L + (c.seed % 3), local_attn_chunk_length: L + (c.seed % 3) } : configOf(c);
  const rng = new Rng(c.seed);
  const w = blockWeights(be, kind, c, rng);
  const x = normal(be, c.batch * L * c.hidden, rng);
  const y0 = normal(be, c.batch * L * c.hidden, rng);
  const maskJs = maskOf(c.mask, c.batch, L, rng);
  const mask = maskJs ? be.ints(maskJs.length) : null;
  if (mask && maskJs) mask.set(maskJs);
  const cached = attentionBlockForward(be, cfg, kind, w, x, { batch: c.batch, seqLen: L, attentionMask: mask, rng: new Rng(c.seed + 1) });
  const want = copyOf(be, y0);
  be.add(want, want, cached.out, want.length);
  const got = copyOf(be, y0);
  const r = attentionBlockAddForward(be, cfg, kind, w, x, got, {
    batch: c.batch,
    seqLen: L,
    attentionMask: mask,
    rng: new Rng(c.seed + 1),
    captureBuckets: true,
    blockRows,
  });
  return { got, want, buckets: r.buckets, wantBuckets: cached.cache.buckets };
}

const arbBlockRows = (c: AttnCase) => fc.constantFrom(c.chunkLength, 2 * c.chunkLength, 3 * c.chunkLength, 4096);

describe('lean attention block == cached attention block (float64)', () => {
  it('y + F(x) equal for LSH and local, every chunking, block size, mask and round count; same buckets', () => {
    fc.assert(
      fc.property(
        arbCase({ maxNumChunks: 7, maxHashes: 3 }).chain((c) =>
          fc.record({
            c: fc.constant(c),
            kind: fc.constantFrom<AttentionKind>('lsh', 'local'),
            short: fc.boolean(),
            blockRows: arbBlockRows(c),
          }),
        ),
        ({ c, kind, short, blockRows }) => {
          f64.scope(() => {
            const r = bothWays(f64, kind, c, short, blockRows);
            expectClose(r.got, r.want, TOL_F64, `${kind} y + F(x)`);
            if (kind === 'lsh' && !short) expect(Array.from(r.buckets!)).toEqual(Array.from(r.wantBuckets!));
            else expect(r.buckets).toBeNull();
          });
        },
      ),
      { numRuns: runs(120) },
    );
  });
});

describe('lean attention block == cached attention block (WASM, f32)', () => {
  const be = loadWasmBackendSync({ threads: 1, poisonFreed: true });
  it('equal up to f32 rounding (no padding; LSH non-causal so no query sees only itself)', () => {
    fc.assert(
      fc.property(
        arbCase({ maxNumChunks: 6, maxHeadSize: 8, maxHidden: 8, masks: ['none'] }).chain((c) =>
          fc.record({ c: fc.constant(c), kind: fc.constantFrom<AttentionKind>('lsh', 'local'), blockRows: arbBlockRows(c) }),
        ),
        ({ c, kind, blockRows }) => {
          const cc = kind === 'lsh' ? { ...c, causal: false } : c;
          be.scope(() => {
            const r = bothWays(be, kind, cc, false, blockRows);
            expectClose(r.got, r.want, TOL_F32, `${kind} y + F(x) (WASM)`);
          });
        },
      ),
      { numRuns: runs(40) },
    );
  });
});

describe('lean model paths == cached model paths (float64)', () => {
  it('eval forward (lean layers) == training-mode forward without dropout; streamed loss/logits == head on the output', () => {
    fc.assert(
      fc.property(arbTinyCase({ dropout: false, causalOnly: true }), (tc) => {
        f64.scope(() => {
          const input = { inputIds: tc.ids, batch: tc.batch, seqLen: tc.seqLen, attentionMask: tc.mask };
          const lean = new ReformerModelWithLMHead(f64, tc.config, { seed: tc.seed });
          const cached = new ReformerModelWithLMHead(f64, tc.config, { seed: tc.seed });
          const ev = lean.reformer.forward({ ...input, training: false });
          const tr = cached.reformer.forward({ ...input, training: true });
          expectClose(ev.output, tr.output, TOL_F64, 'last_hidden_state');
          expect(ev.buckets.map((b) => (b ? Array.from(b) : null))).toEqual(tr.buckets.map((b) => (b ? Array.from(b) : null)));

          const D2 = 2 * tc.config.hidden_size;
          const V = tc.config.vocab_size;
          const w = { weight: cached.parameters.param('lm_head.decoder.weight'), bias: cached.parameters.param('lm_head.bias') };
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
            {
              weight: P.grad('lm_head.decoder.weight'),
              bias: P.grad('lm_head.bias'),
              dh: dOut,
            },
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
          expectClose(got, want, TOL_F64, 'rows');
        });
      }),
      { numRuns: runs(20) },
    );
  });
});
