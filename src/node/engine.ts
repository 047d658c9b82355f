/**
 * Model engines: how the CLI creates, loads and saves a concrete model behind `CausalLanguageModel`.
 *
 * `reformerEngine` (reformer-engine.ts) is the CLI's engine: HF `ReformerModelWithLMHead` from a preset or a
 * config.json, HF-named `model.safetensors`. `bigramEngine` (bigram-engine.ts) is a baseline used by the
 * tests of the CLI's machinery. `engineForConfig` picks the engine from a checkpoint's `model_type`.
 */
import type { Backend } from '../backend/backend.js';
import { ConfigError, FormatError } from '../errors.js';
import { describeValue, isArrayValue, optionsArg } from '../util/args.js';
import type { CausalLanguageModel } from '../model/language-model.js';

/** A model ready to train, evaluate or sample, with what its checkpoint needs. */
export interface EngineModel {
  readonly model: CausalLanguageModel;
  /** `model_type` written in config.json (`reformer`, `bigram`). */
  readonly kind: string;
  /** Training window in tokens (the Reformer's Π axial_pos_shape). */
  readonly seqLen: number;
  /** Longest window evaluation and generation may use. */
  readonly maxContext: number;
  /** Whether generation must feed exactly `seqLen` tokens (padded); false = any length up to maxContext. */
  readonly fixedLength: boolean;
  /** One line for logs: size, layers, parameters. */
  describe(): string;
  /** `config.json` text. */
  configJson(): string;
  /** `model.safetensors` bytes of the current parameters. */
  weights(): Uint8Array;
}

export interface CreateSpec {
  /** Preset name (engine-specific). */
  readonly preset?: string;
  /** Parsed config.json fields applied on top of the preset. */
  readonly config?: Record<string, unknown>;
  /** Training length override. */
  readonly seqLen?: number;
  /** Initialisation seed. */
  readonly seed: number;
}

/** What a training length must be a multiple of (chunked attention) and the config fields that set it. */
export interface LengthRule {
  /** Lengths above `min` must be a multiple of this. */
  readonly multiple: number;
  /** Lengths up to this take the short path (attention over all positions) and need no multiple. */
  readonly min: number;
  /** The fields behind `multiple`, for messages, e.g. `lsh_attn_chunk_length / local_attn_chunk_length of this model`. */
  readonly why: string;
}

export interface ModelEngine {
  readonly name: string;
  /** Preset names this engine accepts (for `--help` and validation). */
  readonly presets: readonly string[];
  readonly defaultPreset: string;
  /** @throws ConfigError for an invalid preset/config/seqLen combination. */
  create(backend: Backend, spec: CreateSpec): EngineModel;
  /**
   * The training length `create(spec)` would give and the rule it must follow, without building the model
   * (so the CLI checks `--seq-len` before any work); absent when any length trains.
   * @throws ConfigError for an invalid preset/config, as `create`.
   */
  trainingLength?(spec: Omit<CreateSpec, 'seed'>): { seqLen: number; rule: LengthRule };
  /**
   * @param preset the preset the run was created from (its trainer state's), named by `describe()`.
   * @throws FormatError / ConfigError for a config or weights file that does not fit.
   */
  load(backend: Backend, config: Record<string, unknown>, weights: Uint8Array, preset?: string): EngineModel;
  /** Keys of a `--config` object this engine does not know (likely misspelt); absent: no check. */
  unrecognisedConfigKeys?(config: Readonly<Record<string, unknown>>): string[];
}

/** Parses a checkpoint's config.json bytes. @throws FormatError if it is not a JSON object. */
export function parseConfigJson(bytes: Uint8Array | string, where = 'config.json'): Record<string, unknown> {
  if (typeof bytes !== 'string' && !(bytes instanceof Uint8Array)) {
    throw new FormatError(`${where}: the config must be JSON text or its bytes, got ${describeValue(bytes)}`);
  }
  const text = typeof bytes === 'string' ? bytes : new TextDecoder().decode(bytes);
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new FormatError(`${where}: must hold a JSON object`);
  return obj as Record<string, unknown>;
}

/**
 * The engine for a checkpoint's config (`model_type`), among `engines`.
 * @throws FormatError naming the model_type and the known ones.
 */
export function engineForConfig(config: Record<string, unknown>, engines: readonly ModelEngine[], where = 'config.json'): ModelEngine {
  optionsArg('engineForConfig', config, 'parseConfigJson(text)', false);
  if (!isArrayValue(engines))
    throw new ConfigError('engines', `engineForConfig needs an array of engines such as [reformerEngine], got ${describeValue(engines)}`);
  const type = config.model_type ?? 'reformer';
  const e = engines.find((x) => x.name === type);
  if (!e)
    throw new FormatError(
      `${where}: model_type ${JSON.stringify(type)} is not supported here (known: ${engines.map((x) => x.name).join(', ')})`,
    );
  return e;
}
