/**
 * `ReformerConfig`: HuggingFace's `ReformerConfig` (transformers `configuration_reformer.py`), field for
 * field, with HF's snake_case names and HF's defaults, validated ONCE at construction and frozen.
 *
 * - `config.json` is read and written 1:1 (`ReformerConfig.fromJSON`, `toJSON`). Keys that are not
 *   Reformer fields (HF's generic `PretrainedConfig` keys such as `architectures`, `torch_dtype`,
 *   `return_dict`, `bos_token_id`, or anything newer) are kept verbatim in `extra` and written back.
 * - Every invalid value throws `ConfigError(field, message)`; the message gives the value that was
 *   found and how to fix it. Cross-field rules (axial sizes vs `hidden_size`, `num_hidden_layers` vs
 *   `attn_layers`, token ids vs `vocab_size`, ...) are checked in the same step.
 * - Rules that depend on a particular call (the sequence length) are separate functions here:
 *   `checkSequenceLength` (HF `AxialPositionEmbeddings` / `ReformerEmbeddings` asserts) and
 *   `checkCausalLM` (HF `ReformerModelWithLMHead.__init__` asserts).
 *
 * Our own, non-HF switches (reversible vs store-activations, paper-exact attention, seeds) live in
 * `ReformerOptions` (options.ts), never in these HF keys.
 */
import { ConfigError } from '../errors.js';

/** The attention type of one layer (HF `attn_layers` entries). */
export type AttnLayerType = 'lsh' | 'local';

/** HF `hidden_act` values this library implements (`ACT2FN` entries). */
export type HiddenAct = 'relu' | 'gelu' | 'gelu_new';

/**
 * `num_buckets`: an even integer, a list of even factors (factorised hashing, bucket count = product),
 * or `null` (HF picks ≈ 2·L/chunk at the first LSH forward, see `resolveNumBuckets`).
 */
export type NumBuckets = number | readonly number[] | null;

/** Every field of HF's `ReformerConfig`, with HF's names. Shapes and units in the comments. */
export interface ReformerConfigFields {
  /** Per-head size d of queries/keys/values. `num_attention_heads·attention_head_size` need not equal `hidden_size`. */
  readonly attention_head_size: number;
  /** Attention type per layer; the number of layers is its length. */
  readonly attn_layers: readonly AttnLayerType[];
  /** Std of the normal init of the axial position weights. */
  readonly axial_norm_std: number;
  /** Axial (true) or plain learned (false) position embeddings. */
  readonly axial_pos_embds: boolean;
  /** Axial factorisation [n0, n1, ...] of positions; product == L in training, ≥ L in eval. */
  readonly axial_pos_shape: readonly number[];
  /** Width d_k of each axial table; must sum to `hidden_size`. */
  readonly axial_pos_embds_dim: readonly number[];
  /** Rows per LM-head chunk (0 = no chunking). Changes memory only, never results. */
  readonly chunk_size_lm_head: number;
  /** Rows per feed-forward chunk (0 = no chunking; paper Eq. 10). Changes memory only, never results. */
  readonly chunk_size_feed_forward: number;
  readonly eos_token_id: number | null;
  /** Inner width of the feed-forward. */
  readonly feed_forward_size: number;
  /** If set, every rotation draw is re-seeded with it (HF: `torch.manual_seed(hash_seed)`; testing only). */
  readonly hash_seed: number | null;
  readonly hidden_act: HiddenAct;
  /** Dropout on embeddings, attention output, feed-forward and final output (and axial rows in training). */
  readonly hidden_dropout_prob: number;
  /** Model width D of each reversible stream (the encoder output is 2·D wide). */
  readonly hidden_size: number;
  /** Std of the normal init of linear and embedding weights. */
  readonly initializer_range: number;
  /** Causal self-attention (required by the LM head). */
  readonly is_decoder: boolean;
  readonly layer_norm_eps: number;
  readonly local_num_chunks_before: number;
  readonly local_num_chunks_after: number;
  readonly local_attention_probs_dropout_prob: number;
  readonly local_attn_chunk_length: number;
  readonly lsh_attn_chunk_length: number;
  readonly lsh_attention_probs_dropout_prob: number;
  readonly lsh_num_chunks_before: number;
  readonly lsh_num_chunks_after: number;
  /** Longest sequence (after eval padding) the model accepts. */
  readonly max_position_embeddings: number;
  readonly num_attention_heads: number;
  readonly num_buckets: NumBuckets;
  /** Hash rounds R of LSH attention. */
  readonly num_hashes: number;
  readonly pad_token_id: number | null;
  readonly vocab_size: number;
  /** HF Reformer never ties (the decoder is [vocab, 2·D], the embedding [vocab, D]); must be false. */
  readonly tie_word_embeddings: boolean;
  /** Generation cache switch (kept for HF compatibility; this library has no generation cache). */
  readonly use_cache: boolean;
  readonly classifier_dropout: number | null;
  /** Derived: `attn_layers.length` (HF sets it in `__init__`). */
  readonly num_hidden_layers: number;
  /** Always "reformer". */
  readonly model_type: 'reformer';
}

