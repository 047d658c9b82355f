/**
 * Law: the LSH head backward (src/attention/lsh-head-backward.ts) gives the same bits whatever its block
 * size: blocks of 1, 2, 3 … sorted chunks (halo chunks recomputed, the wrap-around over all rounds
 * computed aside) against one block over all R·L slots (blockRows larger than the head), `Object.is` on
 * dqk and dv, for HF and paper-exact attention, causal or not, padding masks, attention-probability
 * dropout, lsh_num_chunks_before 0–2 and _after 0–1, 1–3 rounds, on the reference backend (f32, f64)
 * and WASM. The one-block run is the previous whole-head backward (the same calls over all slots).
 *
 * It can fail: four planted bugs in the wrap handling (either silencing removed, the [0, after) call
 * skipped, the [N−before, N) prefill put into dv) were each caught by all three backends when tried.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { lshAttentionBackward } from '../../src/attention/lsh-backward.js';
import { lshAttentionForward, lshSpecFromConfig, type LshAttentionCache } from '../../src/attention/lsh.js';
import { lshBackwardBlocks } from '../../src/attention/lsh-head-backward.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { Rng } from '../../src/util/rng.js';
import { runs } from '../helpers/runs.js';
import { arbCase, configOf, maskOf, normal, seqLenOf, type AttnCase } from './helpers.js';

const f64 = new ReferenceBackend({ dtype: 'f64' });
const f32 = new ReferenceBackend({ dtype: 'f32' });
const wasm = loadWasmBackendSync({ threads: 1, poisonFreed: true });

interface BlockCase {
  readonly c: AttnCase;
  readonly paper: boolean;
  readonly dropout: number;
  /** Chunks per block of the blocked run. */
  readonly chunks: number;
}

const arbBlock: fc.Arbitrary<BlockCase> = fc.record({
  c: arbCase({ maxBatch: 2, maxHeads: 2, maxHeadSize: 4, maxChunkLength: 3, maxNumChunks: 12, maxHashes: 3 }),
  paper: fc.boolean(),
  dropout: fc.constantFrom(0, 0.3),
  chunks: fc.integer({ min: 1, max: 4 }),
});

/** dqk, dv of lshAttentionBackward over one forward's cache with the given block size. */
function backward(be: Backend, cache: LshAttentionCache, dOut: Float, blockRows: number): [Float, Float] {
  const n = dOut.length;
  const dqk = be.floats(n);
  const dv = be.floats(n);
  lshAttentionBackward(be, { ...cache, blockRows }, dOut, dqk, dv);
  return [dqk, dv];
}

function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return a.length === b.length ? -1 : a.length;
}

/** The forward of a case and a random gradient at its output. */
function forward(be: Backend, s: BlockCase): { cache: LshAttentionCache; dOut: Float } {
  const { c } = s;
  const L = seqLenOf(c);
  const rng = new Rng(c.seed);
  const n = c.batch * L * c.heads * c.headSize;
  const qk = normal(be, n, rng);
  const v = normal(be, n, rng);
  const dOut = normal(be, n, rng);
  const mask = maskOf(c.mask, c.batch, L, rng);
  const spec = lshSpecFromConfig(configOf(c), c.batch, L);
  const { cache } = lshAttentionForward(be, spec, qk, v, {
    attentionMask: mask,
    rng,
    paperExact: s.paper,
    dropout: s.dropout > 0 ? { prob: s.dropout, seed: c.seed >>> 0 } : null,
  });
  return { cache, dOut };
}

describe('LSH head backward: any block size == one block over all slots, bit for bit', () => {
  for (const [name, be, count] of [
    ['reference f64', f64, 40],
    ['reference f32', f32, 40],
    ['WASM', wasm, 80],
  ] as const) {
    it(`${name}: dqk and dv`, () => {
      let blocked = 0;
      fc.assert(
        fc.property(arbBlock, (s) => {
          be.scope(() => {
            const { cache, dOut } = forward(be, s);
            const c = cache.chunk.chunkLength;
            const numChunks = (cache.numHashes * cache.seqLen) / c;
            if (lshBackwardBlocks(numChunks, cache.chunk, s.chunks * c).length > 2) blocked++;
            const [wantQk, wantV] = backward(be, cache, dOut, 2 ** 30);
            const [gotQk, gotV] = backward(be, cache, dOut, s.chunks * c);
            expect(firstDifference(gotQk, wantQk), 'dqk').toBe(-1);
            expect(firstDifference(gotV, wantV), 'dv').toBe(-1);
          });
        }),
        { numRuns: runs(count) },
      );
      expect(blocked, 'cases that ran more than one block').toBeGreaterThan(0);
    });
  }

  it('a fixed case: four blocks, halo chunks on both sides, dropout and padding', () => {
    const s: BlockCase = {
      c: {
        batch: 1,
        heads: 1,
        headSize: 4,
        hidden: 4,
        chunkLength: 2,
        numChunks: 8,
        numHashes: 2,
        numBuckets: 4,
        before: 1,
        after: 1,
        causal: false,
        mask: 'holes',
        seed: 7,
      },
      paper: false,
      dropout: 0.3,
      chunks: 2,
    };
    wasm.scope(() => {
      const { cache, dOut } = forward(wasm, s);
      expect(lshBackwardBlocks(16, cache.chunk, 2 * 2)).toEqual([0, 4, 8, 12, 16]); // R·L/c = 16 chunks
      const [wantQk, wantV] = backward(wasm, cache, dOut, 2 ** 30);
      const [gotQk, gotV] = backward(wasm, cache, dOut, 4);
      expect(firstDifference(gotQk, wantQk)).toBe(-1);
      expect(firstDifference(gotV, wantV)).toBe(-1);
    });
  });
});
