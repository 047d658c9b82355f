/**
 * Law: the attention sub-layer's fused reversible step (`AttentionSublayer.reverseBackward`,
 * src/attention/block-reverse.ts: LSH replayed and back-propagated one head at a time, each head block by
 * block of sorted chunks; local: the block forward replayed, then head by head, block-local-backward.ts) computes the
 * same bits as the unfused step it replaces in `reversibleBackward`: `addForward(keep)` into zeros, the
 * subtraction `Y1 − F(X2)` and `backward` over the whole block cache. Every element of the rebuilt X1,
 * of dX2 and of every parameter gradient is compared with `Object.is` (so −0 ≠ +0 and NaN = NaN), for
 * LSH and local layers, causal or not, padding masks, 1–3 hashes, the short path, paper-exact
 * attention, hidden dropout (ReformerSelfOutput) and attention-probability dropout, batch 1–2, on the
 * reference backend (f32, f64) and WASM.
 *
 * The comparison can fail: a replay with another output-dropout seed, or other buckets, is caught.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { attentionBlockForward, type AttentionBlockWeights, type AttentionKind } from '../../src/attention/block.js';
import { attentionBlockBackward } from '../../src/attention/block-backward.js';
import { lshSelfAttentionBackward } from '../../src/attention/lsh-backward.js';
import type { LshSelfAttentionCache } from '../../src/attention/lsh-module.js';
import { linearBackward } from '../../src/nn/linear.js';
import { headLayout } from '../../src/attention/config.js';
import { AttentionSublayer, type AttentionState } from '../../src/model/sublayers.js';
import type { SublayerCall } from '../../src/model/reversible.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { Rng } from '../../src/util/rng.js';
import { arbCase, configOf, copyOf, maskOf, normal, seqLenOf, type AttnCase } from '../attention/helpers.js';
import { expectClose } from '../helpers/close.js';
import { runs } from '../helpers/runs.js';

const f64 = new ReferenceBackend({ dtype: 'f64' });
const f32 = new ReferenceBackend({ dtype: 'f32' });
const wasm = loadWasmBackendSync({ threads: 1, poisonFreed: true });
/** Float64, another summation order (d(normed) over the heads): rounding only. */
const TOL_F64 = { atol: 1e-9, rtol: 1e-9 } as const;

interface StepCase {
  readonly c: AttnCase;
  readonly kind: AttentionKind;
  readonly hiddenDropout: number;
  readonly probsDropout: number;
  readonly paper: boolean;
  /** Chunks as long as the sequence: the short path (no hashing). */
  readonly short: boolean;
}

const arbStep: fc.Arbitrary<StepCase> = fc.record({
  c: arbCase({ maxHashes: 3, maxBatch: 2, maxHeads: 3 }),
  kind: fc.constantFrom<AttentionKind>('lsh', 'local'),
  hiddenDropout: fc.constantFrom(0, 0.2),
  probsDropout: fc.constantFrom(0, 0.3),
  paper: fc.boolean(),
  short: fc.boolean(),
});

interface StepResult {
  readonly x1: Float;
  readonly dx2: Float;
  readonly grads: Record<string, Float>;
}

function paramNames(kind: AttentionKind): string[] {
  const proj = kind === 'lsh' ? ['query_key', 'value'] : ['query', 'key', 'value'];
  return ['layer_norm.weight', 'layer_norm.bias', ...proj.map((p) => `self_attention.${p}.weight`), 'output.dense.weight'];
}

/**
 * One reversible step of F on random values: the unfused step (`fused` false) or reverseBackward.
 * `tamper` changes the replayed state (for the planted-bug checks).
 */
