/**
 * Adafactor (src/train/adafactor.ts) against the equations:
 *
 * 1. every update, on random tensors (1-D, 2-D, and 3-D = a batch of matrices), random hyper-parameters
 *    and several steps, equals a plain float64 reference written here from the equations (tight on the
 *    f64 reference backend, f32-sized tolerances on the f32 reference and WASM backends);
 * 2. the paper's law behind factoring: with ε1 = 0 and squared gradients that are rank-1 matrices
 *    (G² = a² ⊗ b², any signs), the factored second moment equals the full one, so the update of a
 *    factored matrix equals the update of the same numbers as one unfactored 1-D tensor;
 * 3. toBytes/loadBytes: the update after a restore is bit-identical to an uninterrupted one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import type { ParamTensor } from '../../src/model/language-model.js';
import { Adafactor, resolveAdafactor, type AdafactorConfig, type AdafactorOptions } from '../../src/train/adafactor.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, type Tolerance } from '../helpers/close.js';
import { runs } from '../helpers/runs.js';
import { wasmBackend } from '../kernels/util.js';

const f64 = new ReferenceBackend({ dtype: 'f64' });
const f32 = new ReferenceBackend({ dtype: 'f32' });

/** Named tolerances: on f64 only round-off of a different evaluation order; f32 state and parameters otherwise. */
const TOL = {
  f64: { atol: 1e-13, rtol: 1e-11 },
  f32: { atol: 2e-6, rtol: 2e-5 },
  /** law 2: factored vs unfactored on f64 (two ways to the same numbers) */
  law: { atol: 1e-13, rtol: 1e-10 },
} as const satisfies Record<string, Tolerance>;

// ---------------------------------------------------------------- the reference, from the equations

interface RefTensor {
  shape: number[];
  p: number[];
  /** factored: r [B·R], c [B·C]; unfactored: v [size]; m [size] with beta1 */
  row: number[];
  col: number[];
  v: number[];
  m: number[];
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
const rms = (xs: readonly number[]): number => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length);
const mean = (xs: readonly number[]): number => xs.reduce((a, x) => a + x, 0) / xs.length;

function refInit(shape: number[], p: number[], beta1: number | null): RefTensor {
  const size = prod(shape);
  const factored = shape.length >= 2;
  const R = factored ? shape[shape.length - 2]! : 1;
  const C = factored ? shape[shape.length - 1]! : size;
  const B = size / (R * C);
  return {
    shape,
    p: [...p],
    row: factored ? new Array<number>(B * R).fill(0) : [],
    col: factored ? new Array<number>(B * C).fill(0) : [],
    v: factored ? [] : new Array<number>(size).fill(0),
    m: beta1 !== null ? new Array<number>(size).fill(0) : [],
  };
}

/** One step t (1-based) of every tensor, float64, straight from the header's equations. */
function refStep(ts: RefTensor[], gradsIn: number[][], lr: number, t: number, h: AdafactorConfig): void {
  // global-norm clipping (torch clip_grad_norm_)
  const norm = Math.sqrt(gradsIn.flat().reduce((a, x) => a + x * x, 0));
  const coef = h.maxGradNorm > 0 ? h.maxGradNorm / (norm + 1e-6) : 1;
  const grads = coef < 1 ? gradsIn.map((g) => g.map((x) => x * coef)) : gradsIn;
  const [eps1, eps2] = h.eps;
  const rho = h.relativeStep ? Math.min(h.warmupInit ? 1e-6 * t : 1e-2, 1 / Math.sqrt(t)) : lr;
  const beta2 = 1 - t ** h.decayRate;
  ts.forEach((s, k) => {
    const g = grads[k]!;
    const alpha = rho * (h.scaleParameter ? Math.max(eps2, rms(s.p)) : 1);
    const U = g.map((x) => x * x + eps1);
    let Vhat: number[];
    if (s.shape.length >= 2) {
      const R = s.shape[s.shape.length - 2]!;
      const C = s.shape[s.shape.length - 1]!;
      const B = g.length / (R * C);
      const at = (b: number, i: number, j: number): number => U[b * R * C + i * C + j]!;
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < R; i++) {
          const r = mean(Array.from({ length: C }, (_, j) => at(b, i, j)));
          s.row[b * R + i] = beta2 * s.row[b * R + i]! + (1 - beta2) * r;
        }
        for (let j = 0; j < C; j++) {
          const c = mean(Array.from({ length: R }, (_, i) => at(b, i, j)));
          s.col[b * C + j] = beta2 * s.col[b * C + j]! + (1 - beta2) * c;
        }
      }
      Vhat = g.map((_, e) => {
        const b = Math.floor(e / (R * C));
        const i = Math.floor((e % (R * C)) / C);
        const j = e % C;
        const rowMean = mean(s.row.slice(b * R, (b + 1) * R));
        return (s.row[b * R + i]! / rowMean) * s.col[b * C + j]!;
      });
    } else {
      s.v = s.v.map((v, i) => beta2 * v + (1 - beta2) * U[i]!);
      Vhat = s.v;
    }
    let D = g.map((x, i) => x / Math.sqrt(Vhat[i]!));
    const denom = Math.max(1, rms(D) / h.clipThreshold);
    D = D.map((x) => (alpha * x) / denom);
    if (h.beta1 !== null) {
      const b1 = h.beta1;
      s.m = s.m.map((m, i) => b1 * m + (1 - b1) * D[i]!);
      D = s.m;
    }
    s.p = s.p.map((x, i) => x - h.weightDecay * alpha * x - D[i]!);
  });
}