/** HF's defaults (`ReformerConfig.__init__` and, for `chunk_size_feed_forward`, `PretrainedConfig`). */
export const REFORMER_DEFAULTS: Readonly<Omit<ReformerConfigFields, 'num_hidden_layers' | 'model_type'>> = Object.freeze({
  attention_head_size: 64,
  attn_layers: Object.freeze(['local', 'lsh', 'local', 'lsh', 'local', 'lsh'] as AttnLayerType[]),
  axial_norm_std: 1.0,
  axial_pos_embds: true,
  axial_pos_shape: Object.freeze([64, 64]),
  axial_pos_embds_dim: Object.freeze([64, 192]),
  chunk_size_lm_head: 0,
  chunk_size_feed_forward: 0,
  eos_token_id: 2,
  feed_forward_size: 512,
  hash_seed: null,
  hidden_act: 'relu',
  hidden_dropout_prob: 0.05,
  hidden_size: 256,
  initializer_range: 0.02,
  is_decoder: false,
  layer_norm_eps: 1e-12,
  local_num_chunks_before: 1,
  local_num_chunks_after: 0,
  local_attention_probs_dropout_prob: 0.05,
  local_attn_chunk_length: 64,
  lsh_attn_chunk_length: 64,
  lsh_attention_probs_dropout_prob: 0.0,
  lsh_num_chunks_before: 1,
  lsh_num_chunks_after: 0,
  max_position_embeddings: 4096,
  num_attention_heads: 12,
  num_buckets: null,
  num_hashes: 1,
  pad_token_id: 0,
  vocab_size: 320,
  tie_word_embeddings: false,
  use_cache: true,
  classifier_dropout: null,
});

/** Names of the Reformer fields (everything else in a config.json goes to `extra`). */
export const REFORMER_FIELD_NAMES: readonly string[] = Object.freeze([
  ...Object.keys(REFORMER_DEFAULTS),
  'num_hidden_layers',
  'model_type',
]);

/**
 * Fields of HF's generic `PretrainedConfig` that a Reformer config.json may carry (written by
 * `save_pretrained` or the Hub); kept in `extra` like any other unknown key, but expected there.
 */
export const HF_PRETRAINED_CONFIG_FIELD_NAMES: readonly string[] = Object.freeze([
  '_name_or_path',
  'add_cross_attention',
  'architectures',
  'bad_words_ids',
  'bos_token_id',
  'chunk_size_feed_forward',
  'cross_attention_hidden_size',
  'decoder_start_token_id',
  'diversity_penalty',
  'do_sample',
  'early_stopping',
  'eos_token_id',
  'finetuning_task',
  'forced_bos_token_id',
  'forced_eos_token_id',
  'id2label',
  'is_encoder_decoder',
  'label2id',
  'length_penalty',
  'max_length',
  'min_length',
  'no_repeat_ngram_size',
  'num_beam_groups',
  'num_beams',
  'num_return_sequences',
  'output_attentions',
  'output_hidden_states',
  'output_scores',
  'prefix',
  'problem_type',
  'pruned_heads',
  'remove_invalid_values',
  'repetition_penalty',
  'return_dict',
  'return_dict_in_generate',
  'sep_token_id',
  'task_specific_params',
  'temperature',
  'tie_encoder_decoder',
  'tie_word_embeddings',
  'tokenizer_class',
  'top_k',
  'top_p',
  'torch_dtype',
  'torchscript',
  'transformers_version',
  'typical_p',
  'use_bfloat16',
  'use_cache',
]);

