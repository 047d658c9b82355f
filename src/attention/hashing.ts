/**
 * Angular LSH for shared-QK attention (Kitaev et al. 2020 Sec. 2; Andoni et al. 2015), HF semantics:
 * random rotations, bucket ids with a padding bucket and per-round offsets, and the stable sort by
 * `(bucket, round·L + t)` with its inverse.
 *
 *   h(x) = argmax([xR ; −xR])                                  (Sec. 2, one factor)
 *   bucket = b₁ + f₁·b₂ + f₁·f₂·b₃ + …                          (HF factorised num_buckets)
 *   offset bucket of round n = bucket + n·N_eff                 (HF `_hash_vectors`)
 */
import type { Backend, Float } from '../backend/backend.js';
import { ShapeError, UsageError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { bucketCount, bucketFactors, rotationHalfSize, type NumBuckets } from './config.js';

/** Shape of the rotations: `[heads, headSize, numHashes, rotationSize/2]` (HF `rotations_shape`). */
export function rotationShape(
  heads: number,
  headSize: number,
  numHashes: number,
  numBuckets: NumBuckets,
): [number, number, number, number] {
  return [heads, headSize, numHashes, rotationHalfSize(numBuckets)];
}

/**
 * Draws i.i.d. N(0, 1) rotations `[heads, headSize, numHashes, rotationSize/2]` (row-major fill order)
 * into a buffer of `be`. HF draws one such tensor with `torch.randn` at every hashing forward; the
 * generator is `new Rng(hashSeed)` when `hashSeed` is set (HF re-seeds before every draw, so every
 * forward gets the same rotations), otherwise `rng`.
 * @throws UsageError if neither is given.
 */
export function drawRotations(
  be: Backend,
  shape: readonly [number, number, number, number],
  hashSeed: number | null | undefined,
  rng: Rng | null | undefined,
): Float {
  const gen = hashSeed !== null && hashSeed !== undefined ? new Rng(hashSeed) : rng;
  if (!gen) {
    throw new UsageError('lsh attention needs random rotations: pass options.rotations (injected), options.rng, or set config.hash_seed');
  }
  const out = be.floats(shape[0] * shape[1] * shape[2] * shape[3]);
  gen.fillNormal(out);
  return out;
}

/** True if the [batch, seq] mask has at least one 0 (HF then adds the padding bucket for every batch element). */
export function maskHasPadding(mask: Int32Array | null | undefined): boolean {
  if (!mask) return false;
  for (let i = 0; i < mask.length; i++) if (mask[i] === 0) return true;
  return false;
}

/** Buckets per round including HF's padding bucket: N_eff = N + 1 if the batch has padding, else N. */
export function effectiveBucketCount(numBuckets: NumBuckets, padded: boolean): number {
  return bucketCount(numBuckets) + (padded ? 1 : 0);
}

export interface HashParams {
  /** Shared query/key projections `[batch, seqLen, heads·headSize]` (raw, unnormalised; HF hashes these). */
  qk: Float;
  batch: number;
  seqLen: number;
  heads: number;
  headSize: number;
  numHashes: number;
  numBuckets: NumBuckets;
  /** `[heads, headSize, numHashes, rotationSize/2]` */
  rotations: Float;
  /** `[batch, seqLen]`, 1 = real, 0 = padding; null = none. */
  attentionMask: Int32Array | null;
}

/**
 * Hashes every (batch, head, round, position): `buckets[b, h, n, t]` in `[0, numHashes·N_eff)`, with
 * padded positions in bucket `N` (when the batch has padding) and the round offset `n·N_eff` added,
 * exactly HF's `cap:buckets`. Hashing sees the values only (no gradient flows through it).
 * @returns buckets `[batch, heads, numHashes, seqLen]` (allocated with `be.ints`).
 */
export function hashBuckets(be: Backend, p: HashParams): Int32Array {
  const { batch, seqLen: L, heads: H, headSize: d, numHashes: R } = p;
  const factors = bucketFactors(p.numBuckets);
  const half = rotationHalfSize(p.numBuckets);
  const n = bucketCount(p.numBuckets);
  const padded = maskHasPadding(p.attentionMask);
  const nEff = n + (padded ? 1 : 0);
  const all = H * d;
  const buckets = be.ints(batch * H * R * L); // [B, H, R, L]
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < H; h++) {
      const o = (b * H + h) * R * L;
      // raw buckets of this head: [R, L] = argmax([x·R_h ; −x·R_h]) per round (Sec. 2)
      be.lshHash({
        x: p.qk,
        xOffset: b * L * all + h * d,
        ldx: all,
        rows: L,
        dHead: d,
        rotations: p.rotations,
        rotationsOffset: h * d * R * half,
        numHashes: R,
        factors,
        buckets,
        bucketsOffset: o,
      });
      // padding bucket N for padded positions, then the round offset n·N_eff (HF `_hash_vectors`)
      for (let r = 0; r < R; r++) {
        for (let t = 0; t < L; t++) {
          const i = o + r * L + t;
          const raw = p.attentionMask && p.attentionMask[b * L + t] === 0 ? n : buckets[i]!;
          buckets[i] = raw + r * nEff;
        }
      }
    }
  }
  return buckets;
}

/**
 * Checks replayed buckets (from an earlier forward) before they drive a sort.
 * @throws ShapeError naming the first bad entry.
 */
export function checkBuckets(buckets: Int32Array, batch: number, heads: number, numHashes: number, seqLen: number, nEff: number): void {
  const want = batch * heads * numHashes * seqLen;
  if (buckets.length !== want) {
    throw new ShapeError(
      `lsh attention: buckets must be [batch, heads, num_hashes, seq] = [${batch}, ${heads}, ${numHashes}, ${seqLen}] ` +
        `(${want} values), got ${buckets.length}; pass the buckets of a forward with the same shapes and num_hashes`,
    );
  }
  for (let i = 0; i < want; i++) {
    const r = Math.floor(i / seqLen) % numHashes;
    const v = buckets[i]!;
    if (v < r * nEff || v >= (r + 1) * nEff) {
      throw new ShapeError(
        `lsh attention: bucket ${v} at flat index ${i} is outside round ${r}'s range [${r * nEff}, ${(r + 1) * nEff}) ` +
          `(N_eff = ${nEff}); the buckets do not come from a forward with this num_buckets / attention_mask`,
      );
    }
  }
}

/**
 * Stable sort of one head's offset buckets over the flattened (round, position) axis (HF
 * `_get_sorted_bucket_idx_and_undo_sorted_bucket_idx`): `sorted[k]` is the flat index `i = n·L + t`
 * at sorted slot k, ordered by `(bucket_i, i)`; `undo` is its inverse (`undo[sorted[k]] = k`).
 * Writes into `sorted`/`undo` at `offset` (length `numHashes·seqLen`).
 */
export function sortBuckets(
  be: Backend,
  buckets: Int32Array,
  offset: number,
  n: number,
  numKeys: number,
  sorted: Int32Array,
  undo: Int32Array,
): void {
  const keys = buckets.subarray(offset, offset + n);
  const perm = sorted.subarray(offset, offset + n);
  be.argsortKeys(perm, keys, n, numKeys);
  be.invertPermutation(undo.subarray(offset, offset + n), perm, n);
}
