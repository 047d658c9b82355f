/** Evaluation: every token after the first is scored exactly once with full-length windows. */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ConfigError } from '../../src/errors.js';
import type { TokenBatch } from '../../src/model/language-model.js';
import { BigramLanguageModel } from '../../src/train/bigram.js';
import { evaluate, evaluationWindows } from '../../src/train/evaluate.js';
import { corpusTokens } from './helpers.js';

const be = new ReferenceBackend({ dtype: 'f64' });

/** Exact mean NLL (nats) of tokens[1..n) under the bigram: the quantity evaluation must return. */
function directNll(m: BigramLanguageModel, tokens: Int32Array): number {
  const z = m.logits({ inputIds: tokens, batch: 1, seqLen: tokens.length });
  const v = m.vocabSize;
  let total = 0;
  for (let t = 0; t + 1 < tokens.length; t++) {
    const row = Array.from(z.subarray(t * v, (t + 1) * v));
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
    total += lse - row[tokens[t + 1]!]!;
  }
  return total / (tokens.length - 1);
}

describe('evaluationWindows', () => {
  it('windows are full length, inside the stream, and count each target 1..n−1 exactly once', () => {
    for (const seqLen of [2, 3, 5, 16]) {
      for (let n = seqLen; n < seqLen * 6; n++) {
        const counted = new Array<number>(n).fill(0);
        for (const w of evaluationWindows(n, seqLen)) {
          expect(w.start).toBeGreaterThanOrEqual(0);
          expect(w.start + seqLen).toBeLessThanOrEqual(n);
          for (let j = Math.max(1, w.firstCounted); j < seqLen; j++) counted[w.start + j]!++;
        }
        expect(counted).toEqual(counted.map((_, i) => (i === 0 ? 0 : 1)));
      }
    }
  });

  it('maxWindows keeps the first full windows and drops the tail', () => {
    expect(evaluationWindows(100, 10, 3)).toEqual([
      { start: 0, firstCounted: 1 },
      { start: 9, firstCounted: 1 },
      { start: 18, firstCounted: 1 },
    ]);
    // stride 9: 11 full windows cover targets 1..99 of a 100-token stream exactly; a 101st token needs a tail window
    expect(evaluationWindows(100, 10).length).toBe(11);
    expect(evaluationWindows(101, 10).slice(-1)).toEqual([{ start: 91, firstCounted: 9 }]);
  });
});

describe('evaluate', () => {
  const model = new BigramLanguageModel(be, { vocabSize: 258, seed: 4, initStd: 0.5 });

  it('equals the exact mean NLL over the whole stream, with and without a tail window, for any batch size', () => {
    const tokens = corpusTokens(3000);
    for (const [n, seqLen] of [
      [3000, 64],
      [2980, 100],
      [64, 64],
      [1000, 334],
    ] as const) {
      const s = tokens.subarray(0, n);
      const want = directNll(model, s);
      for (const batch of [1, 3]) {
        const r = evaluate(model, s, { seqLen, batch });
        expect(r.targets).toBe(n - 1);
        expect(r.loss).toBeCloseTo(want, 10);
        expect(r.bitsPerByte).toBeCloseTo(want / Math.LN2, 10);
      }
    }
  });

  it('feeds the model only full windows of seqLen', () => {
    const seen: number[] = [];
    const spy = Object.create(model) as BigramLanguageModel;
    spy.loss = (b: TokenBatch) => {
      seen.push(b.seqLen);
      return model.loss(b);
    };
    evaluate(spy, corpusTokens(1000), { seqLen: 77, batch: 4 });
    expect(new Set(seen)).toEqual(new Set([77]));
  });

  it('rejects a stream shorter than one window and bad options', () => {
    expect(() => evaluate(model, corpusTokens(10), { seqLen: 64 })).toThrow(ConfigError);
    expect(() => evaluate(model, corpusTokens(10), { seqLen: 64 })).toThrow(/the stream has 10 tokens, fewer than one window of 64/);
    expect(() => evaluate(model, corpusTokens(100), { seqLen: 1 })).toThrow(/at least 2 tokens/);
    expect(() => evaluate(model, corpusTokens(100), { seqLen: 10, batch: 0 })).toThrow(/batch/);
  });
});
