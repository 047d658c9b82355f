/**
 * The model: parameters under HF names, reversible layers, `ReformerModel`, `ReformerModelWithLMHead`
 * (a `CausalLanguageModel`), checkpoints as bytes, conformance handlers, the memory estimate.
 */
export type { CausalLanguageModel, LossResult, TokenBatch } from './language-model.js';
export { Parameters } from './parameters.js';
export type { ParamEntry, ParamInit, ParamSpec } from './parameters.js';
export { reversibleForward, reversibleBackward, reversibleInverse } from './reversible.js';
export type { ReversibleBlock, ReversibleMode, ReversibleRecord, Sublayer, SublayerCall } from './reversible.js';
export { AttentionSublayer, FeedForwardSublayer } from './sublayers.js';
export { ReformerModel } from './reformer-model.js';
export { reformerParamSpecs } from './param-specs.js';
export { chunkLengthRule } from './lengths.js';
export type { ReformerModelInit } from './reformer-model.js';
export type { EncoderInput, EncoderOutput, OutputSink } from './encoder-types.js';
export { estimateMemory, encoderParameterCount, lmParameterCount } from './memory/estimate.js';
export { checkMemory } from './memory/check.js';
export type { MemoryEstimate, MemoryEstimateOptions, MemoryMode } from './memory/estimate.js';
export { ReformerModelWithLMHead, lmParamSpecs } from './lm-model.js';
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
export { modelConformanceHandlers, MODEL_CONFORMANCE_CASES } from './conformance.js';