/**
 * Keys of a config object that are neither Reformer fields nor generic HF config fields: most likely a
 * misspelt field (they are kept and written back, as HF does, but change nothing).
 */
export function unrecognisedConfigKeys(obj: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(obj).filter((k) => !REFORMER_FIELD_NAMES.includes(k) && !HF_PRETRAINED_CONFIG_FIELD_NAMES.includes(k));
}

/** Input of the constructor: any subset of the fields, plus unknown keys (kept in `extra`). */
export type ReformerConfigInput = Partial<{ -readonly [K in keyof ReformerConfigFields]: unknown }> & Record<string, unknown>;

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
  declare readonly num_buckets: NumBuckets;
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
export function checkSequenceLength(config: ReformerConfig, seqLen: number, training: boolean, given = seqLen): void {
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

/**
 * HF `LSHSelfAttention._set_num_buckets` for `num_buckets = null`: `e = bit_length(2·(L // chunk)) − 1`,
 * `N = 2^e`, factorised to `[2^(e//2), 2^(e − e//2)]` when `N > 2·max(⌊sqrt(max_position_embeddings // chunk)⌋, chunk)`.
 * Returns `num_buckets` unchanged when it is set. `seqLen` is the (padded) length of the first LSH forward.
 */
export function resolveNumBuckets(config: ReformerConfigFields, seqLen: number): number | readonly number[] {
  if (config.num_buckets !== null) return config.num_buckets;
  const chunk = config.lsh_attn_chunk_length;
  const e = bitLength(2 * Math.floor(seqLen / chunk)) - 1;
  const n = 2 ** e;
  const limit = 2 * Math.max(Math.floor(Math.sqrt(Math.floor(config.max_position_embeddings / chunk))), chunk);
  if (n > limit) return Object.freeze([2 ** Math.floor(e / 2), 2 ** (e - Math.floor(e / 2))]);
  return n;
}

/** Product of the bucket factors (the number of buckets per round, without the padding bucket). */
export function bucketCount(numBuckets: number | readonly number[]): number {
  return typeof numBuckets === 'number' ? numBuckets : product(numBuckets);
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

/** Deepest nesting of objects/arrays accepted in a non-Reformer key (HF configs nest a few levels). */
export const MAX_EXTRA_DEPTH = 64;

/**
 * A non-Reformer key of config.json is kept verbatim, so it must be plain JSON data: not `__proto__`
 * (it would replace the prototype instead of being kept), nested at most MAX_EXTRA_DEPTH levels (a deeper
 * value overflows the stack when copied or written back). Iterative: never recurses on the input.
 */
function checkExtraValue(key: string, value: unknown): void {
  if (key === '__proto__') {
    throw new ConfigError('__proto__', 'is not a valid config.json key (it would be read as the object prototype); remove it');
  }
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_EXTRA_DEPTH) {
      throw new ConfigError(
        key,
        `nests objects/arrays more than ${MAX_EXTRA_DEPTH} levels deep; config.json values must be shallow JSON data`,
      );
    }
    for (const x of Object.values(v as object)) stack.push([x, depth + 1]);
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `"${v}" (a string)`;
  if (Array.isArray(v)) return `[${v.map((x) => (typeof x === 'string' ? `"${x}"` : String(x))).join(', ')}]`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function number(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ConfigError(field, `must be a finite number, got ${describe(v)}`);
  }
  return v + 0; // -0 becomes 0, as config.json writes it
}

/** Largest size or id: token ids, positions and indices are int32 in the kernels. */
export const MAX_CONFIG_INT = 0x7fffffff;

function notAboveInt32(field: string, x: number, v: unknown): number {
  if (x > MAX_CONFIG_INT) {
    throw new ConfigError(field, `must be at most ${MAX_CONFIG_INT} (sizes and ids are int32), got ${describe(v)}`);
  }
  return x;
}

function posInt(field: string, v: unknown): number {
  const x = number(field, v);
  if (!Number.isInteger(x) || x < 1)
    throw new ConfigError(field, `must be a positive integer, got ${describe(v)}; e.g. ${Math.max(1, Math.round(Math.abs(x)))}`);
  return notAboveInt32(field, x, v);
}

function nonNegInt(field: string, v: unknown): number {
  const x = number(field, v);
  if (!Number.isInteger(x) || x < 0)
    throw new ConfigError(field, `must be a non-negative integer, got ${describe(v)}; e.g. ${Math.max(0, Math.round(Math.abs(x)))}`);
  return notAboveInt32(field, x, v);
}

function optionalNonNegInt(field: string, v: unknown): number | null {
  return v === null ? null : nonNegInt(field, v);
}

function optionalInt(field: string, v: unknown): number | null {
  if (v === null) return null;
  const x = number(field, v);
  if (!Number.isSafeInteger(x)) throw new ConfigError(field, `must be an integer or null, got ${describe(v)}`);
  return x;
}

function positive(field: string, v: unknown): number {
  const x = number(field, v);
  if (!(x > 0)) throw new ConfigError(field, `must be > 0, got ${describe(v)}`);
  return x;
}

function nonNegative(field: string, v: unknown): number {
  const x = number(field, v);
  if (x < 0) throw new ConfigError(field, `must be ≥ 0, got ${describe(v)}`);
  return x;
}

function probability(field: string, v: unknown): number {
  const x = number(field, v);
  if (x < 0 || x >= 1) throw new ConfigError(field, `must be a dropout probability in [0, 1), got ${describe(v)}`);
  return x;
}

function bool(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(field, `must be true or false, got ${describe(v)}`);
  return v;
}

function intList(field: string, v: unknown): readonly number[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new ConfigError(field, `must be a non-empty list of positive integers, got ${describe(v)}`);
  v.forEach((x, i) => {
    posInt(`${field}[${i}]`, x);
  });
  return Object.freeze([...(v as number[])]);
}

function attnLayers(v: unknown): readonly AttnLayerType[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw new ConfigError('attn_layers', `must be a non-empty list of "lsh" / "local", got ${describe(v)}`);
  }
  v.forEach((x, i) => {
    if (x !== 'lsh' && x !== 'local') {
      throw new ConfigError('attn_layers', `entry ${i} is ${describe(x)}; each entry must be "lsh" or "local"`);
    }
  });
  return Object.freeze([...(v as AttnLayerType[])]);
}

