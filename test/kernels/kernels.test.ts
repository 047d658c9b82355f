/**
 * Examples with known answers for the WASM kernels (both builds): argmax ties, sort stability,
 * permutation inverses, softmax of fully masked rows, the fully masked attention row (HF's fp32
 * log-sum-exp quirk), and bit-identical results when the chunk range is split (for threads).
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { VARIANTS, floatsOf, intsOf, wasmBackend } from '../../spec/kernels/util.js';
import { Rng } from '../../src/util/rng.js';

describe.each(VARIANTS)('WASM kernels (%s): examples', (variant) => {
  const be = wasmBackend(variant);

  /** Buckets of one row whose rotated vector (numHashes = 1) is `rotated`: x = [1], R = rotated. */
  function bucketsOf(rotated: number[], factors: number[]): number {
    return be.scope(() => {
      const buckets = be.ints(1);
      be.lshHash({
        x: floatsOf(be, [1]),
        ldx: 1,
        rows: 1,
        dHead: 1,
        rotations: floatsOf(be, rotated),
        numHashes: 1,
        factors,
        buckets,
      });
      return buckets[0]!;
    });
  }

  it('lshHash: argmax over [s, −s] with ties going to the lowest index', () => {
    expect(bucketsOf([0.5, 2], [4])).toBe(1); // [0.5, 2, −0.5, −2]
    expect(bucketsOf([-0.5, -2], [4])).toBe(3); // [−0.5, −2, 0.5, 2]
    expect(bucketsOf([1, 1], [4])).toBe(0); // tie inside s
    expect(bucketsOf([-1, -1], [4])).toBe(2); // tie inside −s
    expect(bucketsOf([1, -1], [4])).toBe(0); // s_0 = 1 ties −s_1 = 1: index 0 < 3
    expect(bucketsOf([-1, 1], [4])).toBe(1); // s_1 = 1 ties −s_0 = 1: index 1 < 2
    expect(bucketsOf([0, 0], [4])).toBe(0); // all zero (and −0)
    // factorised: slices [a | b c], bucket = b1 + 2·b2
    expect(bucketsOf([-3, 0.5, 1], [2, 4])).toBe(1 + 2 * 1); // b1 = argmax(−3, 3) = 1; b2 = argmax(.5, 1, −.5, −1) = 1
  });

  it('argsortKeys is stable: equal keys keep their index order', () => {
    const got = be.scope(() => {
      const perm = be.ints(8);
      be.argsortKeys(perm, intsOf(be, [2, 0, 2, 1, 0, 2, 1, 0]), 8, 3);
      return Array.from(perm);
    });
    expect(got).toEqual([1, 4, 7, 3, 6, 0, 2, 5]);
  });

  it('invertPermutation: inv[perm[i]] = i, and gathering with perm then inv is the identity', () => {
    const perm = [3, 0, 4, 1, 2];
    be.scope(() => {
      const p = intsOf(be, perm);
      const inv = be.ints(5);
      be.invertPermutation(inv, p, 5);
      expect(Array.from(inv)).toEqual([1, 3, 4, 0, 2]);
      const x = floatsOf(be, [10, 11, 20, 21, 30, 31, 40, 41, 50, 51]);
      const sorted = be.floats(10);
      const back = be.floats(10);
      be.gatherRows({ rows: 5, cols: 2, index: p, src: x, ldSrc: 2, dst: sorted, ldDst: 2 });
      be.gatherRows({ rows: 5, cols: 2, index: inv, src: sorted, ldSrc: 2, dst: back, ldDst: 2 });
      expect(Array.from(sorted)).toEqual([40, 41, 10, 11, 50, 51, 20, 21, 30, 31]);
      expect(Array.from(back)).toEqual(Array.from(x));
    });
  });

  it('softmax of an all −1e9 row: lse rounds to −1e9 in f32, so p = exp(0) = 1 everywhere (never NaN)', () => {
    be.scope(() => {
      const cols = 6;
      const s = floatsOf(be, new Array(cols).fill(-1e9));
      const p = be.floats(cols);
      const lse = be.floats(1);
      be.softmaxRows({ rows: 1, cols, s, lds: cols, p, ldp: cols, lse });
      // the exact lse is −1e9 + log 6; f32 spacing at 1e9 is 64, so the stored lse is −1e9
      expect(lse[0]).toBe(Math.fround(-1e9 + Math.log(cols)));
      expect(lse[0]).toBe(-1e9);
      expect(Array.from(p)).toEqual(new Array(cols).fill(1));
    });
  });

  it('softmax of an all −Infinity row: lse = −Infinity and p = 0 (never NaN); its backward adds nothing', () => {
    be.scope(() => {
      const cols = 5;
      const s = floatsOf(be, new Array(cols).fill(-Infinity));
      const p = be.floats(cols);
      const lse = be.floats(1);
      be.softmaxRows({ rows: 1, cols, s, lds: cols, p, ldp: cols, lse });
      expect(lse[0]).toBe(-Infinity);
      expect(Array.from(p)).toEqual(new Array(cols).fill(0));
      const ds = floatsOf(be, [1, 2, 3, 4, 5]);
      be.softmaxRowsBackward({ rows: 1, cols, p, ldp: cols, dp: floatsOf(be, [1, 1, 1, 1, 1]), lddp: cols, ds, ldds: cols });
      expect(Array.from(ds)).toEqual([1, 2, 3, 4, 5]);
    });
  });

  it('a fully masked attention row attends uniformly with p = 1 (lse rounds to the mask value), like HF fp32', () => {
    be.scope(() => {
      const n = 4;
      const d = 2;
      const v = floatsOf(be, [1, 2, 3, 4, 5, 6, 7, 8]);
      const out = be.floats(n * d);
      const lse = be.floats(n);
      be.chunkAttentionForward({
        n,
        d,
        chunkLength: 4,
        numChunksBefore: 0,
        numChunksAfter: 0,
        q: floatsOf(be, [1, 0, 0, 1, 1, 1, 0, 0]),
        k: floatsOf(be, [1, 0, 0, 1, 1, 1, 0, 0]),
        v,
        pos: intsOf(be, [0, 1, 2, 3]),
        keyValid: intsOf(be, [0, 0, 0, 0]),
        causal: false,
        maskValue: -1e9,
        selfMaskValue: null,
        out,
        lse,
      });
      expect(Array.from(lse)).toEqual([-1e9, -1e9, -1e9, -1e9]);
      // every row: Σ_j 1·v_j
      expect(Array.from(out)).toEqual([16, 20, 16, 20, 16, 20, 16, 20]);
      // and the reference backend says the same
      const ref = new ReferenceBackend();
      const refOut = new Float32Array(n * d);
      ref.chunkAttentionForward({
        n,
        d,
        chunkLength: 4,
        numChunksBefore: 0,
        numChunksAfter: 0,
        q: new Float32Array([1, 0, 0, 1, 1, 1, 0, 0]),
        k: new Float32Array([1, 0, 0, 1, 1, 1, 0, 0]),
        v: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]),
        pos: new Int32Array([0, 1, 2, 3]),
        keyValid: new Int32Array(4),
        causal: false,
        maskValue: -1e9,
        selfMaskValue: null,
        out: refOut,
        lse: new Float32Array(n),
      });
      expect(Array.from(refOut)).toEqual(Array.from(out));
    });
  });

  it('splitting the query chunks into ranges gives bit-identical results (forward and backward)', () => {
    const rng = new Rng(7);
    const n = 48;
    const d = 12;
    const L = 8;
    const rand = (len: number) => Float32Array.from({ length: len }, () => rng.normal());
    const q = rand(n * d);
    const k = rand(n * d);
    const vv = rand(n * d);
    const dOut = rand(n * d);
    const pos = Int32Array.from({ length: n }, (_, i) => i % 24);
    be.scope(() => {
      const common = {
        n,
        d,
        chunkLength: L,
        numChunksBefore: 1,
        numChunksAfter: 1,
        q: floatsOf(be, q),
        k: floatsOf(be, k),
        v: floatsOf(be, vv),
        pos: intsOf(be, pos),
        causal: true,
        maskValue: -1e9,
        selfMaskValue: -1e5,
      };
      const whole = { out: be.floats(n * d), lse: be.floats(n) };
      be.chunkAttentionForward({ ...common, ...whole });
      const split = { out: be.floats(n * d), lse: be.floats(n) };
      for (const [b, e] of [
        [0, 2],
        [2, 3],
        [3, 6],
      ])
        be.chunkAttentionForward({ ...common, ...split, chunkBegin: b, chunkEnd: e });
      expect(Array.from(split.out)).toEqual(Array.from(whole.out));
      expect(Array.from(split.lse)).toEqual(Array.from(whole.lse));
      const grads = () => ({ dq: be.floats(n * d), dk: be.floats(n * d), dv: be.floats(n * d) });
      const g1 = grads();
      be.chunkAttentionBackward({ ...common, lse: whole.lse, dOut: floatsOf(be, dOut), ...g1 });
      const g2 = grads();
      for (const [b, e] of [
        [0, 1],
        [1, 6],
      ]) {
        be.chunkAttentionBackward({ ...common, lse: whole.lse, dOut: floatsOf(be, dOut), ...g2, chunkBegin: b, chunkEnd: e });
      }
      expect(Array.from(g2.dq)).toEqual(Array.from(g1.dq));
      expect(Array.from(g2.dk)).toEqual(Array.from(g1.dk));
      expect(Array.from(g2.dv)).toEqual(Array.from(g1.dv));
    });
  });
});