function step(be: Backend, s: StepCase, fused: boolean, tamper?: (st: AttentionState) => AttentionState): StepResult {
  const { c, kind } = s;
  const L = seqLenOf(c);
  const base = configOf(c);
  const cfg = s.short ? { ...base, lsh_attn_chunk_length: L, local_attn_chunk_length: L } : base;
  const { hidden: D, all } = headLayout(cfg);
  const n = c.batch * L * D;
  const rng = new Rng(c.seed);
  const weights: Record<string, Float> = {};
  const grads: Record<string, Float> = {};
  for (const name of paramNames(kind)) {
    const size = name.startsWith('layer_norm') ? D : all * D;
    weights[name] = normal(be, size, rng, name.startsWith('layer_norm') ? 1 : 0.6);
    grads[name] = normal(be, size, rng, 0.1); // gradients accumulate onto what is there
  }
  const x2 = normal(be, n, rng);
  const y1 = normal(be, n, rng, 2);
  const dy1 = normal(be, n, rng);
  const dx2 = normal(be, n, rng);
  const mask = maskOf(c.mask, c.batch, L, rng);
  const f = new AttentionSublayer(be, cfg, kind, 0, weights as never, grads as never, s.hiddenDropout, s.paper, s.probsDropout);
  const call: SublayerCall = { batch: c.batch, seqLen: L, training: true, attentionMask: mask, rng: new Rng(c.seed + 7) };
  // the first forward draws the random state (buckets, seeds) that the backward replays
  const first = copyOf(be, y1);
  let state = f.addForward(x2, first, call, null, false).state;
  if (tamper) state = tamper(state);
  if (fused) {
    f.reverseBackward(x2, y1, dy1, dx2, call, state);
  } else {
    be.scope(() => {
      const out = be.floats(n);
      const fr = f.addForward(x2, out, call, state, true);
      be.axpy(y1, -1, out, n);
      f.backward(fr.cache, dy1, dx2);
    });
  }
  return { x1: y1, dx2, grads };
}

/** Index of the first element where a and b differ under Object.is, or -1. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

function differences(a: StepResult, b: StepResult): string[] {
  const out: string[] = [];
  const cmp = (what: string, p: ArrayLike<number>, q: ArrayLike<number>): void => {
    const i = firstDifference(p, q);
    if (i >= 0) out.push(`${what}[${i}]: ${p[i]} vs ${q[i]}`);
  };
  cmp('X1', a.x1, b.x1);
  cmp('dX2', a.dx2, b.dx2);
  for (const name of Object.keys(a.grads)) cmp(name, a.grads[name]!, b.grads[name]!);
  return out;
}

describe('AttentionSublayer.reverseBackward == addForward(keep) + subtraction + backward, bit for bit', () => {
  for (const [name, be, count] of [
    ['reference f64', f64, 40],
    ['reference f32', f32, 40],
    ['WASM', wasm, 60],
  ] as const) {
    it(`${name}: X1, dX2 and every parameter gradient`, () => {
      fc.assert(
        fc.property(arbStep, (s) => {
          be.scope(() => {
            const unfused = step(be, s, false);
            const fused = step(be, s, true);
            expect(differences(fused, unfused)).toEqual([]);
          });
        }),
        { numRuns: runs(count) },
      );
    });
  }

  describe('the comparison can fail (planted bugs in the replayed state)', () => {
    const s: StepCase = {
      c: {
        batch: 2,
        heads: 2,
        headSize: 4,
        hidden: 6,
        chunkLength: 4,
        numChunks: 4,
        numHashes: 2,
        numBuckets: 4,
        before: 1,
        after: 0,
        causal: true,
        mask: 'right',
        seed: 12345,
      },
      kind: 'lsh',
      hiddenDropout: 0.2,
      probsDropout: 0.3,
      paper: false,
      short: false,
    };
    it('baseline: the untampered case agrees (WASM)', () => {
      wasm.scope(() => expect(differences(step(wasm, s, true), step(wasm, s, false))).toEqual([]));
    });
    it('another output-dropout seed moves X1 and the gradients', () => {
      wasm.scope(() => {
        const bad = step(wasm, s, true, (st) => ({ ...st, dropoutSeed: (st.dropoutSeed! + 1) >>> 0 }));
        const d = differences(bad, step(wasm, s, false));
        expect(d.some((x) => x.startsWith('X1'))).toBe(true);
        expect(d.some((x) => x.startsWith('output.dense.weight'))).toBe(true);
      });
    });
    it('local: another output-dropout seed moves X1 and the gradients (the fused local path)', () => {
      const local: StepCase = { ...s, kind: 'local' };
      wasm.scope(() => {
        expect(differences(step(wasm, local, true), step(wasm, local, false))).toEqual([]);
        const bad = step(wasm, local, true, (st) => ({ ...st, dropoutSeed: (st.dropoutSeed! + 1) >>> 0 }));
        const d = differences(bad, step(wasm, local, false));
        expect(d.some((x) => x.startsWith('X1'))).toBe(true);
        expect(d.some((x) => x.startsWith('self_attention.query.weight'))).toBe(true);
      });
    });
    it('other buckets (one position moved) move the gradients', () => {
      wasm.scope(() => {
        const bad = step(wasm, s, true, (st) => {
          const b = Int32Array.from(st.buckets!);
          const L = 16;
          const t = b.subarray(0, L).findIndex((v) => v !== b[0]); // round 0 of (b 0, h 0)
          b[0] = b[t]!; // still a valid bucket of round 0
          return { ...st, buckets: b };
        });
        expect(differences(bad, step(wasm, s, false)).length).toBeGreaterThan(0);
      });
    });
  });
});

/**
 * The LSH block backward runs head by head (block-lsh-backward.ts): d(normed) sums the heads' projection
 * terms one head at a time, where the whole-matrix composition (one GEMM over all H·d columns, as the
 * block backward did before) sums them inside one product. Same math, another summation order: equal in
 * float64 up to rounding.
 */
