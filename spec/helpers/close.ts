/**
 * Mixed-tolerance comparison used by every spec: |got − want| ≤ atol + rtol·|want|, element-wise.
 * Tolerances are named per kernel/law (TOL) so a loosened bound is visible in review; docs/TESTING.md
 * lists them with their justification. Under SPEC_RATIOS_OUT (see error-bounds.ts) every call records
 * its margin, max |got − want| / (atol + rtol·|want|) (≤ 1 passes), under `<file> > <test> > <what>`.
 */
import { appendFileSync } from 'node:fs';
import { basename } from 'node:path';
import { expect } from 'vitest';

const ratiosOut = process.env.SPEC_RATIOS_OUT || null;

/** max |got − want| / (atol + rtol·|want|) over the elements (0/0 counts as 0, NaN mismatches as Infinity). */
export function toleranceRatio(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): number {
  let worst = 0;
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (g === w || (Number.isNaN(g) && Number.isNaN(w))) continue;
    const r = Math.abs(g - w) / (tol.atol + tol.rtol * Math.abs(w));
    worst = Math.max(worst, Number.isNaN(r) ? Number.POSITIVE_INFINITY : r);
  }
  return worst;
}

function record(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what: string): void {
  if (ratiosOut === null) return;
  const state = expect.getState();
  // numbers in labels (positions, shapes) would split one law into many
  const label = what
    .replace(/\(.*\)/g, '')
    .replace(/-?\d+(\.\d+)?(e[-+]?\d+)?/g, '#')
    .trim();
  const law = `${basename(state.testPath ?? '?')} > ${state.currentTestName ?? '?'} > ${label}`;
  const ratio = toleranceRatio(got, want, tol);
  appendFileSync(ratiosOut, `${JSON.stringify({ law, k: 1, ratio: Number.isFinite(ratio) ? ratio : String(ratio), what })}\n`);
}

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

/** Index and values of the worst violation, or null if all elements are within tolerance. */
export function firstViolation(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: Tolerance,
): { index: number; got: number; want: number; excess: number } | null {
  if (got.length !== want.length) return { index: -1, got: got.length, want: want.length, excess: Infinity };
  let worst: { index: number; got: number; want: number; excess: number } | null = null;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(g) || Number.isNaN(w)) {
      if (Number.isNaN(g) && Number.isNaN(w)) continue;
      return { index: i, got: g, want: w, excess: Infinity };
    }
    if (g === w) continue; // covers equal infinities
    const excess = Math.abs(g - w) - (tol.atol + tol.rtol * Math.abs(w));
    if (excess > 0 && (worst === null || excess > worst.excess)) worst = { index: i, got: g, want: w, excess };
  }
  return worst;
}

/** Asserts element-wise closeness with a message that names the worst element. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what = 'values'): void {
  record(got, want, tol, what);
  const v = firstViolation(got, want, tol);
  if (v !== null) {
    expect.fail(
      v.index < 0
        ? `${what}: length ${v.got} != ${v.want}`
        : `${what}: element ${v.index} is ${v.got}, expected ${v.want} (atol ${tol.atol}, rtol ${tol.rtol})`,
    );
  }
}

/** max|got − want| / max(floor, max|want|): the fixtures' "scaled error". */
export function scaledError(got: ArrayLike<number>, want: ArrayLike<number>, floor = 1): number {
  let maxAbs = 0;
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
    maxErr = Math.max(maxErr, Math.abs(got[i]! - want[i]!));
  }
  return maxErr / Math.max(floor, maxAbs);
}
