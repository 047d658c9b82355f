/**
 * Data, metrics and the training loop of the task heads (masked LM, sequence classification,
 * question answering): JSON Lines records, HF's MLM masking, padding, task definitions, `TaskTrainer`.
 */
export { parseJsonLines, stringField, type JsonlRecord } from './jsonl.js';
export { maskTokens, DEFAULT_MLM_PROBABILITY, type MaskingOptions, type MaskedTokens } from './masking.js';
export { padBatch, chunksOf } from './batching.js';
export { classificationExamples, labelSchemeFromData, type ClassificationExample, type LabelScheme } from './classification-data.js';
export {
  qaRecords,
  qaTrainingWindows,
  qaWindows,
  bestSpan,
  spanText,
  type QaRecord,
  type QaWindow,
  type SpanPrediction,
} from './qa-data.js';
export { classificationMetrics, meanSquaredError, normalizeAnswer, squadScores } from './metrics.js';
export {
  ClassificationTask,
  MaskedLmTask,
  QuestionAnsweringTask,
  type AnswerPrediction,
  type ClassPrediction,
  type TaskDefinition,
  type TaskEvaluation,
  type TaskKind,
} from './tasks.js';
export {
  ExampleSampler,
  TaskTrainer,
  type TaskTrainHooks,
  type TaskTrainOptions,
  type TaskTrainResult,
  type TaskValidationInfo,
} from './task-trainer.js';
