/**
 * Images as pixel sequences (src/apps/fashion-mnist.ts, fashion-mnist-models.ts, logistic-regression.ts):
 * IDX parsing on hand-built buffers (and its errors), the 812-token layout and LM labels, the batches
 * (seeded epochs, resumable), the per-position marginal baseline's bits on hand cases and its honest α
 * choice, the picture grid, and the logistic regression: its gradient against central differences
 * (fast-check), L-BFGS on a quadratic, and a separable toy problem learnt exactly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import {
  evaluateBitsPerDim,
  pixelClassificationExamples,
  pixelClassifierConfig,
  pixelLmConfig,
  type PixelModelSpec,
} from '../../src/apps/fashion-mnist-models.js';
import {
  fitMarginalBaseline,
  type IdxImages,
  IMAGE_PIXELS,
  imageGrid,
  marginalBitsPerDim,
  parseIdx,
  parseIdxImages,
  parseIdxLabels,
  PIXEL_SEQ_LEN,
  pixelCounts,
  pixelLmBatch,
  pixelSequence,
  PixelSequenceBatches,
  START_ID,
} from '../../src/apps/fashion-mnist.js';
import {
  accuracyOf,
  fitSoftmaxRegression,
  lbfgs,
  parameterCount,
  predictSoftmax,
  type SoftmaxData,
  softmaxLossAndGrad,
} from '../../src/apps/logistic-regression.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError, FormatError, ShapeError } from '../../src/errors.js';
import { ReformerForSequenceClassification } from '../../src/model/heads/sequence-classification.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { Rng } from '../../src/util/rng.js';

/** An IDX ubyte file: magic 0 0 8 ndims, big-endian uint32 sizes, data. */
function idx(dims: number[], data: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, 8, dims.length]);
  const v = new DataView(out.buffer);
  dims.forEach((d, i) => {
    v.setUint32(4 + 4 * i, d, false);
  });
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** n 28×28 images, pixel i of image k = f(k, i). */
function images(n: number, f: (k: number, i: number) => number): IdxImages {
  const pixels = new Uint8Array(n * IMAGE_PIXELS);
  for (let k = 0; k < n; k++) for (let i = 0; i < IMAGE_PIXELS; i++) pixels[k * IMAGE_PIXELS + i] = f(k, i);
  return { count: n, rows: 28, cols: 28, pixels };
}