// ---------------------------------------------------------------- generators

const dim = (max: number): fc.Arbitrary<number> => fc.integer({ min: 1, max });
const shapeArb: fc.Arbitrary<number[]> = fc.oneof(
  fc.tuple(dim(9)).map((s) => [...s]),
  fc.tuple(dim(6), dim(7)).map((s) => [...s]),
  fc.tuple(dim(3), dim(4), dim(5)).map((s) => [...s]),
);

const optionsArb: fc.Arbitrary<AdafactorOptions> = fc
  .record({
    eps1: fc.constantFrom(1e-30, 1e-8),
    beta1: fc.option(fc.double({ min: 0, max: 0.95, noNaN: true }), { nil: null }),
    weightDecay: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.2, noNaN: true })),
    scaleParameter: fc.boolean(),
    relativeStep: fc.boolean(),
    warmupInit: fc.boolean(),
    clipThreshold: fc.double({ min: 0.05, max: 2, noNaN: true }),
    decayRate: fc.double({ min: -1, max: -0.3, noNaN: true }),
    maxGradNorm: fc.oneof(fc.constant(0), fc.double({ min: 0.1, max: 5, noNaN: true })),
  })
  .map(({ eps1, warmupInit, relativeStep, ...o }) => ({
    ...o,
    eps: [eps1, 1e-3] as const,
    relativeStep,
    warmupInit: warmupInit && relativeStep,
  }));

function layoutOf(shapes: number[][]): ParamTensor[] {
  let offset = 0;
  return shapes.map((shape, k) => {
    const size = prod(shape);
    const t = { name: `t${k}`, offset, size, shape };
    offset += size;
    return t;
  });
}

/** Gradient values: normal with a random scale per step, some exact zeros. */
function drawGrads(rng: Rng, n: number): number[] {
  const scale = 10 ** (4 * rng.uniform() - 3);
  return Array.from({ length: n }, () => (rng.uniform() < 0.1 ? 0 : scale * rng.normal()));
}

const round32 = (xs: number[]): number[] => xs.map((x) => Math.fround(x));

function bufferOf(be: Backend, xs: readonly number[]): Float {
  const a = be.floats(xs.length);
  a.set(xs);
  return a;
}

/** The optimizer state by tensor name (read back through toBytes). */
function stateOf(opt: Adafactor): Map<string, Float64Array> {
  const f = parseSafetensors(opt.toBytes());
  return new Map(f.names().map((n) => [n, f.float64(n)]));
}

// ---------------------------------------------------------------- 1. update == reference

describe('Adafactor update == the float64 reference from the equations', () => {
  const backends: [string, () => Backend, Tolerance][] = [
    ['f64 reference backend', () => f64, TOL.f64],
    ['f32 reference backend', () => f32, TOL.f32],
    ['WASM (SIMD) backend', () => wasmBackend('simd'), TOL.f32],
  ];
  for (const [label, getBackend, tol] of backends) {
    it(`${label}: parameters and row/col/v/m state after every step (1-D, 2-D, 3-D tensors)`, () => {
      fc.assert(
        fc.property(
          fc.array(shapeArb, { minLength: 1, maxLength: 4 }),
          optionsArb,
          fc.integer({ min: 1, max: 4 }),
          fc.integer(),
          (shapes, options, steps, seed) => {
            const be = getBackend();
            const h = resolveAdafactor(options);
            const layout = layoutOf(shapes);
            const n = layout.reduce((a, t) => a + t.size, 0);
            const rng = new Rng(seed);
            const round = be.dtype === 'f32' ? round32 : (xs: number[]): number[] => xs;
            const p0 = round(Array.from({ length: n }, () => rng.normal() * (0.5 + rng.uniform())));
            const params = bufferOf(be, p0);
            const grads = be.floats(n);
            const opt = new Adafactor(be, layout, options);
            const ref = layout.map((t) => refInit([...t.shape], p0.slice(t.offset, t.offset + t.size), h.beta1));
            for (let t = 1; t <= steps; t++) {
              const g = round(drawGrads(rng, n));
              const lr = 10 ** (-1 - 3 * rng.uniform());
              grads.set(g);
              const info = opt.update(params, grads, lr);
              refStep(
                ref,
                layout.map((x) => g.slice(x.offset, x.offset + x.size)),
                lr,
                t,
                h,
              );
              if (h.relativeStep) expect(info.lr).toBe(Math.min(h.warmupInit ? 1e-6 * t : 1e-2, 1 / Math.sqrt(t)));
              expectClose(
                params,
                ref.flatMap((r) => r.p),
                tol,
                `parameters after step ${t}`,
              );
              const state = stateOf(opt);
              layout.forEach((x, k) => {
                const r = ref[k]!;
                const kinds: [string, number[]][] =
                  x.shape.length >= 2
                    ? [
                        ['row', r.row],
                        ['col', r.col],
                      ]
                    : [['v', r.v]];
                if (h.beta1 !== null) kinds.push(['m', r.m]);
                for (const [kind, want] of kinds)
                  expectClose(state.get(`${x.name}.${kind}`)!, want, tol, `${x.name}.${kind} after step ${t}`);
              });
              expect(state.size).toBe(layout.reduce((a, x) => a + (x.shape.length >= 2 ? 2 : 1) + (h.beta1 !== null ? 1 : 0), 0));
            }
            expect(opt.step).toBe(steps);
          },
        ),
        { numRuns: runs(label.startsWith('f64') ? 150 : 60) },
      );
    });
  }
});

