/**
 * The training step of every `reformer task` (duplication, genome, fashion-mnist, forecast; passkey to
 * follow): a `Trainer` (or `TaskTrainer`) runs with a `TrainingProgress` on the command's stderr, is
 * timed (`meter`), and the trained model is saved with its final trainer state as a checkpoint directory
 * (src/node/checkpoint.ts, atomic). Also the two rules the commands share around it: the default
 * warm-up, and the `Trainer` of a causal LM fed by generated batches.
 *
 *   const trainer = lmTrainer(lm, { batch, seqLen, steps, lr, warmupSteps: warmupSteps(steps, flags.warmup), seed }, batches);
 *   const { run, seconds } = await trainAndSave(trainer, {
 *     stream: ctx.stderr, totalSteps: steps, logEvery: 50, bitsPerByte: false,
 *     checkpoint: { dir, files: () => lmCheckpointToBytes(lm) },
 *   });
 */
import type { CheckpointFiles } from '../../../model/checkpoint.js';
import type { ReformerModelWithLMHead } from '../../../model/lm-model.js';
import type { BatchSource } from '../../../train/data.js';
import type { StepInfo, TrainerSnapshot } from '../../../train/trainer.js';
import { Trainer } from '../../../train/trainer.js';
import type { TrainOptions } from '../../../train/train-options.js';
import { saveCheckpoint } from '../../checkpoint.js';
import { TrainingProgress } from '../../progress.js';
import { ReformerLM } from '../../reformer-engine.js';
import type { OutStream } from '../context.js';
import { meter, type PhaseMeter } from './task-results.js';

/** The warm-up of the task commands: `--warmup` if given, else min(100, ⌊steps/10⌋) linear warm-up steps. */
export function warmupSteps(steps: number, warmup?: number): number {
  return warmup ?? Math.min(100, Math.floor(steps / 10));
}

/**
 * A `Trainer` of the causal LM `lm` (wrapped as `ReformerLM`, so its hash rotations travel in the
 * snapshot) on generated `batches` (their batch and seqLen must be the options'); no validation data.
 * `trainer.model` is the wrapped LM, for the command's evaluation afterwards.
 * @throws ConfigError as `Trainer` (invalid options, batches of another shape).
 */
export function lmTrainer(lm: ReformerModelWithLMHead, options: TrainOptions, batches: BatchSource): Trainer {
  return new Trainer(new ReformerLM(lm), { train: new Int32Array(0), validation: new Int32Array(0) }, options, batches);
}

/** What `trainAndSave` runs: `Trainer` or `TaskTrainer` (`V`: their validation record). */
export interface ModelTrainer<R, V> {
  run(hooks: {
    onStep?(info: StepInfo): void | Promise<void>;
    onValidation?(info: V): void | Promise<void>;
    shouldStop?(): boolean;
  }): Promise<R>;
  snapshot(): TrainerSnapshot;
}

export interface TrainAndSaveOptions<V> {
  /** Where the progress goes: the command's stderr (a bar on a TTY, else lines every `logEvery` steps). */
  readonly stream: OutStream;
  /** The step budget (the bar's total). */
  readonly totalSteps: number;
  /** The time budget, if the command has one (`--minutes`). */
  readonly minutes?: number;
  readonly logEvery: number;
  /** Show bits per byte in the progress (TrainingProgress's default: true). */
  readonly bitsPerByte?: boolean;
  /** The checkpoint directory, and the model's files (config.json, model.safetensors) taken after training. */
  readonly checkpoint: { readonly dir: string; files(): CheckpointFiles };
  /** Called with every step, before its progress line. */
  onStep?(info: StepInfo): void;
  /** Called with every validation (the trainer's `evalEvery`), with the progress to report it on. */
  onValidation?(info: V, progress: TrainingProgress): void;
  /** Checked between steps (the trainer's `shouldStop`): true ends the training early, and it is saved as it is. */
  shouldStop?(): boolean;
}

/** What `trainAndSave` did: the trainer's result, the training's wall seconds (unrounded), its meter, the files saved. */
export interface TrainedModel<R> {
  readonly run: R;
  readonly seconds: number;
  readonly meter: PhaseMeter;
  readonly files: CheckpointFiles;
}

/**
 * Runs `trainer` to its budget with a `TrainingProgress` on `options.stream` (stopped even if training
 * throws), then saves `options.checkpoint.files()` with the final trainer state
 * (`saveCheckpoint(dir, { config, weights, snapshot })`). The times cover the training, not the save.
 * @throws what the trainer throws (NumericalError on a NaN loss, ...): nothing is saved then.
 */
export async function trainAndSave<R extends { readonly step: number; readonly snapshot?: TrainerSnapshot }, V>(
  trainer: ModelTrainer<R, V>,
  options: TrainAndSaveOptions<V>,
): Promise<TrainedModel<R>> {
  const progress = new TrainingProgress({
    stream: options.stream as NodeJS.WritableStream,
    tty: Boolean(options.stream.isTTY),
    totalSteps: options.totalSteps,
    ...(options.minutes !== undefined ? { minutes: options.minutes } : {}),
    startStep: 0,
    logEvery: options.logEvery,
    ...(options.bitsPerByte !== undefined ? { bitsPerByte: options.bitsPerByte } : {}),
  });
  const end = meter();
  const t0 = performance.now();
  let run: R;
  try {
    run = await trainer.run({
      onStep: (s) => {
        options.onStep?.(s);
        progress.step(s);
      },
      ...(options.onValidation ? { onValidation: (v: V) => options.onValidation!(v, progress) } : {}),
      ...(options.shouldStop ? { shouldStop: options.shouldStop } : {}),
    });
  } finally {
    progress.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  const measured = end();
  const files = options.checkpoint.files();
  saveCheckpoint(options.checkpoint.dir, {
    config: files.config,
    weights: files.safetensors,
    snapshot: run.snapshot ?? trainer.snapshot(),
  });
  return { run, seconds, meter: measured, files };
}
