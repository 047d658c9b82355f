/**
 * Node-only adapters (package export `reformer-ts/node`): files, checkpoints on disk, progress,
 * signals, model engines, the WASM loader and its worker-thread pool, the conformance folder runner,
 * and the CLI entry point.
 * Everything browser-safe lives in the core (`reformer-ts`).
 */
export {
  MANIFEST,
  readDirChecked,
  type CheckedDir,
  type ManifestProblem,
  resolveCompleteDir,
  writeDirAtomic,
  writeFileAtomic,
  writeManifest,
  type AtomicDirHooks,
  type Manifest,
} from './atomic.js';
export {
  CHECKPOINT_SUBDIR,
  checkCheckpointPath,
  checkpointDirFor,
  loadCheckpoint,
  rehashCheckpoint,
  saveCheckpoint,
  type CheckpointParts,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  type RehashedFile,
} from './checkpoint.js';
export { checkReadableFile, formatFromPath, readCorpusFile } from './corpus-file.js';
export { HF_WEIGHT_FILES, readHfFolder, type HfFolderFiles } from './hf-folder.js';
export { checkOutputDir } from './paths.js';
export { engineForConfig, parseConfigJson, type CreateSpec, type EngineModel, type LengthRule, type ModelEngine } from './engine.js';
export { axialFactors, chunkMultiple, reformerEngine, ReformerLM } from './reformer-engine.js';
export { bigramEngine } from './bigram-engine.js';
export { MetricsLog, type MetricsRecord, type TrainRecord, type ValidationRecord } from './metrics.js';
export { trainingCurveSpec, trainingCurveSvg } from './plot.js';
export { fmtDuration, TaskProgress, TrainingProgress, type ProgressOptions, type TaskProgressOptions } from './progress.js';
export { StopSignals, type StopSignal } from './signals.js';
export {
  defaultBuildDir,
  defaultThreads,
  loadWasmBackend,
  loadWasmBackendSync,
  relaxedSimdSupported,
  type LoadWasmBackendOptions,
} from './wasm.js';
export { WorkerPool, type WorkerPoolOptions } from './threads/pool.js';
export { readConformanceFolder, runConformanceFolder } from './conformance.js';
export { EXIT, NotAvailableError, type CliContext } from './cli/context.js';
export { main, runCli } from './cli/main.js';
