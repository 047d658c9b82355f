/**
 * Streaming generation (src/train/stream.ts) and the cached path of generateTokens (generate.ts):
 * UTF-8 characters split over byte tokens come out whole, stop sequences (held back, cut before),
 * end of text, AbortSignal (before and during, through the event loop), the callback streamer, the
 * result; on a Reformer: the cache by default, the same seed giving the same text with and without it
 * (local-only layers), and the sliding policy when the cache is full.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError } from '../../src/errors.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { BigramLanguageModel } from '../../src/train/bigram.js';
import { generateTokens, newStats } from '../../src/train/generate.js';
import { generateText, streamGenerate, type GenerationChunk } from '../../src/train/stream.js';
import { ByteTokenizer } from '../../src/train/tokenizer.js';
import { Rng } from '../../src/util/rng.js';

const be = new ReferenceBackend({ dtype: 'f64' });
const tok = new ByteTokenizer();

/** A bigram that follows `text` (each byte strongly predicts the next one, cycling). */
function follows(text: string | Uint8Array, strength = 12): BigramLanguageModel {
  const m = new BigramLanguageModel(be, { vocabSize: 258, seed: 0, initStd: 0 });
  const ids = tok.encode(text);
  ids.forEach((id, i) => {
    m.params[id * 258 + ids[(i + 1) % ids.length]!] = strength;
  });
  return m;
}

async function collect(it: AsyncGenerator<GenerationChunk, unknown, undefined>): Promise<{ chunks: GenerationChunk[]; result: unknown }> {
  const chunks: GenerationChunk[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return { chunks, result: r.value };
    chunks.push(r.value);
  }
}