function hiddenAct(v: unknown): HiddenAct {
  if (v !== 'relu' && v !== 'gelu' && v !== 'gelu_new') {
    throw new ConfigError('hidden_act', `is ${describe(v)}; supported: "relu", "gelu" (exact erf) and "gelu_new" (tanh approximation)`);
  }
  return v;
}

function numBuckets(v: unknown): NumBuckets {
  if (v === null) return null;
  const checkOne = (x: unknown, where: string): number => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 2 || x % 2 !== 0) {
      throw new ConfigError(
        'num_buckets',
        `${where}must be an even integer ≥ 2 (angular LSH splits [xR, −xR]), got ${describe(x)}; e.g. ${evenAbove(x)}`,
      );
    }
    return notAboveInt32('num_buckets', x, x);
  };
  if (Array.isArray(v)) {
    if (v.length === 0)
      throw new ConfigError('num_buckets', 'is an empty list; give even factors such as [8, 8], an even integer, or null');
    v.forEach((x, i) => {
      checkOne(x, `factor ${i} `);
    });
    const total = product(v as number[]);
    if (total > MAX_CONFIG_INT) {
      throw new ConfigError(
        'num_buckets',
        `factors [${v.join(', ')}] multiply to ${total} buckets, more than ${MAX_CONFIG_INT}; use fewer or smaller factors`,
      );
    }
    return Object.freeze([...(v as number[])]);
  }
  return checkOne(v, '');
}

function evenAbove(x: unknown): number {
  const n = typeof x === 'number' && Number.isFinite(x) ? Math.max(2, Math.ceil(Math.abs(x))) : 2;
  return n % 2 === 0 ? n : n + 1;
}

function product(xs: readonly number[]): number {
  return xs.reduce((a, b) => a * b, 1);
}

/** Python's `int.bit_length` for non-negative integers. */
function bitLength(n: number): number {
  return n <= 0 ? 0 : n.toString(2).length;
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v as object)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
