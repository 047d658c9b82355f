/**
 * The library's entry points used the way the README shows them: `evaluate(lm, ids)` without options
 * windows a stream longer than the model's window (as `reformer eval` does), `splitTokens(ids, { seqLen })`
 * holds out the default 5%, a per-call `numHashes` reaches the LSH layers, `byTarget` splits the loss by
 * target id, the validation window cap counts the tail window, and `lm.config.num_buckets` holds the value
 * the first LSH forward resolved (HF `_set_num_buckets`).
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { preset } from '../../src/config/presets.js';
import { ConfigError } from '../../src/errors.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { BigramLanguageModel } from '../../src/train/bigram.js';
import { DEFAULT_VALIDATION_FRACTION, splitTokens } from '../../src/train/data.js';
import { evaluate, evaluationWindows } from '../../src/train/evaluate.js';
import { modelMaxContext } from '../../src/train/generate.js';
import { Trainer } from '../../src/train/trainer.js';
import { corpusTokens } from './helpers.js';

const be = new ReferenceBackend();
/** A tiny Reformer (local + LSH layer) of 128 tokens with automatic num_buckets (HF's rule: 2·128/64 = 4). */
const tinyConfig = preset('tiny').config.with({ axial_pos_shape: [8, 16], max_position_embeddings: 128, num_buckets: null });

describe('evaluate without options', () => {
  const lm = new ReformerModelWithLMHead(be, tinyConfig, { seed: 3 });

  it('a stream longer than the model takes is scored in windows of the longest input (modelMaxContext)', () => {
    const tokens = corpusTokens(400);
    expect(modelMaxContext(lm)).toBe(128);
    const r = evaluate(lm, tokens);
    expect(r.seqLen).toBe(128);
    expect(r.targets).toBe(399); // every token after the first, once
    expect(r.windows).toBe(evaluationWindows(400, 128).length);
    const explicit = evaluate(lm, tokens, { seqLen: 128 });
    expect(r.loss).toBe(explicit.loss);
    expect(r.bitsPerByte).toBeGreaterThan(7); // untrained: about log2(258)
    expect(r.bitsPerByte).toBeLessThan(9);
  });

  it('a stream shorter than the window is one window of its own length', () => {
    const r = evaluate(lm, corpusTokens(50));
    expect([r.seqLen, r.windows, r.targets]).toEqual([50, 1, 49]);
  });

  it('an explicit seqLen longer than the model takes is a ConfigError naming the limit and the fix', () => {
    expect(() => evaluate(lm, corpusTokens(400), { seqLen: 400 })).toThrow(ConfigError);
    expect(() => evaluate(lm, corpusTokens(400), { seqLen: 400 })).toThrow(
      'seq_len: 400 is longer than the 128 tokens this model takes; leave seqLen out to score the stream in windows of 128',
    );
  });

  it('a model that does not report its window needs seqLen (ConfigError saying so)', () => {
    const bigram = new BigramLanguageModel(be, { vocabSize: 258, seed: 1 });
    expect(() => evaluate(bigram, corpusTokens(100))).toThrow(/^seq_len: is required for this model/);
    expect(evaluate(bigram, corpusTokens(100), { seqLen: 20 }).targets).toBe(99);
  });

  it('numHashes reaches the LSH layers for this call: the same as lm.loss(batch, { numHashes })', () => {
    const lm = new ReformerModelWithLMHead(be, tinyConfig.with({ hash_seed: 5 }), { seed: 3 }); // fixed rotations: calls comparable
    const tokens = corpusTokens(128);
    const batch = { inputIds: tokens, batch: 1, seqLen: 128 };
    const direct = (n: number): number => be.scope(() => lm.loss(batch, { numHashes: n }).loss);
    const r1 = evaluate(lm, tokens, { numHashes: 1 });
    const r4 = evaluate(lm, tokens, { numHashes: 4 });
    expect(r1.loss).toBe(direct(1));
    expect(r4.loss).toBe(direct(4));
    expect(r4.loss).not.toBe(r1.loss); // four rounds of fresh rotations attend differently from one
    const bigram = new BigramLanguageModel(be, { vocabSize: 258, seed: 1 });
    expect(() => evaluate(bigram, tokens, { seqLen: 10, numHashes: 2 })).toThrow(
      /^num_hashes: evaluate: numHashes: this model has no LSH attention/,
    );
    expect(() => evaluate(lm, tokens, { numHashes: 0 })).toThrow(/^num_hashes: evaluate: numHashes must be a positive integer/);
  });

  it('byTarget: the loss per target id sums to the total, and matches the loss path', () => {
    const bigram = new BigramLanguageModel(be, { vocabSize: 258, seed: 4 });
    const tokens = corpusTokens(500);
    const plain = evaluate(bigram, tokens, { seqLen: 64 });
    const by = evaluate(bigram, tokens, { seqLen: 64, byTarget: true });
    const rows = [...by.byTarget!.values()];
    expect(rows.reduce((a, t) => a + t.count, 0)).toBe(499);
    expect(rows.reduce((a, t) => a + t.nats, 0) / 499).toBeCloseTo(plain.loss, 5);
    expect(by.loss).toBeCloseTo(plain.loss, 5);
    // the counts are the targets' ids: tokens 1..499
    const want = new Map<number, number>();
    for (const t of tokens.subarray(1)) want.set(t, (want.get(t) ?? 0) + 1);
    expect(new Map([...by.byTarget!].map(([id, t]) => [id, t.count]))).toEqual(want);
    expect(plain.byTarget).toBeNull();
  });
});

