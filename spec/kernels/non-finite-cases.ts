/**
 * The kernel calls of spec/kernels/non-finite.spec.ts: one builder per float op of the Backend
 * interface (gemm and gemmBatched, element-wise, activations, norms, softmax, row gathers, chunk
 * attention, hash-round combination, AdamW). A builder draws sizes and moderate finite data from a
 * seed (chunk attention: non-finite-attention.ts); the spec then injects NaN / ±Infinity into the buffers listed in `inject` and compares the
 * per-element class of every buffer in `outputs` between the backends. LSH hashing (integer output)
 * has its own law in the spec.
 */
import type { Activation, Backend, Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import type { Rng } from '../../src/util/rng.js';
import { randomFloats, randomPermutation } from './util.js';

export interface KernelCall {
  /** Every float buffer of the call with its initial contents (copied into each backend's memory). */
  floats: Record<string, Float32Array>;
  ints?: Record<string, Int32Array>;
  /** Buffers that receive NaN / ±Infinity: inputs, and outputs that the op accumulates into. */
  inject: readonly string[];
  /** Buffers compared after the call; a number returned by `run` is compared as `return`. */
  outputs: readonly string[];
  run(be: Backend, f: Record<string, Float>, i: Record<string, Int32Array>): number | undefined;
}

export interface KernelLaw {
  name: string;
  build(rng: Rng): KernelCall;
  /** Cases per property (reference loops of the big ones are slow). */
  runs: number;
}

const ref = new ReferenceBackend();
export const between = (rng: Rng, lo: number, hi: number): number => lo + rng.int(hi - lo + 1);
export const coin = (rng: Rng): boolean => rng.int(2) === 0;

function gemmCall(rng: Rng, m: number, n: number, k: number, batch: number): KernelCall {
  const transA = coin(rng);
  const transB = coin(rng);
  const accumulate = coin(rng);
  const lda = transA ? m : k;
  const ldb = transB ? k : n;
  const sa = m * k;
  const sb = k * n;
  const sc = m * n;
  return {
    floats: { a: randomFloats(rng, batch * sa), b: randomFloats(rng, batch * sb), c: randomFloats(rng, batch * sc) },
    inject: accumulate ? ['a', 'b', 'c'] : ['a', 'b'],
    outputs: ['c'],
    run: (be, f) => {
      const p = { m, n, k, a: f.a!, lda, transA, b: f.b!, ldb, transB, c: f.c!, ldc: n, accumulate };
      if (batch === 1) be.gemm(p);
      else be.gemmBatched({ ...p, batch, strideA: sa, strideB: sb, strideC: sc });
      return undefined;
    },
  };
}

function activationLaw(kind: Activation): KernelLaw {
  return {
    name: `activation ${kind} (forward, backward)`,
    runs: 60,
    build: (rng) => {
      const n = between(rng, 1, 23);
      return {
        floats: { x: randomFloats(rng, n, 4), y: randomFloats(rng, n), dy: randomFloats(rng, n), dx: randomFloats(rng, n) },
        inject: ['x', 'dy', 'dx'],
        outputs: ['y', 'dx'],
        run: (be, f) => {
          be.activationForward(kind, f.x!, f.y!, n);
          be.activationBackward(kind, f.x!, f.dy!, f.dx!, n);
          return undefined;
        },
      };
    },
  };
}

/** Scores of a softmax: moderate values, some HF mask values (−1e9), some −Infinity, some rows all −Infinity. */
function scores(rng: Rng, rows: number, cols: number): Float32Array {
  const s = randomFloats(rng, rows * cols, 5);
  for (let r = 0; r < rows; r++) {
    const kind = rng.int(5);
    for (let j = 0; j < cols; j++) {
      if (kind === 0 && rng.int(3) === 0) s[r * cols + j] = -1e9;
      else if (kind === 1 && rng.int(3) === 0) s[r * cols + j] = -Infinity;
      else if (kind === 2) s[r * cols + j] = -Infinity;
    }
  }
  return s;
}

export const LAWS: readonly KernelLaw[] = [
  {
    name: 'gemm (direct path: small sizes, transposes, accumulate)',
    runs: 60,
    build: (rng) => gemmCall(rng, between(rng, 1, 13), between(rng, 1, 13), between(rng, 1, 13), 1),
  },
  {
    name: 'gemm (packed path: k·n above the direct limit)',
    runs: 6,
    build: (rng) => gemmCall(rng, between(rng, 9, 12), between(rng, 512, 520), between(rng, 256, 260), 1),
  },
  {
    name: 'gemmBatched',
    runs: 30,
    build: (rng) => gemmCall(rng, between(rng, 1, 9), between(rng, 1, 9), between(rng, 1, 9), between(rng, 2, 3)),
  },
  {
    name: 'add, axpy, scale',
    runs: 60,
    build: (rng) => {
      const n = between(rng, 1, 23);
      const alpha = 2 * rng.uniform() - 1;
      return {
        floats: { a: randomFloats(rng, n), b: randomFloats(rng, n), out: randomFloats(rng, n), y: randomFloats(rng, n) },
        inject: ['a', 'b', 'y'],
        outputs: ['out', 'y'],
        run: (be, f) => {
          be.add(f.out!, f.a!, f.b!, n);
          be.axpy(f.y!, alpha, f.a!, n);
          be.scale(f.y!, -alpha, n);
          return undefined;
        },
      };
    },
  },
  {
    name: 'addRowVector, sumRows',
    runs: 60,
    build: (rng) => {
      const rows = between(rng, 1, 6);
      const cols = between(rng, 1, 19);
      return {
        floats: { x: randomFloats(rng, rows * cols), v: randomFloats(rng, cols), out: randomFloats(rng, cols) },
        inject: ['x', 'v', 'out'],
        outputs: ['x', 'out'],
        run: (be, f) => {
          be.addRowVector(f.x!, f.v!, rows, cols);
          be.sumRows(f.out!, f.x!, rows, cols);
          return undefined;
        },
      };
    },
  },
  {
    name: 'sumSquares',
    runs: 60,
    build: (rng) => {
      const n = between(rng, 1, 23);
      return { floats: { x: randomFloats(rng, n, 3) }, inject: ['x'], outputs: [], run: (be, f) => be.sumSquares(f.x!, n) };
    },
  },
  activationLaw('relu'),
  activationLaw('gelu'),
  activationLaw('gelu_new'),
  {
    name: 'layerNorm forward and backward',
    runs: 60,
    build: (rng) => {
      const rows = between(rng, 1, 4);
      const cols = coin(rng) ? between(rng, 1, 19) : 64;
      const x = randomFloats(rng, rows * cols, 3);
      const gamma = randomFloats(rng, cols, 2);
      const beta = randomFloats(rng, cols);
      // statistics of the backward: the reference forward's on the clean x
      const mean = new Float32Array(rows);
      const rstd = new Float32Array(rows);
      ref.layerNormForward({ rows, cols, x, gamma, beta, eps: 1e-12, y: new Float32Array(rows * cols), mean, rstd });
      return {
        floats: {
          x,
          gamma,
          beta,
          y: randomFloats(rng, rows * cols),
          mean: randomFloats(rng, rows),
          rstd: randomFloats(rng, rows),
          bmean: mean,
          brstd: rstd,
          dy: randomFloats(rng, rows * cols),
          dx: randomFloats(rng, rows * cols),
          dgamma: randomFloats(rng, cols),
          dbeta: randomFloats(rng, cols),
        },
        inject: ['x', 'gamma', 'beta', 'bmean', 'brstd', 'dy', 'dx', 'dgamma', 'dbeta'],
        outputs: ['y', 'mean', 'rstd', 'dx', 'dgamma', 'dbeta'],
        run: (be, f) => {
          be.layerNormForward({ rows, cols, x: f.x!, gamma: f.gamma!, beta: f.beta!, eps: 1e-12, y: f.y!, mean: f.mean!, rstd: f.rstd! });
          be.layerNormBackward({
            rows,
            cols,
            dy: f.dy!,
            x: f.x!,
            mean: f.bmean!,
            rstd: f.brstd!,
            gamma: f.gamma!,
            dx: f.dx!,
            dgamma: f.dgamma!,
            dbeta: f.dbeta!,
          });
          return undefined;
        },
      };
    },
  },
  {
    name: 'rmsNorm forward and backward',
    runs: 60,
    build: (rng) => {
      const rows = between(rng, 1, 4);
      const cols = between(rng, 1, 19);
      const x = randomFloats(rng, rows * cols, 3);
      const rstd = new Float32Array(rows);
      ref.rmsNormForward({ rows, cols, x, y: new Float32Array(rows * cols), rstd, eps: 1e-6, scale: 0.5 });
      return {
        floats: {
          x,
          y: randomFloats(rng, rows * cols),
          rstd: randomFloats(rng, rows),
          brstd: rstd,
          dy: randomFloats(rng, rows * cols),
          dx: randomFloats(rng, rows * cols),
        },
        inject: ['x', 'brstd', 'dy', 'dx'],
        outputs: ['y', 'rstd', 'dx'],
        run: (be, f) => {
          be.rmsNormForward({ rows, cols, x: f.x!, y: f.y!, rstd: f.rstd!, eps: 1e-6, scale: 0.5 });
          be.rmsNormBackward({ rows, cols, dy: f.dy!, x: f.x!, rstd: f.brstd!, scale: 0.5, dx: f.dx! });
          return undefined;
        },
      };
    },
  },
  {
    name: 'softmaxRows (masked and −Infinity entries, all −Infinity rows)',
    runs: 80,
    build: (rng) => {
      const rows = between(rng, 1, 4);
      const cols = between(rng, 1, 19);
      return {
        floats: { s: scores(rng, rows, cols), p: randomFloats(rng, rows * cols), lse: randomFloats(rng, rows) },
        inject: ['s'],
        outputs: ['p', 'lse'],
        run: (be, f) => {
          be.softmaxRows({ rows, cols, s: f.s!, lds: cols, p: f.p!, ldp: cols, lse: f.lse! });
          return undefined;
        },
      };
    },
  },
  {
    name: 'softmaxRowsBackward',
    runs: 60,
    build: (rng) => {
      const rows = between(rng, 1, 4);
      const cols = between(rng, 1, 19);
      const p = new Float32Array(rows * cols);
      ref.softmaxRows({ rows, cols, s: scores(rng, rows, cols), lds: cols, p, ldp: cols, lse: new Float32Array(rows) });
      return {
        floats: { p, dp: randomFloats(rng, rows * cols), dlse: randomFloats(rng, rows), ds: randomFloats(rng, rows * cols) },
        inject: ['p', 'dp', 'dlse', 'ds'],
        outputs: ['ds'],
        run: (be, f) => {
          be.softmaxRowsBackward({ rows, cols, p: f.p!, ldp: cols, dp: f.dp!, lddp: cols, dlse: f.dlse!, ds: f.ds!, ldds: cols });
          return undefined;
        },
      };
    },
  },
  {
    name: 'gatherRows, scatterRows, scatterAddRows',
    runs: 40,
    build: (rng) => {
      const rows = between(rng, 1, 9);
      const cols = between(rng, 1, 9);
      const repeated = Int32Array.from({ length: rows }, () => rng.int(rows));
      return {
        floats: {
          src: randomFloats(rng, rows * cols),
          g: randomFloats(rng, rows * cols),
          s: randomFloats(rng, rows * cols),
          a: randomFloats(rng, rows * cols),
        },
        ints: { perm: randomPermutation(rng, rows), repeated },
        inject: ['src', 'a'],
        outputs: ['g', 's', 'a'],
        run: (be, f, i) => {
          const base = { rows, cols, src: f.src!, ldSrc: cols, ldDst: cols };
          be.gatherRows({ ...base, index: i.perm!, dst: f.g! });
          be.scatterRows({ ...base, index: i.perm!, dst: f.s! });
          be.scatterAddRows({ ...base, index: i.repeated!, dst: f.a! });
          return undefined;
        },
      };
    },
  },
  {
    name: 'lshRoundCombine (several rounds)',
    runs: 60,
    build: (rng) => {
      const seqLen = between(rng, 1, 9);
      const d = between(rng, 1, 9);
      const rounds = between(rng, 1, 3);
      const floats: Record<string, Float32Array> = { acc: randomFloats(rng, seqLen * d), stats: randomFloats(rng, 2 * seqLen) };
      const ints: Record<string, Int32Array> = {};
      const inject: string[] = [];
      for (let r = 0; r < rounds; r++) {
        floats[`out${r}`] = randomFloats(rng, seqLen * d);
        floats[`lse${r}`] = randomFloats(rng, seqLen, 10);
        ints[`pos${r}`] = randomPermutation(rng, seqLen);
        inject.push(`out${r}`, `lse${r}`);
      }
      return {
        floats,
        ints,
        inject,
        outputs: ['acc', 'stats'],
        run: (be, f, i) => {
          for (let r = 0; r < rounds; r++) {
            be.lshRoundCombine({
              rows: seqLen,
              d,
              seqLen,
              first: r === 0,
              last: r === rounds - 1,
              pos: i[`pos${r}`]!,
              roundOut: f[`out${r}`]!,
              roundLse: f[`lse${r}`]!,
              acc: f.acc!,
              stats: f.stats!,
            });
          }
          return undefined;
        },
      };
    },
  },
  {
    name: 'adamw',
    runs: 60,
    build: (rng) => {
      const n = between(rng, 1, 23);
      const v = Float32Array.from({ length: n }, () => 0.01 * rng.uniform());
      return {
        floats: { param: randomFloats(rng, n), grad: randomFloats(rng, n), m: randomFloats(rng, n, 0.1), v },
        inject: ['param', 'grad', 'm', 'v'],
        outputs: ['param', 'm', 'v'],
        run: (be, f) => {
          be.adamw({
            n,
            param: f.param!,
            grad: f.grad!,
            m: f.m!,
            v: f.v!,
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weightDecay: 0.01,
            step: 3,
          });
          return undefined;
        },
      };
    },
  },
];
