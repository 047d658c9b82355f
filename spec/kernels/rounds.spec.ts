/**
 * Laws of `lshRoundCombine`, the online softmax over LSH hash rounds (HF's logsumexp-weighted sum over
 * hashes, Kitaev et al. Eq. 12):
 *  - reference (float64): folding every round, each cut into calls over positions in random order,
 *    gives o_t = Σ_n exp(z⁽ⁿ⁾_t − logsumexp_n z⁽ⁿ⁾_t)·o⁽ⁿ⁾_t and (m_t, s_t) = (max_n z, Σ_n exp(z − m_t));
 *  - WASM == reference (f32 buffers) for head sizes 1…70 (not multiples of 4 too), row strides and
 *    offsets, 1…8 rounds, round log-sum-exps that are close, far apart (60 and more), around HF's
 *    self-mask value −1e5 and its mask value −1e9; acc and stats start as NaN (the first round
 *    must not read them); m_t is bit-exact, acc and s_t within a few f32 roundings;
 *  - the fp32 logsumexp quirk: with f32 buffers, Z_t is rounded to f32 before the weights exp(z − Z_t)
 *    are taken, so near −1e5 (f32 spacing 2^-7) the weights of a position sum to ≠ 1. Checked against
 *    the closed form with Z_t rounded (wherever Z_t is not within rounding of a rounding boundary);
 *  - invalid arguments (repeated or out-of-range positions, short buffers, overlaps) throw ShapeError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Float, LshRoundCombineParams } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ShapeError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers/close.js';
import { VARIANTS, copy, floatsOf, intsOf, maxAbs, randomFloats, randomPermutation, ref, wasmBackend } from './util.js';
import { runs } from '../helpers/runs.js';

/**
 * WASM vs reference (f32): the reference updates acc in f64 and rounds once per round; the kernel
 * rounds α and β to f32 and updates in f32 lanes (two or three roundings per round). Per unit of
 * max|o| (acc_t ≤ max|o|·s_t, s_t ≤ rounds), so cancellation in acc_t is covered.
 */
const TOL_ACC = { atol: 2e-6, rtol: 1e-5 } as const;
/** s_t: the same f64 arithmetic and f32 stores on both sides, up to an ulp of exp/log in either engine. */
const TOL_S = { atol: 0, rtol: 1e-6 } as const;
/** Reference in float64 vs the closed form (another summation order). */
const TOL_F64 = { atol: 1e-12, rtol: 1e-12 } as const;

const f64 = new ReferenceBackend({ dtype: 'f64' });

type ZKind = 'normal' | 'far' | 'self' | 'mask' | 'mixed';

interface RoundsCase {
  seqLen: number;
  d: number;
  pad: number;
  off: number;
  rounds: number;
  /** Calls per round (positions of a round cut into this many consecutive pieces of a random order). */
  calls: number;
  zKind: ZKind;
  seed: number;
}

const roundsCase: fc.Arbitrary<RoundsCase> = fc.record({
  seqLen: fc.oneof(fc.constantFrom(1, 2, 5, 16, 17), fc.integer({ min: 1, max: 120 })),
  d: fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 64), fc.integer({ min: 1, max: 70 })),
  pad: fc.integer({ min: 0, max: 3 }),
  off: fc.integer({ min: 0, max: 5 }),
  rounds: fc.oneof(fc.constantFrom(1, 2, 4), fc.integer({ min: 1, max: 8 })),
  calls: fc.integer({ min: 1, max: 3 }),
  zKind: fc.constantFrom<ZKind>('normal', 'far', 'self', 'mask', 'mixed'),
  seed: fc.integer(),
});

/** One call of a round: its rows' positions, outputs o⁽ⁿ⁾ ([rows, ld] at `off`) and log-sum-exps z⁽ⁿ⁾. */
interface RoundCall {
  round: number;
  pos: Int32Array;
  out: Float32Array;
  lse: Float32Array;
}

