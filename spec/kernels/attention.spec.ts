/**
 * Law: WASM chunkAttentionForward / chunkAttentionBackward == the reference backend's, over random
 * geometries: chunk lengths 1…8 and head sizes that are not multiples of 4 or 8, 1…5 chunks with
 * 0…2 neighbours before / after (wrap-around, duplicated chunks when the window is wider than the
 * sequence), row strides and offsets, padding (none, some, whole chunks, all: fully masked rows),
 * causal masks, the self mask (HF −1e5, another finite value, or none), several hash rounds
 * (repeated positions), partial chunk ranges, and the paper-exact multi-round mode.
 * Whole output buffers are compared (rows outside the processed chunks must stay untouched).
 *
 * Both sides keep scores at f32 precision (as torch does), which matters in paper mode where a
 * self-masked score is `selfMaskValue − log N` (≈ −1e5 − 0.69): rounding it differently from the lse
 * would move p = exp(s − lse) by up to |s|·2^-24.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import type { ChunkAttentionBackwardParams, ChunkAttentionForwardParams } from '../../src/backend/backend.js';
import type { WasmBackend } from '../../src/backend/wasm/wasm-backend.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers/close.js';
import {
  TOL,
  VARIANTS,
  copy,
  expectCloseScaled,
  floatsOf,
  intsOf,
  maxAbs,
  randomFloats,
  randomInts,
  randomPermutation,
  ref,
  wasmBackend,
} from './util.js';
import { runs } from '../helpers/runs.js';

interface AttnCase {
  d: number;
  chunkLength: number;
  numChunks: number;
  before: number;
  after: number;
  causal: boolean;
  selfMask: number | null;
  maskValue: number;
  padding: 'none' | 'some' | 'chunk' | 'all';
  rounds: number;
  /** paper-exact mode: number of distinct buckets per round (0 = standard mode) */
  paperBuckets: number;
  pad: number;
  off: number;
  range: [number, number];
  qkScale: number;
  withDlse: boolean;
  seed: number;
}

const attnCase: fc.Arbitrary<AttnCase> = fc.record({
  d: fc.oneof(fc.constantFrom(1, 3, 4, 8, 9, 16), fc.integer({ min: 1, max: 20 })),
  chunkLength: fc.oneof(fc.constantFrom(1, 3, 4, 8), fc.integer({ min: 1, max: 8 })),
  numChunks: fc.integer({ min: 1, max: 5 }),
  before: fc.integer({ min: 0, max: 2 }),
  after: fc.integer({ min: 0, max: 2 }),
  causal: fc.boolean(),
  selfMask: fc.constantFrom(null, -1e5, -7.5),
  maskValue: fc.constantFrom(-1e9, -1e4, -2.5),
  padding: fc.constantFrom('none', 'some', 'chunk', 'all'),
  rounds: fc.integer({ min: 1, max: 3 }),
  paperBuckets: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 3 })),
  pad: fc.integer({ min: 0, max: 3 }),
  off: fc.integer({ min: 0, max: 3 }),
  range: fc.tuple(fc.nat(), fc.nat()),
  qkScale: fc.constantFrom(0.3, 1, 3),
  withDlse: fc.boolean(),
  seed: fc.integer(),
});

/** Realistic LSH / local geometries (d = 64, chunks of 32 or 64): full micro-kernel tiles. */
const realisticCase: fc.Arbitrary<AttnCase> = attnCase.chain((c) =>
  fc
    .record({
      d: fc.constantFrom(32, 64),
      chunkLength: fc.constantFrom(32, 64),
      numChunks: fc.integer({ min: 1, max: 4 }),
    })
    .map((big) => ({ ...c, ...big, before: Math.min(c.before, 1), after: Math.min(c.after, 1) })),
);

interface Built {
  fwd: ChunkAttentionForwardParams;
  /** bound on |score| (for the lse tolerance) */
  scoreBound: number;
}

function build(c: AttnCase, rng: Rng): Built {
  const L = c.chunkLength;
  const n = L * c.numChunks;
  const ld = c.d + c.pad;
  const blockLen = c.off + (n > 0 ? (n - 1) * ld + c.d : 0) + 2;
  // entries in ±a with a = qkScale / d^(1/4): |q·k| ≤ qkScale²·√d
  const a = c.qkScale / Math.sqrt(Math.sqrt(c.d));
  // positions: `rounds` blocks of a permutation each (LSH rounds) when n divides, else one permutation
  const rounds = n % c.rounds === 0 ? c.rounds : 1;
  const seqLen = n / rounds;
  const pos = new Int32Array(n);
  for (let r = 0; r < rounds; r++) pos.set(randomPermutation(rng, seqLen), r * seqLen);
  let keyValid: Int32Array | null = null;
  if (c.padding !== 'none') {
    keyValid = new Int32Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      if (c.padding === 'all') keyValid[i] = 0;
      else if (c.padding === 'some') keyValid[i] = rng.int(3) === 0 ? 0 : 1;
      else if (Math.floor(i / L) % 2 === 1) keyValid[i] = 0; // every other chunk is padding
    }
  }
  const numChunks = c.numChunks;
  const x = c.range[0] % (numChunks + 1);
  const y = c.range[1] % (numChunks + 1);
  const fwd: ChunkAttentionForwardParams = {
    n,
    d: c.d,
    chunkLength: L,
    numChunksBefore: c.before,
    numChunksAfter: c.after,
    q: randomFloats(rng, blockLen, a),
    qOffset: c.off,
    ldq: ld,
    k: randomFloats(rng, blockLen, a),
    kOffset: c.off,
    ldk: ld,
    v: randomFloats(rng, blockLen, 1),
    vOffset: c.off,
    ldv: ld,
    pos,
    keyValid,
    causal: c.causal,
    maskValue: c.maskValue,
    selfMaskValue: c.selfMask,
    paper:
      c.paperBuckets > 0 && rounds > 1 ? { seqLen, numHashes: rounds, buckets: randomInts(rng, rounds * seqLen, c.paperBuckets) } : null,
    chunkBegin: Math.min(x, y),
    chunkEnd: Math.max(x, y),
    out: randomFloats(rng, blockLen, 1),
    outOffset: c.off,
    ldOut: ld,
    lse: randomFloats(rng, n + 3, 1),
    lseOffset: 2,
  };
  return { fwd, scoreBound: c.qkScale * c.qkScale * Math.sqrt(c.d) };
}

