/**
 * ReformerConfig: HF defaults, validation examples (each invalid field → ConfigError naming the field,
 * the value and a fix), the call-time rules (sequence length, causal LM), auto num_buckets, presets.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, resolveOptions } from '../../src/config/options.js';
import { DEFAULT_PRESET, PRESET_NAMES, preset } from '../../src/config/presets.js';
import { resolveNumBuckets } from '../../src/config/buckets.js';
import { REFORMER_DEFAULTS } from '../../src/config/fields.js';
import { checkCausalLM, checkPositionLength, ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { HF_FIXTURES_DIR } from '../../spec/helpers/fixtures.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('ReformerConfig defaults', () => {
  it("are HF's (configuration_reformer.py)", () => {
    const c = new ReformerConfig();
    expect(c.attention_head_size).toBe(64);
    expect(c.attn_layers).toEqual(['local', 'lsh', 'local', 'lsh', 'local', 'lsh']);
    expect(c.num_hidden_layers).toBe(6);
    expect(c.axial_norm_std).toBe(1);
    expect(c.axial_pos_embds).toBe(true);
    expect(c.axial_pos_shape).toEqual([64, 64]);
    expect(c.axial_pos_embds_dim).toEqual([64, 192]);
    expect(c.chunk_size_lm_head).toBe(0);
    expect(c.chunk_size_feed_forward).toBe(0);
    expect(c.eos_token_id).toBe(2);
    expect(c.feed_forward_size).toBe(512);
    expect(c.hash_seed).toBeNull();
    expect(c.hidden_act).toBe('relu');
    expect(c.hidden_dropout_prob).toBe(0.05);
    expect(c.hidden_size).toBe(256);
    expect(c.initializer_range).toBe(0.02);
    expect(c.is_decoder).toBe(false);
    expect(c.layer_norm_eps).toBe(1e-12);
    expect([c.local_num_chunks_before, c.local_num_chunks_after, c.local_attn_chunk_length]).toEqual([1, 0, 64]);
    expect(c.local_attention_probs_dropout_prob).toBe(0.05);
    expect([c.lsh_num_chunks_before, c.lsh_num_chunks_after, c.lsh_attn_chunk_length]).toEqual([1, 0, 64]);
    expect(c.lsh_attention_probs_dropout_prob).toBe(0);
    expect(c.max_position_embeddings).toBe(4096);
    expect(c.num_attention_heads).toBe(12);
    expect(c.num_buckets).toBeNull();
    expect(c.num_hashes).toBe(1);
    expect(c.pad_token_id).toBe(0);
    expect(c.vocab_size).toBe(320);
    expect(c.tie_word_embeddings).toBe(false);
    expect(c.use_cache).toBe(true);
    expect(c.classifier_dropout).toBeNull();
    expect(c.model_type).toBe('reformer');
    expect(Object.keys(REFORMER_DEFAULTS).length).toBe(34);
  });

  it('is frozen', () => {
    const c = new ReformerConfig();
    expect(() => {
      (c as unknown as { hidden_size: number }).hidden_size = 3;
    }).toThrow(TypeError);
    expect(() => {
      (c.attn_layers as string[]).push('lsh');
    }).toThrow(TypeError);
  });

  it('reads every fixture config.json and keeps its non-Reformer keys on the round trip', () => {
    for (const f of readdirSync(HF_FIXTURES_DIR).filter((n) => n.endsWith('.json'))) {
      const raw = JSON.parse(readFileSync(join(HF_FIXTURES_DIR, f), 'utf8')).config as Record<string, unknown>;
      const c = ReformerConfig.fromJSON(JSON.stringify(raw));
      expect(c.toJSON()).toEqual(
        Object.fromEntries(
          Object.keys(raw)
            .sort()
            .map((k) => [k, raw[k]]),
        ),
      );
      expect(c.extra.return_dict).toBe(true);
    }
  });
});

describe('ReformerConfig validation (one ConfigError naming the field, the value and a fix)', () => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['zero size', { hidden_size: 0, axial_pos_embds: false }, 'hidden_size', /positive integer, got 0/],
    ['non-integer size', { feed_forward_size: 32.5 }, 'feed_forward_size', /positive integer, got 32\.5/],
    ['wrong type', { num_attention_heads: '12' }, 'num_attention_heads', /finite number, got "12" \(a string\)/],
    ['NaN', { attention_head_size: Number.NaN }, 'attention_head_size', /finite number, got NaN/],
    ['negative chunks', { lsh_num_chunks_before: -1 }, 'lsh_num_chunks_before', /non-negative integer, got -1/],
    ['zero chunk length', { local_attn_chunk_length: 0 }, 'local_attn_chunk_length', /positive integer/],
    ['odd num_buckets', { num_buckets: 7 }, 'num_buckets', /even integer ≥ 2.*got 7; e\.g\. 8/],
    ['odd factor', { num_buckets: [4, 3] }, 'num_buckets', /factor 1 must be an even integer/],
    ['empty factors', { num_buckets: [] }, 'num_buckets', /empty list/],
    [
      'attn_layers entry',
      { attn_layers: ['lsh', 'global'] },
      'attn_layers',
      /entry 1 is "global" \(a string\); each entry must be "lsh" or "local"/,
    ],
    ['empty attn_layers', { attn_layers: [] }, 'attn_layers', /non-empty list/],
    ['hidden_act', { hidden_act: 'swish' }, 'hidden_act', /"swish".*relu.*gelu.*gelu_new/],
    ['axial dims sum', { axial_pos_embds_dim: [64, 64] }, 'axial_pos_embds_dim', /sums to 128.*hidden_size 256/],
    ['axial dims count', { axial_pos_embds_dim: [256] }, 'axial_pos_embds_dim', /1 entries.*axial_pos_shape has 2/],
    ['axial shape too small', { axial_pos_shape: [32, 64] }, 'axial_pos_shape', /product 2048 < max_position_embeddings 4096/],
    ['axial shape entry', { axial_pos_shape: [64, 0] }, 'axial_pos_shape[1]', /positive integer, got 0/],
    ['dropout ≥ 1', { hidden_dropout_prob: 1 }, 'hidden_dropout_prob', /\[0, 1\), got 1/],
    ['negative eps', { layer_norm_eps: 0 }, 'layer_norm_eps', /> 0/],
    ['boolean type', { is_decoder: 'yes' }, 'is_decoder', /true or false, got "yes"/],
    ['tied embeddings', { tie_word_embeddings: true }, 'tie_word_embeddings', /cannot share/],
    ['pad id ≥ vocab', { pad_token_id: 320 }, 'pad_token_id', /outside the vocabulary \[0, 320\)/],
    ['num_hidden_layers mismatch', { num_hidden_layers: 4 }, 'num_hidden_layers', /attn_layers has 6 entries/],
    ['model_type', { model_type: 'bert' }, 'model_type', /expected "reformer"/],
    ['hash_seed', { hash_seed: 1.5 }, 'hash_seed', /integer or null/],
    ['num_hashes', { num_hashes: 0 }, 'num_hashes', /positive integer/],
  ];
  for (const [what, input, field, message] of cases) {
    it(`${what} → ConfigError(${field})`, () => {
      const e = configError(() => new ReformerConfig(input));
      expect(e.field).toBe(field);
      expect(e.message).toMatch(message);
      expect(e.message.startsWith(`${field}: `)).toBe(true);
    });
  }

  it('bad config.json text names config.json', () => {
    expect(configError(() => ReformerConfig.fromJSON('{oops')).field).toBe('config.json');
  });

  it('axial fields are not checked when axial_pos_embds is false', () => {
    expect(() => new ReformerConfig({ axial_pos_embds: false, axial_pos_embds_dim: [1, 2] })).not.toThrow();
  });
});

describe('call-time rules', () => {
  const c = new ReformerConfig({ axial_pos_shape: [8, 8], axial_pos_embds_dim: [128, 128], max_position_embeddings: 64, is_decoder: true });

  it('training needs Π axial_pos_shape == sequence length; eval needs ≥', () => {
    expect(() => checkPositionLength(c, 64, true)).not.toThrow();
    expect(() => checkPositionLength(c, 50, false)).not.toThrow();
    const e = configError(() => checkPositionLength(c, 32, true));
    expect(e.field).toBe('axial_pos_shape');
    expect(e.message).toMatch(/product 64.*sequence length 32.*exactly 64 tokens/);
    expect(configError(() => checkPositionLength(c, 65, false)).field).toBe('max_position_embeddings');
    const big = new ReformerConfig({ axial_pos_shape: [8, 8], axial_pos_embds_dim: [128, 128], max_position_embeddings: 64 });
    expect(() => checkPositionLength(big, 64, false)).not.toThrow();
  });

  it('the LM head needs is_decoder and no look-ahead for the attention types in use', () => {
    expect(() => checkCausalLM(c)).not.toThrow();
    expect(configError(() => checkCausalLM(new ReformerConfig())).field).toBe('is_decoder');
    expect(configError(() => checkCausalLM(c.with({ lsh_num_chunks_after: 1 }))).field).toBe('lsh_num_chunks_after');
    expect(configError(() => checkCausalLM(c.with({ local_num_chunks_after: 2 }))).field).toBe('local_num_chunks_after');
    expect(() => checkCausalLM(c.with({ attn_layers: ['lsh'], local_num_chunks_after: 2 }))).not.toThrow();
  });

  it('automatic num_buckets follows HF _set_num_buckets', () => {
    const auto = new ReformerConfig({ max_position_embeddings: 64, axial_pos_shape: [8, 8], lsh_attn_chunk_length: 8 });
    expect(resolveNumBuckets(auto, 64)).toBe(16); // model_lm_eval_autopad: effective_num_buckets 16
    expect(
      resolveNumBuckets(new ReformerConfig({ lsh_attn_chunk_length: 4, max_position_embeddings: 128, axial_pos_shape: [8, 16] }), 128),
    ).toEqual([8, 8]);
    expect(resolveNumBuckets(c.with({ num_buckets: [2, 4] }), 64)).toEqual([2, 4]);
  });

  it('automatic num_buckets is refused, not 0.5, at a length that takes the short path (one rule for config and attention)', () => {
    // regression: the config's copy of the rule returned 2^-1 = 0.5 for L < chunk while the attention's threw
    const auto = new ReformerConfig({ max_position_embeddings: 64, axial_pos_shape: [8, 8], lsh_attn_chunk_length: 16 });
    for (const L of [1, 8, 15, 16]) {
      expect(() => resolveNumBuckets(auto, L)).toThrow(ShapeError);
      expect(() => resolveNumBuckets(auto, L)).toThrow(/longer than lsh_attn_chunk_length/);
    }
    expect(resolveNumBuckets(auto, 32)).toBe(4); // e = bit_length(2·2) − 1 = 2
  });
});

describe('options', () => {
  it('defaults and validation', () => {
    expect(resolveOptions()).toEqual(DEFAULT_OPTIONS);
    expect(configError(() => resolveOptions({ reversible: 1 as unknown as boolean })).field).toBe('options.reversible');
    expect(configError(() => resolveOptions({ seed: 0.5 })).field).toBe('options.seed');
  });
});

describe('presets', () => {
  it('all are valid causal LMs with the HF enwik8 byte vocabulary', () => {
    for (const name of PRESET_NAMES) {
      const p = preset(name);
      expect(p.config.vocab_size).toBe(258);
      expect(p.config.pad_token_id).toBe(0);
      expect(() => checkCausalLM(p.config)).not.toThrow();
      expect(p.seqLen).toBe(p.config.axial_pos_shape.reduce((a, b) => a * b, 1));
      expect(() => checkPositionLength(p.config, p.seqLen, true)).not.toThrow();
      expect(p.notes.length).toBeGreaterThan(0);
    }
  });

  it('the default preset is a real Reformer: mixed local/LSH, ≥ 4096 tokens, axial, small', () => {
    const p = preset(DEFAULT_PRESET);
    expect(p.config.attn_layers).toContain('lsh');
    expect(p.config.attn_layers).toContain('local');
    expect(p.seqLen).toBeGreaterThanOrEqual(4096);
    expect(p.config.axial_pos_embds).toBe(true);
    expect(p.config.hidden_size).toBeGreaterThanOrEqual(128);
    expect(p.config.hidden_size).toBeLessThanOrEqual(256);
    expect(p.config.num_hidden_layers).toBeGreaterThanOrEqual(2);
    expect(p.config.num_hidden_layers).toBeLessThanOrEqual(6);
    expect(p.options.reversible).toBe(true);
    // training sequences are multiples of every chunk length
    expect(p.seqLen % p.config.lsh_attn_chunk_length).toBe(0);
    expect(p.seqLen % p.config.local_attn_chunk_length).toBe(0);
  });

  it('overrides are validated; unknown names are a ConfigError', () => {
    expect(preset('tiny', { num_hashes: 2 }).config.num_hashes).toBe(2);
    expect(configError(() => preset('tiny', { hidden_size: 65 })).field).toBe('axial_pos_embds_dim');
    expect(configError(() => preset('huge' as 'tiny')).field).toBe('preset');
  });
});
