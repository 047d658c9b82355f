/**
 * Law: WASM layerNorm / rmsNorm (forward, accumulating backward) and row softmax with stored
 * log-sum-exp (forward incl. in place, accumulating backward with and without dlse) == reference,
 * for widths 1 and non-multiples of 4, offsets / strides, magnitudes 1e-3 … 1e3, rows with masked
 * (−1e9), −Infinity and very peaked entries.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers/close.js';
import { TOL, VARIANTS, copy, expectCloseScaled, expectCloseToMax, floatsOf, maxAbs, randomFloats, ref, wasmBackend } from './util.js';
import { runs } from '../helpers/runs.js';

const rowsArb = fc.integer({ min: 0, max: 12 });
const colsArb = fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 9, 16, 17), fc.integer({ min: 1, max: 130 }));
const mag = fc.constantFrom(1, 1e-3, 1e3);
const seed = fc.integer();

describe.each(VARIANTS)('norms and softmax (%s) == reference', (variant) => {
  const be = wasmBackend(variant);

  it('layerNorm forward and backward (with a large common offset in some rows)', () => {
    fc.assert(
      fc.property(rowsArb, colsArb, mag, seed, fc.constantFrom(1e-5, 1e-12, 0.1), fc.boolean(), (rows, cols, m, s, eps, offset) => {
        const rng = new Rng(s);
        const x = randomFloats(rng, rows * cols, m);
        if (offset) for (let i = 0; i < x.length; i++) x[i] = x[i]! + 10 * m;
        const gamma = randomFloats(rng, cols, 2);
        const beta = randomFloats(rng, cols, 1);
        const dy = randomFloats(rng, rows * cols, 1);
        const init = { dx: randomFloats(rng, rows * cols, 1), dgamma: randomFloats(rng, cols, 1), dbeta: randomFloats(rng, cols, 1) };
        const want = { y: new Float32Array(rows * cols), mean: new Float32Array(rows), rstd: new Float32Array(rows) };
        ref.layerNormForward({ rows, cols, x, gamma, beta, eps, ...want });
        const wantG = { dx: Float32Array.from(init.dx), dgamma: Float32Array.from(init.dgamma), dbeta: Float32Array.from(init.dbeta) };
        ref.layerNormBackward({ rows, cols, dy, x, mean: want.mean, rstd: want.rstd, gamma, ...wantG });
        const got = be.scope(() => {
          const wx = floatsOf(be, x);
          const wg = floatsOf(be, gamma);
          const f = { y: be.floats(rows * cols), mean: be.floats(rows), rstd: be.floats(rows) };
          be.layerNormForward({ rows, cols, x: wx, gamma: wg, beta: floatsOf(be, beta), eps, ...f });
          // backward from the reference's statistics, so only the backward is compared
          const g = { dx: floatsOf(be, init.dx), dgamma: floatsOf(be, init.dgamma), dbeta: floatsOf(be, init.dbeta) };
          be.layerNormBackward({
            rows,
            cols,
            dy: floatsOf(be, dy),
            x: wx,
            mean: floatsOf(be, want.mean),
            rstd: floatsOf(be, want.rstd),
            gamma: wg,
            ...g,
          });
          return { y: copy(f.y), mean: copy(f.mean), rstd: copy(f.rstd), dx: copy(g.dx), dgamma: copy(g.dgamma), dbeta: copy(g.dbeta) };
        });
        expectCloseToMax(got.mean, want.mean, TOL.layerNorm, 'mean');
        expectClose(got.rstd, want.rstd, { atol: 0, rtol: TOL.layerNorm.rtol }, 'rstd');
        expectCloseToMax(got.y, want.y, TOL.layerNorm, 'y');
        // dx = rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat)) cancels (to 0 for cols = 2): its rounding
        // error scales with rstd·|dy·gamma|, not with |dx|
        const dxScale = Math.max(maxAbs(wantG.dx), maxAbs(want.rstd) * maxAbs(dy) * maxAbs(gamma));
        expectCloseScaled(got.dx, wantG.dx, TOL.layerNormGrad, dxScale, 'dx');
        expectCloseToMax(got.dgamma, wantG.dgamma, TOL.layerNormGrad, 'dgamma');
        expectCloseToMax(got.dbeta, wantG.dbeta, TOL.layerNormGrad, 'dbeta');
      }),
      { numRuns: runs(50) },
    );
  });

  it('rmsNorm forward and backward', () => {
    fc.assert(
      fc.property(
        rowsArb,
        colsArb,
        mag,
        seed,
        fc.constantFrom(1e-6, 1e-12),
        fc.double({ min: 0.05, max: 2, noNaN: true }),
        (rows, cols, m, s, eps, scale) => {
          const rng = new Rng(s);
          const x = randomFloats(rng, rows * cols, m);
          const dy = randomFloats(rng, rows * cols, 1);
          const dx0 = randomFloats(rng, rows * cols, 1);
          const want = { y: new Float32Array(rows * cols), rstd: new Float32Array(rows) };
          ref.rmsNormForward({ rows, cols, x, eps, scale, ...want });
          const wantDx = Float32Array.from(dx0);
          ref.rmsNormBackward({ rows, cols, dy, x, rstd: want.rstd, scale, dx: wantDx });
          const got = be.scope(() => {
            const wx = floatsOf(be, x);
            const f = { y: be.floats(rows * cols), rstd: be.floats(rows) };
            be.rmsNormForward({ rows, cols, x: wx, eps, scale, ...f });
            const dx = floatsOf(be, dx0);
            be.rmsNormBackward({ rows, cols, dy: floatsOf(be, dy), x: wx, rstd: floatsOf(be, want.rstd), scale, dx });
            return { y: copy(f.y), rstd: copy(f.rstd), dx: copy(dx) };
          });
          expectClose(got.rstd, want.rstd, { atol: 0, rtol: TOL.rmsNorm.rtol }, 'rstd');
          expectCloseToMax(got.y, want.y, TOL.rmsNorm, 'y');
          // dx = scale·rstd·(dy − x·rstd²·Σ(dy·x)/cols) cancels when x ∥ dy (always for cols = 1)
          const dxScale = Math.max(maxAbs(wantDx), scale * maxAbs(want.rstd) * maxAbs(dy));
          expectCloseScaled(got.dx, wantDx, TOL.rmsNorm, dxScale, 'dx');
        },
      ),
      { numRuns: runs(50) },
    );
  });

  /** Score rows: uniform·mag, with some entries replaced by −1e9 / −Infinity, whole rows too. */
  function scores(rng: Rng, rows: number, cols: number, lds: number, m: number, special: boolean): Float32Array {
    const s = randomFloats(rng, rows * lds + 3, m);
    if (special) {
      for (let r = 0; r < rows; r++) {
        const kind = rng.int(6);
        for (let j = 0; j < cols; j++) {
          const i = r * lds + j;
          if (kind === 0)
            s[i] = -1e9; // fully masked row
          else if (kind === 1)
            s[i] = -Infinity; // fully −Infinity row
          else if (kind === 2 && rng.int(2) === 0) s[i] = -1e9;
          else if (kind === 3 && rng.int(3) === 0) s[i] = -Infinity;
          else if (kind === 4) s[i] = s[i]! * 100; // very peaked
        }
      }
    }
    return s;
  }

  it('softmaxRows with stored lse (strided, offsets, in place, masked rows)', () => {
    fc.assert(
      fc.property(
        rowsArb,
        colsArb,
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(1, 0.01, 30),
        seed,
        fc.boolean(),
        fc.boolean(),
        (rows, cols, pad, m, s, special, inPlace) => {
          const rng = new Rng(s);
          const lds = cols + pad;
          const sIn = scores(rng, rows, cols, lds, m, special);
          const pInit = randomFloats(rng, rows * lds + 3, 1);
          const lse0 = randomFloats(rng, rows + 2, 1);
          const want = { p: inPlace ? Float32Array.from(sIn) : Float32Array.from(pInit), lse: Float32Array.from(lse0) };
          ref.softmaxRows({
            rows,
            cols,
            s: inPlace ? want.p : sIn,
            sOffset: 1,
            lds,
            p: want.p,
            pOffset: 1,
            ldp: lds,
            lse: want.lse,
            lseOffset: 2,
          });
          const got = be.scope(() => {
            const ws = floatsOf(be, sIn);
            const wp = inPlace ? ws : floatsOf(be, pInit);
            const wl = floatsOf(be, lse0);
            be.softmaxRows({ rows, cols, s: ws, sOffset: 1, lds, p: wp, pOffset: 1, ldp: lds, lse: wl, lseOffset: 2 });
            return { p: copy(wp), lse: copy(wl) };
          });
          expectClose(got.p, want.p, TOL.softmax, 'p');
          expectClose(got.lse, want.lse, TOL.lse, 'lse');
        },
      ),
      { numRuns: runs(60) },
    );
  });

  it('softmaxRowsBackward with and without dlse', () => {
    fc.assert(
      fc.property(rowsArb, colsArb, seed, fc.boolean(), (rows, cols, s, withDlse) => {
        const rng = new Rng(s);
        const ld = cols + 1;
        const sIn = randomFloats(rng, rows * ld, 3);
        const p = new Float32Array(rows * ld);
        ref.softmaxRows({ rows, cols, s: sIn, lds: ld, p, ldp: ld, lse: new Float32Array(rows) });
        const dp = randomFloats(rng, rows * ld, 1);
        const dlse = randomFloats(rng, rows, 1);
        const ds0 = randomFloats(rng, rows * ld, 1);
        const want = Float32Array.from(ds0);
        ref.softmaxRowsBackward({ rows, cols, p, ldp: ld, dp, lddp: ld, dlse: withDlse ? dlse : null, ds: want, ldds: ld });
        const got = be.scope(() => {
          const ds = floatsOf(be, ds0);
          be.softmaxRowsBackward({
            rows,
            cols,
            p: floatsOf(be, p),
            ldp: ld,
            dp: floatsOf(be, dp),
            lddp: ld,
            dlse: withDlse ? floatsOf(be, dlse) : null,
            ds,
            ldds: ld,
          });
          return copy(ds);
        });
        expectCloseToMax(got, want, TOL.softmaxGrad, 'ds');
      }),
      { numRuns: runs(60) },
    );
  });
});
