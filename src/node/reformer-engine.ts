/**
 * The Reformer behind the CLI: `ReformerModelWithLMHead` (model/lm-model.ts) from a preset
 * (config/presets.ts) or a config.json; checkpoint bytes by model/checkpoint.ts (HF `state_dict()`
 * names, HF-loadable config.json).
 *
 * The wrapper adds `RandomStateful` (the model's generator of hash rotations and dropout seeds,
 * `model.reformer.rng`), so a resumed training run draws the same rotations as an uninterrupted one.
 */
import type { Backend, Float } from '../backend/backend.js';
import { DEFAULT_PRESET, PRESET_NAMES, preset, type PresetName } from '../config/presets.js';
import { unrecognisedConfigKeys, type ReformerConfigInput } from '../config/fields.js';
import { ReformerConfig } from '../config/reformer-config.js';
import { ConfigError } from '../errors.js';
import type {
  CausalLanguageModel,
  IncrementalDecoder,
  IncrementalDecoderOptions,
  LossResult,
  ParamTensor,
  TokenBatch,
} from '../model/language-model.js';
import { lmCheckpointToBytes, lmFromCheckpoint } from '../model/checkpoint.js';
import type { LmCallOptions } from '../model/lm-model.js';
import { ReformerModelWithLMHead } from '../model/lm-model.js';
import { chunkLengthRule } from '../model/lengths.js';
import { repeatAxialPositions } from '../model/extend-positions.js';
import type { RandomStateful } from '../train/trainer.js';
import { describeValue, intArg } from '../util/args.js';
import { Rng, type RngState } from '../util/rng.js';
import type { CreateSpec, EngineModel, LengthRule, ModelEngine } from './engine.js';

/** `ReformerModelWithLMHead` as a `CausalLanguageModel` with a saveable random state. */
export class ReformerLM implements CausalLanguageModel, RandomStateful {
  readonly lm: ReformerModelWithLMHead;
  /** @throws ConfigError('model') unless `lm` is a `ReformerModelWithLMHead`. */
  constructor(lm: ReformerModelWithLMHead) {
    if (!(lm instanceof ReformerModelWithLMHead)) {
      throw new ConfigError('model', `ReformerLM wraps a ReformerModelWithLMHead, got ${describeValue(lm)}`);
    }
    this.lm = lm;
  }
  /** The model's config (`num_buckets` as resolved): `evaluate` and `generateTokens` read its longest input and LSH layers. */
  get config(): ReformerConfig {
    return this.lm.config;
  }
  get backend(): Backend {
    return this.lm.backend;
  }
  get vocabSize(): number {
    return this.lm.vocabSize;
  }
  get params(): Float {
    return this.lm.params;
  }
  get grads(): Float {
    return this.lm.grads;
  }
  /** The HF tensors (Adafactor factors the matrices). */
  get paramTensors(): readonly ParamTensor[] {
    return this.lm.paramTensors;
  }
  lossAndGrad(batch: TokenBatch): LossResult {
    return this.lm.lossAndGrad(batch);
  }
  /** Evaluation loss; `call.numHashes` overrides `num_hashes` for this call. */
  loss(batch: TokenBatch, call: LmCallOptions = {}): LossResult {
    return this.lm.loss(batch, call);
  }
  /** Evaluation logits; `call.numHashes` overrides `num_hashes` for this call. */
  logits(batch: TokenBatch, call: LmCallOptions = {}): Float {
    return this.lm.logits(batch, call);
  }
  /** Cached incremental decoding (model/decode.ts): what `generateTokens` uses by default. */
  createDecoder(options?: IncrementalDecoderOptions): IncrementalDecoder {
    return this.lm.createDecoder(options);
  }
  getRandomState(): RngState {
    return this.lm.reformer.rng.state();
  }
  setRandomState(state: RngState): void {
    this.lm.reformer.rng = Rng.fromState(state);
  }
}

/** Two factors a·b = n with a ≤ b as close as possible (axial_pos_shape for a training length n). */
export function axialFactors(n: number): [number, number] {
  intArg('axialFactors', 'seq_len', n, 1);
  let a = Math.floor(Math.sqrt(n));
  while (n % a !== 0) a--;
  return [a, n / a];
}

/** Training length of a config: Π axial_pos_shape with axial embeddings, else max_position_embeddings. */
function trainingLength(c: ReformerConfig): number {
  return c.axial_pos_embds ? c.axial_pos_shape.reduce((x, y) => x * y, 1) : c.max_position_embeddings;
}

