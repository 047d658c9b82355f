/**
 * Attention-probability dropout of `chunkAttentionForward` / `chunkAttentionBackward`
 * (`ChunkAttentionParams.dropout`, src/backend/ops/attention/dropout.ts):
 *
 * - WASM == reference with dropout, forward and backward (both builds), random geometries and rates;
 * - prob 0 is the identity (bit-for-bit the call without dropout), on both backends;
 * - the backward is the derivative of the forward with the mask held fixed (central finite
 *   differences in float64 of loss = Σ out·G + Σ lse·H);
 * - the mask depends only on (seed, row, slot): processing the chunks in pieces gives the whole call's
 *   output, another seed gives another mask, and the kept fraction is ≈ 1 − prob;
 * - bad `dropout` values are rejected with a ShapeError before any kernel runs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChunkAttentionBackwardParams, ChunkAttentionForwardParams, Float } from '../../src/backend/backend.js';
import { attentionDropoutRow, dropoutRowKey, dropoutSlotBits, dropoutThreshold } from '../../src/backend/ops/attention/dropout.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ShapeError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers/close.js';
import { expectWithinMeasuredBound, type MeasuredError } from '../helpers/error-bounds.js';
import { K_FD, entryEstimate, fdRow } from '../helpers/finite-difference.js';
import {
  TOL,
  VARIANTS,
  copy,
  expectCloseScaled,
  floatsOf,
  intsOf,
  maxAbs,
  randomFloats,
  randomPermutation,
  ref,
  wasmBackend,
} from './util.js';
import { runs } from '../helpers/runs.js';

interface DropCase {
  d: number;
  chunkLength: number;
  numChunks: number;
  before: number;
  after: number;
  causal: boolean;
  selfMask: boolean;
  padding: boolean;
  prob: number;
  seed: number;
  dropSeed: number;
}

const dropCase: fc.Arbitrary<DropCase> = fc.record({
  d: fc.integer({ min: 1, max: 12 }),
  chunkLength: fc.integer({ min: 1, max: 9 }),
  numChunks: fc.integer({ min: 1, max: 4 }),
  before: fc.integer({ min: 0, max: 2 }),
  after: fc.integer({ min: 0, max: 1 }),
  causal: fc.boolean(),
  selfMask: fc.boolean(),
  padding: fc.boolean(),
  prob: fc.constantFrom(0.05, 0.1, 0.5, 0.9),
  seed: fc.integer(),
  dropSeed: fc.nat({ max: 0xffffffff }),
});

/** Inputs of one call (plain arrays; the caller copies them into a backend). */
function build(c: DropCase, arr: (n: number) => Float = (n) => new Float32Array(n)): ChunkAttentionForwardParams {
  const rng = new Rng(c.seed);
  const n = c.chunkLength * c.numChunks;
  const fill = (a: Float, mag: number): Float => {
    for (let i = 0; i < a.length; i++) a[i] = (2 * rng.uniform() - 1) * mag;
    return a;
  };
  let keyValid: Int32Array | null = null;
  if (c.padding) {
    keyValid = new Int32Array(n);
    for (let i = 0; i < n; i++) keyValid[i] = rng.int(4) === 0 ? 0 : 1;
  }
  return {
    n,
    d: c.d,
    chunkLength: c.chunkLength,
    numChunksBefore: c.before,
    numChunksAfter: c.after,
    q: fill(arr(n * c.d), 1),
    k: fill(arr(n * c.d), 1),
    v: fill(arr(n * c.d), 1),
    pos: randomPermutation(rng, n),
    keyValid,
    causal: c.causal,
    maskValue: -1e9,
    selfMaskValue: c.selfMask ? -1e5 : null,
    dropout: { prob: c.prob, seed: c.dropSeed },
    out: arr(n * c.d),
    lse: arr(n),
  };
}