/** A z value (rounded to f32) of the given kind. */
function drawZ(rng: Rng, kind: ZKind): number {
  const u = 2 * rng.uniform() - 1;
  switch (kind) {
    case 'normal':
      return Math.fround(3 * u);
    case 'far': // rounds whose z differ by ≥ 60: weights underflow to 0 or dominate
      return Math.fround([-200, -60, 0, 60, 150][rng.int(5)]! + u);
    case 'self': // a query that saw only itself: scores −1e5 (HF self mask), lse ≈ −1e5 + log(count)
      return Math.fround(-1e5 + 3 * u);
    case 'mask': // every key masked: scores −1e9 (f32 spacing 64)
      return Math.fround(-1e9 + 64 * rng.int(4));
    case 'mixed':
      return drawZ(rng, (['normal', 'far', 'self', 'mask'] as const)[rng.int(4)]!);
  }
}

function makeCalls(c: RoundsCase, rng: Rng, ones = false): RoundCall[] {
  const ld = c.d + c.pad;
  const calls: RoundCall[] = [];
  for (let r = 0; r < c.rounds; r++) {
    const order = randomPermutation(rng, c.seqLen);
    const cuts = [0, ...Array.from({ length: c.calls - 1 }, () => rng.int(c.seqLen + 1)).sort((a, b) => a - b), c.seqLen];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const rows = cuts[i + 1]! - cuts[i]!;
      const out = ones ? new Float32Array(c.off + rows * ld).fill(1) : randomFloats(rng, c.off + rows * ld, 2);
      const lse = new Float32Array(c.off + rows);
      for (let k = 0; k < rows; k++) lse[c.off + k] = drawZ(rng, c.zKind);
      calls.push({ round: r, pos: order.slice(cuts[i]!, cuts[i + 1]!), out, lse });
    }
  }
  return calls;
}

/** Folds every call into acc [seqLen, ld] and stats [seqLen, 2] (both at `off`, initially NaN) on `be`. */
function foldAll(
  c: RoundsCase,
  calls: readonly RoundCall[],
  alloc: (src: ArrayLike<number>) => Float,
  allocInts: (src: ArrayLike<number>) => Int32Array,
  run: (p: LshRoundCombineParams) => void,
): { acc: Float; stats: Float } {
  const ld = c.d + c.pad;
  const acc = alloc(new Float64Array(c.off + c.seqLen * ld + 1).fill(NaN));
  const stats = alloc(new Float64Array(c.off + 2 * c.seqLen + 1).fill(NaN));
  for (const k of calls) {
    run({
      rows: k.pos.length,
      d: c.d,
      seqLen: c.seqLen,
      first: k.round === 0,
      last: k.round === c.rounds - 1,
      pos: allocInts(k.pos),
      roundOut: alloc(k.out),
      roundOutOffset: c.off,
      ldRoundOut: ld,
      roundLse: alloc(k.lse),
      roundLseOffset: c.off,
      acc,
      accOffset: c.off,
      ldAcc: ld,
      stats,
      statsOffset: c.off,
    });
  }
  return { acc, stats };
}

/** Per position: the rounds' (z, o) in round order. */
function byPosition(c: RoundsCase, calls: readonly RoundCall[]): { z: number[]; o: Float32Array[] }[] {
  const ld = c.d + c.pad;
  const at = Array.from({ length: c.seqLen }, () => ({ z: [] as number[], o: [] as Float32Array[] }));
  for (const k of calls) {
    for (let i = 0; i < k.pos.length; i++) {
      const t = k.pos[i]!;
      at[t]!.z.push(k.lse[c.off + i]!);
      at[t]!.o.push(k.out.subarray(c.off + i * ld, c.off + i * ld + c.d));
    }
  }
  return at;
}

function logSumExp(z: readonly number[]): number {
  const m = Math.max(...z);
  return m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
}

/** Σ_n exp(z_n − Z)·o_n for every position (Z = logsumexp, rounded to f32 when `roundZ`), as [seqLen, d]. */
function closedForm(c: RoundsCase, calls: readonly RoundCall[], roundZ: boolean): Float64Array {
  const want = new Float64Array(c.seqLen * c.d);
  byPosition(c, calls).forEach(({ z, o }, t) => {
    const Z0 = logSumExp(z);
    const Z = roundZ ? Math.fround(Z0) : Z0;
    for (let n = 0; n < z.length; n++) {
      const w = Math.exp(z[n]! - Z);
      for (let j = 0; j < c.d; j++) want[t * c.d + j] = want[t * c.d + j]! + w * o[n]![j]!;
    }
  });
  return want;
}