function wrap(lm: ReformerModelWithLMHead, label: string): EngineModel {
  const config = lm.config;
  const seqLen = trainingLength(config);
  return {
    model: new ReformerLM(lm),
    kind: 'reformer',
    seqLen,
    maxContext: config.axial_pos_embds ? Math.min(seqLen, config.max_position_embeddings) : config.max_position_embeddings,
    fixedLength: false,
    describe: () =>
      `reformer${label ? ` ${label}` : ''}: ${config.numLayers} layers (${config.attn_layers.join('/')}), hidden ${config.hidden_size}, ` +
      `${config.num_attention_heads}×${config.attention_head_size} heads, sequence ${seqLen}, ${lm.params.length.toLocaleString('en-US')} parameters`,
    configJson: () => new TextDecoder().decode(lmCheckpointToBytes(lm).config),
    weights: () => lmCheckpointToBytes(lm).safetensors,
  };
}

/**
 * What a training length of `config` must be a multiple of: the least common multiple of the chunk
 * lengths of the attention types in `attn_layers` (`chunkLengthRule`), with the fields that set it.
 */
export function chunkMultiple(config: ReformerConfig): LengthRule {
  if (!(config instanceof ReformerConfig)) {
    throw new ConfigError('config', `chunkMultiple needs a ReformerConfig (new ReformerConfig({...})), got ${describeValue(config)}`);
  }
  const { lcm, min } = chunkLengthRule(config);
  const types = [...new Set(config.attn_layers)].sort().reverse(); // 'lsh' before 'local'
  const field = (t: string): string => `${t}_attn_chunk_length`;
  const length = (t: string): number => (t === 'lsh' ? config.lsh_attn_chunk_length : config.local_attn_chunk_length);
  const why =
    types.length === 1
      ? field(types[0]!)
      : types.every((t) => length(t) === lcm)
        ? types.map(field).join(' / ')
        : `the least common multiple of ${types.map((t) => `${field(t)} ${length(t)}`).join(' and ')}`;
  return { multiple: lcm, min, why: `${why} of this model` };
}

/** The config `create(spec)` builds: the preset, the config.json fields on top, the training length. */
export function resolveConfig(spec: Omit<CreateSpec, 'seed'>): { name: PresetName; config: ReformerConfig } {
  const name = (spec.preset ?? DEFAULT_PRESET) as PresetName;
  const overrides: ReformerConfigInput = { ...(spec.config ?? {}) };
  let config = preset(name, overrides).config;
  if (spec.seqLen !== undefined && spec.seqLen !== trainingLength(config)) {
    if (!config.axial_pos_embds) {
      if (spec.seqLen > config.max_position_embeddings) {
        throw new ConfigError(
          'max_position_embeddings',
          `${config.max_position_embeddings} < --seq-len ${spec.seqLen}; raise it in the config`,
        );
      }
    } else {
      // a new training length needs axial factors with that product; buckets follow HF's rule for the new length
      config = config.with({
        axial_pos_shape: axialFactors(spec.seqLen),
        max_position_embeddings: spec.seqLen,
        num_buckets: null,
      });
    }
  }
  return { name, config };
}

/**
 * `em` with windows of up to `seqLen` tokens: the axial position table repeated with the period of the
 * training length (model/extend-positions.ts, `reformer eval --extend-positions repeat`).
 * @throws ConfigError for a model that is not this engine's Reformer, or one without axial embeddings.
 */
export function withRepeatedPositions(em: EngineModel, seqLen: number): EngineModel {
  if (!(em.model instanceof ReformerLM)) {
    throw new ConfigError('model', `--extend-positions repeat needs a Reformer checkpoint, got a ${em.kind} model`);
  }
  const lm = repeatAxialPositions(em.model.lm, seqLen);
  const trained = em.seqLen;
  const model = wrap(lm, '');
  return { ...model, describe: () => `${model.describe()} (positions repeated with period ${trained})` };
}

export const reformerEngine: ModelEngine = {
  name: 'reformer',
  presets: PRESET_NAMES,
  defaultPreset: DEFAULT_PRESET,

  create(backend: Backend, spec: CreateSpec): EngineModel {
    const { name, config } = resolveConfig(spec);
    const lm = new ReformerModelWithLMHead(backend, config, { seed: spec.seed });
    return wrap(lm, name);
  },

  trainingLength(spec: Omit<CreateSpec, 'seed'>): { seqLen: number; rule: LengthRule } {
    const { config } = resolveConfig(spec);
    return { seqLen: trainingLength(config), rule: chunkMultiple(config) };
  },

  load(backend: Backend, configObj: Record<string, unknown>, weights: Uint8Array, preset?: string): EngineModel {
    // model/checkpoint.ts: HF names, tied lm_head bias, our options from the safetensors metadata
    const lm = lmFromCheckpoint(backend, { safetensors: weights, config: configObj });
    return wrap(lm, preset ?? '');
  },

  unrecognisedConfigKeys,
};
