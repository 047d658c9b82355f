/**
 * Law: the WASM backend gives IDENTICAL BITS on one thread and on several (worker pool over the shared
 * memory), for every operation that it splits: gemm (all layouts, both paths), gemmBatched, chunked
 * attention forward and backward (the backward's race-free partition mode, wrap-around windows,
 * masks, several rounds, paper mode), layer norm and its parameter gradients, RMS norm, softmax,
 * LSH hashing (across the 128-row blocks), the split counting sort, row gathers and scatters, the
 * online softmax over hash rounds (row ranges), element-wise ops, activations, AdamW, bias sums; and
 * a whole `ReformerModelWithLMHead` training step (loss and every gradient).
 *
 * The multi-thread backends split every operation (`minWorkNs: 0`): 3 threads into 12 parts, and 2
 * threads into 2 parts (on 2 cores too: the split depends on the thread count and policy only, and
 * the threads take parts dynamically), so uneven and even splits and tiny parts (1 row, 1 chunk) are
 * exercised. Inputs accumulate into random
 * initial outputs, so a part that overwrites instead of adding, or writes outside its rows, changes
 * bits. Whole buffers are compared.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Activation } from '../../src/backend/backend.js';
import type { WasmBackend, WasmVariant } from '../../src/backend/wasm/wasm-backend.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { Rng } from '../../src/util/rng.js';
import { arbTinyCase } from '../model/arbitraries.js';
import { VARIANTS, floatsOf, intsOf, randomFloats, randomInts, randomPermutation } from './util.js';
import { runs } from '../helpers/runs.js';

interface Trio {
  one: WasmBackend;
  many: WasmBackend[];
}

const trios = new Map<WasmVariant, Trio>();
function backends(variant: WasmVariant): Trio {
  let t = trios.get(variant);
  if (!t) {
    const opts = { variant, shared: true, poisonFreed: true } as const;
    t = {
      one: loadWasmBackendSync({ ...opts, threads: 1 }),
      many: [
        // 3 threads, 12 parts per operation (tiny parts: 1 row, 1 chunk); 2 threads, 2 parts
        loadWasmBackendSync({ ...opts, threads: 3, spinMs: 0.05, parallel: { minWorkNs: 0, partWorkNs: 0 } }),
        loadWasmBackendSync({ ...opts, threads: 2, spinMs: 0.05, parallel: { minWorkNs: 0, partWorkNs: Infinity } }),
      ],
    };
    trios.set(variant, t);
  }
  return t;
}

afterAll(() => {
  for (const t of trios.values()) for (const be of t.many) be.close();
});

/** The bits of a float or int buffer (a copy). */
function bits(a: Float32Array | Int32Array): Uint32Array {
  return new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength) as ArrayBuffer);
}

function expectSameBits(got: Float32Array | Int32Array, want: Uint32Array, what: string): void {
  const g = bits(got);
  if (g.length !== want.length) throw new Error(`${what}: length ${g.length} != ${want.length}`);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== want[i]) {
      const f = (u: number): number => new Float32Array(new Uint32Array([u]).buffer)[0]!;
      expect.fail(
        `${what}: element ${i} differs: ${f(g[i]!)} (0x${g[i]!.toString(16)}) vs one thread ${f(want[i]!)} (0x${want[i]!.toString(16)})`,
      );
    }
  }
}

/**
 * Runs `op(be)` on the one-thread backend and on each multi-thread backend (inside a scope) and
 * compares the bits of the buffers it returns.
 */
function sameOnAll(variant: WasmVariant, op: (be: WasmBackend) => Record<string, Float32Array | Int32Array>): void {
  const t = backends(variant);
  const want = t.one.scope(() => Object.fromEntries(Object.entries(op(t.one)).map(([k, v]) => [k, bits(v)])));
  for (const be of t.many) {
    be.scope(() => {
      const got = op(be);
      for (const [k, v] of Object.entries(got)) expectSameBits(v, want[k]!, `${be.threads} threads, ${k}`);
    });
  }
}

const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

