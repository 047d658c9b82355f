/**
 * The training loop: random windows -> loss and gradient -> clipping -> AdamW or Adafactor with a
 * warm-up/decay schedule, periodic validation in bits per byte, hooks for progress, logging and checkpoints, and a
 * resumable state.
 *
 * One step (1-based number s):
 *   grads ← 0;  batch ← sampler.next()                    [batch, seqLen] random windows of the train split
 *   loss ← model.lossAndGrad(batch)                       mean cross-entropy, nats per target token
 *   loss not finite -> NumericalError (parameters untouched)
 *   clip grads to maxGradNorm; optimizer update with lr = learningRate(s)
 *                                                         (AdamW, or Adafactor: `options.optimizer.name`)
 *   bits per byte = loss / ln 2 / bytesPerToken           (bytesPerToken = 1 for the byte tokenizer)
 *
 * Resuming. `snapshot()` captures everything the continuation depends on besides the parameters (the
 * model's checkpoint holds those): step, sampler state (RNG + batches drawn), optimizer state and step,
 * and the model's own RNG if it has one (`RandomStateful`). A run keeps its optimizer: restoring a
 * snapshot of the other one is refused (ConfigError naming both); a stored optimizer config without a
 * name (checkpoints from before Adafactor) is AdamW. Restoring a snapshot into a trainer built
 * with the same options and the same parameters gives exactly the losses of an uninterrupted run
 * (test/train/trainer.test.ts). The order inside a step is fixed: train, then validation (if due), then
 * the checkpoint hook (if due); validation restores the model's RNG, so it never changes what training draws.
 *
 * Stopping: at `steps` (an absolute step count, so a resumed run stops at the same place), after
 * `minutes` of wall-clock time in this call, or when `hooks.shouldStop()` returns true (checked between
 * steps: a step in progress always completes). In every case the final snapshot goes to
 * `hooks.onCheckpoint(…, 'final')`. The loop yields to the event loop between steps (at least every
 * 20 ms), so signal handlers run.
 *
 * Browser-safe (no file system): the Node CLI writes what the hooks hand it.
 */
import { ConfigError, FormatError, NumericalError } from '../errors.js';
import { describeValue, modelArg, optionsArg } from '../util/args.js';
import type { CausalLanguageModel, LossResult } from '../model/language-model.js';
import type { RngState } from '../util/rng.js';
import { BatchSampler, type BatchSource, type DataSplit, type SamplerState } from './data.js';
import { evaluate } from './evaluate.js';
import type { Optimizer } from './optimizer.js';
import { type StoredTrainOptions, type TrainOptions, validateTrainOptions } from './train-options.js';
import { createOptimizer, OPTIMIZER_LABELS, optimizerName, type StoredOptimizerConfig } from './optimizer-choice.js';
import { learningRate, validateSchedule, type LrSchedule } from './schedule.js';

/** Optional model capability: its own random state (hash rotations, dropout), saved in snapshots. */
export interface RandomStateful {
  getRandomState(): RngState;
  setRandomState(state: RngState): void;
}

function hasRandomState(m: unknown): m is RandomStateful {
  const r = m as Partial<RandomStateful>;
  return typeof r.getRandomState === 'function' && typeof r.setRandomState === 'function';
}

export {
  optionsFromState,
  type StoredTrainOptions,
  type TrainOptions,
  validateTrainOptions,
} from './train-options.js';
export {
  createOptimizer,
  OPTIMIZER_NAMES,
  optimizerName,
  type OptimizerOptions,
  type StoredOptimizerConfig,
} from './optimizer-choice.js';

/** What one training step did. */
export interface StepInfo {
  /** 1-based number of the completed step. */
  readonly step: number;
  /** Mean cross-entropy of the batch, nats per target token. */
  readonly loss: number;
  /** loss / ln 2 / bytesPerToken. */
  readonly bitsPerByte: number;
  /** Learning rate of the step (Adafactor with relative_step: the ρ_t it used instead). */
  readonly lr: number;
  /** Global gradient L2 norm before clipping. */
  readonly gradNorm: number;
  /** Input tokens (batch · seqLen) per second of this step. */
  readonly tokensPerSecond: number;
  /** Input tokens processed since step 0 (including resumed steps). */
  readonly tokensSeen: number;
  /** Training time since step 0 (including resumed steps), milliseconds. */
  readonly elapsedMs: number;
}

/** A validation result. */
export interface ValidationInfo {
  readonly step: number;
  /** nats per target token */
  readonly loss: number;
  readonly bitsPerByte: number;
  readonly targets: number;
  readonly windows: number;
}

export type CheckpointReason = 'periodic' | 'final';