/** The [seqLen, d] block of acc (row stride d + pad at offset off) as a dense copy. */
function dense(c: RoundsCase, acc: ArrayLike<number>): Float64Array {
  const ld = c.d + c.pad;
  const out = new Float64Array(c.seqLen * c.d);
  for (let t = 0; t < c.seqLen; t++) for (let j = 0; j < c.d; j++) out[t * c.d + j] = acc[c.off + t * ld + j]!;
  return out;
}

describe('lshRoundCombine (reference, float64) == the logsumexp-weighted sum over rounds', () => {
  it('o_t = Σ_n exp(z_n − logsumexp z)·o_n; m_t = max z, s_t = Σ exp(z − m_t); padding of acc untouched', () => {
    fc.assert(
      fc.property(
        roundsCase.filter((c) => c.zKind !== 'mixed'),
        (c) => {
          const rng = new Rng(c.seed);
          const calls = makeCalls(c, rng);
          const { acc, stats } = foldAll(
            c,
            calls,
            (a) => Float64Array.from(a),
            (a) => Int32Array.from(a),
            (p) => f64.lshRoundCombine(p),
          );
          expectClose(
            dense(c, acc),
            closedForm(c, calls, false),
            { atol: TOL_F64.atol * maxAbs(closedForm(c, calls, false)) + 1e-300, rtol: TOL_F64.rtol },
            'o_t',
          );
          byPosition(c, calls).forEach(({ z }, t) => {
            const m = Math.max(...z);
            expect(stats[c.off + 2 * t]).toBe(m);
            const s = z.reduce((a, v) => a + Math.exp(v - m), 0);
            expect(Math.abs(stats[c.off + 2 * t + 1]! - s)).toBeLessThanOrEqual(1e-12 * s);
          });
          // outside the [seqLen, d] block (offset, row padding, the guard element): still NaN
          const ld = c.d + c.pad;
          for (let i = 0; i < acc.length; i++) {
            const inBlock = i >= c.off && i < c.off + c.seqLen * ld && (i - c.off) % ld < c.d;
            if (!inBlock) expect(acc[i], `acc[${i}]`).toBeNaN();
          }
          expect(stats[stats.length - 1]).toBeNaN();
        },
      ),
      { numRuns: runs(80) },
    );
  });
});