function toWasm(be: WasmBackend, p: ChunkAttentionForwardParams): ChunkAttentionForwardParams {
  return {
    ...p,
    q: floatsOf(be, p.q),
    k: floatsOf(be, p.k),
    v: floatsOf(be, p.v),
    pos: intsOf(be, p.pos),
    keyValid: p.keyValid ? intsOf(be, p.keyValid) : null,
    paper: p.paper ? { ...p.paper, buckets: intsOf(be, p.paper.buckets) } : null,
    out: floatsOf(be, p.out),
    lse: floatsOf(be, p.lse),
  };
}

describe.each(VARIANTS)('chunk attention (%s) == reference', (variant) => {
  const be = wasmBackend(variant);

  function checkForward(c: AttnCase): void {
    const { fwd, scoreBound } = build(c, new Rng(c.seed));
    const want = { ...fwd, out: Float32Array.from(fwd.out), lse: Float32Array.from(fwd.lse) };
    ref.chunkAttentionForward(want);
    const got = be.scope(() => {
      const w = toWasm(be, fwd);
      be.chunkAttentionForward(w);
      return { out: copy(w.out), lse: copy(w.lse) };
    });
    expectClose(got.lse, want.lse, { atol: TOL.lse.atol * (1 + scoreBound), rtol: TOL.lse.rtol }, 'lse');
    const tol = TOL.attention;
    expectCloseScaled(got.out, want.out, tol, maxAbs(want.out) * (1 + scoreBound), 'out');
  }

  function checkBackward(c: AttnCase): void {
    const rng = new Rng(c.seed);
    const { fwd, scoreBound } = build(c, rng);
    // the forward's lse (reference, all chunks) is an input of the backward
    const lse = Float32Array.from(fwd.lse);
    ref.chunkAttentionForward({ ...fwd, out: Float32Array.from(fwd.out), lse, chunkBegin: 0, chunkEnd: c.numChunks });
    const len = fwd.q.length;
    const bwd: ChunkAttentionBackwardParams = {
      ...fwd,
      lse,
      dOut: randomFloats(rng, len, 1),
      dOutOffset: fwd.outOffset ?? 0,
      ldOut: fwd.ldOut ?? fwd.d,
      dLse: c.withDlse ? randomFloats(rng, fwd.n, 1) : null,
      dq: randomFloats(rng, len, 1),
      dk: randomFloats(rng, len, 1),
      dv: randomFloats(rng, len, 1),
    };
    const want = { ...bwd, dq: Float32Array.from(bwd.dq), dk: Float32Array.from(bwd.dk), dv: Float32Array.from(bwd.dv) };
    ref.chunkAttentionBackward(want);
    const got = be.scope(() => {
      const base = toWasm(be, fwd);
      const w: ChunkAttentionBackwardParams = {
        ...base,
        lse: floatsOf(be, lse),
        dOut: floatsOf(be, bwd.dOut),
        dOutOffset: bwd.dOutOffset,
        ldOut: bwd.ldOut,
        dLse: bwd.dLse ? floatsOf(be, bwd.dLse) : null,
        dq: floatsOf(be, bwd.dq),
        dk: floatsOf(be, bwd.dk),
        dv: floatsOf(be, bwd.dv),
      };
      be.chunkAttentionBackward(w);
      return { dq: copy(w.dq), dk: copy(w.dk), dv: copy(w.dv) };
    });
    const scale = (x: Float32Array) => Math.max(1, maxAbs(x)) * (1 + scoreBound);
    const tol = TOL.attentionGrad;
    expectCloseScaled(got.dv, want.dv, tol, scale(want.dv), 'dv');
    expectCloseScaled(got.dq, want.dq, tol, scale(want.dq), 'dq');
    expectCloseScaled(got.dk, want.dk, tol, scale(want.dk), 'dk');
  }

  it('forward: out and stored lse', () => {
    fc.assert(fc.property(attnCase, checkForward), { numRuns: runs(300) });
  });

  it('backward: accumulated dq, dk, dv (P recomputed from the stored lse)', () => {
    fc.assert(fc.property(attnCase, checkBackward), { numRuns: runs(300) });
  });

  it('forward at realistic sizes (d = 32 / 64, chunks of 32 / 64)', () => {
    fc.assert(fc.property(realisticCase, checkForward), { numRuns: runs(8) });
  });

  it('backward at realistic sizes', () => {
    fc.assert(fc.property(realisticCase, checkBackward), { numRuns: runs(6) });
  });
});
