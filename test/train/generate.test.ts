/** Streaming generation on a model whose predictions we set by hand. */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ConfigError } from '../../src/errors.js';
import type { TokenBatch } from '../../src/model/language-model.js';
import { BigramLanguageModel } from '../../src/train/bigram.js';
import { generateTokens } from '../../src/train/generate.js';
import { ByteTokenizer } from '../../src/train/tokenizer.js';

const be = new ReferenceBackend({ dtype: 'f64' });
const tok = new ByteTokenizer();

/** A bigram that strongly predicts the next letter of "abcdefgh" cycling, with a weak uniform rest. */
function cyclingModel(): BigramLanguageModel {
  const m = new BigramLanguageModel(be, { vocabSize: 258, seed: 0, initStd: 0 });
  const cycle = tok.encode('abcdefgh');
  cycle.forEach((id, i) => {
    m.params[id * 258 + cycle[(i + 1) % cycle.length]!] = 8;
  });
  return m;
}

describe('generateTokens', () => {
  it('greedy (temperature 0) follows the argmax chain', () => {
    const ids = [...generateTokens(cyclingModel(), tok.encode('c'), { maxNewTokens: 10, temperature: 0, window: 16 })];
    expect(tok.decode(ids)).toBe('defghabcde');
  });

  it('is deterministic for a seed, and different seeds give different samples at high temperature', () => {
    const m = cyclingModel();
    const run = (seed: number): number[] => [...generateTokens(m, tok.encode('a'), { maxNewTokens: 40, temperature: 3, seed, window: 8 })];
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
  });

  it('top-k 1 equals greedy; suppressed ids are never generated', () => {
    const m = cyclingModel();
    const greedy = [...generateTokens(m, tok.encode('a'), { maxNewTokens: 12, temperature: 0, window: 8 })];
    expect([...generateTokens(m, tok.encode('a'), { maxNewTokens: 12, temperature: 1.5, topK: 1, seed: 9, window: 8 })]).toEqual(greedy);
    const b = tok.encode('b')[0]!;
    const out = [...generateTokens(m, tok.encode('a'), { maxNewTokens: 30, temperature: 0, window: 8, suppressIds: [b, 0, 1] })];
    expect(out).not.toContain(b);
    expect(out).not.toContain(0);
  });

  it('re-runs the model on the last `window` tokens each step; padToWindow feeds exactly `window` with a mask', () => {
    const m = cyclingModel();
    const seen: TokenBatch[] = [];
    const spy = Object.create(m) as BigramLanguageModel;
    spy.logits = (b: TokenBatch) => {
      seen.push(b);
      return m.logits(b);
    };
    const plain = [...generateTokens(spy, tok.encode('abc'), { maxNewTokens: 6, temperature: 0, window: 5 })];
    expect(seen.map((b) => b.seqLen)).toEqual([3, 4, 5, 5, 5, 5]);
    expect(tok.decode(seen[5]!.inputIds)).toBe('defgh'); // the last 5 tokens of "abcdefgh"
    seen.length = 0;
    const padded = [...generateTokens(spy, tok.encode('abc'), { maxNewTokens: 6, temperature: 0, window: 5, padToWindow: true })];
    expect(padded).toEqual(plain);
    expect(seen.map((b) => b.seqLen)).toEqual([5, 5, 5, 5, 5, 5]);
    expect(Array.from(seen[0]!.attentionMask!)).toEqual([1, 1, 1, 0, 0]);
    expect(Array.from(seen[0]!.inputIds.subarray(3))).toEqual([0, 0]);
    expect(seen[3]!.attentionMask).toBeNull();
  });

  it('streams lazily and stops early on stopAfter', () => {
    const m = cyclingModel();
    const it = generateTokens(m, tok.encode('a'), { maxNewTokens: 1000, temperature: 0, window: 8, stopAfter: (id) => id === tok.encode('e')[0] });
    expect(tok.decode([...it])).toBe('bcde');
  });

  it('rejects an empty prompt and invalid options with the option name', () => {
    const m = cyclingModel();
    expect(() => [...generateTokens(m, [], { maxNewTokens: 3, window: 8 })]).toThrow(ConfigError);
    expect(() => [...generateTokens(m, [5], { maxNewTokens: 0, window: 8 })]).toThrow(/max_new_tokens/);
    expect(() => [...generateTokens(m, [5], { maxNewTokens: 3, window: 8, topP: 0 })]).toThrow(/top_p: must be in \(0, 1\]/);
    expect(() => [...generateTokens(m, [5], { maxNewTokens: 3, window: 8, temperature: -1 })]).toThrow(/temperature/);
  });
});