describe.each(VARIANTS)('lshRoundCombine (%s) == reference (f32)', (variant) => {
  const be = wasmBackend(variant);

  it('acc, m_t and s_t over random rounds, calls, strides, offsets and z ranges (acc and stats start as NaN)', () => {
    fc.assert(
      fc.property(roundsCase, (c) => {
        const calls = makeCalls(c, new Rng(c.seed));
        const want = foldAll(
          c,
          calls,
          (a) => Float32Array.from(a),
          (a) => Int32Array.from(a),
          (p) => ref.lshRoundCombine(p),
        );
        const got = be.scope(() => {
          const r = foldAll(
            c,
            calls,
            (a) => floatsOf(be, a),
            (a) => intsOf(be, a),
            (p) => be.lshRoundCombine(p),
          );
          return { acc: copy(r.acc), stats: copy(r.stats) };
        });
        let maxO = 0;
        for (const k of calls) maxO = Math.max(maxO, maxAbs(k.out));
        expectClose(got.acc, want.acc, { atol: TOL_ACC.atol * maxO, rtol: TOL_ACC.rtol }, 'acc');
        for (let t = 0; t < c.seqLen; t++) {
          expect(got.stats[c.off + 2 * t], `m_${t}`).toBe(want.stats[c.off + 2 * t]);
        }
        expectClose(got.stats, want.stats, TOL_S, 'stats');
      }),
      { numRuns: runs(120) },
    );
  });

  it('fp32 logsumexp quirk: near −1e5, o_t = Σ_n exp(z_n − fround(Z_t))·o_n (weights sum to ≠ 1)', () => {
    let quirks = 0;
    fc.assert(
      fc.property(
        roundsCase.map((c) => ({ ...c, zKind: 'self' as const, rounds: Math.max(2, c.rounds) })),
        fc.boolean(),
        (c, ones) => {
          const calls = makeCalls(c, new Rng(c.seed), ones);
          const got = be.scope(() =>
            copy(
              foldAll(
                c,
                calls,
                (a) => floatsOf(be, a),
                (a) => intsOf(be, a),
                (p) => be.lshRoundCombine(p),
              ).acc,
            ),
          );
          const want = closedForm(c, calls, true);
          const g = dense(c, got);
          byPosition(c, calls).forEach(({ z }, t) => {
            // Z_t in f64; skip positions whose f32 rounding could flip with s_t's f32 rounding (≤ rounds·2^-24 in log s)
            const Z = logSumExp(z);
            const ulp = 2 ** -7; // f32 spacing in [2^16, 2^17)
            const frac = Math.abs(Z / ulp - Math.floor(Z / ulp) - 0.5);
            if (frac < 1e-3) return;
            const row = (a: ArrayLike<number>) => Array.from({ length: c.d }, (_, j) => a[t * c.d + j]!);
            const wantRow = row(want);
            expectClose(row(g), wantRow, { atol: TOL_ACC.atol * 2, rtol: TOL_ACC.rtol }, `o_${t}`); // |o| ≤ 2
            if (ones && Math.abs(wantRow[0]! - 1) > 1e-3) quirks++;
          });
        },
      ),
      { numRuns: runs(60) },
    );
    expect(quirks, 'positions whose round weights sum to ≠ 1 (the quirk is exercised)').toBeGreaterThan(0);
  });

  it('validation: repeated or out-of-range positions, short buffers and overlaps throw ShapeError; nothing changes', () => {
    be.scope(() => {
      const d = 3;
      const L = 5;
      const base = (): LshRoundCombineParams => ({
        rows: 3,
        d,
        seqLen: L,
        first: true,
        last: false,
        pos: intsOf(be, [4, 0, 2]),
        roundOut: be.floats(3 * d),
        roundLse: be.floats(3),
        acc: be.floats(L * d),
        stats: be.floats(2 * L),
      });
      const p = base();
      p.acc.fill(7);
      // [what, params, also checked on the reference backend]
      const cases: [string, LshRoundCombineParams, boolean][] = [
        ['repeated position', { ...p, pos: intsOf(be, [1, 3, 1]) }, true],
        ['negative position', { ...p, pos: intsOf(be, [1, -1, 2]) }, true],
        ['position ≥ seqLen', { ...p, pos: intsOf(be, [1, 5, 2]) }, true],
        ['short acc', { ...p, acc: be.floats(L * d - 1) }, true],
        ['short stats', { ...p, stats: be.floats(2 * L - 1) }, true],
        ['short roundOut', { ...p, ldRoundOut: d + 1 }, true],
        ['short pos', { ...p, pos: intsOf(be, [1, 2]) }, true],
        ['d = 0', { ...p, d: 0 }, true],
        ['acc overlaps roundOut', { ...p, roundOut: p.acc }, false],
        ['stats overlaps acc', { ...p, stats: p.acc }, false],
        ['foreign buffer', { ...p, acc: new Float32Array(L * d) }, false],
      ];
      for (const [what, bad, onRef] of cases) {
        expect(() => be.lshRoundCombine(bad), what).toThrow(ShapeError);
        if (onRef)
          expect(() => ref.lshRoundCombine({ ...bad, acc: Float32Array.from(bad.acc) }), `${what} (reference)`).toThrow(ShapeError);
      }
      expect(Array.from(p.acc)).toEqual(new Array(L * d).fill(7));
      // the same positions in the next call are fine (each call is checked on its own)
      be.lshRoundCombine(p);
      be.lshRoundCombine({ ...p, first: false });
    });
  });
});
