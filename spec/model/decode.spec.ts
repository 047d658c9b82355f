/**
 * Laws of cached incremental decoding (src/model/decode.ts, src/attention/decode-*.ts):
 *
 * - Every cached step equals a plain float64 implementation of one step written from HF's rules
 *   (decode-reference.ts, README "Cached incremental decoding"), given HF's cache (the states and
 *   buckets the session holds before the step): the logits, the token's states, the query's buckets,
 *   the window positions and the cache's buckets after the step. Random configs: local-only, LSH-only
 *   and mixed layers, int, factorised and automatic num_buckets, 1–3 hash rounds, 0–2 chunks before,
 *   axial or plain positions, prompts shorter and longer than a chunk (the short-prompt path and its
 *   first hashing), steps that cross chunk boundaries.
 * - Local-only models: cached logits equal the non-cached forward of the prefix (float64, where HF's do:
 *   a prompt longer than local_num_chunks_before·chunk), and on WASM (f32) both stay within an f32 bound
 *   of the float64 result.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import type { AttnLayerType, HiddenAct, NumBuckets } from '../../src/config/fields.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { bucketCount } from '../../src/config/buckets.js';
import { ConfigError } from '../../src/errors.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers/close.js';
import { runs } from '../helpers/runs.js';
import { referenceStep, type RefCacheLayer } from './decode-reference.js';

/** Float64 on both sides; the only differences are summation orders. */
const TOL_F64 = { atol: 1e-9, rtol: 1e-9 } as const;

const f64 = new ReferenceBackend({ dtype: 'f64' });

type Flavour = 'local' | 'lsh' | 'mixed';

interface DecodeCase {
  readonly config: ReformerConfig;
  readonly prompt: Int32Array;
  readonly steps: Int32Array;
  readonly seed: number;
}

const MAX_LEN = 32;

function arbDecodeCase(flavours: readonly Flavour[] = ['local', 'lsh', 'mixed']): fc.Arbitrary<DecodeCase> {
  return fc
    .record({
      flavour: fc.constantFrom(...flavours),
      depth: fc.integer({ min: 1, max: 3 }),
      heads: fc.integer({ min: 1, max: 2 }),
      headSize: fc.constantFrom(2, 3, 4),
      ff: fc.integer({ min: 3, max: 9 }),
      lshChunk: fc.constantFrom(2, 4, 8),
      localChunk: fc.constantFrom(2, 4, 8),
      lshBefore: fc.integer({ min: 0, max: 2 }),
      localBefore: fc.integer({ min: 0, max: 2 }),
      numHashes: fc.integer({ min: 1, max: 3 }),
      numBuckets: fc.constantFrom<NumBuckets | null>(2, 4, 6, [2, 2], [2, 4], null),
      hashSeed: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
      axial: fc.boolean(),
      act: fc.constantFrom<HiddenAct>('relu', 'gelu', 'gelu_new'),
      vocab: fc.integer({ min: 5, max: 13 }),
      promptLen: fc.integer({ min: 1, max: 20 }),
      steps: fc.integer({ min: 1, max: 11 }),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    })
    .map((r) => {
      const layers: AttnLayerType[] = Array.from({ length: r.depth }, (_, i) =>
        r.flavour === 'mixed' ? (i % 2 === r.seed % 2 ? 'lsh' : 'local') : r.flavour,
      );
      if (r.flavour === 'mixed' && !layers.includes('lsh')) layers.push('lsh');
      if (r.flavour === 'mixed' && !layers.includes('local')) layers.push('local');
      // automatic num_buckets needs a prompt longer than the LSH chunk (HF cannot continue a shorter one)
      const promptLen = r.numBuckets === null ? Math.max(r.promptLen, r.lshChunk + 1) : r.promptLen;
      const config = new ReformerConfig({
        vocab_size: r.vocab,
        hidden_size: 8,
        num_attention_heads: r.heads,
        attention_head_size: r.headSize,
        feed_forward_size: r.ff,
        attn_layers: layers,
        lsh_attn_chunk_length: r.lshChunk,
        local_attn_chunk_length: r.localChunk,
        lsh_num_chunks_before: r.lshBefore,
        local_num_chunks_before: r.localBefore,
        lsh_num_chunks_after: 0,
        local_num_chunks_after: 0,
        num_hashes: r.numHashes,
        num_buckets: r.numBuckets,
        hash_seed: r.hashSeed,
        is_decoder: true,
        hidden_act: r.act,
        axial_pos_embds: r.axial,
        axial_pos_shape: [4, 8],
        axial_pos_embds_dim: [4, 4],
        max_position_embeddings: MAX_LEN,
        hidden_dropout_prob: 0,
        lsh_attention_probs_dropout_prob: 0,
        local_attention_probs_dropout_prob: 0,
        pad_token_id: 0,
        eos_token_id: 1,
      });
      const rng = new Rng(r.seed);
      const steps = Math.min(r.steps, MAX_LEN - promptLen);
      return {
        config,
        prompt: Int32Array.from({ length: promptLen }, () => rng.int(r.vocab)),
        steps: Int32Array.from({ length: steps }, () => rng.int(r.vocab)),
        seed: r.seed,
      };
    });
}

