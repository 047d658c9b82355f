/**
 * Laws for the LSH kernels, WASM == reference:
 *  - lshHash: exactly equal buckets when every product and sum is exact in f32 (small integers, so
 *    ties happen and must go to the lowest index; crafted slices with ties across SIMD lanes, between
 *    the maximum and −minimum, ±Infinity and NaN, of every length 1…17); with random floats, equal
 *    wherever the winning candidate beats the runner-up by more than f32 rounding can move them (computed in f64).
 *  - argsortKeys (stable counting sort), invertPermutation, gatherRows / scatterRows / scatterAddRows
 *    (strides, offsets, repeated indices for scatterAdd): exactly equal.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LshHashParams, RowsParams } from '../../src/backend/backend.js';
import { Rng } from '../../src/util/rng.js';
import { VARIANTS, copy, floatsOf, intsOf, randomFloats, randomInts, randomPermutation, ref, wasmBackend } from './util.js';
import { runs } from '../helpers/runs.js';

const factorsArb = fc.oneof(
  fc.constantFrom([2], [4], [8], [10], [32], [64], [128, 256]),
  fc.array(fc.constantFrom(2, 4, 6, 8, 10, 14, 18, 34), { minLength: 1, maxLength: 3 }),
);

interface HashCase {
  rows: number;
  dHead: number;
  numHashes: number;
  factors: readonly number[];
  pad: number;
  off: number;
  seed: number;
}

const hashCase: fc.Arbitrary<HashCase> = fc.record({
  rows: fc.oneof(fc.constantFrom(0, 1, 3, 127, 128, 129), fc.integer({ min: 0, max: 300 })),
  dHead: fc.oneof(fc.constantFrom(1, 3, 4, 8, 9), fc.integer({ min: 1, max: 40 })),
  numHashes: fc.integer({ min: 1, max: 4 }),
  factors: factorsArb,
  pad: fc.integer({ min: 0, max: 3 }),
  off: fc.integer({ min: 0, max: 4 }),
  seed: fc.integer(),
});

function hashParams(c: HashCase, fill: (n: number) => Float32Array, rng: Rng): LshHashParams {
  const half = c.factors.reduce((s, f) => s + f / 2, 0);
  const ldx = c.dHead + c.pad;
  return {
    x: fill(c.off + c.rows * ldx),
    xOffset: c.off,
    ldx,
    rows: c.rows,
    dHead: c.dHead,
    rotations: fill(c.off + c.dHead * c.numHashes * half),
    rotationsOffset: c.off,
    numHashes: c.numHashes,
    factors: c.factors,
    buckets: randomInts(rng, c.off + c.numHashes * c.rows + 1, 7),
    bucketsOffset: c.off,
  };
}

function runWasmHash(variant: (typeof VARIANTS)[number], p: LshHashParams): Int32Array {
  const be = wasmBackend(variant);
  return be.scope(() => {
    const buckets = intsOf(be, p.buckets);
    be.lshHash({ ...p, x: floatsOf(be, p.x), rotations: floatsOf(be, p.rotations), buckets });
    return Int32Array.from(buckets);
  });
}

/** Gap between the best and second-best candidate of [s, −s] per round/slice, in f64 (min over slices). */
function margins(p: LshHashParams): Float64Array {
  const half = p.factors.reduce((s, f) => s + f / 2, 0);
  const width = p.numHashes * half;
  const out = new Float64Array(p.numHashes * p.rows);
  for (let t = 0; t < p.rows; t++) {
    for (let h = 0; h < p.numHashes; h++) {
      let start = 0;
      let minGap = Infinity;
      for (const f of p.factors) {
        const vals: number[] = [];
        for (let c = 0; c < f / 2; c++) {
          let acc = 0;
          for (let i = 0; i < p.dHead; i++) {
            acc += p.x[(p.xOffset ?? 0) + t * p.ldx + i]! * p.rotations[(p.rotationsOffset ?? 0) + i * width + h * half + start + c]!;
          }
          vals.push(acc, -acc);
        }
        vals.sort((a, b) => b - a);
        minGap = Math.min(minGap, vals.length > 1 ? vals[0]! - vals[1]! : Infinity);
        start += f / 2;
      }
      out[h * p.rows + t] = minGap;
    }
  }
  return out;
}

