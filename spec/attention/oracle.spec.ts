/**
 * Fast paths == the exact O(L²) oracle (float64, ReferenceBackend f64):
 * - LSH whose chunk window spans the whole sorted sequence equals full shared-QK attention (HF mode:
 *   every key is seen R times, which cancels in the softmax) and, in paper-exact mode, the oracle
 *   restricted to "shares a bucket with the query in at least one round" (App. A Eq. 11-16);
 * - the short-sequence path (L <= chunk length) equals the oracle, for LSH and local attention;
 * - local attention whose window spans the sequence equals the local oracle.
 * Any buckets (hashed, or arbitrary replayed ones), rounds, factorisations, causal or not, any padding.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { lshAttentionForward, lshSpecFromConfig } from '../../src/attention/lsh.js';
import { localAttentionForward, localSpecFromConfig } from '../../src/attention/local.js';
import { exactLocalAttention, exactSharedQkAttention } from '../../src/attention/oracle.js';
import { Rng } from '../../src/util/rng.js';
import { bucketCount } from '../../src/config/buckets.js';
import { expectClose } from '../helpers/close.js';
import { arbCase, configOf, maskOf, normal, seqLenOf, type AttnCase } from './helpers.js';
import { runs } from '../helpers/runs.js';

/** Oracle vs fast path in float64: only summation order differs. */
const TOL = { oracle: { atol: 1e-10, rtol: 1e-9 } } as const;

/** A case whose window (before + 1 + after chunks) covers all R·L/c sorted chunks exactly once. */
const arbSpanning = arbCase().chain((c) => {
  const total = (c.numHashes * seqLenOf(c)) / c.chunkLength;
  return fc.integer({ min: 0, max: total - 1 }).map((before): AttnCase => ({ ...c, before, after: total - 1 - before }));
});

/**
 * Arbitrary offset buckets [B, H, R, L] (not from hashing; replayed): values in round r's range
 * [r·N_eff, (r+1)·N_eff), often few distinct values so buckets span several chunks.
 */
function arbitraryBuckets(c: AttnCase, L: number, padded: boolean, rng: Rng): Int32Array {
  const nEff = bucketCount(c.numBuckets) + (padded ? 1 : 0);
  const distinct = 1 + rng.int(nEff);
  const out = new Int32Array(c.batch * c.heads * c.numHashes * L);
  for (let i = 0; i < out.length; i++) {
    const r = Math.floor(i / L) % c.numHashes;
    out[i] = r * nEff + rng.int(distinct);
  }
  return out;
}

function lshSetup(c: AttnCase) {
  const be = new ReferenceBackend({ dtype: 'f64' });
  const rng = new Rng(c.seed);
  const L = seqLenOf(c);
  const all = c.heads * c.headSize;
  const qk = normal(be, c.batch * L * all, rng);
  const v = normal(be, c.batch * L * all, rng);
  const mask = maskOf(c.mask, c.batch, L, rng);
  return { be, rng, L, all, qk, v, mask };
}

