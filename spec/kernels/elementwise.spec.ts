/**
 * Law: the WASM element-wise kernels (add, axpy, scale, addRowVector, sumRows, sumSquares, the three
 * activations forward and backward, AdamW) == the reference backend, for lengths 0, 1, non-multiples
 * of 4 and magnitudes from 1e-3 to 1e3 (activations also over their whole useful range, ±12).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Activation } from '../../src/backend/backend.js';
import { Rng } from '../../src/util/rng.js';
import { TOL, VARIANTS, copy, expectCloseScaled, expectCloseToMax, floatsOf, maxAbs, randomFloats, ref, wasmBackend } from './util.js';
import { expectClose } from '../helpers/close.js';
import { runs } from '../helpers/runs.js';

const len = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 8, 9), fc.integer({ min: 0, max: 300 }));
const mag = fc.constantFrom(1, 1e-3, 1e3);
const seed = fc.integer();

describe.each(VARIANTS)('element-wise kernels (%s) == reference', (variant) => {
  const be = wasmBackend(variant);

  it('add, including out aliasing an input', () => {
    fc.assert(
      fc.property(len, mag, seed, fc.constantFrom('none', 'a', 'b'), (n, m, s, alias) => {
        const rng = new Rng(s);
        const a = randomFloats(rng, n + 1, m);
        const b = randomFloats(rng, n + 1, m);
        const out = randomFloats(rng, n + 1, m);
        const want = alias === 'a' ? Float32Array.from(a) : alias === 'b' ? Float32Array.from(b) : Float32Array.from(out);
        ref.add(want, alias === 'a' ? want : a, alias === 'b' ? want : b, n);
        const got = be.scope(() => {
          const wa = floatsOf(be, a);
          const wb = floatsOf(be, b);
          const wo = alias === 'a' ? wa : alias === 'b' ? wb : floatsOf(be, out);
          be.add(wo, wa, wb, n);
          return copy(wo);
        });
        expectCloseToMax(got, want, TOL.elementwise, 'add');
      }),
      { numRuns: runs(40) },
    );
  });

  it('axpy and scale', () => {
    fc.assert(
      fc.property(len, mag, seed, fc.double({ min: -3, max: 3, noNaN: true }), (n, m, s, alpha) => {
        const rng = new Rng(s);
        const x = randomFloats(rng, n + 2, m);
        const y = randomFloats(rng, n + 2, m);
        const wantY = Float32Array.from(y);
        ref.axpy(wantY, alpha, x, n);
        const wantX = Float32Array.from(x);
        ref.scale(wantX, alpha, n);
        const [gotY, gotX] = be.scope(() => {
          const wx = floatsOf(be, x);
          const wy = floatsOf(be, y);
          be.axpy(wy, alpha, wx, n);
          be.scale(wx, alpha, n);
          return [copy(wy), copy(wx)];
        });
        expectCloseToMax(gotY!, wantY, TOL.elementwise, 'axpy');
        expectCloseToMax(gotX!, wantX, TOL.elementwise, 'scale');
      }),
      { numRuns: runs(40) },
    );
  });

  it('addRowVector and sumRows (accumulating)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        len.filter((c) => c <= 70),
        mag,
        seed,
        (rows, cols, m, s) => {
          const rng = new Rng(s);
          const x = randomFloats(rng, rows * cols, m);
          const vec = randomFloats(rng, cols, m);
          const out = randomFloats(rng, cols, m);
          const wantX = Float32Array.from(x);
          ref.addRowVector(wantX, vec, rows, cols);
          const wantOut = Float32Array.from(out);
          ref.sumRows(wantOut, x, rows, cols);
          const [gotX, gotOut] = be.scope(() => {
            const wx = floatsOf(be, x);
            const wo = floatsOf(be, out);
            be.sumRows(wo, wx, rows, cols);
            be.addRowVector(wx, floatsOf(be, vec), rows, cols);
            return [copy(wx), copy(wo)];
          });
          expectCloseToMax(gotX!, wantX, TOL.elementwise, 'addRowVector');
          expectCloseToMax(gotOut!, wantOut, TOL.sumRows, 'sumRows');
        },
      ),
      { numRuns: runs(40) },
    );
  });

  it('sumSquares (f64 accumulation)', () => {
    fc.assert(
      fc.property(len, mag, seed, (n, m, s) => {
        const x = randomFloats(new Rng(s), n, m);
        const want = ref.sumSquares(x, n);
        const got = be.scope(() => be.sumSquares(floatsOf(be, x), n));
        expectClose([got], [want], TOL.sumSquares, 'sumSquares');
      }),
      { numRuns: runs(40) },
    );
  });

  it.each(['relu', 'gelu', 'gelu_new'] as Activation[])('activation %s: forward and accumulating backward', (kind) => {
    fc.assert(
      fc.property(len, fc.constantFrom(1, 4, 12, 1e-3), seed, fc.boolean(), (n, m, s, inPlace) => {
        const rng = new Rng(s);
        const x = randomFloats(rng, n, m);
        const dy = randomFloats(rng, n, 1);
        const dx = randomFloats(rng, n, 1);
        const wantY = new Float32Array(n);
        ref.activationForward(kind, x, wantY, n);
        const wantDx = Float32Array.from(dx);
        ref.activationBackward(kind, x, dy, wantDx, n);
        const [gotY, gotDx] = be.scope(() => {
          const wx = floatsOf(be, x);
          const wdx = floatsOf(be, dx);
          be.activationBackward(kind, wx, floatsOf(be, dy), wdx, n);
          const wy = inPlace ? wx : be.floats(n);
          be.activationForward(kind, wx, wy, n);
          return [copy(wy), copy(wdx)];
        });
        // absolute bound per unit of the output size (erf/exp polynomials: ≤ 1e-6 absolute on Φ)
        expectClose(gotY!, wantY, { atol: TOL.activation.atol * Math.max(1, m), rtol: TOL.activation.rtol }, `${kind} forward`);
        expectClose(gotDx!, wantDx, { atol: TOL.activation.atol * Math.max(1, m), rtol: TOL.activation.rtol }, `${kind} backward`);
      }),
      { numRuns: runs(40) },
    );
  });

  it('activations on a dense grid over [-20, 20] and at ±0, huge and tiny values', () => {
    const grid: number[] = [0, -0, 1e-30, -1e-30, 1e-8, -1e-8, 30, -30, 100, -100, 1e6, -1e6];
    for (let i = -2000; i <= 2000; i++) grid.push(i / 100);
    const n = grid.length;
    const x = Float32Array.from(grid);
    for (const kind of ['relu', 'gelu', 'gelu_new'] as Activation[]) {
      const wantY = new Float32Array(n);
      ref.activationForward(kind, x, wantY, n);
      const wantD = new Float32Array(n);
      ref.activationBackward(
        kind,
        x,
        Float32Array.from(grid, () => 1),
        wantD,
        n,
      );
      const [gotY, gotD] = be.scope(() => {
        const wx = floatsOf(be, x);
        const wy = be.floats(n);
        const wd = be.floats(n);
        be.activationForward(kind, wx, wy, n);
        be.activationBackward(kind, wx, floatsOf(be, new Float32Array(n).fill(1)), wd, n);
        return [copy(wy), copy(wd)];
      });
      expect(gotY!.some(Number.isNaN), `${kind} forward NaN`).toBe(false);
      expect(gotD!.some(Number.isNaN), `${kind} backward NaN`).toBe(false);
      expectClose(gotY!, wantY, TOL.activation, `${kind} forward on the grid`);
      expectClose(gotD!, wantD, TOL.activation, `${kind} derivative on the grid`);
    }
  });

  it('adamw (several steps)', () => {
    fc.assert(
      fc.property(
        len,
        seed,
        fc.record({
          lr: fc.constantFrom(1e-3, 3e-4, 0.1),
          beta1: fc.constantFrom(0.9, 0.5),
          beta2: fc.constantFrom(0.999, 0.98),
          eps: fc.constantFrom(1e-8, 1e-6),
          weightDecay: fc.constantFrom(0, 0.01, 0.1),
        }),
        fc.integer({ min: 1, max: 4 }),
        (n, s, h, steps) => {
          const rng = new Rng(s);
          const param = randomFloats(rng, n, 1);
          const grads = Array.from({ length: steps }, () => randomFloats(rng, n, 0.1));
          const want = { param: Float32Array.from(param), m: new Float32Array(n), v: new Float32Array(n) };
          for (let t = 0; t < steps; t++) ref.adamw({ n, ...h, ...want, grad: grads[t]!, step: t + 1 });
          const got = be.scope(() => {
            const w = { param: floatsOf(be, param), m: be.floats(n), v: be.floats(n) };
            for (let t = 0; t < steps; t++) be.adamw({ n, ...h, ...w, grad: floatsOf(be, grads[t]!), step: t + 1 });
            return { param: copy(w.param), m: copy(w.m), v: copy(w.v) };
          });
          // m = Σ_t (1−β1)β1^(T−t)·g_t can cancel to far below |g|: its rounding error scales with max|g|
          const gScale = Math.max(maxAbs(want.m), ...grads.map(maxAbs));
          expectCloseScaled(got.m, want.m, TOL.adamw, gScale, 'adamw m');
          expectCloseToMax(got.v, want.v, TOL.adamw, 'adamw v');
          expectCloseToMax(got.param, want.param, TOL.adamw, 'adamw param');
        },
      ),
      { numRuns: runs(40) },
    );
  });
});