// ---------------------------------------------------------------- 2. the factoring law

describe('Adafactor factoring law (Shazeer & Stern 2018, Sec. 3)', () => {
  it('with ε1 = 0 and rank-1 squared gradients (G = σ ⊙ c_t·(a ⊗ b)), the factored update equals the unfactored one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        dim(7),
        dim(7),
        optionsArb,
        fc.integer({ min: 1, max: 5 }),
        fc.integer(),
        (B, R, C, options, steps, seed) => {
          const o: AdafactorOptions = { ...options, eps: [0, 1e-3] };
          const rng = new Rng(seed);
          const shape = B === 1 ? [R, C] : [B, R, C];
          const size = B * R * C;
          const p0 = Array.from({ length: size }, () => rng.normal());
          // fixed magnitudes a ⊗ b per matrix (never zero); signs and an overall scale change every step
          const a = Array.from({ length: B * R }, () => 0.1 + 2 * rng.uniform());
          const b = Array.from({ length: B * C }, () => 0.1 + 2 * rng.uniform());
          const factored = new Adafactor(f64, [{ name: 'w', offset: 0, size, shape }], o);
          const full = new Adafactor(f64, [{ name: 'w', offset: 0, size, shape: [size] }], o);
          const pF = Float64Array.from(p0);
          const pU = Float64Array.from(p0);
          for (let t = 1; t <= steps; t++) {
            const c = 10 ** (2 * rng.uniform() - 1);
            const g = Float64Array.from({ length: size }, (_, e) => {
              const m = Math.floor(e / (R * C));
              const i = Math.floor((e % (R * C)) / C);
              const j = e % C;
              return (rng.uniform() < 0.5 ? -1 : 1) * c * a[m * R + i]! * b[m * C + j]!;
            });
            const lr = 10 ** (-1 - 2 * rng.uniform());
            factored.update(pF, g.slice(), lr);
            full.update(pU, g.slice(), lr);
            expectClose(pF, pU, TOL.law, `factored vs unfactored parameters after step ${t}`);
          }
        },
      ),
      { numRuns: runs(200) },
    );
  });
});

// ---------------------------------------------------------------- 3. state round trip

describe('Adafactor toBytes/loadBytes', () => {
  for (const [label, getBackend] of [
    ['f64 reference', () => f64],
    ['f32 reference', () => f32],
    ['WASM', () => wasmBackend('simd')],
  ] as const) {
    it(`${label}: the update after a restore is bit-identical to an uninterrupted one`, () => {
      fc.assert(
        fc.property(
          fc.array(shapeArb, { minLength: 1, maxLength: 4 }),
          optionsArb,
          fc.integer({ min: 0, max: 3 }),
          fc.integer(),
          (shapes, options, before, seed) => {
            const be: Backend = getBackend();
            const layout = layoutOf(shapes);
            const n = layout.reduce((a, t) => a + t.size, 0);
            const rng = new Rng(seed);
            const params = bufferOf(
              be,
              Array.from({ length: n }, () => rng.normal()),
            );
            const grads = be.floats(n);
            const a = new Adafactor(be, layout, options);
            for (let t = 0; t < before; t++) {
              grads.set(drawGrads(rng, n));
              a.update(params, grads, 1e-2);
            }
            const b = new Adafactor(be, layout, options);
            b.loadBytes(a.toBytes());
            expect(b.step).toBe(before);
            const g = drawGrads(rng, n);
            const pb = bufferOf(be, Array.from(params));
            grads.set(g);
            a.update(params, grads, 3e-3);
            grads.set(g);
            b.update(pb, grads, 3e-3);
            expect(Array.from(pb)).toEqual(Array.from(params));
            expect(b.toBytes()).toEqual(a.toBytes());
          },
        ),
        { numRuns: runs(40) },
      );
    });
  }
});
