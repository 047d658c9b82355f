/**
 * Laws of LSH attention (HF semantics unless stated), float64:
 * - n identical hash rounds == one round;
 * - causality (is_decoder): with the buckets fixed, inputs after t never change outputs <= t, also with
 *   wrap-around, several rounds and buckets spanning several chunks. (Re-hashing a changed later token
 *   can move chunk boundaries and so change earlier outputs: that is HF/trax LSH behaviour, see the
 *   last test; fixing the buckets is what the reversible backward does anyway.)
 * - padding invariance: changing padded positions never changes real outputs (full re-hashing: padded
 *   positions go to the padding bucket whatever their values);
 * - self-attention only as last resort (Sec. 2): a query puts ~all its mass on itself iff no round's
 *   window holds another valid key, and ~none otherwise;
 * - hashing: positive scaling keeps buckets, negation moves every digit to the opposite bucket;
 * - the sort is a stable permutation by (bucket, index) and undo is its inverse;
 * - replaying the buckets reproduces the forward exactly without drawing rotations.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { bucketCount, bucketFactors, rotationHalfSize } from '../../src/config/buckets.js';
import { hashBuckets } from '../../src/attention/hashing.js';
import { lshAttentionForward, lshSpecFromConfig, type LshAttentionCache } from '../../src/attention/lsh.js';
import { lshSelfAttentionForward } from '../../src/attention/lsh-module.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers/close.js';
import { arbCase, configOf, copyOf, maskOf, normal, seqLenOf, type AttnCase } from './helpers.js';
import { runs } from '../helpers/runs.js';

const TOL = {
  /** same computation up to summation order / identical operations */
  same: { atol: 1e-12, rtol: 1e-10 },
  /** exp(−1e5 + O(10)) is exactly 0 in float64 */
  selfMass: 1e-12,
} as const;

function setup(c: AttnCase) {
  const be = new ReferenceBackend({ dtype: 'f64' });
  const rng = new Rng(c.seed);
  const L = seqLenOf(c);
  const all = c.heads * c.headSize;
  const qk = normal(be, c.batch * L * all, rng);
  const v = normal(be, c.batch * L * all, rng);
  const mask = maskOf(c.mask, c.batch, L, rng);
  const half = rotationHalfSize(c.numBuckets);
  const rotations = normal(be, c.heads * c.headSize * c.numHashes * half, rng);
  return { be, rng, L, all, qk, v, mask, rotations, half };
}

