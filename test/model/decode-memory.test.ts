/**
 * Memory of cached decoding (src/model/memory/decode.ts): the prompt pass's estimate against the WASM
 * arena's measured high-water mark, the cache's size against `decodeCacheBytes`, the bound that a
 * sliding generation never exceeds, and the refusal of a cache that cannot fit.
 */
import { describe, expect, it } from 'vitest';
import type { AttnLayerType } from '../../src/config/fields.js';
import type { ReformerConfig } from '../../src/config/reformer-config.js';
import { ResourceError } from '../../src/errors.js';
import { decodeCacheBytes } from '../../src/model/memory/decode.js';
import { estimateMemory } from '../../src/model/memory/estimate.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { generateTokens, newStats } from '../../src/train/generate.js';
import { Rng } from '../../src/util/rng.js';
import { memoryTestConfig } from '../helpers/memory-config.js';

const be = loadWasmBackendSync({ threads: 1 });

function config(layers: AttnLayerType[], L: number, numBuckets: number | null = null): ReformerConfig {
  return memoryTestConfig(layers, L, { num_buckets: numBuckets, local_attention_probs_dropout_prob: 0 });
}

describe('cached decoding: memory', () => {
  for (const [name, layers, P] of [
    ['local/lsh, prompt 2048', ['local', 'lsh'], 2048],
    ['lsh/local/lsh, padded prompt 2000', ['lsh', 'local', 'lsh'], 2000],
  ] as const) {
    it(`prompt pass (${name}): measured ≤ estimate ≤ 1.1 × measured + 4 MiB`, () => {
      const cfg = config([...layers], 4096);
      be.scope(() => {
        const start = be.arena.liveBytes;
        const model = new ReformerModelWithLMHead(be, cfg);
        const rng = new Rng(3);
        const ids = Int32Array.from({ length: P }, () => rng.int(64));
        const session = model.createDecoder();
        be.arena.resetPeak();
        session.prompt(ids);
        // the cache itself is plain JS memory: what the session holds is what decodeCacheBytes counts
        // (its capacity doubles from 1024: 2048 rows; less the raw-qk allowance of short prompts)
        const rows = 2048;
        const lsh = layers.filter((x) => x === 'lsh').length;
        expect(session.cacheBytes).toBe(decodeCacheBytes(cfg, rows) - lsh * (32 + 1) * 64 * 4);
        session.step(5);
        const measured = be.arena.peakBytes - start;
        const est = estimateMemory(cfg, { batch: 1, seqLen: P, mode: 'forward', promptCapture: true });
        console.log(`${name}: measured ${measured}, estimate ${est.bytes} (×${(est.bytes / measured).toFixed(3)}), peak at ${est.peakAt}`);
        expect(est.bytes).toBeGreaterThanOrEqual(measured);
        expect(est.bytes).toBeLessThanOrEqual(1.1 * measured + 4 * 2 ** 20);
      });
    });
  }

  it('local layers keep a fixed ring; LSH layers grow linearly with the context (2·heads·head_size floats + 2·heads·rounds ints)', () => {
    const local = config(['local', 'local'], 4096);
    expect(decodeCacheBytes(local, 16)).toBe(decodeCacheBytes(local, 4096));
    const lsh = config(['local', 'lsh'], 4096);
    const per = decodeCacheBytes(lsh, 1001) - decodeCacheBytes(lsh, 1000);
    expect(per).toBe(2 * 64 * 4 + 2 * 2 * 2 * 4);
    expect(decodeCacheBytes(lsh, 3000) - decodeCacheBytes(lsh, 1000)).toBe(2000 * per);
  });

  it('a generation far past the window slides and never holds more than `window` positions', () => {
    const cfg = config(['local', 'lsh'], 256, 8);
    be.scope(() => {
      const model = new ReformerModelWithLMHead(be, cfg);
      const sessions: Array<{ length: number; cacheBytes: number }> = [];
      const spy = Object.create(model) as ReformerModelWithLMHead;
      spy.createDecoder = (o) => {
        const s = model.createDecoder(o);
        sessions.push(s);
        const step = s.step.bind(s);
        s.step = (id: number) => {
          expect(s.length).toBeLessThan(64);
          return step(id);
        };
        return s;
      };
      const stats = newStats();
      const out = [...generateTokens(spy, [3, 4, 5], { window: 64, maxNewTokens: 300, temperature: 1 }, stats)];
      expect(out).toHaveLength(300);
      expect(stats.slides).toBeGreaterThanOrEqual(8); // one per 32 tokens after the first 61
      expect(sessions).toHaveLength(1);
      expect(sessions[0]!.cacheBytes).toBeLessThanOrEqual(decodeCacheBytes(cfg, 64));
    });
  });

  it('a cache over maxCacheBytes is refused with the numbers and the longest context that fits', () => {
    const cfg = config(['local', 'lsh'], 4096);
    be.scope(() => {
      const model = new ReformerModelWithLMHead(be, cfg);
      let err: unknown = null;
      try {
        model.createDecoder({ capacity: 4096, maxCacheBytes: 2 ** 20 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ResourceError);
      const msg = (err as Error).message;
      expect(msg).toMatch(
        /^the decode cache for 4096 positions needs about [\d.]+ MiB \(\d+ bytes\), more than its limit of 1\.0 MiB; use a context of at most (\d+) tokens/,
      );
      const fit = Number(/at most (\d+) tokens/.exec(msg)![1]);
      expect(decodeCacheBytes(cfg, fit)).toBeLessThanOrEqual(2 ** 20);
      expect(decodeCacheBytes(cfg, fit + 1)).toBeGreaterThan(2 ** 20);
      // a session that grows past the limit is refused at the step that would need it
      const s = model.createDecoder({ capacity: 64, maxCacheBytes: decodeCacheBytes(cfg, 100) });
      s.prompt(Int32Array.from({ length: 60 }, (_, i) => i % 64));
      for (let i = 0; i < 4; i++) s.step(1);
      expect(() => s.step(1)).toThrow(ResourceError); // 65 positions need a capacity of 128
    });
  });
});
