/**
 * Law: a GEMM streamed over host-resident operands (src/backend/host-streams.ts) has the bits of one
 * `Backend.gemm` call on arena copies of the same operands (`Object.is` on every element of C, its ld
 * padding included), for both WASM builds:
 *   - `gemmStreamK`: C (+)= op(A)·B reduced over k rows held on the host (A transposed [k, m] and/or B
 *     [k, n]), cut into consecutive calls at the kernel's `gemmReductionStep` (multiples of KC = 256 on
 *     the packed path), the later ones accumulating; products the kernel cannot cut (direct path) are
 *     copied whole;
 *   - `gemmStreamRows`: C and/or A (not transposed) on the host, by row blocks of C.
 * Sizes straddle the direct/packed switch (k·n = 128K elements) and KC edges; block sizes go down to 4
 * rows. Streamed on 3 threads (every call split) it still has the bits of one call on 1 thread. The last
 * case shows the law can fail: cutting k off the KC grid changes the bits.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Float, GemmParams } from '../../src/backend/backend.js';
import { gemmStreamK, gemmStreamRows } from '../../src/backend/host-streams.js';
import type { WasmBackend } from '../../src/backend/wasm/wasm-backend.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { Rng } from '../../src/util/rng.js';
import { runs } from '../helpers/runs.js';
import { VARIANTS, floatsOf, randomFloats, wasmBackend } from './util.js';

/** Every element of got equals want bit for bit (−0 ≠ +0, NaN = NaN). */
function expectSameBits(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) expect.fail(`${what}: element ${i} is ${got[i]}, one call gives ${want[i]}`);
  }
}

interface Operands {
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
}

/** C after one call on arena copies, and C after `stream` on host (or arena) operands as chosen. */
function compare(
  be: WasmBackend,
  p: Omit<GemmParams, 'a' | 'b' | 'c'>,
  data: Operands,
  host: { a: boolean; b: boolean; c: boolean },
  stream: (p: GemmParams) => void,
): { got: Float32Array; want: Float32Array } {
  return be.scope(() => {
    const c1 = floatsOf(be, data.c);
    be.gemm({ ...p, a: floatsOf(be, data.a), b: floatsOf(be, data.b), c: c1 });
    const want = Float32Array.from(c1);
    const place = (x: Float32Array, onHost: boolean): Float => (onHost ? Float32Array.from(x) : floatsOf(be, x));
    const c2 = place(data.c, host.c);
    stream({ ...p, a: place(data.a, host.a), b: place(data.b, host.b), c: c2 });
    return { got: Float32Array.from(c2), want };
  });
}

// mostly products the kernel can cut (k·n > 128K, parts too), with blocks on and off the KC grid
const kCase = fc.record({
  m: fc.constantFrom(1, 7, 8, 9, 64, 96, 101, 256),
  n: fc.oneof({ weight: 1, arbitrary: fc.constantFrom(1, 8, 13) }, { weight: 4, arbitrary: fc.constantFrom(64, 200, 256) }),
  k: fc.oneof({ weight: 1, arbitrary: fc.integer({ min: 1, max: 700 }) }, { weight: 4, arbitrary: fc.integer({ min: 2000, max: 9000 }) }),
  hostA: fc.boolean(),
  hostB: fc.boolean(),
  accumulate: fc.boolean(),
  padA: fc.integer({ min: 0, max: 3 }),
  padB: fc.integer({ min: 0, max: 3 }),
  padC: fc.integer({ min: 0, max: 3 }),
  offA: fc.integer({ min: 0, max: 5 }),
  offB: fc.integer({ min: 0, max: 5 }),
  blockRows: fc.constantFrom(4, 256, 700, 1000, 2500, 4096),
  seed: fc.integer(),
});

const rowsCase = fc.record({
  m: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 500, max: 3000 })),
  n: fc.constantFrom(1, 8, 64, 256),
  k: fc.constantFrom(1, 5, 64, 256, 600),
  transB: fc.boolean(),
  hostA: fc.boolean(),
  hostC: fc.boolean(),
  accumulate: fc.boolean(),
  padA: fc.integer({ min: 0, max: 3 }),
  padC: fc.integer({ min: 0, max: 3 }),
  offA: fc.integer({ min: 0, max: 5 }),
  offC: fc.integer({ min: 0, max: 5 }),
  blockRows: fc.constantFrom(4, 12, 64, 1000, 4096),
  seed: fc.integer(),
});

