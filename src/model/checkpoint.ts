/**
 * HF-compatible checkpoints as BYTES (no file system in the core; `src/node/` writes files):
 *
 *   model.safetensors   every parameter under its HF `state_dict()` name, F32 (default) little-endian,
 *                       `__metadata__.format = "pt"` (what transformers' safetensors loader requires);
 *                       `lm_head.decoder.bias` is written too, equal to `lm_head.bias` (one tied parameter)
 *   config.json         `ReformerConfig.toJSONString()` with `num_buckets` as resolved by the first LSH
 *                       forward (HF writes it back the same way), `architectures` and `model_type`
 *
 * so `ReformerModelWithLMHead.from_pretrained(folder)` in transformers loads a folder holding the two
 * files, and `lmFromCheckpoint` loads HF's own `save_pretrained(..., safe_serialization=True)` output.
 * Our non-HF options travel in the safetensors metadata (`reformer_ts.options`), never in config.json's keys.
 */
import type { Backend } from '../backend/backend.js';
import { resolveOptions, type ReformerOptions } from '../config/options.js';
import { checkCausalLM, ReformerConfig } from '../config/reformer-config.js';
import { ConfigError, FormatError, NumericalError } from '../errors.js';
import { backendArg, describeValue, objectArg, optionsArg } from '../util/args.js';
import { parseSafetensors, SafetensorsFile, serializeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import { lmParamSpecs, ReformerModelWithLMHead } from './lm-model.js';
import { Parameters, type ParamSpec } from './parameters.js';
import { reformerParamSpecs } from './param-specs.js';
import { ReformerModel } from './reformer-model.js';
import { nonFiniteSummary } from './numerics.js';

/** The two files of a checkpoint folder, as bytes. */
export interface CheckpointFiles {
  /** `model.safetensors` */
  readonly safetensors: Uint8Array;
  /** `config.json` (UTF-8) */
  readonly config: Uint8Array;
}

/** File names HF uses for the two files. */
export const CHECKPOINT_FILE_NAMES = Object.freeze({ safetensors: 'model.safetensors', config: 'config.json' });

export const TIED_BIAS = 'lm_head.bias';
export const TIED_BIAS_ALIAS = 'lm_head.decoder.bias';
/** safetensors metadata key of our options (never a config.json key). */
export const OPTIONS_KEY = 'reformer_ts.options';

export interface SaveOptions {
  /** Element type written (default F32, as HF checkpoints). F64 only for debugging. */
  readonly dtype?: 'F32' | 'F64';
  /** Extra `__metadata__` strings (e.g. training step); `format` and our options are added. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * A model argument of the checkpoint functions: an instance of `cls`.
 * @throws ConfigError('model') naming the class to pass.
 */
export function modelOfClass<T>(where: string, model: unknown, cls: { prototype: T }, what: string): asserts model is T {
  if (!(model instanceof (cls as unknown as abstract new () => unknown)))
    throw new ConfigError('model', `${where} needs ${what}, got ${describeValue(model)}`);
}

/**
 * The arguments of the `*FromCheckpoint` builders (O(1)): a backend, the checkpoint's files, load options.
 * @throws ConfigError (`backend`, `files`, `options`).
 */
export function checkpointArgs(where: string, backend: unknown, files: unknown, load: unknown): void {
  backendArg(where, backend);
  const what =
    "the checkpoint's files { config: config.json text, bytes or object, safetensors: model.safetensors bytes or a SafetensorsFile }";
  objectArg(where, 'files', files, what);
  if (!(files.safetensors instanceof Uint8Array) && !(files.safetensors instanceof SafetensorsFile)) {
    throw new ConfigError(
      'files',
      `${where}: files.safetensors must be model.safetensors bytes (a Uint8Array) or a SafetensorsFile, got ${describeValue(files.safetensors)}`,
    );
  }
  optionsArg(where, load as LoadOptions, '{ strict: false, options: { seed: 1 } }');
}

/**
 * Serialises a parameter store (HF names) to safetensors bytes. `aliases` maps extra names to existing ones.
 * @throws ConfigError for a `params` that is not a `Parameters`, `metadata` or `aliases` that are not
 *   objects of strings, a `dtype` other than 'F32' / 'F64'.
 */
export function parametersToSafetensors(
  params: Parameters,
  metadata: Record<string, string>,
  dtype: 'F32' | 'F64' = 'F32',
  aliases: Readonly<Record<string, string>> = {},
): Uint8Array {
  const where = 'parametersToSafetensors';
  if (!(params instanceof Parameters)) {
    throw new ConfigError('params', `${where} needs a model's Parameters (model.parameters), got ${describeValue(params)}`);
  }
  for (const [field, v] of [
    ['metadata', metadata],
    ['aliases', aliases],
  ] as const) {
    objectArg(where, field, v, 'an object of strings such as { step: "100" }');
    for (const [k, s] of Object.entries(v)) {
      if (typeof s !== 'string') throw new ConfigError(field, `${where}: ${field}.${k} must be a string, got ${describeValue(s)}`);
    }
  }
  if (dtype !== 'F32' && dtype !== 'F64') throw new ConfigError('dtype', `${where}: must be 'F32' or 'F64', got ${describeValue(dtype)}`);
  const tensors: TensorToWrite[] = [];
  const add = (name: string, source: string): void => {
    const e = params.entry(source);
    const view = params.param(source);
    const data = dtype === 'F64' ? Float64Array.from(view) : view instanceof Float32Array ? view : Float32Array.from(view);
    tensors.push({ name, shape: e.shape, data, dtype });
  };
  for (const e of params.entries) add(e.name, e.name);
  for (const [alias, source] of Object.entries(aliases)) add(alias, source);
  tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return serializeSafetensors(tensors, { format: 'pt', ...metadata });
}

/** config.json bytes of a model: resolved `num_buckets`, `architectures` set when absent. */
export function configBytes(config: ReformerConfig, architecture: string): Uint8Array {
  const withArch = config.extra.architectures === undefined ? config.with({ architectures: [architecture] }) : config;
  return new TextEncoder().encode(withArch.toJSONString());
}

/**
 * Checkpoint bytes of a causal LM (`ReformerModelWithLMHead`).
 * @throws ConfigError for a `model` of another class or `save` options that are not an object.
 */
export function lmCheckpointToBytes(model: ReformerModelWithLMHead, save: SaveOptions = {}): CheckpointFiles {
  modelOfClass(
    'lmCheckpointToBytes',
    model,
    ReformerModelWithLMHead,
    'a ReformerModelWithLMHead (checkpointToBytes takes any Reformer class)',
  );
  optionsArg('lmCheckpointToBytes', save, "{ dtype: 'F32', metadata: { step: '100' } }");
  const metadata = { ...(save.metadata ?? {}), [OPTIONS_KEY]: JSON.stringify(model.options) };
  return {
    safetensors: parametersToSafetensors(model.parameters, metadata, save.dtype ?? 'F32', { [TIED_BIAS_ALIAS]: TIED_BIAS }),
    config: configBytes(model.resolvedConfig(), 'ReformerModelWithLMHead'),
  };
}

/**
 * Checkpoint bytes of a bare encoder (`ReformerModel`, names without the `reformer.` prefix).
 * @throws ConfigError for a `model` of another class or `save` options that are not an object.
 */
export function encoderCheckpointToBytes(model: ReformerModel, save: SaveOptions = {}): CheckpointFiles {
  modelOfClass('encoderCheckpointToBytes', model, ReformerModel, 'a ReformerModel (checkpointToBytes takes any Reformer class)');
  optionsArg('encoderCheckpointToBytes', save, "{ dtype: 'F32', metadata: { step: '100' } }");
  const metadata = { ...(save.metadata ?? {}), [OPTIONS_KEY]: JSON.stringify(model.options) };
  return {
    safetensors: parametersToSafetensors(model.parameters, metadata, save.dtype ?? 'F32'),
    config: configBytes(model.resolvedConfig(), 'ReformerModel'),
  };
}

/** Parses config.json bytes, text or an already-parsed object. @throws ConfigError (invalid JSON or fields). */
export function configFromBytes(bytes: Uint8Array | string | Record<string, unknown>): ReformerConfig {
  if (!(bytes instanceof Uint8Array) && typeof bytes !== 'string') return ReformerConfig.fromJSON(bytes);
  const text = typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  return ReformerConfig.fromJSON(text);
}

export interface LoadOptions {
  /** Our options; default: those stored in the checkpoint's metadata, else the defaults. */
  readonly options?: Partial<ReformerOptions>;
  /** Reject tensors the model does not have (default true). */
  readonly strict?: boolean;
}

/**
 * Copies a safetensors file's tensors into `params` by HF name, checking every shape and that every
 * value is finite (one pass per tensor, at load time only). All or nothing: every check runs before the
 * first value is copied, so a rejected file leaves `params` as they were (a model keeps its weights).
 * `lm_head.bias` may come as `lm_head.decoder.bias` (or both, if equal).
 * @throws FormatError naming a missing tensor, a shape mismatch, differing tied biases, or (strict)
 *   tensors the model does not have; NumericalError naming a tensor with a NaN or infinite value (its
 *   count, first index and value); ConfigError for a `params` that is not a `Parameters` or a `file`
 *   that is not a `SafetensorsFile`.
 */
export function loadParameters(params: Parameters, file: SafetensorsFile, strict = true): void {
  if (!(params instanceof Parameters)) {
    throw new ConfigError('params', `loadParameters needs a model's Parameters (model.parameters), got ${describeValue(params)}`);
  }
  if (!(file instanceof SafetensorsFile)) {
    throw new ConfigError('file', `loadParameters needs a SafetensorsFile (parseSafetensors(bytes)), got ${describeValue(file)}`);
  }
  const f64 = params.params instanceof Float64Array;
  const read = (name: string): ArrayLike<number> => (f64 ? file.float64(name) : file.float32(name));
  const staged: { name: string; shape: readonly number[]; data: ArrayLike<number> }[] = [];
  for (const e of params.entries) {
    let source = e.name;
    if (e.name === TIED_BIAS && !file.has(TIED_BIAS)) source = TIED_BIAS_ALIAS;
    if (!file.has(source)) {
      throw new FormatError(
        `checkpoint: tensor "${e.name}" [${e.shape.join(', ')}] is missing; the checkpoint does not belong to this config.json ` +
          `(has ${file.names().length} tensors, e.g. ${file.names().slice(0, 3).join(', ')})`,
      );
    }
    const shape = file.entry(source).shape;
    if (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i])) {
      throw new FormatError(
        `parameter "${e.name}" has shape [${shape.join(', ')}], the model expects [${e.shape.join(', ')}]; the checkpoint and config.json disagree`,
      );
    }
    const data = read(source);
    const bad = nonFiniteSummary(data);
    if (bad !== null) {
      throw new NumericalError(
        `checkpoint: tensor "${source}" ${bad}; the weights are damaged (a diverged training run or a corrupted file): load an earlier checkpoint`,
      );
    }
    staged.push({ name: e.name, shape, data });
  }
  if (params.has(TIED_BIAS) && file.has(TIED_BIAS) && file.has(TIED_BIAS_ALIAS)) {
    const a = file.float32(TIED_BIAS);
    const b = file.float32(TIED_BIAS_ALIAS);
    if (a.length !== b.length || a.some((v, i) => v !== b[i])) {
      throw new FormatError(
        `checkpoint: ${TIED_BIAS} and ${TIED_BIAS_ALIAS} differ, but they are one tied parameter in HF; keep one of them`,
      );
    }
  }
  if (strict) {
    const unknown = file.names().filter((n) => !params.has(n) && !(n === TIED_BIAS_ALIAS && params.has(TIED_BIAS)));
    if (unknown.length > 0) {
      throw new FormatError(
        `checkpoint: ${unknown.length} tensor(s) the model does not have: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}; ` +
          'wrong config.json or model class (ReformerModel names have no "reformer." prefix); pass strict: false to ignore them',
      );
    }
  }
  for (const t of staged) params.set(t.name, t.shape, t.data);
}