/** Order-one weights (as HF's fixtures): attention is far from uniform, so window mistakes show. */
function randomModel(be: Backend, c: DecodeCase): ReformerModelWithLMHead {
  const model = new ReformerModelWithLMHead(be, c.config, { seed: c.seed });
  const rng = new Rng(c.seed + 1);
  for (const e of model.parameters.entries) {
    const w = model.parameters.param(e.name);
    const fanIn = e.shape.length === 2 ? e.shape[1]! : 1;
    for (let i = 0; i < w.length; i++) {
      const z = rng.normal();
      if (e.name.endsWith('layer_norm.weight')) w[i] = 1 + 0.2 * z;
      else if (e.name.endsWith('bias')) w[i] = 0.1 * z;
      else if (e.name.includes('embeddings')) w[i] = z;
      else w[i] = z / Math.sqrt(fanIn);
    }
  }
  return model;
}

describe('cached decoding == a plain float64 step from HF rules', () => {
  it('logits, states, query buckets, windows and the cached buckets of every step (random configs)', () => {
    // what the cases reached (printed, and required when the property runs its full count)
    const seen = { shortPrompt: 0, firstHash: 0, paddingGuess: 0, paddingGuessMisses: 0, localNegativeSlice: 0, lshWindowWraps: 0 };
    fc.assert(
      fc.property(arbDecodeCase(), (c) => {
        f64.scope(() => {
          const model = randomModel(f64, c);
          const get = (n: string): Float64Array => model.parameters.param(n) as Float64Array;
          const session = model.createDecoder({ capture: true });
          const cap = session.capture!;
          session.prompt(c.prompt);
          const P = c.prompt.length;
          const padded = cap.prompt!.paddedLen > P;
          const layers = c.config.attn_layers;
          // HF's cache as HF keeps it: states [T, D] per layer, buckets [H, R, T] per LSH layer (or null)
          const states = layers.map((_, i) => Array.from(cap.prompt!.states[i]!));
          for (const [k, id] of c.steps.entries()) {
            const T = P + k;
            const cache: RefCacheLayer[] = layers.map((_, i) => ({
              states: Float64Array.from(states[i]!),
              buckets: session.cachedBuckets(i),
            }));
            const hashing = layers.map((_, i) => session.layerHashing(i));
            const anyHashing = hashing.find((x) => x !== null) ?? null;
            // a short prompt's first hashing draws at the step: the session's rotations after the step serve both
            const ours = session.step(id);
            const after = layers.map((_, i) => session.layerHashing(i));
            const rot = layers.map((_, i) => (hashing[i] ?? after[i])?.rotations ?? null);
            const nb = (anyHashing ?? after.find((x) => x !== null))?.numBuckets ?? null;
            const ref = referenceStep(c.config, get, cache, id, rot, nb);
            layers.forEach((t, i) => {
              const b = cache[i]!.buckets;
              if (t !== 'lsh') {
                const cl = c.config.local_attn_chunk_length;
                if (Math.floor(T / cl) - c.config.local_num_chunks_before < 0 && T > 0) seen.localNegativeSlice++;
                return;
              }
              if (k === 0 && b === null) seen.shortPrompt++;
              if (b === null && ref.newBuckets[i]) seen.firstHash++;
              if (b === null) return;
              const guessed = Math.max(...b) > c.config.num_hashes * bucketCount(nb!) - 1;
              if (guessed) seen.paddingGuess++;
              // the prompt was padded (offsets n·(N+1)) but no cached bucket exceeds R·N − 1: the query gets n·N
              if (padded && !guessed && k === 0 && c.config.num_hashes > 1) seen.paddingGuessMisses++;
              if (ref.windows[i] && T + 1 < ref.windows[i]!.length / (c.config.num_attention_heads * c.config.num_hashes))
                seen.lshWindowWraps++;
            });
            expectClose(ours, ref.logits, TOL_F64, `step ${k} (T ${T}) logits`);
            const st = cap.steps[k]!;
            layers.forEach((_, i) => {
              expectClose(st.states[i]!, ref.h[i]!, TOL_F64, `step ${k} layer ${i} states`);
              expect(st.buckets[i] ? Array.from(st.buckets[i]!) : null, `step ${k} layer ${i} query buckets`).toEqual(
                ref.queryBuckets[i] ? Array.from(ref.queryBuckets[i]!) : null,
              );
              expect(st.windows[i] ? Array.from(st.windows[i]!) : null, `step ${k} layer ${i} windows`).toEqual(
                ref.windows[i] ? Array.from(ref.windows[i]!) : null,
              );
              const cachedAfter = session.cachedBuckets(i);
              expect(cachedAfter ? Array.from(cachedAfter) : null, `step ${k} layer ${i} cached buckets`).toEqual(
                ref.newBuckets[i] ? Array.from(ref.newBuckets[i]!) : null,
              );
              states[i]!.push(...ref.h[i]!);
            });
          }
        });
      }),
      { numRuns: runs(60) },
    );
    console.log('decode reference spec reached:', JSON.stringify(seen));
    // (a missed guess is rare in random cases; decode_lsh_factorized, layer 2, is one: test/model/decode-fixtures.test.ts)
    if (runs(60) >= 60) for (const [what, n] of Object.entries(seen)) if (what !== 'paddingGuessMisses') expect(n, what).toBeGreaterThan(0);
  });

  it('automatic num_buckets with a prompt no longer than the LSH chunk: a ConfigError at the first hashing (HF: TypeError)', () => {
    const c = fc.sample(arbDecodeCase(['lsh']), { seed: 3, numRuns: 1 })[0]!;
    const config = c.config.with({ num_buckets: null, lsh_attn_chunk_length: 4 });
    f64.scope(() => {
      const model = randomModel(f64, { ...c, config });
      const session = model.createDecoder();
      session.prompt([1, 2]); // 2 ≤ 4: no hashing, no num_buckets
      session.step(3); // T = 2: T+1 = 3 < 4
      expect(() => session.step(4)).toThrow(ConfigError); // T = 3: T+1 = 4 = chunk, HF hashes here
      expect(session.length).toBe(3); // refused before anything changed
    });
  });
});