describe.each(VARIANTS)('attention dropout: WASM (%s) == reference', (variant) => {
  const be = wasmBackend(variant);
  const toWasm = (p: ChunkAttentionForwardParams): ChunkAttentionForwardParams => ({
    ...p,
    q: floatsOf(be, p.q),
    k: floatsOf(be, p.k),
    v: floatsOf(be, p.v),
    pos: intsOf(be, p.pos),
    keyValid: p.keyValid ? intsOf(be, p.keyValid) : null,
    out: floatsOf(be, p.out),
    lse: floatsOf(be, p.lse),
  });

  it('forward: out and lse', () => {
    fc.assert(
      fc.property(dropCase, (c) => {
        const want = build(c);
        ref.chunkAttentionForward(want);
        const got = be.scope(() => {
          const w = toWasm(build(c));
          be.chunkAttentionForward(w);
          return { out: copy(w.out), lse: copy(w.lse) };
        });
        expectClose(got.lse, want.lse, { atol: TOL.lse.atol * (1 + Math.sqrt(c.d)), rtol: TOL.lse.rtol }, 'lse');
        expectCloseScaled(got.out, want.out, TOL.attention, Math.max(1, maxAbs(want.out)), 'out');
      }),
      { numRuns: runs(150) },
    );
  });

  it('backward: dq, dk, dv replay the forward mask', () => {
    fc.assert(
      fc.property(dropCase, fc.boolean(), (c, withDlse) => {
        const fwd = build(c);
        ref.chunkAttentionForward(fwd);
        const rng = new Rng(c.seed ^ 0x5bd1e995);
        const len = fwd.q.length;
        const bwd: ChunkAttentionBackwardParams = {
          ...fwd,
          dOut: randomFloats(rng, len, 1),
          dLse: withDlse ? randomFloats(rng, fwd.n, 1) : null,
          dq: randomFloats(rng, len, 1),
          dk: randomFloats(rng, len, 1),
          dv: randomFloats(rng, len, 1),
        };
        const want = { ...bwd, dq: Float32Array.from(bwd.dq), dk: Float32Array.from(bwd.dk), dv: Float32Array.from(bwd.dv) };
        ref.chunkAttentionBackward(want);
        const got = be.scope(() => {
          const base = toWasm(fwd);
          const w: ChunkAttentionBackwardParams = {
            ...base,
            lse: floatsOf(be, fwd.lse),
            dOut: floatsOf(be, bwd.dOut),
            dLse: bwd.dLse ? floatsOf(be, bwd.dLse) : null,
            dq: floatsOf(be, bwd.dq),
            dk: floatsOf(be, bwd.dk),
            dv: floatsOf(be, bwd.dv),
          };
          be.chunkAttentionBackward(w);
          return { dq: copy(w.dq), dk: copy(w.dk), dv: copy(w.dv) };
        });
        const scale = (x: ArrayLike<number>) => (Math.max(1, maxAbs(x)) * (1 + Math.sqrt(c.d))) / (1 - c.prob);
        expectCloseScaled(got.dv, want.dv, TOL.attentionGrad, scale(want.dv), 'dv');
        expectCloseScaled(got.dq, want.dq, TOL.attentionGrad, scale(want.dq), 'dq');
        expectCloseScaled(got.dk, want.dk, TOL.attentionGrad, scale(want.dk), 'dk');
      }),
      { numRuns: runs(150) },
    );
  });

  it('prob 0 is bit-for-bit the call without dropout', () => {
    fc.assert(
      fc.property(dropCase, (c) => {
        const run = (dropout: ChunkAttentionForwardParams['dropout']) =>
          be.scope(() => {
            const w = toWasm({ ...build(c), dropout });
            be.chunkAttentionForward(w);
            return copy(w.out);
          });
        expect(run({ prob: 0, seed: c.dropSeed })).toEqual(run(null));
      }),
      { numRuns: runs(40) },
    );
  });
});