describe('streamGenerate / generateText', () => {
  it('never splits a UTF-8 character: the text of a chunk is released when the character is complete', async () => {
    const text = 'añ€😀b';
    const m = follows(text);
    const { chunks, result } = await collect(
      streamGenerate(m, tok, 'a', { maxNewTokens: new TextEncoder().encode(text).length - 1, temperature: 0, window: 8 }),
    );
    expect(chunks.map((c) => c.text).join('')).toBe('ñ€😀b');
    expect(chunks.every((c) => !c.text.includes('\uFFFD'))).toBe(true);
    // ñ is 2 bytes, € 3, 😀 4: the text comes with the last byte of each character
    expect(chunks.map((c) => c.text)).toEqual(['', 'ñ', '', '', '€', '', '', '', '😀', 'b']);
    expect(chunks.map((c) => c.index)).toEqual(chunks.map((_, i) => i));
    expect(result).toMatchObject({ text: 'ñ€😀b', finishReason: 'length', cached: false });
  });

  it('a cut-off character at the end is flushed (U+FFFD), not lost', async () => {
    const m = follows('a€');
    const r = await generateText(m, tok, 'a', { maxNewTokens: 2, temperature: 0, window: 8 });
    expect(r.text).toBe('\uFFFD'); // two of the three bytes of €
    expect(r.ids).toHaveLength(2);
  });

  it('stop sequences end the text right before them; a possible start is held back, a false start released', async () => {
    const m = follows('Xabcd'); // X → a → b → c → d → X …
    const seen: string[] = [];
    const r = await generateText(m, tok, 'X', {
      maxNewTokens: 50,
      temperature: 0,
      window: 2,
      stopSequences: ['cd', 'zz'],
      onToken: (c) => seen.push(c.text),
    });
    expect(r).toMatchObject({ text: 'ab', finishReason: 'stop' });
    expect(seen).toEqual(['a', 'b', '', '']); // "c" held back: it may start "cd"
    expect(r.ids).toHaveLength(4);
    const f: string[] = [];
    const r2 = await generateText(m, tok, 'X', {
      maxNewTokens: 5,
      temperature: 0,
      window: 2,
      stopSequences: ['ce'],
      onToken: (c) => f.push(c.text),
    });
    expect(f).toEqual(['a', 'b', '', 'cd', 'X']); // "c" held, released with "d" (not "ce")
    expect(r2).toMatchObject({ text: 'abcdX', finishReason: 'length' });
  });

  it('a stop sequence inside one token, and none found: everything held back comes out at the end', async () => {
    const m = follows('xyzw');
    const r = await generateText(m, tok, 'x', { maxNewTokens: 3, temperature: 0, window: 4, stopSequences: ['wq'] });
    expect(r.text).toBe('yzw'); // "w" was held back (it may start "wq"), then released at the end
    expect(r.finishReason).toBe('length');
    const s = await generateText(follows('xyz'), tok, 'x', { maxNewTokens: 10, temperature: 0, window: 4, stopSequences: ['y'] });
    expect(s).toMatchObject({ text: '', finishReason: 'stop', ids: [tok.encode('y')[0]] });
  });

  it("the tokenizer's end-of-text id ends generation (finishReason eos), unless stopAtEos is false", async () => {
    const m = follows('ab');
    const a = tok.encode('a')[0]!;
    m.params[tok.encode('b')[0]! * 258 + 1] = 30; // after "b" comes id 1 (end of text)
    m.params[1 * 258 + a] = 30;
    const r = await generateText(m, tok, 'a', { maxNewTokens: 10, temperature: 0, window: 4 });
    expect(r).toMatchObject({ text: 'b', finishReason: 'eos', ids: [tok.encode('b')[0], 1] });
    const on = await generateText(m, tok, 'a', { maxNewTokens: 4, temperature: 0, window: 4, stopAtEos: false });
    expect(on.text).toBe('bab');
    expect(on.ids).toHaveLength(4);
  });

  it('AbortSignal: an aborted signal throws at the call; an abort during the stream rejects with its reason', async () => {
    const m = follows('abcdefgh');
    const done = new AbortController();
    done.abort();
    expect(() => streamGenerate(m, tok, 'a', { window: 4, signal: done.signal })).toThrow(/abort/i);
    const ac = new AbortController();
    const seen: string[] = [];
    const p = generateText(m, tok, 'a', {
      maxNewTokens: 100,
      temperature: 0,
      window: 4,
      signal: ac.signal,
      onToken: (c) => {
        seen.push(c.text);
        if (seen.length === 3) ac.abort(new Error('enough'));
      },
    });
    await expect(p).rejects.toThrow('enough');
    expect(seen.join('')).toBe('bcd');
  });

  it('yields to the event loop, so a timer can abort a long generation', async () => {
    const m = follows('abcdefgh');
    const signal = AbortSignal.timeout(30);
    const t0 = performance.now();
    const e = await generateText(m, tok, 'a', { maxNewTokens: 1e7, temperature: 0, window: 4, signal, yieldEveryMs: 5 }).catch(
      (x: Error) => x,
    );
    expect((e as Error).name).toBe('TimeoutError');
    expect(performance.now() - t0).toBeLessThan(20_000);
  });

  it('checks the streaming options when called', () => {
    const m = follows('ab');
    expect(() => streamGenerate(m, tok, 'a', { window: 4, stopSequences: [''] })).toThrow(ConfigError);
    expect(() => streamGenerate(m, tok, 'a', { window: 4, stopSequences: 'x' as never })).toThrow(/^stop_sequences: /);
    expect(() => streamGenerate(m, tok, 'a', { window: 4, yieldEveryMs: -1 })).toThrow(/^yield_every_ms: /);
    expect(() => streamGenerate(m, tok, 'a', { window: 4, signal: {} as never })).toThrow(/^signal: /);
    expect(() => streamGenerate(m, tok, 'a', { window: 4, repetitionPenalty: 0 })).toThrow(/^repetition_penalty: /);
    expect(() => streamGenerate(m, tok, '', { window: 4 })).toThrow(/^prompt: is empty/);
  });

  it('repetition penalty: applied to every distinct id of the context (prompt and generated) before sampling', async () => {
    const m = new BigramLanguageModel(be, { vocabSize: 258, seed: 3, initStd: 1 });
    const prompt = tok.encode('abc');
    const r = await generateText(m, tok, prompt, { maxNewTokens: 12, temperature: 0, window: 4, repetitionPenalty: 2 });
    // by hand: the bigram's row of the last id, seen ids divided (positive) or multiplied (negative) by 2
    const all = Array.from(prompt);
    for (let k = 0; k < 12; k++) {
      const row = Array.from(m.params.subarray(all.at(-1)! * 258, all.at(-1)! * 258 + 258), (w, j) => w + m.params[258 * 258 + j]!);
      for (const id of new Set(all)) row[id] = row[id]! > 0 ? row[id]! / 2 : row[id]! * 2;
      row[0] = -Infinity; // the byte tokenizer's padding id is never sampled
      all.push(row.indexOf(Math.max(...row)));
    }
    expect(r.ids).toEqual(all.slice(3));
    const plain = await generateText(m, tok, prompt, { maxNewTokens: 12, temperature: 0, window: 4 });
    expect(plain.ids).not.toEqual(r.ids);
  });
});