/**
 * Checks a safetensors file against the parameter layout a config.json implies, BEFORE a model is
 * built: every parameter present under its HF name (`lm_head.bias` may come as `lm_head.decoder.bias`)
 * with the layout's shape, and (strict) no foreign tensors. So a config.json that describes another
 * (possibly huge) model than the weights fails here with FormatError, without allocating its
 * parameters: what loading then allocates is bounded by the tensors actually in the file.
 */
export function checkWeightsFit(specs: readonly ParamSpec[], file: SafetensorsFile, strict = true): void {
  const names = new Set<string>();
  for (const spec of specs) {
    names.add(spec.name);
    const source = spec.name === TIED_BIAS && !file.has(TIED_BIAS) ? TIED_BIAS_ALIAS : spec.name;
    if (!file.has(source)) {
      throw new FormatError(
        `checkpoint: tensor "${spec.name}" [${spec.shape.join(', ')}] is missing; the checkpoint does not belong to this config.json ` +
          `(has ${file.names().length} tensors, e.g. ${file.names().slice(0, 3).join(', ')})`,
      );
    }
    const got = file.entry(source).shape;
    if (got.length !== spec.shape.length || got.some((d, i) => d !== spec.shape[i])) {
      throw new FormatError(
        `checkpoint: tensor "${source}" has shape [${got.join(', ')}], but config.json implies [${spec.shape.join(', ')}]; ` +
          'the checkpoint and config.json disagree (use the config.json saved with these weights)',
      );
    }
  }
  if (strict) {
    const unknown = file.names().filter((n) => !names.has(n) && !(n === TIED_BIAS_ALIAS && names.has(TIED_BIAS)));
    if (unknown.length > 0) {
      throw new FormatError(
        `checkpoint: ${unknown.length} tensor(s) the model does not have: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}; ` +
          'wrong config.json or model class (ReformerModel names have no "reformer." prefix); pass strict: false to ignore them',
      );
    }
  }
}