describe.each(VARIANTS)('LSH kernels (%s) == reference', (variant) => {
  const be = wasmBackend(variant);

  it('lshHash: exact inputs (small integers, many ties) give identical buckets', () => {
    fc.assert(
      fc.property(hashCase, (c) => {
        const rng = new Rng(c.seed);
        const p = hashParams(c, (n) => Float32Array.from({ length: n }, () => rng.int(5) - 2), rng);
        const want = Int32Array.from(p.buckets);
        ref.lshHash({ ...p, buckets: want });
        expect(Array.from(runWasmHash(variant, p))).toEqual(Array.from(want));
      }),
      { numRuns: runs(60) },
    );
  });

  it('lshHash: crafted slices give identical buckets (ties across SIMD lanes, max vs −min, ±Infinity, NaN, slice lengths 1…17)', () => {
    // dHead = 1 and x = ±1: the rotated values are the rotations themselves (exact on both sides)
    const special = [-2, -1, 0, 1, 2, Infinity, -Infinity, NaN];
    const arb = fc.record({
      rows: fc.integer({ min: 1, max: 40 }),
      numHashes: fc.integer({ min: 1, max: 3 }),
      factors: fc.array(
        fc.integer({ min: 1, max: 17 }).map((h) => 2 * h),
        { minLength: 1, maxLength: 3 },
      ),
      values: fc.constantFrom(special.slice(0, 5), special.slice(0, 3), special, [0, 1], [Infinity, -Infinity, NaN], [NaN, 1]),
      seed: fc.integer(),
    });
    fc.assert(
      fc.property(arb, (c) => {
        const rng = new Rng(c.seed);
        const half = c.factors.reduce((s, f) => s + f / 2, 0);
        const p: LshHashParams = {
          x: Float32Array.from({ length: c.rows }, () => (rng.int(2) === 0 ? 1 : -1)),
          ldx: 1,
          rows: c.rows,
          dHead: 1,
          rotations: Float32Array.from({ length: c.numHashes * half }, () => c.values[rng.int(c.values.length)]!),
          numHashes: c.numHashes,
          factors: c.factors,
          buckets: new Int32Array(c.numHashes * c.rows),
        };
        const want = Int32Array.from(p.buckets);
        ref.lshHash({ ...p, buckets: want });
        expect(Array.from(runWasmHash(variant, p))).toEqual(Array.from(want));
      }),
      { numRuns: runs(150) },
    );
  });

  it('lshHash: hand-made slices (first maximum in a later lane, tie of max and −min, all −Infinity / NaN)', () => {
    const cases: [string, number[]][] = [
      ['equal maxima in lanes 3 and 1 (first occurrence: column 1)', [0, 5, 0, 5, 0, 5, 0, 5, 1]],
      ['maximum repeated in one lane only, later column first in its lane', [1, 0, 0, 0, 1, 0, 3, 0, 0, 0, 3, 0]],
      ['tie of max and −min goes to the max', [-3, 0, 1, 3, 0, 0, 0, -3]],
      ['−min beats max', [2, 0, -3, 0, 0, 1]],
      ['all −Infinity', [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity]],
      ['all NaN', [NaN, NaN, NaN, NaN, NaN, NaN, NaN]],
      ['NaN around a maximum in the tail', [NaN, NaN, NaN, NaN, NaN, 1, NaN]],
      ['+Infinity in lane 2 and the tail', [0, 1, Infinity, 2, 0, Infinity]],
      ['−Infinity and +Infinity', [0, -Infinity, 1, 2, Infinity, 3, -1, 0]],
      ['length 1', [-1]],
      ['length 2', [0, -0]],
      ['length 3', [1, -1, 1]],
      ['length 5, maximum in the tail', [1, 1, 1, 1, 2]],
    ];
    for (const [what, values] of cases) {
      const p: LshHashParams = {
        x: Float32Array.of(1),
        ldx: 1,
        rows: 1,
        dHead: 1,
        rotations: Float32Array.from(values),
        numHashes: 1,
        factors: [2 * values.length],
        buckets: new Int32Array(1),
      };
      const want = Int32Array.from(p.buckets);
      ref.lshHash({ ...p, buckets: want });
      expect(Array.from(runWasmHash(variant, p)), what).toEqual(Array.from(want));
    }
  });

  it('lshHash: random floats give identical buckets wherever the decision is not within rounding', () => {
    fc.assert(
      fc.property(hashCase, (c) => {
        const rng = new Rng(c.seed);
        const p = hashParams(c, (n) => randomFloats(rng, n, 1), rng);
        const want = Int32Array.from(p.buckets);
        ref.lshHash({ ...p, buckets: want });
        const got = runWasmHash(variant, p);
        const gap = margins(p);
        const off = p.bucketsOffset ?? 0;
        for (let i = 0; i < gap.length; i++) {
          if (gap[i]! > 1e-5 * Math.max(1, p.dHead)) {
            expect(got[off + i], `bucket ${i} (margin ${gap[i]})`).toBe(want[off + i]);
          }
        }
        // untouched outside the output block
        for (let i = 0; i < off; i++) expect(got[i]).toBe(want[i]);
        expect(got[got.length - 1]).toBe(want[want.length - 1]);
      }),
      { numRuns: runs(40) },
    );
  });

  it('argsortKeys is the stable counting sort; invertPermutation inverts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 1, max: 300 }), fc.integer(), (n, numKeys, s) => {
        const rng = new Rng(s);
        const keys = randomInts(rng, n, numKeys);
        const want = new Int32Array(n);
        ref.argsortKeys(want, keys, n, numKeys);
        const wantInv = new Int32Array(n);
        ref.invertPermutation(wantInv, want, n);
        const [got, gotInv] = be.scope(() => {
          const perm = intsOf(be, randomInts(rng, n, 5));
          be.argsortKeys(perm, intsOf(be, keys), n, numKeys);
          const inv = be.ints(n);
          be.invertPermutation(inv, perm, n);
          return [Int32Array.from(perm), Int32Array.from(inv)];
        });
        expect(Array.from(got!)).toEqual(Array.from(want));
        expect(Array.from(gotInv!)).toEqual(Array.from(wantInv));
      }),
      { numRuns: runs(60) },
    );
  });

  const rowsCase = fc.record({
    rows: fc.integer({ min: 0, max: 60 }),
    cols: fc.oneof(fc.constantFrom(0, 1, 3, 4, 5, 8, 9, 64), fc.integer({ min: 0, max: 70 })),
    targetRows: fc.integer({ min: 1, max: 70 }),
    padSrc: fc.integer({ min: 0, max: 3 }),
    padDst: fc.integer({ min: 0, max: 3 }),
    offSrc: fc.integer({ min: 0, max: 5 }),
    offDst: fc.integer({ min: 0, max: 5 }),
    idxOff: fc.integer({ min: 0, max: 3 }),
    seed: fc.integer(),
  });

  it('gatherRows, scatterRows (a permutation) and scatterAddRows (repeated indices)', () => {
    fc.assert(
      fc.property(rowsCase, (c) => {
        const rng = new Rng(c.seed);
        const ldSrc = c.cols + c.padSrc;
        const ldDst = c.cols + c.padDst;
        const results: Record<string, [Float64Array, Float32Array]> = {};
        for (const op of ['gatherRows', 'scatterRows', 'scatterAddRows'] as const) {
          // gather reads rows index[i] of a [targetRows] src; scatter writes rows of a [targetRows] dst
          const target = op === 'scatterRows' ? c.rows + rng.int(3) : c.targetRows;
          const srcRows = op === 'gatherRows' ? target : c.rows;
          const dstRows = op === 'gatherRows' ? c.rows : target;
          const idx = op === 'scatterRows' ? randomPermutation(rng, target).subarray(0, c.rows) : randomInts(rng, c.rows, target);
          const index = new Int32Array(c.idxOff + c.rows);
          index.set(idx, c.idxOff);
          const p: RowsParams = {
            rows: c.rows,
            cols: c.cols,
            index,
            indexOffset: c.idxOff,
            src: randomFloats(rng, c.offSrc + srcRows * ldSrc + 1, 1),
            srcOffset: c.offSrc,
            ldSrc,
            dst: randomFloats(rng, c.offDst + dstRows * ldDst + 1, 1),
            dstOffset: c.offDst,
            ldDst,
          };
          const want = Float32Array.from(p.dst);
          ref[op]({ ...p, dst: want });
          const got = be.scope(() => {
            const dst = floatsOf(be, p.dst);
            be[op]({ ...p, index: intsOf(be, p.index), src: floatsOf(be, p.src), dst });
            return copy(dst);
          });
          results[op] = [got, want];
        }
        for (const [op, [got, want]] of Object.entries(results)) {
          // scatterAdd sums in the same order in f32 on both sides: exact
          expect(Array.from(got), op).toEqual(Array.from(want));
        }
      }),
      { numRuns: runs(60) },
    );
  });
});