describe('attention dropout: reference backend laws', () => {
  it('prob 0 is the identity, forward and backward', () => {
    fc.assert(
      fc.property(dropCase, (c) => {
        const run = (dropout: ChunkAttentionForwardParams['dropout']) => {
          const p = { ...build(c), dropout };
          ref.chunkAttentionForward(p);
          const g = { dq: new Float32Array(p.q.length), dk: new Float32Array(p.q.length), dv: new Float32Array(p.q.length) };
          ref.chunkAttentionBackward({ ...p, dOut: p.v, ...g });
          return { out: p.out, ...g };
        };
        expect(run({ prob: 0, seed: c.dropSeed })).toEqual(run(undefined));
      }),
      { numRuns: runs(40) },
    );
  });

  it('backward == finite differences of the forward with the mask fixed (float64)', () => {
    const be = new ReferenceBackend({ dtype: 'f64' });
    const small = dropCase.map((c) => ({
      ...c,
      d: Math.min(c.d, 4),
      chunkLength: Math.min(c.chunkLength, 4),
      numChunks: Math.min(c.numChunks, 3),
    }));
    fc.assert(
      fc.property(small, (c) => {
        const p = build(c, (n) => be.floats(n));
        const rng = new Rng(c.seed + 1);
        const G = Float64Array.from(randomFloats(rng, p.out.length, 1));
        const H = Float64Array.from(randomFloats(rng, p.n, 1));
        const loss = (): number => {
          be.chunkAttentionForward(p);
          let s = 0;
          for (let i = 0; i < p.out.length; i++) s += p.out[i]! * G[i]!;
          for (let i = 0; i < p.n; i++) s += p.lse[i]! * H[i]!;
          return s;
        };
        loss();
        // rows whose window is all masked have lse ≈ mask value: constant, but ~1e9 in the loss would drown the differences
        for (let i = 0; i < p.n; i++) if (p.lse[i]! < -1e3) H[i] = 0;
        const g = { dq: be.floats(p.q.length), dk: be.floats(p.k.length), dv: be.floats(p.v.length) };
        be.chunkAttentionBackward({ ...p, dOut: G, dLse: H, ...g });
        // the law of spec/helpers/finite-difference.ts, S = Σ|out ⊙ G| + Σ|lse ⊙ H| at the base point
        let scale = 0;
        for (let i = 0; i < p.out.length; i++) scale += Math.abs(p.out[i]! * G[i]!);
        for (let i = 0; i < p.n; i++) scale += Math.abs(p.lse[i]! * H[i]!);
        const h = 1e-5;
        const rows: MeasuredError[] = [];
        for (const [name, x, an] of [
          ['q', p.q, g.dq],
          ['k', p.k, g.dk],
          ['v', p.v, g.dv],
        ] as const) {
          for (let i = 0; i < x.length; i++) rows.push(fdRow(`d${name}[${i}]`, an[i]!, entryEstimate(x, i, loss, h), scale, h));
        }
        expectWithinMeasuredBound(rows, K_FD, 'chunk attention + dropout: analytic gradient ≈ finite differences');
      }),
      { numRuns: runs(40) },
    );
  });

  it('the mask is a function of (seed, row, slot): split chunk ranges give the whole call; another seed differs', () => {
    fc.assert(
      fc.property(
        dropCase.filter((c) => c.numChunks >= 2),
        fc.nat(),
        (c, cut) => {
          const whole = build(c);
          ref.chunkAttentionForward(whole);
          const split = build(c);
          const mid = 1 + (cut % (c.numChunks - 1));
          ref.chunkAttentionForward({ ...split, chunkBegin: mid, chunkEnd: c.numChunks });
          ref.chunkAttentionForward({ ...split, chunkBegin: 0, chunkEnd: mid });
          expect(Array.from(split.out)).toEqual(Array.from(whole.out));
        },
      ),
      { numRuns: runs(40) },
    );
    // different seeds: different masks (checked on the mask itself, which any output difference comes from)
    const a = new Float64Array(256);
    const b = new Float64Array(256);
    attentionDropoutRow(a, 256, 0.5, 1, 7);
    attentionDropoutRow(b, 256, 0.5, 2, 7);
    expect(Array.from(a)).not.toEqual(Array.from(b));
    attentionDropoutRow(b, 256, 0.5, 1, 8);
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });

  it('kept fraction ≈ 1 − prob and kept entries are scaled by 1/(1 − prob)', () => {
    for (const prob of [0.05, 0.1, 0.5, 0.9]) {
      const row = new Float64Array(512);
      let kept = 0;
      let badScale = 0;
      const rows = 200;
      for (let r = 0; r < rows; r++) {
        attentionDropoutRow(row, row.length, prob, 12345, r);
        for (const x of row) {
          if (x !== 0) {
            kept++;
            if (x !== 1 / (1 - prob)) badScale++;
          }
        }
      }
      expect(badScale).toBe(0);
      const n = rows * row.length;
      const sd = Math.sqrt((prob * (1 - prob)) / n);
      expect(Math.abs(kept / n - (1 - prob))).toBeLessThan(5 * sd);
    }
    // the documented formula
    expect(dropoutThreshold(0.5)).toBe(2 ** 31);
    expect(dropoutSlotBits(dropoutRowKey(0, 0), 0)).toBe(0); // fmix32(0) = 0: slot 0 of row 0 under seed 0 is dropped for any prob > 0
  });

  it('rejects a bad dropout probability or seed (ShapeError), before any kernel runs', () => {
    const c: DropCase = {
      d: 2,
      chunkLength: 2,
      numChunks: 2,
      before: 1,
      after: 0,
      causal: true,
      selfMask: true,
      padding: false,
      prob: 0.1,
      seed: 1,
      dropSeed: 1,
    };
    for (const dropout of [
      { prob: 1, seed: 1 },
      { prob: -0.1, seed: 1 },
      { prob: Number.NaN, seed: 1 },
      { prob: 0.1, seed: -1 },
      { prob: 0.1, seed: 2 ** 32 },
      { prob: 0.1, seed: 1.5 },
    ]) {
      const p = { ...build(c), dropout };
      const before = Array.from(p.out);
      expect(() => ref.chunkAttentionForward(p)).toThrow(ShapeError);
      expect(Array.from(p.out)).toEqual(before);
      for (const variant of VARIANTS) {
        const be = wasmBackend(variant);
        be.scope(() => {
          const w = {
            ...p,
            q: floatsOf(be, p.q),
            k: floatsOf(be, p.k),
            v: floatsOf(be, p.v),
            pos: intsOf(be, p.pos),
            out: floatsOf(be, p.out),
            lse: floatsOf(be, p.lse),
          };
          expect(() => be.chunkAttentionForward(w)).toThrow(/dropout/);
        });
      }
    }
  });
});