describe('LSH laws', () => {
  it('n identical rounds == one round (HF mode with wrap-around; paper mode without neighbours)', () => {
    fc.assert(
      fc.property(arbCase({ maxHashes: 1 }), fc.integer({ min: 2, max: 4 }), fc.boolean(), (c, n, paper) => {
        const { be, L, qk, v, mask, rotations, half } = setup(c);
        const one = { ...c, ...(paper ? { before: 0, after: 0 } : {}) };
        const spec1 = lshSpecFromConfig(configOf(one), c.batch, L);
        const specN = { ...spec1, numHashes: n };
        // rotations [H, d, n, half] with every round equal to the single round's
        const rotN = be.floats(c.heads * c.headSize * n * half);
        for (let hd = 0; hd < c.heads * c.headSize; hd++) {
          for (let r = 0; r < n; r++) for (let j = 0; j < half; j++) rotN[(hd * n + r) * half + j] = rotations[hd * half + j]!;
        }
        const a = lshAttentionForward(be, spec1, qk, v, { attentionMask: mask, rotations, paperExact: paper }).out;
        const b = lshAttentionForward(be, specN, qk, v, { attentionMask: mask, rotations: rotN, paperExact: paper }).out;
        expectClose(b, a, TOL.same, `${n} identical rounds vs 1`);
      }),
      { numRuns: runs(200) },
    );
  });

  it('causality: with buckets fixed, inputs after t never change outputs at or before t', () => {
    fc.assert(
      fc.property(
        arbCase({ maxNumChunks: 5 }).map((c) => ({ ...c, causal: true })),
        fc.integer({ min: 0, max: 1000 }),
        fc.boolean(),
        (c, tRaw, paper) => {
          const { be, rng, L, all, qk, v, mask, rotations } = setup(c);
          const t = tRaw % (L - 1); // positions > t exist
          const spec = lshSpecFromConfig(configOf(c), c.batch, L);
          const first = lshAttentionForward(be, spec, qk, v, { attentionMask: mask, rotations, paperExact: paper });
          const qk2 = copyOf(be, qk);
          const v2 = copyOf(be, v);
          for (let b = 0; b < c.batch; b++) {
            for (let s = t + 1; s < L; s++) {
              for (let j = 0; j < all; j++) {
                qk2[(b * L + s) * all + j] = 3 * rng.normal();
                v2[(b * L + s) * all + j] = 3 * rng.normal();
              }
            }
          }
          const second = lshAttentionForward(be, spec, qk2, v2, { attentionMask: mask, buckets: first.cache.buckets, paperExact: paper });
          const n = (t + 1) * all;
          for (let b = 0; b < c.batch; b++) {
            expectClose(
              second.out.subarray(b * L * all, b * L * all + n),
              first.out.subarray(b * L * all, b * L * all + n),
              TOL.same,
              `outputs <= ${t}`,
            );
          }
        },
      ),
      { numRuns: runs(250) },
    );
  });

  it('padding invariance: changing padded positions never changes real outputs (full re-hashing)', () => {
    fc.assert(
      fc.property(arbCase({ masks: ['right', 'left', 'first', 'holes'] }), fc.boolean(), (c, paper) => {
        const be = new ReferenceBackend({ dtype: 'f64' });
        const rng = new Rng(c.seed);
        const L = seqLenOf(c);
        const cfg = configOf(c);
        const x = normal(be, c.batch * L * c.hidden, rng);
        const weights = {
          'query_key.weight': normal(be, c.heads * c.headSize * c.hidden, rng, 1 / Math.sqrt(c.hidden)),
          'value.weight': normal(be, c.heads * c.headSize * c.hidden, rng, 1 / Math.sqrt(c.hidden)),
        };
        const mask = maskOf(c.mask, c.batch, L, rng)!;
        const rotations = normal(be, c.heads * c.headSize * c.numHashes * rotationHalfSize(c.numBuckets), rng);
        const opts = { batch: c.batch, seqLen: L, attentionMask: mask, rotations, paperExact: paper };
        const a = lshSelfAttentionForward(be, cfg, weights, x, opts).out;
        const x2 = copyOf(be, x);
        for (let i = 0; i < c.batch * L; i++) {
          if (mask[i] === 0) for (let j = 0; j < c.hidden; j++) x2[i * c.hidden + j] = 5 * rng.normal();
        }
        const b = lshSelfAttentionForward(be, cfg, weights, x2, opts).out;
        const all = c.heads * c.headSize;
        for (let i = 0; i < c.batch * L; i++) {
          if (mask[i] === 1)
            expectClose(b.subarray(i * all, (i + 1) * all), a.subarray(i * all, (i + 1) * all), TOL.same, `real position ${i}`);
        }
      }),
      { numRuns: runs(250) },
    );
  });

  it('self-attention only as last resort: mass on self ≈ 1 iff no window holds another valid key, else ≈ 0', () => {
    fc.assert(
      fc.property(arbCase({ maxHeadSize: 2 }), fc.boolean(), (c0, paper) => {
        // v = one-hot of the position (headSize = L), so out[t, j] = attention mass on position j
        const L = seqLenOf(c0);
        const c = { ...c0, headSize: L };
        const be = new ReferenceBackend({ dtype: 'f64' });
        const rng = new Rng(c.seed);
        const all = c.heads * L;
        const qk = normal(be, c.batch * L * all, rng);
        const v = be.floats(c.batch * L * all);
        for (let b = 0; b < c.batch; b++)
          for (let t = 0; t < L; t++) for (let h = 0; h < c.heads; h++) v[(b * L + t) * all + h * L + t] = 1;
        const mask = maskOf(c.mask, c.batch, L, rng);
        const { out, cache } = lshAttentionForward(be, lshSpecFromConfig(configOf(c), c.batch, L), qk, v, {
          attentionMask: mask,
          rng,
          paperExact: paper,
        });
        for (let b = 0; b < c.batch; b++) {
          for (let h = 0; h < c.heads; h++) {
            for (let t = 0; t < L; t++) {
              const selfMass = out[(b * L + t) * all + h * L + t]!;
              if (hasOtherValidKey(cache, b, h, t)) expect(selfMass).toBeLessThan(TOL.selfMass);
              else expect(selfMass).toBeGreaterThan(1 - TOL.selfMass);
            }
          }
        }
      }),
      { numRuns: runs(250) },
    );
  });

  it('the law above is not vacuous: both branches occur', () => {
    const c: AttnCase = {
      batch: 1,
      heads: 1,
      headSize: 2,
      hidden: 2,
      chunkLength: 2,
      numChunks: 4,
      numHashes: 1,
      numBuckets: 4,
      before: 0,
      after: 0,
      causal: true,
      mask: 'none',
      seed: 3,
    };
    const be = new ReferenceBackend({ dtype: 'f64' });
    const { qk, v } = setup(c);
    const { cache } = lshAttentionForward(be, lshSpecFromConfig(configOf(c), 1, 8), qk, v, { rng: new Rng(5) });
    const flags = Array.from({ length: 8 }, (_, t) => hasOtherValidKey(cache, 0, 0, t));
    expect(flags).toContain(true);
    expect(flags).toContain(false); // at least the first slot of the first chunk (causal, no look-back)
  });

  it('hashing: buckets(c·x) = buckets(x) for c > 0; buckets(−x) flips every factor digit by f/2', () => {
    fc.assert(
      fc.property(arbCase({ masks: ['none'] }), fc.constantFrom(0.125, 0.5, 2, 8, 1024), (c, scale) => {
        const { be, L, qk, rotations } = setup(c);
        const p = {
          batch: c.batch,
          seqLen: L,
          heads: c.heads,
          headSize: c.headSize,
          numHashes: c.numHashes,
          numBuckets: c.numBuckets,
          rotations,
          attentionMask: null,
        };
        const base = hashBuckets(be, { ...p, qk });
        const scaled = copyOf(be, qk);
        const negated = copyOf(be, qk);
        for (let i = 0; i < qk.length; i++) {
          scaled[i] = qk[i]! * scale;
          negated[i] = -qk[i]!;
        }
        expect(Array.from(hashBuckets(be, { ...p, qk: scaled }))).toEqual(Array.from(base));
        const neg = hashBuckets(be, { ...p, qk: negated });
        const n = bucketCount(c.numBuckets);
        const factors = bucketFactors(c.numBuckets);
        for (let i = 0; i < base.length; i++) {
          const round = Math.floor(i / L) % c.numHashes;
          expect(neg[i]! - round * n).toBe(flipDigits(base[i]! - round * n, factors));
        }
        if (typeof c.numBuckets === 'number') {
          // int num_buckets: the opposite bucket is (b + N/2) mod N
          for (let i = 0; i < base.length; i++) {
            const round = Math.floor(i / L) % c.numHashes;
            expect(neg[i]! - round * n).toBe((base[i]! - round * n + n / 2) % n);
          }
        }
      }),
      { numRuns: runs(250) },
    );
  });

  it('sort: a stable permutation by (bucket, flat index); undo is its inverse; padded positions in bucket N', () => {
    fc.assert(
      fc.property(arbCase(), (c) => {
        const { be, L, qk, v, mask, rotations } = setup(c);
        const { cache } = lshAttentionForward(be, lshSpecFromConfig(configOf(c), c.batch, L), qk, v, { attentionMask: mask, rotations });
        const RL = c.numHashes * L;
        const padded = mask?.includes(0);
        const nEff = bucketCount(c.numBuckets) + (padded ? 1 : 0);
        expect(cache.numBucketsEff).toBe(nEff);
        for (let bh = 0; bh < c.batch * c.heads; bh++) {
          const b = Math.floor(bh / c.heads);
          const seen = new Uint8Array(RL);
          for (let k = 0; k < RL; k++) {
            const i = cache.sorted[bh * RL + k]!;
            expect(seen[i]).toBe(0);
            seen[i] = 1;
            expect(cache.undoSorted[bh * RL + i]).toBe(k);
            if (k > 0) {
              const prev = cache.sorted[bh * RL + k - 1]!;
              const bk = cache.buckets![bh * RL + i]!;
              const bp = cache.buckets![bh * RL + prev]!;
              expect(bp < bk || (bp === bk && prev < i)).toBe(true);
            }
            const t = i % L;
            const r = (i - t) / L;
            if (mask && mask[b * L + t] === 0) expect(cache.buckets![bh * RL + i]).toBe(bucketCount(c.numBuckets) + r * nEff);
          }
        }
      }),
      { numRuns: runs(200) },
    );
  });

  it('replaying the buckets reproduces the forward exactly and draws nothing', () => {
    fc.assert(
      fc.property(arbCase(), (c) => {
        const { be, L, qk, v, mask } = setup(c);
        const spec = lshSpecFromConfig(configOf(c), c.batch, L);
        const rng = new Rng(c.seed + 1);
        const a = lshAttentionForward(be, spec, qk, v, { attentionMask: mask, rng });
        const state = rng.state();
        const b = lshAttentionForward(be, spec, qk, v, { attentionMask: mask, rng, buckets: a.cache.buckets });
        expect(rng.state()).toEqual(state);
        expect(b.cache.rotations).toBeNull();
        expect(Array.from(b.out)).toEqual(Array.from(a.out));
        expect(Array.from(b.cache.sorted)).toEqual(Array.from(a.cache.sorted));
      }),
      { numRuns: runs(100) },
    );
  });

  it('HF LSH is causal only given the buckets: re-hashing a changed later token can change an earlier output', () => {
    // Documented behaviour (HF and trax alike), found by search over seeds: a later token's new bucket
    // shifts the chunk boundaries of the sorted sequence.
    let found = false;
    for (let seed = 0; seed < 200 && !found; seed++) {
      const c: AttnCase = {
        batch: 1,
        heads: 1,
        headSize: 4,
        hidden: 4,
        chunkLength: 2,
        numChunks: 4,
        numHashes: 1,
        numBuckets: 4,
        before: 1,
        after: 0,
        causal: true,
        mask: 'none',
        seed,
      };
      const { be, qk, v, rotations } = setup(c);
      const spec = lshSpecFromConfig(configOf(c), 1, 8);
      const a = lshAttentionForward(be, spec, qk, v, { rotations }).out;
      const qk2 = copyOf(be, qk);
      for (let j = 0; j < 4; j++) qk2[7 * 4 + j] = -qk[7 * 4 + j]!; // change the last token only
      const b = lshAttentionForward(be, spec, qk2, v, { rotations }).out;
      for (let i = 0; i < 7 * 4; i++) if (Math.abs(a[i]! - b[i]!) > 1e-6) found = true;
    }
    expect(found).toBe(true);
  });
});