// ------------------------------------------------------------------ Reformer: the cached path

function reformer(layers: Array<'local' | 'lsh'>, seed: number): ReformerModelWithLMHead {
  const config = new ReformerConfig({
    vocab_size: 258,
    hidden_size: 16,
    num_attention_heads: 2,
    attention_head_size: 8,
    feed_forward_size: 32,
    attn_layers: layers,
    local_attn_chunk_length: 4,
    lsh_attn_chunk_length: 4,
    local_num_chunks_before: 1,
    lsh_num_chunks_before: 1,
    num_hashes: 2,
    num_buckets: 4,
    hash_seed: 5,
    is_decoder: true,
    axial_pos_shape: [8, 8],
    axial_pos_embds_dim: [8, 8],
    max_position_embeddings: 64,
    hidden_act: 'gelu',
    pad_token_id: 0,
  });
  const m = new ReformerModelWithLMHead(be, config, { seed });
  // order-one weights: the distribution is far from uniform, so a wrong context shows
  const rng = new Rng(seed);
  for (const e of m.parameters.entries) {
    const w = m.parameters.param(e.name);
    for (let i = 0; i < w.length; i++) w[i] = e.name.endsWith('layer_norm.weight') ? 1 : rng.normal() / Math.sqrt(e.shape.at(-1)!);
  }
  return m;
}

describe('generation with the cache (ReformerModelWithLMHead)', () => {
  it('uses the cache by default; useCache: false re-runs the model; the same seed gives the same text on local-only layers', async () => {
    const m = reformer(['local', 'local'], 3);
    for (const sampling of [
      { temperature: 0 },
      { temperature: 1, seed: 7 },
      { temperature: 0.9, topK: 20, topP: 0.9, repetitionPenalty: 1.3, seed: 11 },
    ]) {
      const cached = await generateText(m, tok, 'Raskolnikov', { maxNewTokens: 30, ...sampling });
      const plain = await generateText(m, tok, 'Raskolnikov', { maxNewTokens: 30, ...sampling, useCache: false });
      expect(cached.cached).toBe(true);
      expect(plain.cached).toBe(false);
      expect(cached.ids).toEqual(plain.ids);
      expect(cached.text).toBe(plain.text);
    }
  });

  it('LSH layers: cached and uncached may differ by design, but the cached path is deterministic for a seed', async () => {
    const m = reformer(['local', 'lsh'], 4);
    const a = await generateText(m, tok, 'Raskolnikov', { maxNewTokens: 20, seed: 2 });
    const b = await generateText(m, tok, 'Raskolnikov', { maxNewTokens: 20, seed: 2 });
    expect(a.ids).toEqual(b.ids);
    expect(a.cached).toBe(true);
  });

  it('a full cache slides: rebuilt from the last keepOnSlide tokens, never more than window positions', () => {
    const m = reformer(['local', 'local'], 5);
    const window = 16;
    const keep = 6;
    const prompt = Array.from(tok.encode('Sonia and Dunia'));
    const stats = newStats();
    const ids = [...generateTokens(m, prompt, { maxNewTokens: 40, temperature: 0, window, keepOnSlide: keep }, stats)];
    // the policy by hand on the uncached model: the context starts over at the last `keep` tokens each
    // time it reaches `window`
    const all = [...prompt];
    let start = Math.max(0, all.length - window);
    const want: number[] = [];
    let slides = 0;
    for (let k = 0; k < 40; k++) {
      if (k > 0 && all.length - start > window) {
        start = all.length - keep;
        slides++;
      }
      const ctx = Int32Array.from(all.slice(start));
      const lg = m.logits({ inputIds: ctx, batch: 1, seqLen: ctx.length });
      const row = lg.subarray((ctx.length - 1) * 258);
      let best = 0;
      for (let j = 1; j < 258; j++) if (row[j]! > row[best]!) best = j;
      want.push(best);
      all.push(best);
    }
    expect(stats.slides).toBe(slides);
    expect(slides).toBeGreaterThan(2);
    expect(ids).toEqual(want);
  });

  it('keepOnSlide must be within the window', () => {
    const m = reformer(['local'], 1);
    expect(() => generateTokens(m, [5], { window: 8, keepOnSlide: 8 })).toThrow(/^keep_on_slide: must be an integer in \[1, window − 1\]/);
  });
});
