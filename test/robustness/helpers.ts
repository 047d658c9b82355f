/** Shared pieces of the robustness tests: a small causal Reformer, error capture, allocation spy. */
import { expect } from 'vitest';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import type { ReformerError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';

/** A small causal LM: local + LSH layers, chunks 8/16 (lcm 16), axial [4, 8] = 32 positions, vocab 20. */
export const SMALL = new ReformerConfig({
  vocab_size: 20,
  hidden_size: 16,
  num_attention_heads: 2,
  attention_head_size: 8,
  feed_forward_size: 24,
  attn_layers: ['local', 'lsh'],
  local_attn_chunk_length: 8,
  lsh_attn_chunk_length: 16,
  num_hashes: 2,
  num_buckets: 4,
  is_decoder: true,
  axial_pos_shape: [4, 8],
  axial_pos_embds_dim: [8, 8],
  max_position_embeddings: 32,
  hidden_dropout_prob: 0,
  local_attention_probs_dropout_prob: 0,
  pad_token_id: 0,
  eos_token_id: 1,
  initializer_range: 0.3,
});

export function randomIds(n: number, vocab: number, seed = 1): Int32Array {
  const r = new Rng(seed);
  return new Int32Array(n).map(() => r.int(vocab));
}

/** The error `fn` throws (fails the test if it returns or throws something that is not an Error). */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return e as Error;
  }
  throw new Error('expected an error, but the call returned');
}

/**
 * Expects `fn` to throw an instance of `type` whose message matches every pattern (what was expected,
 * what was given, how to fix it); returns the error.
 */
export function expectTyped<T extends ReformerError>(fn: () => unknown, type: new (...a: never[]) => T, ...patterns: RegExp[]): T {
  const e = thrown(fn);
  expect(e, `${e.name}: ${e.message}`).toBeInstanceOf(type);
  for (const p of patterns) expect(e.message).toMatch(p);
  return e as T;
}

const TYPED_ARRAYS = [
  'ArrayBuffer',
  'Uint8Array',
  'Int8Array',
  'Uint16Array',
  'Int16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

/**
 * Runs `fn` with the global typed-array and ArrayBuffer constructors wrapped so that every allocation
 * by length is recorded; returns the largest allocation in bytes (and rethrows what `fn` throws after
 * restoring the constructors). Code that allocates from untrusted numbers shows up here.
 */
export function largestAllocation(fn: () => void): { bytes: number; error: unknown } {
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = TYPED_ARRAYS.map((n) => [n, g[n]] as const);
  let largest = 0;
  for (const [name, ctor] of saved) {
    const per = name === 'ArrayBuffer' ? 1 : (ctor as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    g[name] = new Proxy(ctor as object, {
      construct(target, args, newTarget) {
        if (typeof args[0] === 'number') largest = Math.max(largest, args[0] * per);
        return Reflect.construct(
          target as new (
            ...a: unknown[]
          ) => object,
          args,
          newTarget === g[name] ? (target as new (...a: unknown[]) => object) : newTarget,
        );
      },
    });
  }
  let error: unknown = null;
  try {
    fn();
  } catch (e) {
    error = e;
  } finally {
    for (const [name, ctor] of saved) g[name] = ctor;
  }
  return { bytes: largest, error };
}