describe.each(VARIANTS)('host-streamed gemm == one call (%s)', (variant) => {
  const be = wasmBackend(variant);

  it('gemmStreamK: the reduction over host rows, cut at the kernel step', () => {
    fc.assert(
      fc.property(kCase, (c) => {
        const rng = new Rng(c.seed);
        const lda = c.m + c.padA; // A stored [k, m] (transposed)
        const ldb = c.n + c.padB; // B stored [k, n]
        const ldc = c.n + c.padC;
        const data = {
          a: randomFloats(rng, c.offA + c.k * lda),
          b: randomFloats(rng, c.offB + c.k * ldb),
          c: randomFloats(rng, c.m * ldc),
        };
        const p = { m: c.m, n: c.n, k: c.k, aOffset: c.offA, lda, transA: true, bOffset: c.offB, ldb, ldc, accumulate: c.accumulate };
        const host = { a: c.hostA, b: c.hostB, c: false };
        const { got, want } = compare(be, p, data, host, (q) => gemmStreamK(be, q, c.blockRows));
        expectSameBits(got, want, `gemmStreamK ${JSON.stringify(c)}`);
      }),
      { numRuns: runs(60) },
    );
  });

  it('gemmStreamRows: host C and/or A by row blocks', () => {
    fc.assert(
      fc.property(rowsCase, (c) => {
        const rng = new Rng(c.seed);
        const lda = c.k + c.padA; // A stored [m, k]
        const ldb = c.transB ? c.k : c.n; // B stored [n, k] or [k, n]
        const ldc = c.n + c.padC;
        const data = {
          a: randomFloats(rng, c.offA + c.m * lda),
          b: randomFloats(rng, c.k * c.n),
          c: randomFloats(rng, c.offC + c.m * ldc),
        };
        const p = { m: c.m, n: c.n, k: c.k, aOffset: c.offA, lda, ldb, transB: c.transB, cOffset: c.offC, ldc, accumulate: c.accumulate };
        const host = { a: c.hostA, b: false, c: c.hostC };
        const { got, want } = compare(be, p, data, host, (q) => gemmStreamRows(be, q, c.blockRows));
        expectSameBits(got, want, `gemmStreamRows ${JSON.stringify(c)}`);
      }),
      { numRuns: runs(40) },
    );
  });

  it('gemmStreamRows keeps blocks above 8 rows: a packed product of 13 rows in blocks of 4 (seed 1008753752)', () => {
    // blocks of 4 rows would take the direct path (m ≤ 8) where the whole product takes the packed one
    const rng = new Rng(0);
    const [m, n, k] = [13, 256, 600];
    const data = { a: randomFloats(rng, m * k), b: randomFloats(rng, k * n), c: randomFloats(rng, m * n) };
    const p = { m, n, k, lda: k, ldb: n, ldc: n };
    const { got, want } = compare(be, p, data, { a: true, b: false, c: true }, (q) => gemmStreamRows(be, q, 4));
    expectSameBits(got, want, 'gemmStreamRows 13×256×600 in blocks of 4');
  });

  it('the law can fail: cuts off the KC grid change the bits', () => {
    const rng = new Rng(7);
    const [m, n, k] = [64, 64, 4096];
    const data = { a: randomFloats(rng, k * m), b: randomFloats(rng, k * n), c: new Float32Array(m * n) };
    const p = { m, n, k, lda: m, transA: true, ldb: n, ldc: n };
    const { got, want } = compare(be, p, data, { a: true, b: false, c: false }, (q) =>
      be.scope(() => {
        // two calls cut at 300 (not a multiple of KC = 256), as a careless stream would
        const cut = 300;
        const a1 = floatsOf(be, (q.a as Float32Array).subarray(0, cut * m));
        const a2 = floatsOf(be, (q.a as Float32Array).subarray(cut * m));
        be.gemm({ ...q, k: cut, a: a1 });
        be.gemm({ ...q, k: k - cut, a: a2, bOffset: cut * n, accumulate: true });
      }),
    );
    let differ = 0;
    for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) differ++;
    expect(differ).toBeGreaterThan(0);
  });
});

describe('host-streamed gemm on 3 threads == one call on 1 thread', () => {
  const one = loadWasmBackendSync({ shared: true, threads: 1 });
  const many = loadWasmBackendSync({ shared: true, threads: 3, spinMs: 0.05, parallel: { minWorkNs: 0, partWorkNs: 0 } });
  afterAll(() => many.close());

  it('gemmStreamK and gemmStreamRows, weight-gradient and projection shapes', () => {
    const rng = new Rng(11);
    for (const [m, n, k] of [
      [256, 64, 9000],
      [64, 256, 5000],
    ] as const) {
      const data = { a: randomFloats(rng, k * m), b: randomFloats(rng, k * n), c: randomFloats(rng, m * n) };
      const p = { m, n, k, lda: m, transA: true, ldb: n, ldc: n, accumulate: true };
      const want = compare(one, p, data, { a: false, b: false, c: false }, (q) => one.gemm(q)).want;
      const got = compare(many, p, data, { a: true, b: true, c: false }, (q) => gemmStreamK(many, q, 1000)).got;
      expectSameBits(got, want, `gemmStreamK ${m}×${n}×${k}`);
    }
    const [m, n, k] = [3001, 64, 256];
    const data = { a: randomFloats(rng, m * k), b: randomFloats(rng, n * k), c: randomFloats(rng, m * n) };
    const p = { m, n, k, lda: k, ldb: k, transB: true, ldc: n, accumulate: true };
    const want = compare(one, p, data, { a: false, b: false, c: false }, (q) => one.gemm(q)).want;
    const got = compare(many, p, data, { a: true, b: false, c: true }, (q) => gemmStreamRows(many, q, 500)).got;
    expectSameBits(got, want, `gemmStreamRows ${m}×${n}×${k}`);
  });
});
