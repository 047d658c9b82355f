/**
 * `ReformerConfig`: HuggingFace's `ReformerConfig` (transformers `configuration_reformer.py`), field for
 * field, with HF's snake_case names and HF's defaults (fields.ts), validated ONCE at construction and
 * frozen.
 *
 * - `config.json` is read and written 1:1 (`ReformerConfig.fromJSON`, `toJSON`). Keys that are not
 *   Reformer fields (HF's generic `PretrainedConfig` keys such as `architectures`, `torch_dtype`,
 *   `return_dict`, `bos_token_id`, or anything newer) are kept verbatim in `extra` and written back.
 * - Every invalid value throws `ConfigError(field, message)` (validators.ts); the message gives the value
 *   that was found and how to fix it. Cross-field rules (axial sizes vs `hidden_size`, `num_hidden_layers`
 *   vs `attn_layers`, token ids vs `vocab_size`, ...) are checked in the same step (`validate` below).
 * - Rules that depend on a particular call are separate functions here: `checkPositionLength` (HF
 *   `AxialPositionEmbeddings` / `ReformerEmbeddings` asserts) and `checkCausalLM` (HF
 *   `ReformerModelWithLMHead.__init__` asserts); the `num_buckets` rule is `resolveNumBuckets` (buckets.ts).
 *
 * Our own, non-HF switches (reversible vs store-activations, paper-exact attention, seeds) live in
 * `ReformerOptions` (options.ts), never in these HF keys.
 */
import { ConfigError } from '../errors.js';
import {
  REFORMER_DEFAULTS,
  REFORMER_FIELD_NAMES,
  type AttnLayerType,
  type HiddenAct,
  type NumBuckets,
  type ReformerConfigFields,
  type ReformerConfigInput,
} from './fields.js';
import {
  attnLayers,
  bool,
  checkExtraValue,
  deepFreeze,
  describe,
  hiddenAct,
  intList,
  nonNegative,
  nonNegInt,
  numBuckets,
  optionalInt,
  optionalNonNegInt,
  posInt,
  positive,
  probability,
  product,
} from './validators.js';

/**
 * A validated, frozen Reformer configuration. Construct with any subset of HF fields; missing ones
 * take HF's defaults.
 * @throws ConfigError naming the first invalid field (see `validate` below for the rules).
 */
export class ReformerConfig implements ReformerConfigFields {
  declare readonly attention_head_size: number;
  declare readonly attn_layers: readonly AttnLayerType[];
  declare readonly axial_norm_std: number;
  declare readonly axial_pos_embds: boolean;
  declare readonly axial_pos_shape: readonly number[];
  declare readonly axial_pos_embds_dim: readonly number[];
  declare readonly chunk_size_lm_head: number;
  declare readonly chunk_size_feed_forward: number;
  declare readonly eos_token_id: number | null;
  declare readonly feed_forward_size: number;
  declare readonly hash_seed: number | null;
  declare readonly hidden_act: HiddenAct;
  declare readonly hidden_dropout_prob: number;
  declare readonly hidden_size: number;
  declare readonly initializer_range: number;
  declare readonly is_decoder: boolean;
  declare readonly layer_norm_eps: number;
  declare readonly local_num_chunks_before: number;
  declare readonly local_num_chunks_after: number;
  declare readonly local_attention_probs_dropout_prob: number;
  declare readonly local_attn_chunk_length: number;
  declare readonly lsh_attn_chunk_length: number;
  declare readonly lsh_attention_probs_dropout_prob: number;
  declare readonly lsh_num_chunks_before: number;
  declare readonly lsh_num_chunks_after: number;
  declare readonly max_position_embeddings: number;
  declare readonly num_attention_heads: number;
  declare readonly num_buckets: NumBuckets | null;
  declare readonly num_hashes: number;
  declare readonly pad_token_id: number | null;
  declare readonly vocab_size: number;
  declare readonly tie_word_embeddings: boolean;
  declare readonly use_cache: boolean;
  declare readonly classifier_dropout: number | null;
  declare readonly num_hidden_layers: number;
  declare readonly model_type: 'reformer';
  /** Keys of the source config.json that are not Reformer fields, kept for the round trip. */
  declare readonly extra: Readonly<Record<string, unknown>>;

