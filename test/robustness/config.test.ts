/**
 * Robustness, configs: every invalid field or combination is a ConfigError at construction, through
 * the API (`new ReformerConfig`) and through config.json text (`ReformerConfig.fromJSON`), naming the
 * field, the value given and a fix. (More single-field cases: test/model/config.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { MAX_CONFIG_INT, MAX_EXTRA_DEPTH } from '../../src/config/validators.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError } from '../../src/errors.js';
import { configFromBytes } from '../../src/model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { expectTyped, SMALL } from './helpers.js';

const base = SMALL.toJSON();

/** [kind, changes, field, message] */
const CASES: Array<[string, Record<string, unknown>, string, RegExp]> = [
  // negative or zero sizes
  ['zero hidden_size', { hidden_size: 0 }, 'hidden_size', /must be a positive integer, got 0; e\.g\. 1/],
  ['negative vocab_size', { vocab_size: -258 }, 'vocab_size', /must be a positive integer, got -258; e\.g\. 258/],
  ['zero attention heads', { num_attention_heads: 0 }, 'num_attention_heads', /positive integer, got 0/],
  ['negative feed_forward_size', { feed_forward_size: -1 }, 'feed_forward_size', /positive integer, got -1/],
  ['zero lsh chunk length', { lsh_attn_chunk_length: 0 }, 'lsh_attn_chunk_length', /positive integer, got 0/],
  ['negative chunk_size_lm_head', { chunk_size_lm_head: -4 }, 'chunk_size_lm_head', /non-negative integer, got -4/],
  ['zero max_position_embeddings', { max_position_embeddings: 0 }, 'max_position_embeddings', /positive integer, got 0/],
  // sizes beyond what int32 indices can address
  [
    'size beyond int32',
    { feed_forward_size: 2 ** 31 },
    'feed_forward_size',
    new RegExp(`must be at most ${MAX_CONFIG_INT} \\(sizes and ids are int32\\), got 2147483648`),
  ],
  ['astronomical axial shape', { axial_pos_shape: [1e200, 1] }, 'axial_pos_shape[0]', /must be at most 2147483647/],
  [
    'bucket factors multiplying beyond int32',
    { num_buckets: [65536, 65536] },
    'num_buckets',
    /multiply to 4294967296 buckets, more than 2147483647/,
  ],
  // odd bucket factors
  ['odd num_buckets', { num_buckets: 5 }, 'num_buckets', /must be an even integer ≥ 2 .*got 5; e\.g\. 6/],
  ['odd factor', { num_buckets: [2, 3] }, 'num_buckets', /factor 1 must be an even integer ≥ 2/],
  ['zero factor', { num_buckets: [0, 2] }, 'num_buckets', /factor 0 must be an even integer ≥ 2/],
  // axial shapes that do not fit the length or the hidden size
  [
    'axial product below max_position_embeddings',
    { axial_pos_shape: [4, 4] },
    'axial_pos_shape',
    /\[4, 4\] has product 16 < max_position_embeddings 32.*make the product at least/,
  ],
  [
    'axial widths not summing to hidden_size',
    { axial_pos_embds_dim: [8, 4] },
    'axial_pos_embds_dim',
    /\[8, 4\] sums to 12, but the axial widths must sum to hidden_size 16; e\.g\. \[8, 8\]/,
  ],
  [
    'axial ranks differ',
    { axial_pos_embds_dim: [4, 4, 8] },
    'axial_pos_embds_dim',
    /has 3 entries \[4, 4, 8\] but axial_pos_shape has 2 \[4, 8\]; give one width per axis/,
  ],
  // unknown attn_layers entries
  [
    'unknown attn_layers entry',
    { attn_layers: ['local', 'LSH'] },
    'attn_layers',
    /entry 1 is "LSH" \(a string\); each entry must be "lsh" or "local"/,
  ],
  ['attn_layers not a list', { attn_layers: 'lsh' }, 'attn_layers', /must be a non-empty list of "lsh" \/ "local", got "lsh"/],
  ['num_hidden_layers disagreeing with attn_layers', { num_hidden_layers: 3 }, 'num_hidden_layers', /is 3, but attn_layers has 2 entries/],
  // non-integer values
  ['fractional head size', { attention_head_size: 8.5 }, 'attention_head_size', /positive integer, got 8\.5/],
  ['fractional chunks before', { local_num_chunks_before: 0.5 }, 'local_num_chunks_before', /non-negative integer, got 0\.5/],
  ['fractional axial entry', { axial_pos_shape: [4, 8.0001] }, 'axial_pos_shape[1]', /positive integer, got 8\.0001/],
  ['fractional hash_seed', { hash_seed: 0.5 }, 'hash_seed', /integer or null, got 0\.5/],
  // wrong types
  ['size as a string', { hidden_size: '16' }, 'hidden_size', /must be a finite number, got "16" \(a string\)/],
  ['size as a boolean', { vocab_size: true }, 'vocab_size', /finite number, got true/],
  ['size as null', { num_hashes: null }, 'num_hashes', /finite number, got null/],
  ['size as a list', { feed_forward_size: [24] }, 'feed_forward_size', /finite number, got \[24\]/],
  ['axial shape as a string', { axial_pos_shape: '4x8' }, 'axial_pos_shape', /non-empty list of positive integers, got "4x8"/],
  ['axial shape as an object', { axial_pos_shape: { 0: 4, 1: 8 } }, 'axial_pos_shape', /non-empty list .*got an object/],
  ['num_buckets as a string', { num_buckets: '4' }, 'num_buckets', /got "4" \(a string\)/],
  ['is_decoder as 1', { is_decoder: 1 }, 'is_decoder', /must be true or false, got 1/],
  ['dropout as a string', { hidden_dropout_prob: '0.1' }, 'hidden_dropout_prob', /finite number, got "0\.1"/],
  ['hidden_act unknown', { hidden_act: 'tanh' }, 'hidden_act', /"tanh".*supported: "relu", "gelu".*"gelu_new"/],
  ['model_type of another model', { model_type: 'gpt2' }, 'model_type', /is "gpt2" \(a string\), expected "reformer"/],
  // combinations of valid fields
  ['pad id at vocab_size', { pad_token_id: 20 }, 'pad_token_id', /is 20, outside the vocabulary \[0, 20\)/],
  ['eos id beyond vocab_size', { eos_token_id: 300 }, 'eos_token_id', /is 300, outside the vocabulary \[0, 20\)/],
  ['tied embeddings', { tie_word_embeddings: true }, 'tie_word_embeddings', /cannot share the embedding/],
];

