/**
 * HF's task heads on `ReformerModel`: masked LM, sequence classification (single-label, regression,
 * multi-label), extractive question answering; their config fields and losses; checkpoints of every
 * Reformer class and the factory that picks the class from config.json `architectures`.
 */
export { ReformerForMaskedLM, maskedLmParamSpecs } from './masked-lm.js';
export {
  ReformerForSequenceClassification,
  classifierParamSpecs,
  type ClassificationEval,
  type ClassificationTrainResult,
} from './sequence-classification.js';
export { ReformerForQuestionAnswering, qaParamSpecs, type SpanLogits, type SpanPositions } from './question-answering.js';
export { ReformerTaskModel, type ReformerArchitecture, type TaskCallOptions } from './task-model.js';
export {
  PROBLEM_TYPES,
  checkMaskedLM,
  checkQuestionAnswering,
  classifierDropout,
  labelInfo,
  resolveProblemType,
  withLabels,
  type LabelInfo,
  type ProblemType,
} from './task-config.js';
export { classificationLossPlan, spanLoss, type ClassificationLabels, type ClassificationLossPlan, type SpanLoss } from './losses.js';
export {
  REFORMER_ARCHITECTURES,
  architectureOf,
  checkpointToBytes,
  createHeadModel,
  headCheckpointToBytes,
  headParamSpecs,
  loadPretrainedWeights,
  modelFromCheckpoint,
  type AnyReformerModel,
  type ReformerHeadModel,
} from './checkpoint.js';
export { HEAD_CONFORMANCE_CASES, headConformanceHandlers } from './conformance.js';