/** b = b₁ + f₁·b₂ + …  ↦  Σ ((b_k + f_k/2) mod f_k)·radix_k */
function flipDigits(bucket: number, factors: readonly number[]): number {
  let out = 0;
  let radix = 1;
  let rest = bucket;
  for (const f of factors) {
    const digit = rest % f;
    rest = Math.floor(rest / f);
    out += ((digit + f / 2) % f) * radix;
    radix *= f;
  }
  return out;
}

/** Does any round's window of query t (b, h) hold a valid key other than t itself (HF masks; paper: same bucket)? */
function hasOtherValidKey(cache: LshAttentionCache, b: number, h: number, t: number): boolean {
  const L = cache.seqLen;
  const RL = cache.numHashes * L;
  const base = (b * cache.heads + h) * RL;
  const { chunkLength, numChunksBefore, numChunksAfter } = cache.chunk;
  const numChunks = RL / chunkLength;
  for (let n = 0; n < cache.numHashes; n++) {
    const chunk = Math.floor(cache.undoSorted[base + n * L + t]! / chunkLength);
    for (let o = -numChunksBefore; o <= numChunksAfter; o++) {
      const kc = (((chunk + o) % numChunks) + numChunks) % numChunks;
      for (let s = kc * chunkLength; s < (kc + 1) * chunkLength; s++) {
        const i = cache.sorted[base + s]!;
        const j = i % L;
        if (j === t) continue;
        if (cache.attentionMask && cache.attentionMask[b * L + j] === 0) continue;
        if (cache.causal && j > t) continue;
        if (cache.paperExact) {
          const r = (i - j) / L;
          if (r !== n || cache.buckets![base + n * L + j] !== cache.buckets![base + n * L + t]) continue;
        }
        return true;
      }
    }
  }
  return false;
}
