/**
 * The options of a training run (`TrainOptions`), their checks, and how they are stored in and rebuilt
 * from `trainer_state.json` (trainer.ts runs them).
 */
import { ConfigError, FormatError } from '../errors.js';
import { describeValue, optionsArg } from '../util/args.js';
import type { OptimizerName } from './optimizer.js';
import type { OptimizerOptions, StoredOptimizerConfig } from './optimizer-choice.js';
import type { ScheduleKind } from './schedule.js';
import type { TrainerState } from './trainer.js';

/** Options of a training run: batch, seqLen, steps and/or minutes, lr and schedule, validation and checkpoint cadence, seed. */
export interface TrainOptions {
  /** Windows per step. */
  batch: number;
  /** Tokens per window. */
  seqLen: number;
  /** Stop when this many steps (in total, counting resumed ones) are done. */
  steps?: number;
  /** Stop after this many minutes of wall-clock time in this call (training, validation and hooks). */
  minutes?: number;
  /** Peak learning rate. */
  lr: number;
  /** Linear warm-up steps. Default 0. */
  warmupSteps?: number;
  /** Decay after warm-up. Default `cosine` when `steps` is given, else `inverse-sqrt`. */
  schedule?: ScheduleKind;
  /** Floor of the decay. Default lr / 10. */
  minLr?: number;
  /**
   * AdamW (the default) or Adafactor: the name alone, `'adamw'` or `'adafactor'` (= `{ name }`, its
   * default hyper-parameters), or `{ name, ...hyper-parameters }` (see `OptimizerOptions`; `name` absent
   * = AdamW). Anything else is a ConfigError('optimizer'), as is a hyper-parameter the named optimizer
   * does not have.
   */
  optimizer?: OptimizerName | OptimizerOptions;
  /** Seed of the batch sampler. */
  seed: number;
  /** Validate every N steps (0 = only at the end). Default 0. Skipped when the validation split is empty. */
  evalEvery?: number;
  /** Cap on validation windows per periodic validation (the final one too). Default: the whole split. */
  evalWindows?: number;
  /** Windows per validation forward pass. Default `batch`. */
  evalBatch?: number;
  /** Call `onCheckpoint(…, 'periodic')` every N steps (0 = only at the end). Default 0. */
  checkpointEvery?: number;
  /** Bytes of text per token, for bits per byte. Default 1 (byte tokenizer). */
  bytesPerToken?: number;
  /** Milliseconds clock. Default `performance.now()`. */
  clock?: () => number;
}

/** The options as `trainer_state.json` stores them (the optimizer resolved, no clock). */
export type StoredTrainOptions = Omit<TrainOptions, 'clock' | 'optimizer'> & { optimizer: StoredOptimizerConfig };

/** @throws ConfigError naming the first invalid option. */
export function validateTrainOptions(o: TrainOptions): void {
  optionsArg('validateTrainOptions', o, '{ batch: 1, seqLen: 1024, steps: 300, lr: 3e-3, seed: 1 }', false);
  const posInt = (field: string, x: number | undefined, optional: boolean, zeroOk = false): void => {
    if (x === undefined && optional) return;
    if (!Number.isSafeInteger(x) || x! < (zeroOk ? 0 : 1)) {
      throw new ConfigError(field, `must be a ${zeroOk ? 'non-negative' : 'positive'} integer, got ${x}`);
    }
  };
  posInt('batch', o.batch, false);
  posInt('seq_len', o.seqLen, false);
  if (o.seqLen < 2) throw new ConfigError('seq_len', `must be at least 2 (one context token and one target), got ${o.seqLen}`);
  posInt('steps', o.steps, true);
  posInt('eval_every', o.evalEvery, true, true);
  posInt('eval_windows', o.evalWindows, true);
  posInt('eval_batch', o.evalBatch, true);
  posInt('checkpoint_every', o.checkpointEvery, true, true);
  if (!Number.isSafeInteger(o.seed)) throw new ConfigError('seed', `must be an integer, got ${o.seed}`);
  if (o.minutes !== undefined && !(o.minutes > 0 && Number.isFinite(o.minutes))) {
    throw new ConfigError('minutes', `must be a positive finite number, got ${o.minutes}`);
  }
  if (o.steps === undefined && o.minutes === undefined) {
    throw new ConfigError(
      'steps',
      'give a number of steps or a time budget in minutes (or both); without either training would never stop',
    );
  }
  if (o.bytesPerToken !== undefined && !(o.bytesPerToken > 0))
    throw new ConfigError('bytes_per_token', `must be > 0, got ${o.bytesPerToken}`);
}

/** Rebuilds `TrainOptions` from a stored state (for resuming with the same settings). */
export function optionsFromState(state: TrainerState): TrainOptions {
  optionsArg('optionsFromState', state, 'loadCheckpoint(dir).snapshot.state', false);
  if (state.options === null || typeof state.options !== 'object') {
    throw new FormatError(`trainer state: "options" must be the stored training options, got ${describeValue(state.options)}`);
  }
  const { optimizer, ...rest } = state.options;
  return { ...rest, ...(optimizer ? { optimizer: { ...optimizer } as OptimizerOptions } : {}) };
}