/** Our options stored in a checkpoint's metadata (`reformer_ts.options`), or {}. @throws FormatError (bad JSON). */
export function storedOptions(file: SafetensorsFile): Partial<ReformerOptions> {
  const raw = file.metadata[OPTIONS_KEY];
  if (raw === undefined) return {};
  try {
    return resolveOptions(JSON.parse(raw) as Partial<ReformerOptions>);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new FormatError(`checkpoint: metadata ${OPTIONS_KEY} is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Builds a `ReformerModelWithLMHead` from checkpoint bytes (`safetensors`: model.safetensors bytes, or an
 * already-read tensor file such as `readPytorchCheckpoint(bytes).tensors`).
 * @throws ConfigError (config.json; `backend`, `files` or `load` not given as such), FormatError
 *   (safetensors, names, shapes).
 */
export function lmFromCheckpoint(
  backend: Backend,
  files: { safetensors: Uint8Array | SafetensorsFile; config: Uint8Array | string | Record<string, unknown> },
  load: LoadOptions = {},
): ReformerModelWithLMHead {
  checkpointArgs('lmFromCheckpoint', backend, files, load);
  const config = configFromBytes(files.config);
  const file = files.safetensors instanceof SafetensorsFile ? files.safetensors : parseSafetensors(files.safetensors);
  checkCausalLM(config);
  checkWeightsFit(lmParamSpecs(config), file, load.strict ?? true);
  const model = new ReformerModelWithLMHead(backend, config, { ...storedOptions(file), ...(load.options ?? {}) });
  loadParameters(model.parameters, file, load.strict ?? true);
  return model;
}

/**
 * Builds a bare `ReformerModel` from checkpoint bytes (names without the `reformer.` prefix).
 * @throws as `lmFromCheckpoint`.
 */
export function encoderFromCheckpoint(
  backend: Backend,
  files: { safetensors: Uint8Array | SafetensorsFile; config: Uint8Array | string | Record<string, unknown> },
  load: LoadOptions = {},
): ReformerModel {
  checkpointArgs('encoderFromCheckpoint', backend, files, load);
  const config = configFromBytes(files.config);
  const file = files.safetensors instanceof SafetensorsFile ? files.safetensors : parseSafetensors(files.safetensors);
  checkWeightsFit(reformerParamSpecs(config), file, load.strict ?? true);
  const model = new ReformerModel(backend, config, { options: { ...storedOptions(file), ...(load.options ?? {}) } });
  loadParameters(model.parameters, file, load.strict ?? true);
  return model;
}