describe('splitTokens', () => {
  it('with only seqLen holds out the default last 5%', () => {
    const tokens = corpusTokens(2000);
    const d = splitTokens(tokens, { seqLen: 64 });
    expect(DEFAULT_VALIDATION_FRACTION).toBe(0.05);
    expect(d.validation.length).toBe(100);
    expect(d.train.length).toBe(1900);
  });

  it('without options or without seqLen: a ConfigError saying what to pass', () => {
    const tokens = corpusTokens(2000);
    expect(() => splitTokens(tokens, undefined as never)).toThrow(
      'options: splitTokens needs an options object such as { seqLen: 1024, validationFraction: 0.05 }, got undefined',
    );
    expect(() => splitTokens(tokens, {} as never)).toThrow(/^seq_len: splitTokens needs options\.seqLen/);
  });
});

describe('validation window cap', () => {
  it('evalWindows counts the tail window: 1 means one window, not a full one plus the tail', () => {
    expect(evaluationWindows(100, 64, 1)).toEqual([{ start: 0, firstCounted: 1 }]);
    expect(evaluationWindows(100, 64)).toHaveLength(2);
    expect(evaluationWindows(100, 64, 2)).toHaveLength(2);
  });

  it("the trainer's final validation with evalWindows 1 scores 1 window", async () => {
    const bigram = new BigramLanguageModel(be, { vocabSize: 258, seed: 1 });
    const data = splitTokens(corpusTokens(2000), { seqLen: 64, validationFraction: 0.05 }); // 100 validation tokens: 1 full window + tail
    const trainer = new Trainer(bigram, data, { batch: 1, seqLen: 64, steps: 2, lr: 1e-3, seed: 1, evalWindows: 1 });
    const r = await trainer.run();
    expect(r.lastValidation!.windows).toBe(1);
    expect(r.lastValidation!.targets).toBe(63);
  });
});

describe('num_buckets: null', () => {
  it('lm.config.num_buckets holds the value the first LSH forward resolved, as HF stores it', () => {
    const lm = new ReformerModelWithLMHead(be, tinyConfig, { seed: 1 });
    expect(lm.config.num_buckets).toBeNull();
    be.scope(() => lm.loss({ inputIds: corpusTokens(128), batch: 1, seqLen: 128 }));
    expect(lm.config.num_buckets).toBe(4); // HF _set_num_buckets: 2 · 128 / lsh_attn_chunk_length 64
    expect(lm.reformer.config.num_buckets).toBe(4);
    expect(lm.resolvedConfig().num_buckets).toBe(4);
    expect(lm.config.hidden_size).toBe(tinyConfig.hidden_size); // nothing else changes
  });
});
