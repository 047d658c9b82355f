/**
 * Keys of the 2020 Reformer `config.json` files (HF's `google/reformer-crime-and-punishment` and
 * `google/reformer-enwik8` were written by the first port of the model) that today's `ReformerConfig`
 * does not read.
 *
 * HF's `ReformerConfig` does nothing with them: `PretrainedConfig` keeps unknown keys as plain attributes
 * that no module reads (and `save_pretrained` writes them back), while the fields that replaced them take
 * their values from the file or their defaults. `num_chunks_before: 1` is therefore NOT copied into
 * `lsh_num_chunks_before` / `local_num_chunks_before`: those keep HF's defaults (1 and 1), which is what
 * HF computes with. `ReformerConfig` does the same (the keys land in `extra`); this module only says so,
 * one note per key, naming the fields that apply and their values.
 *
 * `num_hidden_layers` is not legacy: HF builds that many layers typed by `attn_layers[i]`, so the two must
 * agree, and `ReformerConfig` checks that they do.
 */
import { REFORMER_DEFAULTS } from './fields.js';
import { ConfigError } from '../errors.js';
import { describeValue } from '../util/args.js';

/** A legacy key, the current fields that decide what it used to, and what it did. */
interface LegacyKey {
  readonly successors: readonly string[];
  readonly meaning: string;
}

/** The 2020 keys and their successors (HF `configuration_reformer.py` then and now). */
export const LEGACY_CONFIG_KEYS: Readonly<Record<string, LegacyKey>> = Object.freeze({
  num_chunks_before: {
    successors: ['lsh_num_chunks_before', 'local_num_chunks_before'],
    meaning: 'chunks each chunk attends to before it',
  },
  num_chunks_after: { successors: ['lsh_num_chunks_after', 'local_num_chunks_after'], meaning: 'chunks each chunk attends to after it' },
  attention_probs_dropout_prob: {
    successors: ['lsh_attention_probs_dropout_prob', 'local_attention_probs_dropout_prob'],
    meaning: 'attention-probability dropout, training only',
  },
  intermediate_size: { successors: ['feed_forward_size'], meaning: 'an unused BERT-style feed-forward width' },
  sinusoidal_pos_embds: { successors: ['axial_pos_embds'], meaning: 'sinusoidal position embeddings, which the HF port does not have' },
  seed: { successors: ['hash_seed'], meaning: 'a testing seed of the LSH rotations' },
  output_past: { successors: ['use_cache'], meaning: 'the generation cache switch' },
  task_specific_params: { successors: [], meaning: "generation settings of HF's pipelines" },
});

function show(v: unknown): string {
  return JSON.stringify(v === undefined ? null : v);
}

/**
 * One note per legacy key in `config` (a parsed config.json), e.g.
 * `num_chunks_before 1 (2020 key: chunks each chunk attends to before it) is ignored, as by HF's
 * ReformerConfig; lsh_num_chunks_before 1 (default) and local_num_chunks_before 1 (default) apply`.
 * Empty for a current config.
 */
export function legacyConfigNotes(config: Readonly<Record<string, unknown>>): string[] {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError('config', `legacyConfigNotes needs a parsed config.json object, got ${describeValue(config)}`);
  }
  const notes: string[] = [];
  const effective = (field: string): unknown =>
    Object.hasOwn(config, field) ? config[field] : (REFORMER_DEFAULTS as unknown as Record<string, unknown>)[field];
  for (const [key, info] of Object.entries(LEGACY_CONFIG_KEYS)) {
    if (!Object.hasOwn(config, key)) continue;
    const value = config[key];
    if (key === 'task_specific_params') {
      notes.push(
        `task_specific_params ${show(value)} (${info.meaning}) are not applied; generate's flags set sampling (--temperature, --top-k, --max-new-tokens)`,
      );
      continue;
    }
    const applied = info.successors.map((s) => `${s} ${show(effective(s))}${Object.hasOwn(config, s) ? '' : ' (default)'}`);
    let note = `${key} ${show(value)} (2020 key: ${info.meaning}) is ignored, as by HF's ReformerConfig; ${applied.join(' and ')} ${applied.length > 1 ? 'apply' : 'applies'}`;
    if ((key === 'num_chunks_before' || key === 'num_chunks_after') && info.successors.some((s) => show(effective(s)) !== show(value))) {
      note += ', as in HF (the values differ)';
    }
    if (key === 'sinusoidal_pos_embds' && value === true) note += ' (HF has no sinusoidal embeddings either)';
    notes.push(note);
  }
  return notes;
}

/** True for a key of `LEGACY_CONFIG_KEYS` (not a misspelt field). */
export function isLegacyConfigKey(key: string): boolean {
  return Object.hasOwn(LEGACY_CONFIG_KEYS, key);
}
