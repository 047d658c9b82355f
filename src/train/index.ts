/**
 * Training, evaluation and generation (browser-safe: no file system; see `node/` for files and the CLI).
 */
export { ByteTokenizer, bytesPerTokenOf, tokenizerByName, type StreamDecoder, type Tokenizer } from './tokenizer.js';
export {
  parseFasta,
  prepareCorpus,
  type CorpusFormat,
  type FastaOptions,
  type LetterCounts,
  type PreparedCorpus,
  type PrepareCorpusOptions,
} from './corpus.js';
export {
  BatchSampler,
  splitTokens,
  type BatchSource,
  type DataSplit,
  type SamplerOptions,
  type SamplerState,
  type SplitOptions,
} from './data.js';
export { learningRate, type LrSchedule, type ScheduleKind } from './schedule.js';
export {
  AdamW,
  clipGradNorm,
  type AdamWConfig,
  type AdamWOptions,
  type Optimizer,
  type OptimizerName,
  type UpdateInfo,
} from './optimizer.js';
export { Adafactor, type AdafactorConfig, type AdafactorOptions } from './adafactor.js';
export {
  OPTIMIZER_NAMES,
  train,
  Trainer,
  type CheckpointReason,
  type OptimizerOptions,
  type StoredOptimizerConfig,
  type RandomStateful,
  type StepInfo,
  type StopReason,
  type StoredTrainOptions,
  type TrainerSnapshot,
  type TrainerState,
  type TrainHooks,
  type TrainOptions,
  type TrainResult,
  type ValidationInfo,
} from './trainer.js';
export { evaluate, type EvaluateOptions, type EvaluateResult, type TargetLoss } from './evaluate.js';
export {
  generateTokens,
  sampleToken,
  samplingDistribution,
  type GenerateOptions,
  type GenerationStats,
  type SamplingOptions,
} from './generate.js';
export { applyRepetitionPenalty } from './sampling.js';
export {
  generateText,
  streamGenerate,
  type FinishReason,
  type GenerationChunk,
  type GenerationResult,
  type StreamOptions,
} from './stream.js';
export { CHECKPOINT_FILES } from './checkpoint.js';
export { BigramLanguageModel, type BigramOptions } from './bigram.js';
// task heads: MLM masking and the task trainer (the rest: train/tasks/index.ts)
export { maskTokens, TaskTrainer } from './tasks/index.js';
export type { MaskingOptions, TaskDefinition, TaskTrainOptions } from './tasks/index.js';