  constructor(input: ReformerConfigInput = {}) {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      throw new ConfigError('config', `expected an object of ReformerConfig fields, got ${describe(input)}`);
    }
    const fields = validate(input);
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(input)) {
      if (REFORMER_FIELD_NAMES.includes(k)) continue;
      checkExtraValue(k, v);
      extra[k] = deepFreeze(structuredClone(v));
    }
    Object.assign(this, fields);
    Object.defineProperty(this, 'extra', { value: Object.freeze(extra), enumerable: false });
    Object.freeze(this);
  }

  /** Parses a `config.json` text or an already-parsed object. @throws ConfigError (bad JSON: field `config.json`). */
  static fromJSON(json: string | Record<string, unknown>): ReformerConfig {
    let obj: unknown = json;
    if (typeof json === 'string') {
      try {
        obj = JSON.parse(json);
      } catch (e) {
        throw new ConfigError('config.json', `is not valid JSON (${(e as Error).message}); write it with ReformerConfig.toJSONString()`);
      }
    }
    return new ReformerConfig(obj as ReformerConfigInput);
  }

  /** The HF fields plus `extra`, keys sorted (as HF's `to_json_string`). */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { ...structuredClone(this.extra) };
    for (const k of REFORMER_FIELD_NAMES) {
      const v = (this as unknown as Record<string, unknown>)[k];
      out[k] = Array.isArray(v) ? [...v] : v;
    }
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(out).sort()) sorted[k] = out[k];
    return sorted;
  }

  /** `config.json` text: 2-space indent, sorted keys, trailing newline. */
  toJSONString(): string {
    return `${JSON.stringify(this.toJSON(), null, 2)}\n`;
  }

  /** A new validated config with some fields changed (extra keys kept). */
  with(changes: ReformerConfigInput): ReformerConfig {
    if (changes === null || typeof changes !== 'object' || Array.isArray(changes)) {
      throw new ConfigError('config', `with() expects an object of ReformerConfig fields, got ${describe(changes)}`);
    }
    const base = this.toJSON();
    // num_hidden_layers is derived: drop it when the layers change so it is re-derived.
    if ('attn_layers' in changes && !('num_hidden_layers' in changes)) delete base.num_hidden_layers;
    return new ReformerConfig({ ...base, ...changes });
  }

  /** Number of layers (`attn_layers.length`). */
  get numLayers(): number {
    return this.attn_layers.length;
  }
}

// ------------------------------------------------------------------ call-time checks

/**
 * HF's sequence-length rules for the embeddings of a forward with (padded) length `seqLen`:
 * `seqLen ≤ max_position_embeddings` (HF `ReformerEmbeddings`), and with axial embeddings
 * `Π axial_pos_shape == seqLen` in training, `≥ seqLen` in eval (HF `AxialPositionEmbeddings`).
 * `given`: the caller's length before eval padding (named in the message when it differs).
 * @throws ConfigError naming `max_position_embeddings` or `axial_pos_shape`.
 */
export function checkPositionLength(config: ReformerConfig, seqLen: number, training: boolean, given = seqLen): void {
  if (seqLen > config.max_position_embeddings) {
    const padded = given !== seqLen ? ` (the ${given} tokens given, padded to a multiple of the chunk length)` : '';
    throw new ConfigError(
      'max_position_embeddings',
      `sequence length ${seqLen}${padded} exceeds max_position_embeddings ${config.max_position_embeddings}; ` +
        `use sequences of at most ${config.max_position_embeddings} tokens or raise max_position_embeddings`,
    );
  }
  if (!config.axial_pos_embds) return;
  const prod = product(config.axial_pos_shape);
  if (training && prod !== seqLen) {
    throw new ConfigError(
      'axial_pos_shape',
      `[${config.axial_pos_shape.join(', ')}] has product ${prod}, but training needs it to equal the sequence length ${seqLen}; ` +
        `train on sequences of exactly ${prod} tokens or change axial_pos_shape`,
    );
  }
  if (!training && prod < seqLen) {
    throw new ConfigError(
      'axial_pos_shape',
      `[${config.axial_pos_shape.join(', ')}] has product ${prod} < sequence length ${seqLen}; ` +
        `evaluate sequences of at most ${prod} tokens or enlarge axial_pos_shape`,
    );
  }
}

