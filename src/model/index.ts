/**
 * The model: parameters under HF names, reversible layers, `ReformerModel`, `ReformerModelWithLMHead`
 * (a `CausalLanguageModel`), the task heads (heads/), cached incremental decoding (`DecodeSession`),
 * checkpoints as bytes, conformance handlers, the memory estimate.
 */
export type { CausalLanguageModel, LossResult, TokenBatch } from './language-model.js';
export { Parameters } from './parameters.js';
export type { ParamEntry, ParamInit, ParamSpec } from './parameters.js';
export type { ReversibleMode } from './reversible.js';
export { ReformerModel } from './reformer-model.js';
export { reformerParamSpecs } from './param-specs.js';
export { chunkLengthRule } from './lengths.js';
export type { ReformerModelInit } from './reformer-model.js';
export type { EncoderInput, EncoderOutput, OutputSink } from './encoder-types.js';
export { estimateMemory, encoderParameterCount, lmParameterCount } from './memory/estimate.js';
export { checkMemory } from './memory/check.js';
export type { MemoryEstimate, MemoryEstimateOptions, MemoryMode } from './memory/estimate.js';
export { ReformerModelWithLMHead, lmParamSpecs } from './lm-model.js';
export type { IncrementalDecoder, IncrementalDecoderOptions } from './language-model.js';
export { DecodeSession } from './decode.js';
export type { DecodeCapture, DecodeOptions, DecodePromptCapture, DecodeStepCapture } from './decode-types.js';
export { decodeCacheBytes, DEFAULT_MAX_CACHE_BYTES } from './memory/decode.js';
export type { LmCallOptions, LmTrainResult } from './lm-model.js';
export {
  CHECKPOINT_FILE_NAMES,
  lmCheckpointToBytes,
  lmFromCheckpoint,
  encoderCheckpointToBytes,
  encoderFromCheckpoint,
  configFromBytes,
  loadParameters,
  parametersToSafetensors,
} from './checkpoint.js';
export type { CheckpointFiles, LoadOptions, SaveOptions } from './checkpoint.js';
// task heads (the rest of src/model/heads/ is reachable from its own barrel, heads/index.ts)
export {
  ReformerForMaskedLM,
  ReformerForSequenceClassification,
  ReformerForQuestionAnswering,
  modelFromCheckpoint,
  checkpointToBytes,
  loadPretrainedWeights,
  labelInfo,
  withLabels,
} from './heads/index.js';
export type {
  AnyReformerModel,
  ClassificationLabels,
  LabelInfo,
  ProblemType,
  ReformerArchitecture,
  SpanLogits,
  SpanPositions,
  TaskCallOptions,
} from './heads/index.js';