describe('every invalid field or combination is a ConfigError at construction', () => {
  for (const [kind, changes, field, message] of CASES) {
    it(`${kind} → ConfigError(${field}) from the API and from config.json text`, () => {
      const api = expectTyped(() => new ReformerConfig({ ...base, ...changes }), ConfigError, message);
      expect(api.field).toBe(field);
      expect(api.message.startsWith(`${field}: `)).toBe(true);
      const text = JSON.stringify({ ...base, ...changes });
      const fromText = expectTyped(() => ReformerConfig.fromJSON(text), ConfigError, message);
      expect(fromText.field).toBe(field);
      // the same through the checkpoint reader (config.json bytes) and config.with()
      expect(expectTyped(() => configFromBytes(new TextEncoder().encode(text)), ConfigError, message).field).toBe(field);
      expect(expectTyped(() => SMALL.with(changes), ConfigError).field).toBe(field);
    });
  }
});

describe('config.json text that is not a config', () => {
  it('not JSON, not an object, or not UTF-8', () => {
    expectTyped(
      () => ReformerConfig.fromJSON('{"hidden_size": 16,'),
      ConfigError,
      /^config\.json: is not valid JSON \(.*\); write it with ReformerConfig\.toJSONString\(\)/,
    );
    expectTyped(() => ReformerConfig.fromJSON(''), ConfigError, /^config\.json: is not valid JSON/);
    expectTyped(() => ReformerConfig.fromJSON('[1, 2]'), ConfigError, /^config: expected an object of ReformerConfig fields, got \[1, 2\]/);
    expectTyped(() => ReformerConfig.fromJSON('null'), ConfigError, /^config: expected an object .*got null/);
    expectTyped(() => ReformerConfig.fromJSON('"hidden_size"'), ConfigError, /got "hidden_size" \(a string\)/);
    expectTyped(() => configFromBytes(Uint8Array.of(0xff, 0xfe, 0x7b)), ConfigError, /^config\.json: is not valid JSON/);
  });

  it('missing fields take HF defaults (as HF), so an empty object is the HF default config', () => {
    expect(ReformerConfig.fromJSON('{}').toJSON()).toEqual(new ReformerConfig().toJSON());
    // a partial config is completed, then validated as a whole: a lone hidden_size breaks the default axial widths
    expectTyped(
      () => ReformerConfig.fromJSON('{"hidden_size": 128}'),
      ConfigError,
      /^axial_pos_embds_dim: \[64, 192\] sums to 256, but .*hidden_size 128/,
    );
  });

  it('a "__proto__" key is refused instead of silently replacing the prototype', () => {
    const e = expectTyped(
      () => ReformerConfig.fromJSON(`{"__proto__": {"hidden_size": 1}, "vocab_size": 20, "pad_token_id": 0, "eos_token_id": 1}`),
      ConfigError,
      /is not a valid config\.json key/,
    );
    expect(e.field).toBe('__proto__');
  });

  it(`a non-Reformer key nested deeper than ${MAX_EXTRA_DEPTH} levels is a ConfigError, not a stack overflow`, () => {
    for (const depth of [MAX_EXTRA_DEPTH + 1, 10_000, 200_000]) {
      const text = `{"task_specific_params": ${'['.repeat(depth)}${']'.repeat(depth)}}`;
      const e = expectTyped(
        () => ReformerConfig.fromJSON(text),
        ConfigError,
        new RegExp(`nests objects/arrays more than ${MAX_EXTRA_DEPTH} levels deep`),
      );
      expect(e.field).toBe('task_specific_params');
    }
    const ok = `{"task_specific_params": ${'{"a": '.repeat(MAX_EXTRA_DEPTH - 1)}1${'}'.repeat(MAX_EXTRA_DEPTH - 1)}}`;
    expect(ReformerConfig.fromJSON(ok).toJSONString()).toContain('task_specific_params');
  });

  it('config.with() refuses a value that is not an object of fields', () => {
    expectTyped(
      () => SMALL.with('hidden_size' as unknown as Record<string, unknown>),
      ConfigError,
      /^config: with\(\) expects an object of ReformerConfig fields/,
    );
    expectTyped(() => SMALL.with(null as unknown as Record<string, unknown>), ConfigError, /got null/);
  });
});

describe('rules of the model that uses the config, checked when the model is built', () => {
  const be = new ReferenceBackend();
  it('a causal LM needs is_decoder and no look-ahead', () => {
    expectTyped(
      () => new ReformerModelWithLMHead(be, SMALL.with({ is_decoder: false })),
      ConfigError,
      /^is_decoder: is false, but a causal language model/,
    );
    expectTyped(
      () => new ReformerModelWithLMHead(be, SMALL.with({ lsh_num_chunks_after: 1 })),
      ConfigError,
      /^lsh_num_chunks_after: is 1, .*set lsh_num_chunks_after: 0/,
    );
  });
});