describe('IDX parsing', () => {
  it('reads the header big-endian and the data in order', () => {
    const img = parseIdxImages(idx([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    expect([img.count, img.rows, img.cols]).toEqual([2, 2, 3]);
    expect(Array.from(img.pixels)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(Array.from(parseIdxLabels(idx([3], [9, 2, 1])))).toEqual([9, 2, 1]);
    // a size above 255 needs all four header bytes
    expect(parseIdx(idx([300], new Array(300).fill(7))).dims).toEqual([300]);
  });

  it('refuses a bad magic, type, dimension count or data length', () => {
    const good = idx([2], [1, 2]);
    expect(() => parseIdx(Uint8Array.from([1, ...good.subarray(1)]))).toThrow(FormatError);
    expect(() => parseIdx(Uint8Array.from([0, 0, 0x0d, ...good.subarray(3)]))).toThrow(/type 0x0d is not supported/);
    expect(() => parseIdx(idx([3], [1, 2]))).toThrow(/3 = 3 bytes of data, the file holds 2/);
    expect(() => parseIdxImages(idx([2], [1, 2]))).toThrow(/3 dimensions/);
    expect(() => parseIdxLabels(idx([1, 2], [1, 2]))).toThrow(/1 dimension/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 8, 2, 0, 0]))).toThrow(/truncated IDX header/);
  });
});

describe('the pixel-sequence layout', () => {
  const imgs = images(3, (k, i) => (k * 31 + i) % 256);

  it('is a start row of START_ID, then the 784 pixels row-major', () => {
    const s = pixelSequence(imgs, 1);
    expect(s.length).toBe(PIXEL_SEQ_LEN);
    expect(Array.from(s.subarray(0, 28))).toEqual(new Array(28).fill(START_ID));
    expect(s[28]).toBe(31 % 256);
    expect(s[28 + 28 * 5 + 3]).toBe((31 + 5 * 28 + 3) % 256); // pixel (5, 3)
    expect(() => pixelSequence(imgs, 3)).toThrow(ConfigError);
  });

  it('scores the 784 pixels only: the start row is −100', () => {
    const b = pixelLmBatch(imgs, [2, 0]);
    expect(b.batch).toBe(2);
    expect(b.seqLen).toBe(PIXEL_SEQ_LEN);
    const labels = b.labels!;
    for (const row of [0, 1]) {
      expect(Array.from(labels.subarray(row * PIXEL_SEQ_LEN, row * PIXEL_SEQ_LEN + 28))).toEqual(new Array(28).fill(-100));
      expect(Array.from(labels.subarray(row * PIXEL_SEQ_LEN + 28, (row + 1) * PIXEL_SEQ_LEN))).toEqual(
        Array.from(b.inputIds.subarray(row * PIXEL_SEQ_LEN + 28, (row + 1) * PIXEL_SEQ_LEN)),
      );
    }
  });

  it('batches visit every image once per epoch and resume exactly', () => {
    const many = images(10, (k) => k);
    const a = new PixelSequenceBatches(many, { batch: 5, seed: 3 });
    const firstOf = (b: { inputIds: Int32Array }, n: number): number[] =>
      Array.from({ length: n }, (_, r) => b.inputIds[r * PIXEL_SEQ_LEN + 28]!);
    const epoch = [...firstOf(a.next(), 5), ...firstOf(a.next(), 5)];
    expect([...epoch].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const state = a.state();
    const next = firstOf(a.next(), 5);
    const b = new PixelSequenceBatches(many, { batch: 5, seed: 3 });
    b.restore(state);
    expect(firstOf(b.next(), 5)).toEqual(next);
    expect(
      () => new PixelSequenceBatches({ count: 1, rows: 27, cols: 28, pixels: new Uint8Array(27 * 28) }, { batch: 1, seed: 1 }),
    ).toThrow(ShapeError);
  });

  it('the grid tiles images with gaps', () => {
    const g = imageGrid(
      [new Uint8Array(IMAGE_PIXELS).fill(10), new Uint8Array(IMAGE_PIXELS).fill(20), new Uint8Array(IMAGE_PIXELS).fill(30)],
      2,
      1,
      0,
    );
    expect([g.width, g.height]).toEqual([2 * 28 + 3, 2 * 28 + 3]);
    expect(g.gray[0]).toBe(0);
    expect(g.gray[1 * g.width + 1]).toBe(10);
    expect(g.gray[1 * g.width + 30]).toBe(20);
    expect(g.gray[30 * g.width + 1]).toBe(30);
    expect(g.gray[30 * g.width + 30]).toBe(0); // the empty fourth cell
  });
});

describe('the per-position marginal baseline', () => {
  it('matches hand-computed bits', () => {
    // train: 2 images, all 0 and all 255 → at every position n(0) = n(255) = 1, N = 2
    const train = images(2, (k) => (k === 0 ? 0 : 255));
    const c = pixelCounts(train);
    expect(c.images).toBe(2);
    expect(c.counts[0]).toBe(1);
    expect(c.counts[255]).toBe(1);
    expect(c.counts[256 + 0]).toBe(1);
    // α = 1: p(0) = 2 / (2 + 256) at every pixel
    expect(
      marginalBitsPerDim(
        c,
        images(1, () => 0),
        1,
      ),
    ).toBeCloseTo(Math.log2(258 / 2), 12);
    // an unseen value: p = α / (N + 256α)
    expect(
      marginalBitsPerDim(
        c,
        images(1, () => 7),
        0.5,
      ),
    ).toBeCloseTo(Math.log2(130 / 0.5), 12);
    // half the pixels seen, half not: the mean of the two costs
    const mixed = images(1, (_, i) => (i % 2 === 0 ? 255 : 7));
    expect(marginalBitsPerDim(c, mixed, 1)).toBeCloseTo((Math.log2(258 / 2) + Math.log2(258)) / 2, 12);
    // a uniform marginal costs 8 bits whatever the image: α huge
    expect(marginalBitsPerDim(c, mixed, 1e12)).toBeCloseTo(8, 6);
    expect(() => marginalBitsPerDim(c, mixed, 0)).toThrow(/alpha/);
  });

  it('chooses α on held-out training images and refits on all of them', () => {
    // 20 images, pixel values 0 or 1 by parity: held-out values are always seen → the smallest α wins
    const train = images(20, (k, i) => (k + i) % 2);
    const b = fitMarginalBaseline(train, 5, [0.001, 1, 100]);
    expect(b.alpha).toBe(0.001);
    expect(b.validation.map((v) => v.alpha)).toEqual([0.001, 1, 100]);
    expect(b.counts.images).toBe(20);
    // now the held-out images carry values never seen in the fitted part → a larger α is better
    const novel = images(20, (k, i) => (k < 15 ? i % 2 : 100 + (i % 50)));
    expect(fitMarginalBaseline(novel, 5, [1e-6, 1]).alpha).toBe(1);
    expect(() => fitMarginalBaseline(train, 20)).toThrow(/fewer than the 20/);
  });
});

describe('logistic regression', () => {
  const toy = (rng: Rng, n: number, d: number, K: number): SoftmaxData => {
    const x = new Float64Array(n * d);
    for (let i = 0; i < x.length; i++) x[i] = rng.normal();
    const y = Int32Array.from({ length: n }, () => rng.int(K));
    return { x, y, n, d, classes: K };
  };

  it('its gradient matches central differences (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 2, max: 4 }),
        fc.constantFrom(0, 0.1, 1),
        (seed, d, K, lambda) => {
          const rng = new Rng(seed);
          const data = toy(rng, 7, d, K);
          const theta = new Float64Array(parameterCount(d, K));
          rng.fillNormal(theta, 0, 0.7);
          const g = new Float64Array(theta.length);
          softmaxLossAndGrad(theta, data, lambda, g);
          const h = 1e-5;
          const scratch = new Float64Array(theta.length);
          for (let j = 0; j < theta.length; j++) {
            const t = Float64Array.from(theta);
            t[j] = theta[j]! + h;
            const up = softmaxLossAndGrad(t, data, lambda, scratch);
            t[j] = theta[j]! - h;
            const down = softmaxLossAndGrad(t, data, lambda, scratch);
            const fd = (up - down) / (2 * h);
            expect(Math.abs(g[j]! - fd)).toBeLessThanOrEqual(1e-7 + 1e-6 * Math.abs(fd));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('J at θ = 0 is ln K (uniform) and λ adds (λ/2)‖W‖² without touching the bias', () => {
    const data = toy(new Rng(1), 5, 3, 4);
    const g = new Float64Array(parameterCount(3, 4));
    expect(softmaxLossAndGrad(new Float64Array(g.length), data, 1, g)).toBeCloseTo(Math.log(4), 12);
    const theta = new Float64Array(g.length);
    theta[0] = 2; // a weight
    theta[12] = 5; // a bias (K·d = 12)
    const a = softmaxLossAndGrad(theta, data, 0, g);
    expect(softmaxLossAndGrad(theta, data, 0.5, g) - a).toBeCloseTo(0.25 * 4, 12);
  });

  it('L-BFGS finds the minimum of a convex quadratic', () => {
    const c = [3, -1, 0.5, 10];
    const scale = [1, 10, 100, 0.1];
    const f = (x: Float64Array, g: Float64Array): number => {
      let s = 0;
      for (let i = 0; i < x.length; i++) {
        s += 0.5 * scale[i]! * (x[i]! - c[i]!) ** 2;
        g[i] = scale[i]! * (x[i]! - c[i]!);
      }
      return s;
    };
    const r = lbfgs(f, new Float64Array(4), { gradientTolerance: 1e-6 });
    expect(r.converged).toBe(true);
    expect(r.iterations).toBeLessThan(50);
    r.x.forEach((v, i) => {
      expect(v).toBeCloseTo(c[i]!, 5);
    });
  });

  it('learns a linearly separable toy problem exactly', () => {
    // three classes around far-apart centres in 2-D
    const rng = new Rng(5);
    const centres = [
      [5, 0],
      [-5, 5],
      [0, -6],
    ];
    const n = 60;
    const x = new Float64Array(n * 2);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 3;
      x[2 * i] = centres[y[i]!]![0]! + rng.normal();
      x[2 * i + 1] = centres[y[i]!]![1]! + rng.normal();
    }
    const m = fitSoftmaxRegression({ x, y, n, d: 2, classes: 3 }, 1e-3);
    expect(accuracyOf(predictSoftmax(m, x), y)).toBe(1);
    expect(m.objective).toBeLessThan(0.1);
    expect(() => fitSoftmaxRegression({ x, y: Int32Array.from(y, (v) => v + 1), n, d: 2, classes: 3 }, 0)).toThrow(/outside 0 … 2/);
  });
});

describe('the pixel Reformers', () => {
  const spec: PixelModelSpec = { hidden: 8, heads: 2, attnLayers: ['local', 'lsh'], feedForward: 8, chunk: 28, numHashes: 1 };

  it('configs: causal LM and bidirectional classifier on the [29, 28] axial grid; a chunk must divide 812', () => {
    const lm = new ReformerConfig(pixelLmConfig(spec));
    expect(lm.axial_pos_shape).toEqual([29, 28]);
    expect(lm.is_decoder).toBe(true);
    const clf = new ReformerConfig(pixelClassifierConfig(spec));
    expect(clf.is_decoder).toBe(false);
    expect(() => pixelLmConfig({ ...spec, chunk: 32 })).toThrow(/32 does not divide the sequence length 812/);
  });

  it('bits per dimension of an untrained LM is near log2 257 and counts 784 pixels per image', () => {
    const model = new ReformerModelWithLMHead(new ReferenceBackend(), new ReformerConfig(pixelLmConfig(spec)), { seed: 1 });
    const r = evaluateBitsPerDim(
      model,
      images(2, (k, i) => (k + i) % 256),
      { batch: 1 },
    );
    expect(r.pixels).toBe(2 * 784);
    expect(r.bitsPerDim).toBeGreaterThan(7.5);
    expect(r.bitsPerDim).toBeLessThan(8.5);
  });

  it('classification examples carry the layout and the label; a classifier takes them', () => {
    const ex = pixelClassificationExamples(
      images(2, () => 3),
      Uint8Array.from([4, 9]),
    );
    expect(ex.map((e) => e.label)).toEqual([4, 9]);
    expect(ex[0]!.ids.length).toBe(PIXEL_SEQ_LEN);
    const clf = new ReformerForSequenceClassification(new ReferenceBackend(), new ReformerConfig(pixelClassifierConfig(spec)), { seed: 1 });
    expect(clf.numLabels).toBe(10);
    expect(() =>
      pixelClassificationExamples(
        images(1, () => 0),
        Uint8Array.from([10]),
      ),
    ).toThrow(/not a class/);
  });
});
