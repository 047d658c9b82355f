/** The hashing family (kernels: assembly/hash.ts): parameter type and argument checks of angular LSH. */
import { ShapeError } from '../../../errors.js';
import type { Float } from '../../backend.js';
import { checkBlock, checkInt, checkVec } from '../checks.js';

/**
 * Angular LSH (Andoni et al. 2015; Kitaev et al. 2020 Sec. 2): `rotated = x·R`, then per hash round
 * `bucket = argmax([rotated, −rotated])` (ties go to the lowest index, like `torch.argmax`).
 * With several `factors` [f1, f2, ...] (HF's factorised `num_buckets`), the round's rotated vector
 * is cut into slices of f1/2, f2/2, ... columns and `bucket = b1 + f1·b2 + f1·f2·b3 + ...`.
 * An int `num_buckets` is `factors = [num_buckets]`.
 * No round offsets and no padding bucket here: attention code adds those.
 *
 * Non-finite rotated values (a NaN or ±Infinity in x or in the rotations): ±Infinity compares as usual
 * (ties still go to the lowest index), and NaN counts as larger than every number, as in `torch.argmax`:
 * a slice holding a NaN gets the index of its first NaN (rotated value c and its negation are both NaN,
 * and c comes first). Both backends follow this rule; the models report such inputs (NumericalError)
 * before their buckets are used.
 */
export interface LshHashParams {
  /** x: [rows, dHead] with row stride ldx (raw, unnormalised shared query/key vectors of one head). */
  x: Float;
  xOffset?: number;
  ldx: number;
  rows: number;
  dHead: number;
  /** rotations of one head: [dHead, numHashes, rotationSize/2] contiguous, rotationSize = Σ factors. */
  rotations: Float;
  rotationsOffset?: number;
  numHashes: number;
  /** Even bucket factors, each ≥ 2. */
  factors: readonly number[];
  /** out: [numHashes, rows] bucket ids in [0, Π factors). */
  buckets: Int32Array;
  bucketsOffset?: number;
}

export function validateLshHash(p: LshHashParams): void {
  const op = 'lshHash';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'dHead', p.dHead, 1);
  checkInt(op, 'numHashes', p.numHashes, 1);
  if (!Array.isArray(p.factors) || p.factors.length === 0) {
    throw new ShapeError(`${op}: factors must be a non-empty list of even bucket counts, got ${String(p.factors)}`);
  }
  let prod = 1;
  let half = 0;
  for (const f of p.factors) {
    if (!Number.isInteger(f) || f < 2 || f % 2 !== 0) {
      throw new ShapeError(`${op}: every bucket factor must be an even integer >= 2, got ${f}`);
    }
    prod *= f;
    half += f / 2;
  }
  if (prod > 2 ** 30) throw new ShapeError(`${op}: product of bucket factors ${prod} exceeds 2^30`);
  checkBlock(op, 'x', p.x, p.xOffset ?? 0, p.rows, p.dHead, p.ldx);
  checkVec(op, 'rotations', p.rotations, p.dHead * p.numHashes * half, p.rotationsOffset ?? 0);
  checkVec(op, 'buckets', p.buckets, p.numHashes * p.rows, p.bucketsOffset ?? 0);
}
