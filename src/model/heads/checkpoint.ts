/**
 * Checkpoints of every Reformer class, as BYTES (the core has no file system), and the factory that
 * builds the right class from a folder's files:
 *
 *   config.json         `architectures: ["<HF class>"]` (the class this model is, replacing what the
 *                       config it came from said), the label fields (`id2label`, `label2id`,
 *                       `problem_type` as resolved), `num_buckets` as resolved
 *   model.safetensors   every parameter under its HF `state_dict()` name (F32), `lm_head.decoder.bias`
 *                       written too for the masked LM (tied to `lm_head.bias`), as model/checkpoint.ts
 *
 * so `<Class>.from_pretrained(folder)` in transformers loads what we write, strictly (no missing or
 * unexpected keys), and HF's `save_pretrained(..., safe_serialization=True)` folders of these classes
 * load here.
 *
 * `modelFromCheckpoint` picks the class from `architectures[0]`; without `architectures` it reads the
 * tensor names (HF's AutoModel would need the user to say which class): `qa_outputs.*` → question
 * answering, `classifier.*` → sequence classification, `lm_head.*` → the causal LM if `is_decoder`
 * else the masked LM, names without the `reformer.` prefix → the bare `ReformerModel`.
 */
import type { Backend } from '../../backend/backend.js';
import type { ReformerOptions } from '../../config/options.js';
import type { ReformerConfig } from '../../config/reformer-config.js';
import { ConfigError, FormatError, NumericalError } from '../../errors.js';
import { parseSafetensors, SafetensorsFile } from '../../io/safetensors.js';
import { describeValue, optionsArg } from '../../util/args.js';
import {
  type CheckpointFiles,
  checkpointArgs,
  checkWeightsFit,
  configBytes,
  configFromBytes,
  encoderCheckpointToBytes,
  encoderFromCheckpoint,
  type LoadOptions,
  lmCheckpointToBytes,
  lmFromCheckpoint,
  loadParameters,
  modelOfClass,
  OPTIONS_KEY,
  parametersToSafetensors,
  type SaveOptions,
  storedOptions,
  TIED_BIAS,
  TIED_BIAS_ALIAS,
} from '../checkpoint.js';
import { lmParamSpecs, ReformerModelWithLMHead } from '../lm-model.js';
import { reformerParamSpecs } from '../param-specs.js';
import type { ParamSpec } from '../parameters.js';
import { ReformerModel } from '../reformer-model.js';
import { nonFiniteSummary } from '../numerics.js';
import { ReformerForMaskedLM } from './masked-lm.js';
import { qaParamSpecs, ReformerForQuestionAnswering } from './question-answering.js';
import { classifierParamSpecs, ReformerForSequenceClassification } from './sequence-classification.js';
import { checkMaskedLM, checkQuestionAnswering, labelInfo } from './task-config.js';
import { ReformerTaskModel, type ReformerArchitecture } from './task-model.js';

/** The HF classes `modelFromCheckpoint` builds. */
export const REFORMER_ARCHITECTURES: readonly ReformerArchitecture[] = Object.freeze([
  'ReformerModel',
  'ReformerModelWithLMHead',
  'ReformerForMaskedLM',
  'ReformerForSequenceClassification',
  'ReformerForQuestionAnswering',
]);

/** Any model `modelFromCheckpoint` returns (narrow with `instanceof`). */
export type AnyReformerModel =
  | ReformerModel
  | ReformerModelWithLMHead
  | ReformerForMaskedLM
  | ReformerForSequenceClassification
  | ReformerForQuestionAnswering;

/** The three head classes. */
export type ReformerHeadModel = ReformerForMaskedLM | ReformerForSequenceClassification | ReformerForQuestionAnswering;

type ConfigSource = Uint8Array | string | Record<string, unknown>;

/**
 * The class a checkpoint holds: `architectures[0]` of its config.json, else inferred from the tensor
 * names (see the file header).
 * @throws ConfigError naming `architectures` for a class this library does not build (the known ones
 *   are listed) or a value that is not a list of strings, and when nothing tells the class.
 */