/**
 * HF `ReformerModelWithLMHead` requirements: `is_decoder` true and `num_chunks_after == 0` for every
 * attention type in `attn_layers` (a causal LM must not look ahead).
 * @throws ConfigError naming `is_decoder`, `lsh_num_chunks_after` or `local_num_chunks_after`.
 */
export function checkCausalLM(config: ReformerConfig): void {
  if (!config.is_decoder) {
    throw new ConfigError('is_decoder', 'is false, but a causal language model (ReformerModelWithLMHead) needs is_decoder: true');
  }
  for (const type of ['lsh', 'local'] as const) {
    const field = `${type}_num_chunks_after` as const;
    if (config.attn_layers.includes(type) && config[field] !== 0) {
      throw new ConfigError(field, `is ${config[field]}, but a causal language model must not attend to later chunks; set ${field}: 0`);
    }
  }
}

// ------------------------------------------------------------------ validation

function validate(input: ReformerConfigInput): Omit<ReformerConfigFields, never> {
  const get = <K extends keyof typeof REFORMER_DEFAULTS>(k: K): unknown =>
    k in input && input[k] !== undefined ? input[k] : REFORMER_DEFAULTS[k];

  const f = {
    attention_head_size: posInt('attention_head_size', get('attention_head_size')),
    attn_layers: attnLayers(get('attn_layers')),
    axial_norm_std: nonNegative('axial_norm_std', get('axial_norm_std')),
    axial_pos_embds: bool('axial_pos_embds', get('axial_pos_embds')),
    axial_pos_shape: intList('axial_pos_shape', get('axial_pos_shape')),
    axial_pos_embds_dim: intList('axial_pos_embds_dim', get('axial_pos_embds_dim')),
    chunk_size_lm_head: nonNegInt('chunk_size_lm_head', get('chunk_size_lm_head')),
    chunk_size_feed_forward: nonNegInt('chunk_size_feed_forward', get('chunk_size_feed_forward')),
    eos_token_id: optionalNonNegInt('eos_token_id', get('eos_token_id')),
    feed_forward_size: posInt('feed_forward_size', get('feed_forward_size')),
    hash_seed: optionalInt('hash_seed', get('hash_seed')),
    hidden_act: hiddenAct(get('hidden_act')),
    hidden_dropout_prob: probability('hidden_dropout_prob', get('hidden_dropout_prob')),
    hidden_size: posInt('hidden_size', get('hidden_size')),
    initializer_range: nonNegative('initializer_range', get('initializer_range')),
    is_decoder: bool('is_decoder', get('is_decoder')),
    layer_norm_eps: positive('layer_norm_eps', get('layer_norm_eps')),
    local_num_chunks_before: nonNegInt('local_num_chunks_before', get('local_num_chunks_before')),
    local_num_chunks_after: nonNegInt('local_num_chunks_after', get('local_num_chunks_after')),
    local_attention_probs_dropout_prob: probability('local_attention_probs_dropout_prob', get('local_attention_probs_dropout_prob')),
    local_attn_chunk_length: posInt('local_attn_chunk_length', get('local_attn_chunk_length')),
    lsh_attn_chunk_length: posInt('lsh_attn_chunk_length', get('lsh_attn_chunk_length')),
    lsh_attention_probs_dropout_prob: probability('lsh_attention_probs_dropout_prob', get('lsh_attention_probs_dropout_prob')),
    lsh_num_chunks_before: nonNegInt('lsh_num_chunks_before', get('lsh_num_chunks_before')),
    lsh_num_chunks_after: nonNegInt('lsh_num_chunks_after', get('lsh_num_chunks_after')),
    max_position_embeddings: posInt('max_position_embeddings', get('max_position_embeddings')),
    num_attention_heads: posInt('num_attention_heads', get('num_attention_heads')),
    num_buckets: numBuckets(get('num_buckets')),
    num_hashes: posInt('num_hashes', get('num_hashes')),
    pad_token_id: optionalNonNegInt('pad_token_id', get('pad_token_id')),
    vocab_size: posInt('vocab_size', get('vocab_size')),
    tie_word_embeddings: bool('tie_word_embeddings', get('tie_word_embeddings')),
    use_cache: bool('use_cache', get('use_cache')),
    classifier_dropout: input.classifier_dropout == null ? null : probability('classifier_dropout', input.classifier_dropout),
    num_hidden_layers: 0,
    model_type: 'reformer' as const,
  };
  f.num_hidden_layers = f.attn_layers.length;

  // ---- cross-field rules
  if (input.num_hidden_layers !== undefined && input.num_hidden_layers !== f.num_hidden_layers) {
    throw new ConfigError(
      'num_hidden_layers',
      `is ${describe(input.num_hidden_layers)}, but attn_layers has ${f.num_hidden_layers} entries; ` +
        `the layer count is attn_layers.length: drop num_hidden_layers or make it ${f.num_hidden_layers}`,
    );
  }
  if (input.model_type !== undefined && input.model_type !== 'reformer') {
    throw new ConfigError('model_type', `is ${describe(input.model_type)}, expected "reformer": this is not a Reformer config.json`);
  }
  if (f.tie_word_embeddings) {
    throw new ConfigError(
      'tie_word_embeddings',
      `is true, but the Reformer decoder [vocab_size, 2·hidden_size] cannot share the embedding [vocab_size, hidden_size]; set it to false`,
    );
  }
  for (const k of ['pad_token_id', 'eos_token_id'] as const) {
    const id = f[k];
    if (id !== null && id >= f.vocab_size) {
      throw new ConfigError(k, `is ${id}, outside the vocabulary [0, ${f.vocab_size}); use an id below vocab_size or raise vocab_size`);
    }
  }
  if (f.axial_pos_embds) {
    if (f.axial_pos_shape.length !== f.axial_pos_embds_dim.length) {
      throw new ConfigError(
        'axial_pos_embds_dim',
        `has ${f.axial_pos_embds_dim.length} entries [${f.axial_pos_embds_dim.join(', ')}] but axial_pos_shape has ` +
          `${f.axial_pos_shape.length} [${f.axial_pos_shape.join(', ')}]; give one width per axis`,
      );
    }
    const sum = f.axial_pos_embds_dim.reduce((a, b) => a + b, 0);
    if (sum !== f.hidden_size) {
      throw new ConfigError(
        'axial_pos_embds_dim',
        `[${f.axial_pos_embds_dim.join(', ')}] sums to ${sum}, but the axial widths must sum to hidden_size ${f.hidden_size}; ` +
          `e.g. [${f.hidden_size - Math.floor(f.hidden_size / 2)}, ${Math.floor(f.hidden_size / 2)}]`,
      );
    }
    const prod = product(f.axial_pos_shape);
    if (prod < f.max_position_embeddings) {
      throw new ConfigError(
        'axial_pos_shape',
        `[${f.axial_pos_shape.join(', ')}] has product ${prod} < max_position_embeddings ${f.max_position_embeddings}, ` +
          `so positions ${prod}..${f.max_position_embeddings - 1} have no embedding; make the product at least ` +
          `max_position_embeddings (equal to train on sequences of that length) or lower max_position_embeddings`,
      );
    }
  }
  return f;
}
