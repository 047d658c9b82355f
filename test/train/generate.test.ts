/**
 * Streaming generation on a model whose predictions we set by hand; the defaults and the window limit
 * on a real (untrained) tiny Reformer.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { preset } from '../../src/config/presets.js';
import { ConfigError, ShapeError } from '../../src/errors.js';
import type { TokenBatch } from '../../src/model/language-model.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { BigramLanguageModel } from '../../src/train/bigram.js';
import { DEFAULT_MAX_NEW_TOKENS, generateTokens, modelMaxContext } from '../../src/train/generate.js';
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
    const it = generateTokens(m, tok.encode('a'), {
      maxNewTokens: 1000,
      temperature: 0,
      window: 8,
      stopAfter: (id) => id === tok.encode('e')[0],
    });
    expect(tok.decode([...it])).toBe('bcde');
  });

  it('rejects an empty prompt and invalid options with the option name', () => {
    const m = cyclingModel();
    expect(() => [...generateTokens(m, [], { maxNewTokens: 3, window: 8 })]).toThrow(ConfigError);
    expect(() => [...generateTokens(m, [5], { maxNewTokens: 0, window: 8 })]).toThrow(/max_new_tokens/);
    expect(() => [...generateTokens(m, [5], { maxNewTokens: 3, window: 8, topP: 0 })]).toThrow(/top_p: must be in \(0, 1\]/);
    expect(() => [...generateTokens(m, [5], { maxNewTokens: 3, window: 8, temperature: -1 })]).toThrow(/temperature/);
  });

  /** The ConfigError (or other error) `f` throws: its class and message. */
  function thrown(f: () => unknown): { error: unknown; message: string } {
    try {
      f();
    } catch (e) {
      return { error: e, message: (e as Error).message };
    }
    throw new Error('did not throw');
  }

  it('without options or window: the real problem first (empty prompt, all ids suppressed), then window is required for a model that does not report its length', () => {
    const m = cyclingModel();
    // checked when called, not when the first token is asked for
    expect(thrown(() => generateTokens(m, [])).message).toBe('prompt: is empty; the model needs at least one token of context');
    expect(thrown(() => generateTokens(m, [], { maxNewTokens: 3 })).error).toBeInstanceOf(ConfigError);
    const all = Array.from({ length: 258 }, (_, i) => i);
    const allSuppressed = thrown(() => generateTokens(m, [5], { suppressIds: all }));
    expect(allSuppressed.error).toBeInstanceOf(ConfigError);
    expect(allSuppressed.message).toBe(
      'suppress_ids: suppresses all 258 ids of the vocabulary, so no token could be generated; leave at least one id out',
    );
    expect(thrown(() => generateTokens(m, [5], { suppressIds: [...all, 300, -1], window: 8 })).message).toMatch(
      /^suppress_ids: suppresses all 258 ids/,
    );
    expect(thrown(() => generateTokens(m, [5, 999])).error).toBeInstanceOf(ShapeError);
    expect(thrown(() => generateTokens(m, 'abc' as never)).message).toBe(
      'prompt must be an array of token ids (e.g. ByteTokenizer.encode(text)), got string "abc"',
    );
    expect(thrown(() => generateTokens(m, [5], 40 as never)).message).toMatch(/^options: must be an object .*, got number 40$/);
    // the bigram does not report a longest input: window is required, and said so
    const noWindow = thrown(() => generateTokens(m, [5]));
    expect(noWindow.error).toBeInstanceOf(ConfigError);
    expect(noWindow.message).toMatch(/^window: is required for this model: it does not report the longest input it takes/);
    expect(modelMaxContext(m)).toBeNull();
    // with a window, every other option has a default: 20 new tokens
    expect([...generateTokens(m, [5], { window: 8 })]).toHaveLength(DEFAULT_MAX_NEW_TOKENS);
    expect(DEFAULT_MAX_NEW_TOKENS).toBe(20);
    const leftOne = all.filter((id) => id !== tok.encode('z')[0]);
    expect(tok.decode([...generateTokens(m, [5], { window: 8, maxNewTokens: 3, suppressIds: leftOne })])).toBe('zzz');
  });

  it('a ReformerModelWithLMHead: no options needed (window = the longest input it takes); a longer window is a ConfigError', () => {
    const rbe = new ReferenceBackend();
    const tiny = preset('tiny');
    const lm = new ReformerModelWithLMHead(rbe, tiny.config, tiny.options);
    expect(modelMaxContext(lm)).toBe(1024); // Π axial_pos_shape [32, 32] = max_position_embeddings
    const out = [...generateTokens(lm, tok.encode('Raskolnikov '))];
    expect(out).toHaveLength(DEFAULT_MAX_NEW_TOKENS);
    expect(out.every((id) => Number.isInteger(id) && id >= 0 && id < 258)).toBe(true);
    // a prompt longer than the model takes: the default window keeps its last 1024 tokens
    const long = Array.from({ length: 1100 }, (_, i) => 2 + (i % 50));
    const seen: number[] = [];
    const spy = Object.create(lm) as ReformerModelWithLMHead;
    spy.logits = (b: TokenBatch) => {
      seen.push(b.seqLen);
      return lm.logits(b);
    };
    expect([...generateTokens(spy, long, { maxNewTokens: 1, useCache: false })]).toHaveLength(1);
    expect(seen).toEqual([1024]);
    // the cached path (the default) runs its prompt pass on the same last 1024 tokens
    const prompted: number[] = [];
    spy.createDecoder = (o) => {
      const session = lm.createDecoder(o);
      const prompt = session.prompt.bind(session);
      session.prompt = (ids: ArrayLike<number>) => {
        prompted.push(ids.length);
        return prompt(ids);
      };
      return session;
    };
    expect([...generateTokens(spy, long, { maxNewTokens: 1 })]).toHaveLength(1);
    expect(prompted).toEqual([1024]);
    // without the window the model itself would refuse the prompt
    expect(() => lm.logits({ inputIds: Int32Array.from(long), batch: 1, seqLen: long.length })).toThrow(ConfigError);
    const tooLong = thrown(() => generateTokens(lm, [5], { window: 4096 }));
    expect(tooLong.error).toBeInstanceOf(ConfigError);
    expect(tooLong.message).toBe(
      'window: 4096 is longer than the 1024 tokens this model takes (max_position_embeddings, Π axial_pos_shape and the chunk lengths of its config); pass at most 1024, or leave window out to use 1024',
    );
    expect(() => generateTokens(lm, [5], { window: 1025, padToWindow: true })).toThrow(/^window: 1025 is longer than the 1024 tokens/);
  });

  it('modelMaxContext: a max_position_embeddings that is not a multiple of the chunk lengths is lowered to one (longer inputs are padded past it)', () => {
    const rbe = new ReferenceBackend();
    const p = preset('tiny', { axial_pos_embds: false, max_position_embeddings: 100 });
    const lm = new ReformerModelWithLMHead(rbe, p.config, p.options);
    expect(modelMaxContext(lm)).toBe(64); // chunk lengths 64: 65…100 tokens are padded to 128 > 100
    const ids = (n: number) => ({ inputIds: new Int32Array(n).fill(5), batch: 1, seqLen: n });
    expect(lm.logits(ids(64)).length).toBe(64 * 258);
    expect(() => lm.logits(ids(65))).toThrow(/max_position_embeddings/);
    expect([...generateTokens(lm, new Array(80).fill(5), { maxNewTokens: 2, temperature: 0 })]).toHaveLength(2);
    expect(() => generateTokens(lm, [5], { window: 65 })).toThrow(/^window: 65 is longer than the 64 tokens/);
  });
});