export function architectureOf(config: ReformerConfig, file: SafetensorsFile | null): ReformerArchitecture {
  const arch = config.extra.architectures;
  if (arch !== undefined && arch !== null) {
    if (!Array.isArray(arch) || arch.length === 0 || typeof arch[0] !== 'string') {
      throw new ConfigError(
        'architectures',
        `must be a list of HF class names, e.g. ["ReformerForSequenceClassification"], got ${JSON.stringify(arch)}`,
      );
    }
    const name = arch[0] as string;
    if (!(REFORMER_ARCHITECTURES as readonly string[]).includes(name)) {
      throw new ConfigError(
        'architectures',
        `names ${JSON.stringify(name)}, which this library does not build; known: ${REFORMER_ARCHITECTURES.join(', ')} ` +
          '(fix architectures in config.json, or remove it to choose the class from the tensor names)',
      );
    }
    return name as ReformerArchitecture;
  }
  if (file) {
    if (file.has('qa_outputs.weight')) return 'ReformerForQuestionAnswering';
    if (file.has('classifier.out_proj.weight')) return 'ReformerForSequenceClassification';
    if (file.has('lm_head.decoder.weight')) return config.is_decoder ? 'ReformerModelWithLMHead' : 'ReformerForMaskedLM';
    if (file.has('embeddings.word_embeddings.weight')) return 'ReformerModel';
  }
  throw new ConfigError(
    'architectures',
    `is missing and the tensor names do not tell the class; set it to one of ${REFORMER_ARCHITECTURES.join(', ')}`,
  );
}

/**
 * The parameters (HF names, shapes) of a head class for a config, without building it; the class's
 * config rules are checked as its constructor does.
 * @throws ConfigError (is_decoder for the masked LM, label fields, num_labels for question answering).
 */
export function headParamSpecs(architecture: ReformerHeadModel['architecture'], config: ReformerConfig): ParamSpec[] {
  const encoder = reformerParamSpecs(config, 'reformer.');
  switch (architecture) {
    case 'ReformerForMaskedLM':
      checkMaskedLM(config);
      return lmParamSpecs(config);
    case 'ReformerForSequenceClassification':
      return [...encoder, ...classifierParamSpecs(config, labelInfo(config).numLabels)];
    case 'ReformerForQuestionAnswering':
      checkQuestionAnswering(labelInfo(config));
      return [...encoder, ...qaParamSpecs(config)];
  }
}

/** A head class for a config (nothing loaded). @throws ConfigError as the class's constructor. */
export function createHeadModel(
  backend: Backend,
  architecture: ReformerHeadModel['architecture'],
  config: ReformerConfig,
  options: Partial<ReformerOptions> = {},
): ReformerHeadModel {
  switch (architecture) {
    case 'ReformerForMaskedLM':
      return new ReformerForMaskedLM(backend, config, options);
    case 'ReformerForSequenceClassification':
      return new ReformerForSequenceClassification(backend, config, options);
    case 'ReformerForQuestionAnswering':
      return new ReformerForQuestionAnswering(backend, config, options);
  }
}

/**
 * Builds the class named by the checkpoint (see `architectureOf`) and loads its weights strictly: every
 * parameter present with its HF shape, finite, and (strict, the default) no foreign tensor. The weights
 * are checked against the config before the model is built.
 * @throws ConfigError (config.json, an unknown class; `backend`, `files` or `load` not given as such),
 *   FormatError (safetensors, names, shapes, values).
 */
export function modelFromCheckpoint(
  backend: Backend,
  files: { safetensors: Uint8Array | SafetensorsFile; config: ConfigSource },
  load: LoadOptions = {},
): AnyReformerModel {
  checkpointArgs('modelFromCheckpoint', backend, files, load);
  const config = configFromBytes(files.config);
  const file = files.safetensors instanceof SafetensorsFile ? files.safetensors : parseSafetensors(files.safetensors);
  const arch = architectureOf(config, file);
  if (arch === 'ReformerModelWithLMHead') return lmFromCheckpoint(backend, { safetensors: file, config: config.toJSON() }, load);
  if (arch === 'ReformerModel') return encoderFromCheckpoint(backend, { safetensors: file, config: config.toJSON() }, load);
  const strict = load.strict ?? true;
  const options = { ...storedOptions(file), ...(load.options ?? {}) };
  // the layout the config implies, checked against the file before anything is allocated
  checkWeightsFit(headParamSpecs(arch, config), file, strict);
  const model = createHeadModel(backend, arch, config, options);
  loadParameters(model.parameters, file, strict);
  return model;
}

const ANY_MODEL =
  'a Reformer model (ReformerModelWithLMHead, ReformerModel, ReformerForMaskedLM, ...ForSequenceClassification, ...ForQuestionAnswering)';