describe('LSH attention == exact oracle', () => {
  it('HF mode: a window spanning all chunks gives full shared-QK attention', () => {
    fc.assert(
      fc.property(arbSpanning, fc.boolean(), (c, arbitrary) => {
        const { be, rng, L, qk, v, mask } = lshSetup(c);
        const spec = lshSpecFromConfig(configOf(c), c.batch, L);
        const buckets = arbitrary ? arbitraryBuckets(c, L, mask?.includes(0) ?? false, rng) : null;
        const { out } = lshAttentionForward(be, spec, qk, v, { attentionMask: mask, rng, buckets });
        const want = exactSharedQkAttention({
          qk,
          v,
          batch: c.batch,
          seqLen: L,
          heads: c.heads,
          headSize: c.headSize,
          causal: c.causal,
          attentionMask: mask,
        });
        expectClose(out, want.out, TOL.oracle, 'LSH (HF, spanning window) vs oracle');
      }),
      { numRuns: runs(150) },
    );
  });

  it('paper-exact mode: a window spanning all chunks gives the oracle restricted to shared buckets', () => {
    fc.assert(
      fc.property(arbSpanning, fc.boolean(), (c, arbitrary) => {
        const { be, rng, L, qk, v, mask } = lshSetup(c);
        const spec = lshSpecFromConfig(configOf(c), c.batch, L);
        const buckets = arbitrary ? arbitraryBuckets(c, L, mask?.includes(0) ?? false, rng) : null;
        const { out, cache } = lshAttentionForward(be, spec, qk, v, { attentionMask: mask, rng, paperExact: true, buckets });
        const want = exactSharedQkAttention({
          qk,
          v,
          batch: c.batch,
          seqLen: L,
          heads: c.heads,
          headSize: c.headSize,
          causal: c.causal,
          attentionMask: mask,
          restrictToBuckets: { numHashes: c.numHashes, buckets: cache.buckets! },
        });
        expectClose(out, want.out, TOL.oracle, 'LSH (paper, spanning window) vs restricted oracle');
      }),
      { numRuns: runs(150) },
    );
  });

  it('the restriction matters: paper mode differs from full attention when buckets split the keys', () => {
    // a sanity check that the previous law is not vacuous: with 1 round and 6 buckets of 4 keys in
    // one chunk of 8, some query has a key in another bucket
    const c: AttnCase = {
      batch: 1,
      heads: 1,
      headSize: 4,
      hidden: 4,
      chunkLength: 4,
      numChunks: 2,
      numHashes: 1,
      numBuckets: 6,
      before: 1,
      after: 0,
      causal: false,
      mask: 'none',
      seed: 7,
    };
    const { be, rng, L, qk, v } = lshSetup(c);
    const spec = lshSpecFromConfig(configOf(c), 1, L);
    const paper = lshAttentionForward(be, spec, qk, v, { rng: new Rng(1), paperExact: true }).out;
    const hf = lshAttentionForward(be, spec, qk, v, { rng: new Rng(1) }).out;
    let diff = 0;
    for (let i = 0; i < paper.length; i++) diff = Math.max(diff, Math.abs(paper[i]! - hf[i]!));
    expect(diff).toBeGreaterThan(1e-3);
    void rng;
  });

  it('short path (L <= lsh_attn_chunk_length) equals the oracle', () => {
    fc.assert(
      fc.property(arbCase(), fc.integer({ min: 0, max: 3 }), (c0, extra) => {
        const c = { ...c0 };
        const { be, L, qk, v, mask } = lshSetup(c);
        const cfg = { ...configOf(c), lsh_attn_chunk_length: L + extra };
        const { out, cache } = lshAttentionForward(be, lshSpecFromConfig(cfg, c.batch, L), qk, v, { attentionMask: mask });
        expect(cache.shortPath).toBe(true);
        expect(cache.buckets).toBeNull();
        const want = exactSharedQkAttention({
          qk,
          v,
          batch: c.batch,
          seqLen: L,
          heads: c.heads,
          headSize: c.headSize,
          causal: c.causal,
          attentionMask: mask,
        });
        expectClose(out, want.out, TOL.oracle, 'LSH short path vs oracle');
      }),
      { numRuns: runs(100) },
    );
  });
});

describe('local attention == exact oracle', () => {
  const arbLocalSpanning = arbCase().chain((c) =>
    fc.integer({ min: 0, max: c.numChunks - 1 }).map((before): AttnCase => ({ ...c, before, after: c.numChunks - 1 - before })),
  );
  function localSetup(c: AttnCase) {
    const be = new ReferenceBackend({ dtype: 'f64' });
    const rng = new Rng(c.seed);
    const L = seqLenOf(c);
    const n = c.batch * L * c.heads * c.headSize;
    return { be, L, q: normal(be, n, rng), k: normal(be, n, rng), v: normal(be, n, rng), mask: maskOf(c.mask, c.batch, L, rng) };
  }

  it('a window spanning all chunks gives full attention', () => {
    fc.assert(
      fc.property(arbLocalSpanning, (c) => {
        const { be, L, q, k, v, mask } = localSetup(c);
        const { out } = localAttentionForward(be, localSpecFromConfig(configOf(c), c.batch, L), q, k, v, mask);
        const want = exactLocalAttention({
          q,
          k,
          v,
          batch: c.batch,
          seqLen: L,
          heads: c.heads,
          headSize: c.headSize,
          causal: c.causal,
          attentionMask: mask,
        });
        expectClose(out, want.out, TOL.oracle, 'local (spanning window) vs oracle');
      }),
      { numRuns: runs(150) },
    );
  });

  it('short path (L <= local_attn_chunk_length) equals the oracle', () => {
    fc.assert(
      fc.property(arbCase(), (c) => {
        const { be, L, q, k, v, mask } = localSetup(c);
        const cfg = { ...configOf(c), local_attn_chunk_length: L };
        const { out, cache } = localAttentionForward(be, localSpecFromConfig(cfg, c.batch, L), q, k, v, mask);
        expect(cache.shortPath).toBe(true);
        const want = exactLocalAttention({
          q,
          k,
          v,
          batch: c.batch,
          seqLen: L,
          heads: c.heads,
          headSize: c.headSize,
          causal: c.causal,
          attentionMask: mask,
        });
        expectClose(out, want.out, TOL.oracle, 'local short path vs oracle');
      }),
      { numRuns: runs(100) },
    );
  });
});
