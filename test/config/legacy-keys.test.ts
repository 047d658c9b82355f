/** The 2020 config keys of HF's published Reformers (src/config/legacy-keys.ts): kept and ignored, as HF does, with a note each. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLegacyConfigKey, legacyConfigNotes } from '../../src/config/legacy-keys.js';
import { REFORMER_DEFAULTS, unrecognisedConfigKeys } from '../../src/config/fields.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError } from '../../src/errors.js';
import { PRETRAINED_DIR } from '../io/hf-pretrained.js';
import { expectTyped } from '../robustness/helpers.js';

const published = JSON.parse(readFileSync(join(PRETRAINED_DIR, 'zip', 'config.json'), 'utf8')) as Record<string, unknown>;

describe('legacy config keys', () => {
  it('the crime-and-punishment config.json loads as it is: legacy keys kept in extra, HF defaults for the fields they preceded', () => {
    const c = ReformerConfig.fromJSON(published);
    expect(c.lsh_num_chunks_before).toBe(REFORMER_DEFAULTS.lsh_num_chunks_before);
    expect(c.local_num_chunks_after).toBe(0);
    expect(c.local_attention_probs_dropout_prob).toBe(0.05); // HF default, not attention_probs_dropout_prob 0.1
    expect(c.feed_forward_size).toBe(512); // not intermediate_size 3072
    expect(c.hash_seed).toBeNull();
    expect(c.extra.num_chunks_before).toBe(1);
    expect(c.extra.seed).toBeNull();
    expect(c.extra.task_specific_params).toEqual({ 'text-generation': { do_sample: true, max_length: 100 } });
    expect(JSON.parse(c.toJSONString()).sinusoidal_pos_embds).toBe(false); // written back, as save_pretrained does
  });

  it('one note per legacy key, naming the fields that apply and their values', () => {
    const notes = legacyConfigNotes(published);
    expect(notes).toHaveLength(8);
    expect(notes).toContain(
      "num_chunks_before 1 (2020 key: chunks each chunk attends to before it) is ignored, as by HF's ReformerConfig; lsh_num_chunks_before 1 (default) and local_num_chunks_before 1 (default) apply",
    );
    expect(notes.find((n) => n.startsWith('intermediate_size'))).toMatch(/intermediate_size 3072 .* feed_forward_size 512 applies$/);
    expect(notes.find((n) => n.startsWith('attention_probs_dropout_prob'))).toMatch(
      /lsh_attention_probs_dropout_prob 0 \(default\) and local_attention_probs_dropout_prob 0\.05 \(default\) apply/,
    );
    expect(notes.find((n) => n.startsWith('task_specific_params'))).toMatch(/not applied; generate's flags set sampling/);
    const differing = legacyConfigNotes({ num_chunks_before: 2, lsh_num_chunks_before: 1 });
    expect(differing[0]).toMatch(
      /lsh_num_chunks_before 1 and local_num_chunks_before 1 \(default\) apply, as in HF \(the values differ\)$/,
    );
    expect(legacyConfigNotes({ hidden_size: 8 })).toEqual([]);
    expect(unrecognisedConfigKeys(published).filter((k) => !isLegacyConfigKey(k))).toEqual([]);
  });

  it('num_hidden_layers must agree with attn_layers (HF builds num_hidden_layers layers typed by attn_layers[i])', () => {
    expectTyped(
      () => ReformerConfig.fromJSON({ ...published, num_hidden_layers: 4 }),
      ConfigError,
      /num_hidden_layers: is 4, but attn_layers has 6 entries/,
    );
  });
});
