/**
 * Angular LSH for shared-QK attention (Kitaev et al. 2020 Sec. 2; Andoni et al. 2015), HF semantics:
 * random rotations, bucket ids with a padding bucket and per-round offsets, and the stable sort by
 * `(bucket, round·L + t)`.
 *
 *   h(x) = argmax([xR ; −xR])                                  (Sec. 2, one factor)
 *   bucket = b₁ + f₁·b₂ + f₁·f₂·b₃ + …                          (HF factorised num_buckets)
 *   offset bucket of round n = bucket + n·N_eff                 (HF `_hash_vectors`)
 *
 * The num_buckets rules themselves (factors, count, rotation size, `null`) live in src/config/buckets.ts.
 */
import type { Backend, Float } from '../backend/backend.js';
import { bucketCount, bucketFactors, rotationHalfSize, type NumBuckets } from '../config/buckets.js';
import { ShapeError, UsageError } from '../errors.js';
import { arrayLikeArg, backendArg, dimsArg, floatArg } from '../util/args.js';
import { Rng } from '../util/rng.js';

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
 * @throws UsageError if neither is given; ConfigError('backend'); ShapeError unless `shape` is four
 *   positive integers.
 */
export function drawRotations(
  be: Backend,
  shape: readonly [number, number, number, number],
  hashSeed: number | null | undefined,
  rng: Rng | null | undefined,
): Float {
  backendArg('drawRotations', be);
  arrayLikeArg('drawRotations', 'shape', shape, 'the rotation shape [heads, headSize, numHashes, rotationSize/2] (rotationShape(...))');
  if (shape.length !== 4 || !shape.every((n) => Number.isSafeInteger(n) && n >= 1)) {
    throw new ShapeError(
      `drawRotations: shape must be four positive integers [heads, headSize, numHashes, rotationSize/2], got [${Array.from(shape).join(', ')}]`,
    );
  }
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

/** One head of one batch element to hash (see `hashHead`). */
export interface HeadHashParams {
  /** Shared query/key vectors of the head: row t at `qk[qkOffset + t·ldqk ...]`, `headSize` values (raw, unnormalised). */
  qk: Float;
  qkOffset: number;
  ldqk: number;
  seqLen: number;
  headSize: number;
  numHashes: number;
  numBuckets: NumBuckets;
  /** The head's rotations `[headSize, numHashes, rotationSize/2]` at `rotationsOffset`. */
  rotations: Float;
  rotationsOffset: number;
  /** `[seqLen]` attention mask of this batch element at `maskOffset` (1 = real, 0 = padding), or null. */
  mask: Int32Array | null;
  maskOffset: number;
  /** N_eff: N + 1 when the batch has padding (HF gives every batch element the padding bucket then). */
  bucketsPerRound: number;
  /** Out: `[numHashes, seqLen]` offset buckets at `outOffset`. */
  out: Int32Array;
  outOffset: number;
}

/**
 * Offset buckets of one head: `out[n, t] = h⁽ⁿ⁾(qk_t) + n·N_eff`, with padded positions in bucket N
 * (HF `_hash_vectors`). Hashing sees the values only (no gradient flows through it).
 */
export function hashHead(be: Backend, p: HeadHashParams): void {
  const L = p.seqLen;
  const R = p.numHashes;
  const n = bucketCount(p.numBuckets);
  be.lshHash({
    x: p.qk,
    xOffset: p.qkOffset,
    ldx: p.ldqk,
    rows: L,
    dHead: p.headSize,
    rotations: p.rotations,
    rotationsOffset: p.rotationsOffset,
    numHashes: R,
    factors: bucketFactors(p.numBuckets),
    buckets: p.out,
    bucketsOffset: p.outOffset,
  });
  // padding bucket N for padded positions, then the round offset n·N_eff (HF `_hash_vectors`)
  for (let r = 0; r < R; r++) {
    for (let t = 0; t < L; t++) {
      const i = p.outOffset + r * L + t;
      const raw = p.mask && p.mask[p.maskOffset + t] === 0 ? n : p.out[i]!;
      p.out[i] = raw + r * p.bucketsPerRound;
    }
  }
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
 * Hashes every (batch, head, round, position) with `hashHead`: `buckets[b, h, n, t]` in
 * `[0, numHashes·N_eff)`, exactly HF's `cap:buckets`.
 * @returns buckets `[batch, heads, numHashes, seqLen]` (allocated with `be.ints`).
 * @throws ConfigError('backend'), ShapeError (a malformed `p`, lengths of qk / rotations), ConfigError
 *   (a bad `numBuckets`).
 */
export function hashBuckets(be: Backend, p: HashParams): Int32Array {
  backendArg('hashBuckets', be);
  dimsArg(
    'hashBuckets',
    'params',
    p,
    ['batch', 'seqLen', 'heads', 'headSize', 'numHashes'],
    'HashParams {qk, batch, seqLen, heads, headSize, numHashes, numBuckets, rotations, attentionMask}',
  );
  floatArg('hashBuckets', 'params.qk', p.qk);
  floatArg('hashBuckets', 'params.rotations', p.rotations);
  const { batch: B, seqLen: L, heads: H, headSize: d, numHashes: R } = p;
  const nEff = effectiveBucketCount(p.numBuckets, maskHasPadding(p.attentionMask));
  const half = rotationHalfSize(p.numBuckets);
  const buckets = be.ints(B * H * R * L); // [B, H, R, L]
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      hashHead(be, {
        qk: p.qk,
        qkOffset: b * L * H * d + h * d,
        ldqk: H * d,
        seqLen: L,
        headSize: d,
        numHashes: R,
        numBuckets: p.numBuckets,
        rotations: p.rotations,
        rotationsOffset: h * d * R * half,
        mask: p.attentionMask,
        maskOffset: b * L,
        bucketsPerRound: nEff,
        out: buckets,
        outOffset: (b * H + h) * R * L,
      });
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