describe('local-only models: cached == non-cached where HF says so', () => {
  /** Cached logits of every step and the non-cached forward of each prefix (last position). */
  function both(be: Backend, c: DecodeCase): { cached: Float64Array[]; full: Float64Array[] } {
    return be.scope(() => {
      const model = randomModel(be, c);
      const session = model.createDecoder();
      const cached: Float64Array[] = [session.prompt(c.prompt)];
      for (const id of c.steps.subarray(0, -1)) cached.push(session.step(id));
      const V = c.config.vocab_size;
      const full = cached.map((_, k) => {
        const L = c.prompt.length + k;
        const ids = new Int32Array(L);
        ids.set(c.prompt);
        ids.set(c.steps.subarray(0, k), c.prompt.length);
        return be.scope(() => Float64Array.from(model.logits({ inputIds: ids, batch: 1, seqLen: L }).subarray((L - 1) * V)));
      });
      return { cached, full };
    });
  }

  // HF's claim needs T ≥ before·chunk and, for the prompt pass, more chunks than `before`: with fewer, the
  // non-cached forward itself sees a wrapped chunk twice (each copy counts), so the prompt's states differ
  // from those of a longer forward (a prompt of exactly before·chunk tokens shows it)
  const arbLocal = arbDecodeCase(['local']).filter(
    (c) => c.prompt.length > c.config.local_num_chunks_before * c.config.local_attn_chunk_length,
  );

  it('float64: equal up to summation order (prompt longer than local_num_chunks_before·chunk)', () => {
    fc.assert(
      fc.property(arbLocal, (c) => {
        const { cached, full } = both(f64, c);
        for (const [k, row] of cached.entries()) expectClose(row, full[k]!, TOL_F64, `step ${k}`);
      }),
      { numRuns: runs(40) },
    );
  });

  it('WASM (f32): cached and non-cached each within 1e-4·S of float64, so within 2e-4·S of each other', () => {
    const wasm = loadWasmBackendSync({ threads: 1, poisonFreed: true });
    fc.assert(
      fc.property(arbLocal, (c) => {
        const exact = both(f64, c).cached;
        const { cached, full } = both(wasm, c);
        exact.forEach((row, k) => {
          const S = Math.max(1, ...row.map(Math.abs));
          expectClose(cached[k]!, row, { atol: 1e-4 * S, rtol: 0 }, `cached step ${k}`);
          expectClose(full[k]!, row, { atol: 1e-4 * S, rtol: 0 }, `non-cached step ${k}`);
        });
      }),
      { numRuns: runs(25) },
    );
  });
});