export interface TrainHooks {
  onStep?(info: StepInfo): void | Promise<void>;
  onValidation?(info: ValidationInfo): void | Promise<void>;
  /** Persist the snapshot together with the model parameters (as they are now). */
  onCheckpoint?(snapshot: TrainerSnapshot, reason: CheckpointReason): void | Promise<void>;
  /** Checked between steps; true ends the run (after the final checkpoint). */
  shouldStop?(): boolean;
  /** Awaited once the loop has ended, before the final validation and checkpoint (e.g. to let signal handling settle). */
  beforeFinal?(stoppedBy: StopReason): void | Promise<void>;
}

export type StopReason = 'steps' | 'time' | 'stop-request';

export interface TrainResult {
  readonly step: number;
  readonly stoppedBy: StopReason;
  readonly lastStep: StepInfo | null;
  readonly lastValidation: ValidationInfo | null;
  readonly snapshot: TrainerSnapshot;
}

/** The JSON part of a snapshot (`trainer_state.json`). */
export interface TrainerState {
  readonly format: 'reformer-ts.trainer-state';
  readonly version: 1;
  /** Completed steps. */
  readonly step: number;
  readonly tokensSeen: number;
  readonly elapsedMs: number;
  readonly sampler: SamplerState;
  /** The model's RNG state (`RandomStateful`), or null if the model has none. */
  readonly modelRandom: RngState | null;
  /** The options that produced this state (without the clock), for an exact resume. */
  readonly options: StoredTrainOptions;
  readonly lastValidation: ValidationInfo | null;
  /** Free-form fields of the caller (data source, tokenizer, ...). */
  readonly extra: Record<string, unknown>;
}

/** Everything but the parameters: `state` (JSON) and the optimizer moments (safetensors bytes). */
export interface TrainerSnapshot {
  readonly state: TrainerState;
  readonly optimizer: Uint8Array;
}

export class Trainer {
  readonly model: CausalLanguageModel;
  readonly data: DataSplit;
  readonly options: Readonly<TrainOptions>;
  readonly schedule: LrSchedule;
  /** AdamW or Adafactor (`options.optimizer`). */
  readonly optimizer: Optimizer;
  /** The batches: random windows of `data.train` (`BatchSampler`), or the `batches` given to the constructor. */
  readonly sampler: BatchSource;
  /** Completed steps. */
  step = 0;
  tokensSeen = 0;
  elapsedMs = 0;
  lastValidation: ValidationInfo | null = null;
  /** Step of the last checkpoint handed to (and completed by) `onCheckpoint`, or of the restored snapshot. */
  lastCheckpointStep: number | null = null;
  /** Caller fields copied into every snapshot's `extra`. */
  extra: Record<string, unknown> = {};
  private readonly clock: () => number;

  /**
   * @param batches the training batches instead of random windows of `data.train` (its `batch` and
   *   `seqLen` must be the options'); `data.train` is then not read, `data.validation` still is.
   * @throws ConfigError for invalid options (field named), data too short for one window, or `batches`
   *   whose batch / seqLen differ from the options.
   */
  constructor(model: CausalLanguageModel, data: DataSplit, options: TrainOptions, batches?: BatchSource) {
    modelArg('Trainer', model, ['lossAndGrad', 'loss']);
    checkDataSplit('Trainer', data);
    validateTrainOptions(options);
    this.model = model;
    this.data = data;
    this.options = options;
    this.schedule = {
      kind: options.schedule ?? (options.steps !== undefined ? 'cosine' : 'inverse-sqrt'),
      peakLr: options.lr,
      warmupSteps: options.warmupSteps ?? 0,
      totalSteps: options.steps,
      minLr: options.minLr ?? options.lr / 10,
    };
    validateSchedule(this.schedule);
    this.optimizer = createOptimizer(model, options.optimizer);
    if (batches !== undefined) {
      if (batches === null || typeof batches !== 'object' || typeof batches.next !== 'function' || typeof batches.state !== 'function') {
        throw new ConfigError(
          'batches',
          `must be a BatchSource ({ batch, seqLen, next(), state(), restore() }), got ${describeValue(batches)}`,
        );
      }
      if (batches.batch !== options.batch || batches.seqLen !== options.seqLen) {
        throw new ConfigError(
          'batches',
          `gives batches of ${batches.batch}×${batches.seqLen} tokens, but the options say batch ${options.batch}, seq_len ${options.seqLen}`,
        );
      }
    }
    this.sampler = batches ?? new BatchSampler(data.train, { batch: options.batch, seqLen: options.seqLen, seed: options.seed });
    this.clock = options.clock ?? (() => performance.now());
  }