for (const variant of VARIANTS) {
  describe(`WASM ${variant}: 1 thread == N threads, bit for bit`, () => {
    it('gemm: every layout, direct and packed paths, accumulate, strides', () => {
      const dims = fc.record({
        m: fc.integer({ min: 0, max: 41 }),
        n: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 300, max: 330 })),
        k: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 420, max: 530 })),
        transA: fc.boolean(),
        transB: fc.boolean(),
        accumulate: fc.boolean(),
        pad: fc.integer({ min: 0, max: 3 }),
        seed: seedArb,
      });
      fc.assert(
        fc.property(dims, (c) => {
          const rng = new Rng(c.seed);
          const lda = (c.transA ? c.m : c.k) + c.pad;
          const ldb = (c.transB ? c.k : c.n) + c.pad;
          const ldc = c.n + c.pad;
          const A = randomFloats(rng, (c.transA ? c.k : c.m) * lda + 1);
          const B = randomFloats(rng, (c.transB ? c.n : c.k) * ldb + 1);
          const C = randomFloats(rng, c.m * ldc + 1);
          sameOnAll(variant, (be) => {
            const cc = floatsOf(be, C);
            be.gemm({
              m: c.m,
              n: c.n,
              k: c.k,
              a: floatsOf(be, A),
              lda,
              transA: c.transA,
              b: floatsOf(be, B),
              ldb,
              transB: c.transB,
              c: cc,
              ldc,
              accumulate: c.accumulate,
            });
            return { C: cc };
          });
        }),
        { numRuns: runs(40) },
      );
    });

    it('gemmBatched (split by matrices, or by rows of a single matrix)', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 7 }),
          fc.integer({ min: 1, max: 20 }),
          fc.integer({ min: 1, max: 20 }),
          fc.integer({ min: 1, max: 20 }),
          fc.boolean(),
          seedArb,
          (batch, m, n, k, transB, seed) => {
            const rng = new Rng(seed);
            const A = randomFloats(rng, batch * m * k);
            const B = randomFloats(rng, batch * k * n);
            const C = randomFloats(rng, batch * m * n);
            sameOnAll(variant, (be) => {
              const cc = floatsOf(be, C);
              be.gemmBatched({
                batch,
                m,
                n,
                k,
                a: floatsOf(be, A),
                lda: k,
                strideA: m * k,
                b: floatsOf(be, B),
                ldb: transB ? k : n,
                transB,
                strideB: k * n,
                c: cc,
                ldc: n,
                strideC: m * n,
                accumulate: true,
              });
              return { C: cc };
            });
          },
        ),
        { numRuns: runs(30) },
      );
    });

    it('chunk attention forward and backward (partition mode: halo chunks, wrap-around, masks, rounds, paper mode)', () => {
      const arb = fc.record({
        d: fc.integer({ min: 1, max: 12 }),
        L: fc.integer({ min: 1, max: 6 }),
        numChunks: fc.integer({ min: 1, max: 9 }),
        before: fc.integer({ min: 0, max: 2 }),
        after: fc.integer({ min: 0, max: 2 }),
        causal: fc.boolean(),
        self: fc.boolean(),
        padding: fc.boolean(),
        rounds: fc.integer({ min: 1, max: 3 }),
        paper: fc.boolean(),
        withDlse: fc.boolean(),
        seed: seedArb,
      });
      fc.assert(
        fc.property(arb, (c) => {
          const rng = new Rng(c.seed);
          let n = c.L * c.numChunks;
          // several rounds: rows grouped by round (paper mode needs n = rounds·seqLen)
          const rounds = n % c.rounds === 0 ? c.rounds : 1;
          const seqLen = n / rounds;
          const q = randomFloats(rng, n * c.d, 2);
          const k = randomFloats(rng, n * c.d, 2);
          const v = randomFloats(rng, n * c.d);
          const pos = randomInts(rng, n, seqLen);
          const keyValid = c.padding ? Int32Array.from({ length: n }, () => (rng.uniform() < 0.8 ? 1 : 0)) : null;
          const buckets = randomInts(rng, rounds * seqLen, 3);
          const dOut = randomFloats(rng, n * c.d);
          const dLse = randomFloats(rng, n);
          const grads = [randomFloats(rng, n * c.d), randomFloats(rng, n * c.d), randomFloats(rng, n * c.d)];
          n = c.L * c.numChunks;
          sameOnAll(variant, (be) => {
            const common = {
              n,
              d: c.d,
              chunkLength: c.L,
              numChunksBefore: c.before,
              numChunksAfter: c.after,
              q: floatsOf(be, q),
              k: floatsOf(be, k),
              v: floatsOf(be, v),
              pos: intsOf(be, pos),
              keyValid: keyValid ? intsOf(be, keyValid) : null,
              causal: c.causal,
              maskValue: -1e9,
              selfMaskValue: c.self ? -1e5 : null,
              paper: c.paper ? { seqLen, numHashes: rounds, buckets: intsOf(be, buckets) } : null,
            };
            const out = be.floats(n * c.d);
            const lse = be.floats(n);
            be.chunkAttentionForward({ ...common, out, lse });
            const [dq, dk, dv] = grads.map((g) => floatsOf(be, g)) as [Float32Array, Float32Array, Float32Array];
            be.chunkAttentionBackward({
              ...common,
              lse,
              dOut: floatsOf(be, dOut),
              dLse: c.withDlse ? floatsOf(be, dLse) : null,
              dq,
              dk,
              dv,
            });
            return { out, lse, dq, dk, dv };
          });
        }),
        { numRuns: runs(60) },
      );
    });

    it('layer norm forward / backward (dx by rows, dgamma and dbeta by columns), RMS norm, softmax', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 23 }), seedArb, (rows, cols, seed) => {
          const rng = new Rng(seed);
          const x = randomFloats(rng, rows * cols, 3);
          const dy = randomFloats(rng, rows * cols);
          const gamma = randomFloats(rng, cols);
          const beta = randomFloats(rng, cols);
          const init = [
            randomFloats(rng, rows * cols),
            randomFloats(rng, cols),
            randomFloats(rng, cols),
            randomFloats(rng, rows * cols),
            randomFloats(rng, rows * cols),
          ];
          sameOnAll(variant, (be) => {
            const xb = floatsOf(be, x);
            const dyb = floatsOf(be, dy);
            const gb = floatsOf(be, gamma);
            const y = be.floats(rows * cols);
            const mean = be.floats(rows);
            const rstd = be.floats(rows);
            be.layerNormForward({ rows, cols, x: xb, gamma: gb, beta: floatsOf(be, beta), eps: 1e-12, y, mean, rstd });
            const [dx, dgamma, dbeta, rdx, ds] = init.map((a) => floatsOf(be, a)) as Float32Array[];
            be.layerNormBackward({ rows, cols, dy: dyb, x: xb, mean, rstd, gamma: gb, dx: dx!, dgamma: dgamma!, dbeta: dbeta! });
            const ry = be.floats(rows * cols);
            const rr = be.floats(rows);
            be.rmsNormForward({ rows, cols, x: xb, y: ry, rstd: rr, eps: 1e-6, scale: 0.125 });
            be.rmsNormBackward({ rows, cols, dy: dyb, x: xb, rstd: rr, scale: 0.125, dx: rdx! });
            const p = be.floats(rows * cols);
            const lse = be.floats(rows);
            be.softmaxRows({ rows, cols, s: xb, lds: cols, p, ldp: cols, lse });
            be.softmaxRowsBackward({ rows, cols, p, ldp: cols, dp: dyb, lddp: cols, dlse: lse, ds: ds!, ldds: cols });
            return { y, mean, rstd, dx: dx!, dgamma: dgamma!, dbeta: dbeta!, ry, rr, rdx: rdx!, p, lse, ds: ds! };
          });
        }),
        { numRuns: runs(40) },
      );
    });

    it('LSH hashing (blocks of 128 rows), split counting sort, gathers and scatters', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 700 }),
          fc.integer({ min: 1, max: 9 }),
          fc.integer({ min: 1, max: 3 }),
          fc.constantFrom([2], [8], [4, 6], [2, 2, 2]),
          fc.integer({ min: 1, max: 3000 }),
          fc.integer({ min: 1, max: 300 }),
          seedArb,
          (rows, dHead, numHashes, factors, n, numKeys, seed) => {
            const rng = new Rng(seed);
            const half = factors.reduce((s, f) => s + f / 2, 0);
            const x = randomFloats(rng, rows * (dHead + 1));
            const rot = randomFloats(rng, dHead * numHashes * half);
            const keys = randomInts(rng, n, numKeys);
            const cols = 1 + (seed % 9);
            const src = randomFloats(rng, n * cols);
            const perm = randomPermutation(rng, n);
            const withRepeats = randomInts(rng, n, n);
            const acc = randomFloats(rng, n * cols);
            sameOnAll(variant, (be) => {
              const buckets = be.ints(numHashes * rows);
              be.lshHash({ x: floatsOf(be, x), ldx: dHead + 1, rows, dHead, rotations: floatsOf(be, rot), numHashes, factors, buckets });
              const sorted = be.ints(n);
              be.argsortKeys(sorted, intsOf(be, keys), n, numKeys);
              const s = floatsOf(be, src);
              const gathered = be.floats(n * cols);
              be.gatherRows({ rows: n, cols, index: intsOf(be, withRepeats), src: s, ldSrc: cols, dst: gathered, ldDst: cols });
              const scattered = floatsOf(be, acc);
              be.scatterRows({ rows: n, cols, index: intsOf(be, perm), src: s, ldSrc: cols, dst: scattered, ldDst: cols });
              const scatterDup = floatsOf(be, acc); // repeated targets: one thread, last write wins
              be.scatterRows({ rows: n, cols, index: intsOf(be, withRepeats), src: s, ldSrc: cols, dst: scatterDup, ldDst: cols });
              const added = floatsOf(be, acc);
              be.scatterAddRows({ rows: n, cols, index: intsOf(be, withRepeats), src: s, ldSrc: cols, dst: added, ldDst: cols });
              return { buckets, sorted, gathered, scattered, scatterDup, added };
            });
          },
        ),
        { numRuns: runs(40) },
      );
    });

    it('LSH round combination (online softmax over rounds): row ranges of one round, several rounds', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 400 }),
          fc.integer({ min: 1, max: 19 }),
          fc.integer({ min: 1, max: 5 }),
          seedArb,
          (L, d, rounds, seed) => {
            const rng = new Rng(seed);
            const perms = Array.from({ length: rounds }, () => randomPermutation(rng, L));
            const outs = Array.from({ length: rounds }, () => randomFloats(rng, L * d, 2));
            const lses = Array.from({ length: rounds }, () => randomFloats(rng, L, 4));
            const acc0 = randomFloats(rng, L * d);
            sameOnAll(variant, (be) => {
              const acc = floatsOf(be, acc0);
              const stats = be.floats(2 * L);
              for (let r = 0; r < rounds; r++) {
                be.lshRoundCombine({
                  rows: L,
                  d,
                  seqLen: L,
                  first: r === 0,
                  last: r === rounds - 1,
                  pos: intsOf(be, perms[r]!),
                  roundOut: floatsOf(be, outs[r]!),
                  roundLse: floatsOf(be, lses[r]!),
                  acc,
                  stats,
                });
              }
              return { acc, stats };
            });
          },
        ),
        { numRuns: runs(40) },
      );
    });

    it('element-wise ops, activations, bias add / sum, AdamW, countNonFinite', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 333 }),
          fc.integer({ min: 1, max: 19 }),
          fc.constantFrom<Activation>('relu', 'gelu', 'gelu_new'),
          seedArb,
          (n, cols, act, seed) => {
            const rng = new Rng(seed);
            const a = randomFloats(rng, n, 4);
            const b = randomFloats(rng, n, 4);
            const g = randomFloats(rng, n);
            const v0 = Float32Array.from(randomFloats(rng, n), (x) => Math.abs(x));
            const rows = Math.floor(n / cols);
            const vec = randomFloats(rng, cols);
            sameOnAll(variant, (be) => {
              const ab = floatsOf(be, a);
              const bb = floatsOf(be, b);
              const sum = be.floats(n);
              be.add(sum, ab, bb, n);
              const y = floatsOf(be, b);
              be.axpy(y, 0.37, ab, n);
              be.scale(y, -1.7, n);
              const act1 = be.floats(n);
              be.activationForward(act, ab, act1, n);
              const dact = floatsOf(be, b);
              be.activationBackward(act, ab, bb, dact, n);
              const xr = floatsOf(be, a.subarray(0, rows * cols));
              be.addRowVector(xr, floatsOf(be, vec), rows, cols);
              const bias = floatsOf(be, vec);
              be.sumRows(bias, xr, rows, cols);
              const param = floatsOf(be, a);
              const m = floatsOf(be, b);
              const vv = floatsOf(be, v0);
              be.adamw({
                n,
                param,
                grad: floatsOf(be, g),
                m,
                v: vv,
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weightDecay: 0.01,
                step: 3,
              });
              // countNonFinite: per-part counts summed (a few NaN / ±Infinity in a copy of a)
              const holes = floatsOf(be, a);
              for (let i = 0; i < n; i += 7 + (i % 5)) holes[i] = [Number.NaN, Infinity, -Infinity][i % 3]!;
              const count = be.ints(1);
              count[0] = be.countNonFinite(holes, n);
              return { sum, y, act1, dact, xr, bias, param, m, vv, count };
            });
          },
        ),
        { numRuns: runs(40) },
      );
    });

    it('ReformerModelWithLMHead: loss and every gradient of a training step (LSH and local layers, dropout, padding)', () => {
      fc.assert(
        fc.property(arbTinyCase({ causalOnly: true, dropout: true }), (c) => {
          const t = backends(variant);
          const run = (be: WasmBackend): { loss: number; grads: Uint32Array; dEmb: Uint32Array } =>
            be.scope(() => {
              const model = new ReformerModelWithLMHead(be, c.config, { seed: c.seed });
              const r = model.forwardBackward({
                inputIds: c.ids,
                batch: c.batch,
                seqLen: c.seqLen,
                attentionMask: c.mask,
                labels: c.labels,
              });
              return { loss: r.loss, grads: bits(model.grads as Float32Array), dEmb: bits(r.dEmbedding as Float32Array) };
            });
          const want = run(t.one);
          for (const be of t.many) {
            const got = run(be);
            expect(Object.is(got.loss, want.loss), `${be.threads} threads: loss ${got.loss} vs ${want.loss}`).toBe(true);
            expect(got.grads).toEqual(want.grads);
            expect(got.dEmb).toEqual(want.dEmb);
          }
        }),
        { numRuns: runs(6) },
      );
    });
  });
}
