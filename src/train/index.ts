/**
 * Training, evaluation and generation (browser-safe: no file system; see `node/` for files and the CLI).
 */
export { ByteTokenizer, tokenizerByName, type StreamDecoder, type Tokenizer } from './tokenizer.js';
export {
  firstInvalidUtf8,
  gunzip,
  isGzip,
  looksLikeFasta,
  parseFasta,
  prepareCorpus,
  FASTA_AMBIGUOUS_MODES,
  FASTA_CASE_MODES,
  type CorpusFormat,
  type FastaOptions,
  type LetterCounts,
  type PreparedCorpus,
  type PrepareCorpusOptions,
} from './corpus.js';
export {
  BatchSampler,
  DEFAULT_VALIDATION_FRACTION,
  splitTokens,
  validationLength,
  type DataSplit,
  type SamplerOptions,
  type SamplerState,
  type SplitOptions,
} from './data.js';
export { learningRate, validateSchedule, type LrSchedule, type ScheduleKind } from './schedule.js';
export {
  AdamW,
  clipGradNorm,
  resolveAdamW,
  type AdamWConfig,
  type AdamWOptions,
  type Optimizer,
  type OptimizerName,
  type UpdateInfo,
} from './optimizer.js';
export { Adafactor, resolveAdafactor, type AdafactorConfig, type AdafactorOptions } from './adafactor.js';
export {
  createOptimizer,
  OPTIMIZER_NAMES,
  optimizerName,
  optionsFromState,
  train,
  Trainer,
  validateTrainOptions,
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
export { evaluate, evaluationWindows, type EvaluateOptions, type EvaluateResult, type TargetLoss } from './evaluate.js';
export {
  drawFrom,
  generateTokens,
  sampleToken,
  samplingDistribution,
  validateSampling,
  type GenerateOptions,
  type SamplingOptions,
} from './generate.js';
export { CHECKPOINT_FILES, decodeTrainerSnapshot, encodeTrainerSnapshot } from './checkpoint.js';
export { BigramLanguageModel, type BigramOptions } from './bigram.js';
