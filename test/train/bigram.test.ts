/** The bigram test model is honest: its gradient matches central finite differences in float64. */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { BigramLanguageModel } from '../../src/train/bigram.js';
import { Rng } from '../../src/util/rng.js';

describe('BigramLanguageModel', () => {
  it('gradient == central finite differences (f64), with ignored labels', () => {
    const be = new ReferenceBackend({ dtype: 'f64' });
    const v = 7;
    const m = new BigramLanguageModel(be, { vocabSize: v, seed: 3, initStd: 0.5 });
    const rng = new Rng(5);
    const inputIds = Int32Array.from({ length: 2 * 6 }, () => rng.int(v));
    const labels = inputIds.slice();
    labels[3] = -100;
    labels[8] = -100;
    const batch = { inputIds, batch: 2, seqLen: 6, labels };
    m.grads.fill(0);
    const r = m.lossAndGrad(batch);
    expect(r.tokens).toBe(2 * 5 - 2);
    const h = 1e-6;
    for (let i = 0; i < m.params.length; i++) {
      const p0 = m.params[i]!;
      m.params[i] = p0 + h;
      const up = m.loss(batch).loss;
      m.params[i] = p0 - h;
      const down = m.loss(batch).loss;
      m.params[i] = p0;
      expect(Math.abs(m.grads[i]! - (up - down) / (2 * h))).toBeLessThan(1e-8);
    }
  });

  it('logits row t depends on token t only and loss equals the mean NLL of the logits', () => {
    const be = new ReferenceBackend({ dtype: 'f64' });
    const m = new BigramLanguageModel(be, { vocabSize: 5, seed: 1, initStd: 1 });
    const batch = { inputIds: Int32Array.from([1, 4, 2, 2]), batch: 1, seqLen: 4 };
    const z = m.logits(batch);
    let nll = 0;
    for (let t = 0; t < 3; t++) {
      const row = Array.from(z.subarray(t * 5, t * 5 + 5));
      const lse = Math.log(row.reduce((a, x) => a + Math.exp(x), 0));
      nll += lse - row[batch.inputIds[t + 1]!]!;
    }
    expect(m.loss(batch).loss).toBeCloseTo(nll / 3, 12);
    expect(Array.from(z.subarray(10, 15))).toEqual(Array.from(z.subarray(15, 20))); // inputs 2, 2
  });

  it('accumulates gradients (backward adds, callers zero)', () => {
    const be = new ReferenceBackend({ dtype: 'f64' });
    const m = new BigramLanguageModel(be, { vocabSize: 4, seed: 2 });
    const batch = { inputIds: Int32Array.from([0, 1, 2, 3]), batch: 1, seqLen: 4 };
    m.lossAndGrad(batch);
    const once = Array.from(m.grads);
    m.lossAndGrad(batch);
    Array.from(m.grads).forEach((g, i) => {
      expect(g).toBeCloseTo(2 * once[i]!, 14);
    });
  });
});
