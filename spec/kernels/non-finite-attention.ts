/**
 * The chunk-attention laws of spec/kernels/non-finite.spec.ts (see non-finite-cases.ts): forward and
 * backward over small geometries with padding, causal and self masks, neighbour chunks and dropout.
 */
import { ReferenceBackend } from '../../src/backend/reference.js';
import type { Rng } from '../../src/util/rng.js';
import { between, coin, type KernelLaw } from './non-finite-cases.js';
import { randomFloats, randomPermutation } from './util.js';

const ref = new ReferenceBackend();

interface AttentionGeometry {
  n: number;
  d: number;
  chunkLength: number;
  numChunksBefore: number;
  numChunksAfter: number;
  causal: boolean;
  maskValue: number;
  selfMaskValue: number | null;
  dropout: { prob: number; seed: number } | null;
}

function attentionGeometry(rng: Rng): AttentionGeometry {
  const chunkLength = between(rng, 1, 6);
  return {
    n: chunkLength * between(rng, 1, 3),
    d: between(rng, 1, 9),
    chunkLength,
    numChunksBefore: between(rng, 0, 1),
    numChunksAfter: between(rng, 0, 1),
    causal: coin(rng),
    maskValue: -1e9,
    selfMaskValue: coin(rng) ? -1e5 : null,
    dropout: rng.int(3) === 0 ? { prob: 0.3, seed: rng.int(2 ** 31) } : null,
  };
}

function attentionInts(rng: Rng, n: number): Record<string, Int32Array> {
  const keyValid = new Int32Array(n).fill(1);
  if (coin(rng)) for (let i = 0; i < n; i++) keyValid[i] = rng.int(4) === 0 ? 0 : 1;
  return { pos: randomPermutation(rng, n), keyValid };
}

export const ATTENTION_LAWS: readonly KernelLaw[] = [
  {
    name: 'chunkAttentionForward (padding, causal and self masks, neighbours, dropout)',
    runs: 150,
    build: (rng) => {
      const g = attentionGeometry(rng);
      const { n, d } = g;
      return {
        floats: {
          q: randomFloats(rng, n * d),
          k: randomFloats(rng, n * d),
          v: randomFloats(rng, n * d),
          out: randomFloats(rng, n * d),
          lse: randomFloats(rng, n),
        },
        ints: attentionInts(rng, n),
        inject: ['q', 'k', 'v'],
        outputs: ['out', 'lse'],
        run: (be, f, i) => {
          be.chunkAttentionForward({ ...g, q: f.q!, k: f.k!, v: f.v!, pos: i.pos!, keyValid: i.keyValid!, out: f.out!, lse: f.lse! });
          return undefined;
        },
      };
    },
  },
  {
    name: 'chunkAttentionBackward (P recomputed from the stored lse)',
    runs: 150,
    build: (rng) => {
      const g = attentionGeometry(rng);
      const { n, d } = g;
      const ints = attentionInts(rng, n);
      const q = randomFloats(rng, n * d);
      const k = randomFloats(rng, n * d);
      const v = randomFloats(rng, n * d);
      const lse = new Float32Array(n);
      ref.chunkAttentionForward({ ...g, q, k, v, pos: ints.pos!, keyValid: ints.keyValid!, out: new Float32Array(n * d), lse });
      return {
        floats: {
          q,
          k,
          v,
          lse,
          dOut: randomFloats(rng, n * d),
          dLse: randomFloats(rng, n),
          dq: randomFloats(rng, n * d),
          dk: randomFloats(rng, n * d),
          dv: randomFloats(rng, n * d),
        },
        ints,
        inject: ['q', 'k', 'v', 'lse', 'dOut', 'dLse', 'dq', 'dk', 'dv'],
        outputs: ['dq', 'dk', 'dv'],
        run: (be, f, i) => {
          be.chunkAttentionBackward({
            ...g,
            q: f.q!,
            k: f.k!,
            v: f.v!,
            pos: i.pos!,
            keyValid: i.keyValid!,
            lse: f.lse!,
            dOut: f.dOut!,
            dLse: f.dLse!,
            dq: f.dq!,
            dk: f.dk!,
            dv: f.dv!,
          });
          return undefined;
        },
      };
    },
  },
];