  /** Runs one training step (see the file header). @throws NumericalError if the loss or gradient is not finite. */
  trainStep(): StepInfo {
    const t0 = this.clock();
    const s = this.step + 1;
    const lr = learningRate(s, this.schedule);
    const { model } = this;
    model.grads.fill(0);
    const batch = this.sampler.next();
    // temporaries of the forward/backward are freed when the step's scope ends (WASM arena)
    let r: LossResult;
    try {
      r = model.backend.scope(() => model.lossAndGrad(batch));
    } catch (e) {
      // the model names what was not finite (model/numerics.ts); the step and the way out are the trainer's
      throw e instanceof NumericalError
        ? new NumericalError(`step ${s}: ${e.message}; the parameters were not updated. ${this.recoveryHint()}`)
        : e;
    }
    if (!Number.isFinite(r.loss) || r.tokens <= 0) {
      throw new NumericalError(
        `step ${s}: the loss is ${r.loss} over ${r.tokens} target tokens; the parameters were not updated. ${this.recoveryHint()}`,
      );
    }
    let gradNorm: number;
    let stepLr = lr;
    try {
      const info = this.optimizer.update(model.params, model.grads, lr);
      gradNorm = info.gradNorm;
      stepLr = info.lr ?? lr;
    } catch (e) {
      if (e instanceof NumericalError) throw new NumericalError(`step ${s}: ${e.message}. ${this.recoveryHint()}`);
      throw e;
    }
    const tokens = batch.batch * batch.seqLen;
    const dt = Math.max(this.clock() - t0, 1e-6);
    this.step = s;
    this.tokensSeen += tokens;
    this.elapsedMs += dt;
    return {
      step: s,
      loss: r.loss,
      bitsPerByte: r.loss / Math.LN2 / (this.options.bytesPerToken ?? 1),
      lr: stepLr,
      gradNorm,
      tokensPerSecond: tokens / (dt / 1000),
      tokensSeen: this.tokensSeen,
      elapsedMs: this.elapsedMs,
    };
  }

  /**
   * Bits per byte on the validation split (capped at `evalWindows` windows), or null if it is empty.
   * The model's random state (`RandomStateful`) is restored afterwards: validation never shifts the
   * randomness of training, so runs that validate at different steps still train identically.
   */
  validate(): ValidationInfo | null {
    if (this.data.validation.length < this.options.seqLen) return null;
    const saved = hasRandomState(this.model) ? this.model.getRandomState() : null;
    let r: ReturnType<typeof evaluate>;
    try {
      r = evaluate(this.model, this.data.validation, {
        seqLen: this.options.seqLen,
        batch: this.options.evalBatch ?? this.options.batch,
        ...(this.options.evalWindows !== undefined ? { maxWindows: this.options.evalWindows } : {}),
        bytesPerToken: this.options.bytesPerToken ?? 1,
      });
    } finally {
      if (saved && hasRandomState(this.model)) this.model.setRandomState(saved);
    }
    this.lastValidation = { step: this.step, loss: r.loss, bitsPerByte: r.bitsPerByte, targets: r.targets, windows: r.windows };
    return this.lastValidation;
  }

  /** Everything needed to continue exactly from here, except the parameters. */
  snapshot(): TrainerSnapshot {
    const { clock: _clock, optimizer: _opt, ...rest } = this.options;
    const state: TrainerState = {
      format: 'reformer-ts.trainer-state',
      version: 1,
      step: this.step,
      tokensSeen: this.tokensSeen,
      elapsedMs: this.elapsedMs,
      sampler: this.sampler.state(),
      modelRandom: hasRandomState(this.model) ? this.model.getRandomState() : null,
      options: { ...rest, optimizer: { name: this.optimizer.name, ...this.optimizer.config } as StoredOptimizerConfig },
      lastValidation: this.lastValidation,
      extra: { ...this.extra },
    };
    return { state, optimizer: this.optimizer.toBytes() };
  }