describe('LSH block backward head by head == the whole-matrix composition (float64, up to rounding)', () => {
  it('dx and every gradient', () => {
    fc.assert(
      fc.property(arbCase({ maxHashes: 3, maxHeads: 3 }), (c) => {
        const be = f64;
        const L = seqLenOf(c);
        const cfg = configOf(c);
        const { hidden: D, all } = headLayout(cfg);
        const rows = c.batch * L;
        const rng = new Rng(c.seed);
        const w: Record<string, Float> = {};
        for (const name of paramNames('lsh')) w[name] = normal(be, name.startsWith('layer_norm') ? D : all * D, rng, 0.6);
        const x = normal(be, rows * D, rng);
        const dOut = normal(be, rows * D, rng);
        const mask = maskOf(c.mask, c.batch, L, rng);
        const { cache } = attentionBlockForward(be, cfg, 'lsh', w as never, x, {
          batch: c.batch,
          seqLen: L,
          attentionMask: mask,
          rng: new Rng(c.seed + 1),
        });
        const zeros = (): Record<string, Float> => Object.fromEntries(Object.entries(w).map(([k, v]) => [k, be.floats(v.length)]));
        const gotG = zeros();
        const gotDx = be.floats(rows * D);
        attentionBlockBackward(be, w as unknown as AttentionBlockWeights, gotG as unknown as AttentionBlockWeights, cache, dOut, gotDx);
        // the whole-matrix composition: dAttn = dOut·W_o, the module backward, the LayerNorm backward
        const wantG = zeros();
        const wantDx = be.floats(rows * D);
        const dAttn = be.floats(rows * all);
        linearBackward(be, cache.attnOut, rows, all, w['output.dense.weight']!, D, dOut, dAttn, wantG['output.dense.weight']!, null);
        const dNormed = be.floats(rows * D);
        lshSelfAttentionBackward(
          be,
          { 'query_key.weight': w['self_attention.query_key.weight']!, 'value.weight': w['self_attention.value.weight']! },
          { 'query_key.weight': wantG['self_attention.query_key.weight']!, 'value.weight': wantG['self_attention.value.weight']! },
          cache.self as LshSelfAttentionCache,
          dAttn,
          dNormed,
        );
        be.layerNormBackward({
          rows,
          cols: D,
          dy: dNormed,
          x,
          mean: cache.mean,
          rstd: cache.rstd,
          gamma: w['layer_norm.weight']!,
          dx: wantDx,
          dgamma: wantG['layer_norm.weight']!,
          dbeta: wantG['layer_norm.bias']!,
        });
        expectClose(gotDx, wantDx, TOL_F64, 'dx');
        for (const name of Object.keys(w)) expectClose(gotG[name]!, wantG[name]!, TOL_F64, name);
      }),
      { numRuns: runs(40) },
    );
  });
});