/**
 * Checkpoint bytes of any Reformer class (HF-loadable; see the file header).
 * @throws ConfigError for a `model` that is none of the Reformer classes or `save` options that are not an object.
 */
export function checkpointToBytes(model: AnyReformerModel, save: SaveOptions = {}): CheckpointFiles {
  if (model instanceof ReformerModelWithLMHead) return lmCheckpointToBytes(model, save);
  if (model instanceof ReformerModel) return encoderCheckpointToBytes(model, save);
  modelOfClass('checkpointToBytes', model, ReformerTaskModel, ANY_MODEL);
  return headCheckpointToBytes(model, save);
}

/** Checkpoint bytes of a head model: `architectures` set to its class, label fields and buckets resolved. */
export function headCheckpointToBytes(model: ReformerTaskModel, save: SaveOptions = {}): CheckpointFiles {
  optionsArg('checkpointToBytes', save, "{ dtype: 'F32', metadata: { step: '100' } }");
  const metadata = { ...(save.metadata ?? {}), [OPTIONS_KEY]: JSON.stringify(model.options) };
  const aliases: Record<string, string> = model.parameters.has(TIED_BIAS) ? { [TIED_BIAS_ALIAS]: TIED_BIAS } : {};
  const config = model.resolvedConfig().with({ architectures: [model.architecture] });
  return {
    safetensors: parametersToSafetensors(model.parameters, metadata, save.dtype ?? 'F32', aliases),
    config: configBytes(config, model.architecture),
  };
}

/**
 * Starts a head model from a pretrained checkpoint of another class (HF's `from_pretrained` of a head
 * class on an LM, masked-LM, classifier or bare-encoder checkpoint): every parameter of `model` found in
 * `file` is copied (the encoder's as `reformer.*`, or unprefixed from a bare `ReformerModel`;
 * `lm_head.bias` also as `lm_head.decoder.bias`), and the rest keep their fresh initialisation.
 * All or nothing: every tensor is checked before the first is copied.
 * @returns the names of the parameters that were not in the file (the new head's).
 * @throws FormatError if an encoder parameter is missing (the checkpoint is not a Reformer of this
 *   config), has another shape, or holds a NaN or infinite value; ConfigError for a `model` that is not
 *   a task head model or a `file` that is not a `SafetensorsFile`.
 */
export function loadPretrainedWeights(model: ReformerTaskModel, file: SafetensorsFile): string[] {
  modelOfClass(
    'loadPretrainedWeights',
    model,
    ReformerTaskModel,
    'a task head model (ReformerForMaskedLM, ...ForSequenceClassification, ...ForQuestionAnswering)',
  );
  if (!(file instanceof SafetensorsFile)) {
    throw new ConfigError('file', `loadPretrainedWeights needs a SafetensorsFile (parseSafetensors(bytes)), got ${describeValue(file)}`);
  }
  const f64 = model.params instanceof Float64Array;
  const staged: { name: string; shape: readonly number[]; data: ArrayLike<number> }[] = [];
  const fresh: string[] = [];
  for (const e of model.parameters.entries) {
    const candidates = [e.name];
    if (e.name.startsWith('reformer.')) candidates.push(e.name.slice('reformer.'.length));
    if (e.name === TIED_BIAS) candidates.push(TIED_BIAS_ALIAS);
    const source = candidates.find((n) => file.has(n));
    if (source === undefined) {
      if (e.name.startsWith('reformer.')) {
        throw new FormatError(
          `pretrained checkpoint: encoder tensor "${e.name}" [${e.shape.join(', ')}] is missing (has ${file.names().length} tensors, e.g. ${file.names().slice(0, 3).join(', ')}); ` +
            'it is not a Reformer of this config.json',
        );
      }
      fresh.push(e.name);
      continue;
    }
    const shape = file.entry(source).shape;
    if (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i])) {
      throw new FormatError(
        `pretrained checkpoint: tensor "${source}" has shape [${shape.join(', ')}], the model expects [${e.shape.join(', ')}]`,
      );
    }
    const data = f64 ? file.float64(source) : file.float32(source);
    const bad = nonFiniteSummary(data);
    if (bad !== null)
      throw new NumericalError(
        `pretrained checkpoint: tensor "${source}" ${bad}; the weights are damaged (a diverged training run or a corrupted file)`,
      );
    staged.push({ name: e.name, shape, data });
  }
  for (const t of staged) model.parameters.set(t.name, t.shape, t.data);
  return fresh;
}