  /**
   * Continues from `snapshot` (the model must already hold the parameters saved with it).
   * @throws ConfigError if the snapshot was trained with the other optimizer (both named).
   * @throws FormatError if the optimizer state does not fit this model, or the snapshot has a model RNG state
   *   but the model has no RNG (or the reverse).
   */
  restore(snapshot: TrainerSnapshot): void {
    optionsArg('Trainer.restore', snapshot, 'trainer.snapshot() or loadCheckpoint(dir).snapshot', false);
    optionsArg('Trainer.restore', snapshot.state, '{ state: TrainerState, optimizer: bytes }', false);
    const s = snapshot.state;
    const stored = optimizerName((s.options as Partial<StoredTrainOptions> | undefined)?.optimizer);
    if (stored !== this.optimizer.name) {
      throw new ConfigError(
        'optimizer',
        `the checkpoint was trained with ${OPTIMIZER_LABELS[stored]}, this trainer uses ${this.optimizer.label}; a run keeps its optimizer (the state of one does not carry over to the other): resume with ${OPTIMIZER_LABELS[stored]}, or start a new run`,
      );
    }
    this.optimizer.loadBytes(snapshot.optimizer);
    if (this.optimizer.step !== s.step) {
      throw new FormatError(
        `trainer state: step ${s.step} but the optimizer state is at step ${this.optimizer.step}; the files come from different checkpoints`,
      );
    }
    this.sampler.restore(s.sampler);
    if (s.modelRandom !== null) {
      if (!hasRandomState(this.model))
        throw new FormatError('trainer state: has a model RNG state, but this model has no random state to restore');
      this.model.setRandomState(s.modelRandom);
    } else if (hasRandomState(this.model)) {
      throw new FormatError('trainer state: has no model RNG state, but this model has one; the checkpoint was written by another model');
    }
    this.step = s.step;
    this.tokensSeen = s.tokensSeen;
    this.elapsedMs = s.elapsedMs;
    this.lastValidation = s.lastValidation;
    this.lastCheckpointStep = s.step;
    this.extra = { ...s.extra };
  }

  /**
   * Trains until `steps`, `minutes` or `shouldStop` (see the file header), then validates (unless just done)
   * and hands the final snapshot to `onCheckpoint`.
   * @throws NumericalError on a NaN/infinite loss or gradient (no final checkpoint is written then: the
   *   last periodic one stays the newest); anything a hook throws.
   */
  async run(hooks: TrainHooks = {}): Promise<TrainResult> {
    const start = this.clock();
    const deadline = this.options.minutes !== undefined ? start + this.options.minutes * 60_000 : Infinity;
    const evalEvery = this.options.evalEvery ?? 0;
    const checkpointEvery = this.options.checkpointEvery ?? 0;
    let lastYield = start;
    let lastStep: StepInfo | null = null;
    let stoppedBy: StopReason;
    for (;;) {
      if (this.options.steps !== undefined && this.step >= this.options.steps) {
        stoppedBy = 'steps';
        break;
      }
      if (this.clock() >= deadline) {
        stoppedBy = 'time';
        break;
      }
      if (hooks.shouldStop?.()) {
        stoppedBy = 'stop-request';
        break;
      }
      lastStep = this.trainStep();
      await hooks.onStep?.(lastStep);
      if (evalEvery > 0 && this.step % evalEvery === 0) {
        const v = this.validate();
        if (v) await hooks.onValidation?.(v);
      }
      if (checkpointEvery > 0 && this.step % checkpointEvery === 0 && hooks.onCheckpoint) {
        await hooks.onCheckpoint(this.snapshot(), 'periodic');
        this.lastCheckpointStep = this.step;
      }
      if (this.clock() - lastYield >= 20) {
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
        lastYield = this.clock();
      }
    }
    await hooks.beforeFinal?.(stoppedBy);
    if (this.lastValidation?.step !== this.step) {
      const v = this.validate();
      if (v) await hooks.onValidation?.(v);
    }
    const snapshot = this.snapshot();
    if (hooks.onCheckpoint) {
      await hooks.onCheckpoint(snapshot, 'final');
      this.lastCheckpointStep = this.step;
    }
    return { step: this.step, stoppedBy, lastStep, lastValidation: this.lastValidation, snapshot };
  }

  private recoveryHint(): string {
    return this.lastCheckpointStep !== null
      ? `The last checkpoint (step ${this.lastCheckpointStep}) is intact: resume from it with a lower learning rate or stronger gradient clipping.`
      : 'No checkpoint was written yet: restart with a lower learning rate or stronger gradient clipping.';
  }
}

/** Builds a trainer, restores `resume` if given, and runs it. See `Trainer`. */
export async function train(
  model: CausalLanguageModel,
  data: DataSplit,
  options: TrainOptions,
  hooks: TrainHooks = {},
  resume?: TrainerSnapshot,
): Promise<TrainResult> {
  const trainer = new Trainer(model, data, options);
  if (resume) trainer.restore(resume);
  return trainer.run(hooks);
}

/** @throws ConfigError('data') unless `data` is `{ train, validation }` of Int32Arrays (`splitTokens`). */
function checkDataSplit(where: string, data: DataSplit): void {
  if (data === null || typeof data !== 'object' || !(data.train instanceof Int32Array) || !(data.validation instanceof Int32Array)) {
    throw new ConfigError(
      'data',
      `${where} needs the data as { train, validation } Int32Arrays, e.g. splitTokens(tokens, { seqLen }), got ${describeValue(data)}`,
    );
  }
}
