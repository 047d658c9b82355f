/**
 * Error bounds measured against a float64 truth, for laws between two floating-point paths that agree
 * only up to rounding (see docs/TESTING.md, "Tolerance policy").
 *
 * A law of this kind reads `err ≤ k · (ref + u · scale)` on each segment (a parameter tensor, an input
 * gradient, a stream):
 * - `err` is the error of the path under test, measured against the truth (or the other path);
 * - `ref` is an error measured in the same case that says how much rounding this computation suffers
 *   (the plain f32 path's error against the f64 truth, or such an f32 error scaled by u64/u32 = 2^-29 for
 *   an f64 law), so an ill-conditioned case widens its own bound and a well-conditioned one stays tight;
 * - `u · scale` is one unit roundoff of the segment's largest |truth| (the floor when `ref` happens to be 0);
 * - `k` is stated at each law with the measured distribution of err / (ref + u·scale) it was chosen from.
 * A bug (a wrong replay, a missing term) gives an error that does not shrink with the precision, i.e.
 * a ratio of ~1/u32 ≈ 1.7e7 in f32 and ~2^29 ≈ 5.4e8 in an f64 law scaled from f32: far above any k.
 */
import { appendFileSync } from 'node:fs';
import { expect } from 'vitest';

/**
 * Measurement: with SPEC_RATIOS_OUT=<file>, every `expectWithinMeasuredBound` call appends its worst
 * ratio as a JSON line `{"law", "ratio", "what"}` (before asserting), so a stress run records the
 * distribution the k of each law is judged by (`npm run spec:seeds -- --ratios`).
 */
const ratiosOut = process.env.SPEC_RATIOS_OUT || null;

/** Unit roundoff of float32 (round to nearest, 24-bit significand). */
export const U32 = 2 ** -24;
/** Unit roundoff of float64 (53-bit significand). */
export const U64 = 2 ** -53;
/**
 * u64 / u32. To first order a rounding error is (condition) × u, so an error measured in f32 predicts
 * 2^-29 times that error for the same computation in f64.
 */
export const U64_PER_U32 = 2 ** -29;

/** A named range of a flat buffer. */
export interface Segment {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

/** The whole buffer as one segment. */
export function whole(name: string, x: ArrayLike<number>): Segment {
  return { name, offset: 0, size: x.length };
}

/** max |x| over a segment (0 when empty). */
export function maxAbs(x: ArrayLike<number>, seg: Segment = whole('', x)): number {
  let m = 0;
  for (let i = seg.offset; i < seg.offset + seg.size; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

/** max |a − b| over a segment; NaN if either side has a NaN (a NaN is never within a bound). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, seg: Segment = whole('', a)): number {
  let m = 0;
  for (let i = seg.offset; i < seg.offset + seg.size; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return Number.NaN;
    m = Math.max(m, d);
  }
  return m;
}

/** err / (ref + u·scale): the number a law compares with its k (0 when err is 0, Infinity for NaN). */
export function boundRatio(err: number, ref: number, u: number, scale: number): number {
  if (Number.isNaN(err) || Number.isNaN(ref)) return Number.POSITIVE_INFINITY;
  if (err === 0) return 0;
  return err / (ref + u * scale);
}

/** One measured segment of a law. */
export interface MeasuredError {
  /** what is compared (segment name, precision) */
  readonly what: string;
  /** error of the path under test */
  readonly err: number;
  /** the measured reference error (already scaled to this precision) */
  readonly ref: number;
  /** unit roundoff of the precision under test */
  readonly u: number;
  /** largest |truth| of the segment */
  readonly scale: number;
}

/** The largest ratio of a list and where (for measurement tables and failure messages). */
export function worstRatio(rows: readonly MeasuredError[]): { ratio: number; row: MeasuredError | null } {
  let worst: { ratio: number; row: MeasuredError | null } = { ratio: 0, row: null };
  for (const r of rows) {
    const ratio = boundRatio(r.err, r.ref, r.u, r.scale);
    if (ratio > worst.ratio || worst.row === null) worst = { ratio, row: r };
  }
  return worst;
}

/** Asserts err ≤ k·(ref + u·scale) for every row; the message names the worst row and its numbers. */
export function expectWithinMeasuredBound(rows: readonly MeasuredError[], k: number, law: string): void {
  const { ratio, row } = worstRatio(rows);
  if (ratiosOut !== null && row !== null) {
    appendFileSync(ratiosOut, `${JSON.stringify({ law, k, ratio: Number.isFinite(ratio) ? ratio : String(ratio), what: row.what })}\n`);
  }
  if (row !== null && !(ratio <= k)) {
    expect.fail(
      `${law}: ${row.what}: error ${row.err.toExponential(3)} > k·(ref + u·scale) = ${k}·(${row.ref.toExponential(3)} + ` +
        `${row.u.toExponential(3)}·${row.scale.toExponential(3)}) (ratio ${ratio.toPrecision(4)} > k = ${k})`,
    );
  }
}

/** Quantiles of a sample (measurement tables): p50, p90, p99, p99.9 and max. */
export function quantiles(sample: readonly number[]): { n: number; p50: number; p90: number; p99: number; p999: number; max: number } {
  const s = [...sample].sort((a, b) => a - b);
  const at = (f: number): number => s[Math.min(s.length - 1, Math.floor(f * s.length))] ?? 0;
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: s.at(-1) ?? 0 };
}
