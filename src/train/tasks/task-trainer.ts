/**
 * The training loop of the task heads (masked LM, classification, question answering): shuffled
 * mini-batches of examples → the task's loss and gradient → clipping → AdamW or Adafactor with the
 * warm-up/decay schedule of the LM trainer (the same `createOptimizer`, `learningRate`) → periodic
 * evaluation with the task's metrics → hooks for progress, metrics and checkpoints.
 *
 * Sampler: every epoch visits the training examples once in an order drawn from a seeded `Rng`
 * (Fisher–Yates); a batch may span two epochs. Its state is the seed's generator state and the number of
 * batches drawn; restoring replays the shuffles, so a resumed run sees exactly the batches an
 * uninterrupted one would.
 *
 * Snapshots use the LM trainer's `trainer_state.json` format (version 1): step, sampler, the model's
 * random state, the options, and `extra.task` (the task's kind and its last evaluation), with the
 * optimizer's moments beside. Stopping: at `steps`, after `minutes`, or when `shouldStop()` says so
 * (between steps), always followed by a final evaluation and the final checkpoint hook.
 */
import { ConfigError, FormatError, NumericalError } from '../../errors.js';
import { describeValue, isArrayValue, optionsArg } from '../../util/args.js';
import { Rng, type RngState } from '../../util/rng.js';
import type { Optimizer } from '../optimizer.js';
import { learningRate, type LrSchedule, validateSchedule } from '../schedule.js';
import {
  createOptimizer,
  type OptimizerOptions,
  type StoredOptimizerConfig,
  type StoredTrainOptions,
  type TrainerSnapshot,
  type TrainerState,
  type StepInfo,
} from '../trainer.js';
import type { TaskDefinition, TaskEvaluation } from './tasks.js';

/** Options of a task run (a subset of the LM trainer's, with the same meaning). */
export interface TaskTrainOptions {
  /** Examples per step. */
  batch: number;
  steps?: number;
  minutes?: number;
  lr: number;
  warmupSteps?: number;
  schedule?: LrSchedule['kind'];
  minLr?: number;
  optimizer?: OptimizerOptions;
  /** Seed of the example order. */
  seed: number;
  /** Evaluate every N steps (0 = at the end only). */
  evalEvery?: number;
  /** Cap on evaluation items per periodic evaluation (the final one too). Default: all. */
  evalExamples?: number;
  /** Model inputs per evaluation forward. Default `batch`. */
  evalBatch?: number;
  /** `onCheckpoint(…, 'periodic')` every N steps (0 = at the end only). */
  checkpointEvery?: number;
  clock?: () => number;
}

/** One evaluation during training. */
export interface TaskValidationInfo extends TaskEvaluation {
  readonly step: number;
}

export interface TaskTrainHooks {
  onStep?(info: StepInfo): void | Promise<void>;
  onValidation?(info: TaskValidationInfo): void | Promise<void>;
  onCheckpoint?(snapshot: TrainerSnapshot, reason: 'periodic' | 'final'): void | Promise<void>;
  shouldStop?(): boolean;
  beforeFinal?(): void | Promise<void>;
}

export interface TaskTrainResult {
  readonly step: number;
  readonly stoppedBy: 'steps' | 'time' | 'stop-request';
  readonly lastValidation: TaskValidationInfo | null;
}

/** Epoch-shuffled example indices, resumable by replay. */
export class ExampleSampler {
  private readonly initial: RngState;
  private rng: Rng;
  private order: number[] = [];
  private at = 0;
  batchesDrawn = 0;

  constructor(
    private readonly n: number,
    private readonly batch: number,
    seed: number,
  ) {
    if (n === 0) throw new ConfigError('data', 'has no training example');
    this.rng = new Rng(seed);
    this.initial = this.rng.state();
  }

  /** The indices of the next batch. */
  next(): number[] {
    const out: number[] = [];
    while (out.length < this.batch) {
      if (this.at === this.order.length) {
        this.order = Array.from({ length: this.n }, (_, i) => i);
        for (let i = this.n - 1; i > 0; i--) {
          const j = this.rng.int(i + 1);
          [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
        }
        this.at = 0;
      }
      out.push(this.order[this.at++]!);
    }
    this.batchesDrawn++;
    return out;
  }

  state(): { rng: RngState; batchesDrawn: number } {
    return { rng: this.initial, batchesDrawn: this.batchesDrawn };
  }

  /** Replays `state.batchesDrawn` batches from the stored initial generator. */
  restore(state: { rng: RngState; batchesDrawn: number }): void {
    this.rng = Rng.fromState(state.rng);
    this.order = [];
    this.at = 0;
    this.batchesDrawn = 0;
    for (let i = 0; i < state.batchesDrawn; i++) this.next();
  }
}

/** The task heads' training loop (see the file header): shuffled batches, optimizer, schedule, evaluation, hooks, exact resume. */
export class TaskTrainer<E, V = E> {
  readonly task: TaskDefinition<E, V>;
  readonly train: readonly E[];
  readonly validation: readonly V[];
  readonly options: Readonly<TaskTrainOptions>;
  readonly schedule: LrSchedule;
  readonly optimizer: Optimizer;
  readonly sampler: ExampleSampler;
  step = 0;
  tokensSeen = 0;
  elapsedMs = 0;
  lastValidation: TaskValidationInfo | null = null;
  lastCheckpointStep: number | null = null;
  /** Caller fields stored in every snapshot's `extra` (next to `task`). */
  extra: Record<string, unknown> = {};
  private readonly clock: () => number;

  /**
   * @throws ConfigError for invalid options or no training example, a `task` that is not a task
   *   definition (MaskedLmTask, ClassificationTask, QuestionAnsweringTask), `train` / `validation` that are not arrays.
   */
  constructor(task: TaskDefinition<E, V>, train: readonly E[], validation: readonly V[], options: TaskTrainOptions) {
    const t = task as Partial<TaskDefinition<E, V>> | null | undefined;
    if (
      t === null ||
      typeof t !== 'object' ||
      typeof t.lossAndGrad !== 'function' ||
      typeof t.evaluate !== 'function' ||
      t.model === null ||
      typeof t.model !== 'object'
    ) {
      throw new ConfigError(
        'task',
        `new TaskTrainer needs a task definition (new MaskedLmTask(model, ...), ClassificationTask, QuestionAnsweringTask), got ${describeValue(task)}`,
      );
    }
    for (const [k, v] of [
      ['train', train],
      ['validation', validation],
    ] as const) {
      if (!isArrayValue(v)) throw new ConfigError(k, `new TaskTrainer: must be an array of examples (the task's), got ${describeValue(v)}`);
    }
    optionsArg('new TaskTrainer', options, '{ batch: 8, steps: 1000, lr: 1e-4 }', false);
    for (const [k, v] of [
      ['batch', options.batch],
      ['eval_batch', options.evalBatch],
      ['eval_examples', options.evalExamples],
      ['steps', options.steps],
    ] as const) {
      if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1)) throw new ConfigError(k, `must be a positive integer, got ${v}`);
    }
    if (options.steps === undefined && options.minutes === undefined) {
      throw new ConfigError('steps', 'give a number of steps or a time budget in minutes (or both)');
    }
    this.task = task;
    this.train = train;
    this.validation = validation;
    this.options = options;
    this.schedule = {
      kind: options.schedule ?? (options.steps !== undefined ? 'cosine' : 'inverse-sqrt'),
      peakLr: options.lr,
      warmupSteps: options.warmupSteps ?? 0,
      totalSteps: options.steps,
      minLr: options.minLr ?? options.lr / 10,
    };
    validateSchedule(this.schedule);
    this.optimizer = createOptimizer(task.model, options.optimizer ?? {});
    this.sampler = new ExampleSampler(train.length, options.batch, options.seed);
    this.clock = options.clock ?? (() => performance.now());
  }

  /** One step. @throws NumericalError for a non-finite loss or gradient (parameters untouched). */
  trainStep(): StepInfo {
    const t0 = this.clock();
    const s = this.step + 1;
    const lr = learningRate(s, this.schedule);
    const model = this.task.model;
    model.grads.fill(0);
    const examples = this.sampler.next().map((i) => this.train[i]!);
    const r = model.backend.scope(() => this.task.lossAndGrad(examples, s));
    if (!Number.isFinite(r.loss)) {
      throw new NumericalError(`step ${s}: the loss is ${r.loss}; the parameters were not updated. ${this.hint()}`);
    }
    let info: ReturnType<Optimizer['update']>;
    try {
      info = this.optimizer.update(model.params, model.grads, lr);
    } catch (e) {
      if (e instanceof NumericalError) throw new NumericalError(`step ${s}: ${e.message}. ${this.hint()}`);
      throw e;
    }
    const tokens = examples.length * this.task.seqLen;
    const dt = Math.max(this.clock() - t0, 1e-6);
    this.step = s;
    this.tokensSeen += tokens;
    this.elapsedMs += dt;
    return {
      step: s,
      loss: r.loss,
      // bits per byte only means something for the masked LM (nats per masked byte); NaN otherwise
      bitsPerByte: this.task.kind === 'mlm' ? r.loss / Math.LN2 : Number.NaN,
      lr: info.lr ?? lr,
      gradNorm: info.gradNorm,
      tokensPerSecond: tokens / (dt / 1000),
      tokensSeen: this.tokensSeen,
      elapsedMs: this.elapsedMs,
    };
  }

  /** The task's evaluation on (at most `evalExamples` of) the validation items; null if there are none. The model's random state is restored. */
  validate(): TaskValidationInfo | null {
    if (this.validation.length === 0) return null;
    const model = this.task.model;
    const saved = model.getRandomState();
    try {
      const items = this.options.evalExamples !== undefined ? this.validation.slice(0, this.options.evalExamples) : this.validation;
      const r = this.task.evaluate(items, { batch: this.options.evalBatch ?? this.options.batch });
      this.lastValidation = { ...r, step: this.step };
      return this.lastValidation;
    } finally {
      model.setRandomState(saved);
    }
  }

  snapshot(): TrainerSnapshot {
    const { clock: _c, optimizer: _o, evalExamples, evalBatch, ...rest } = this.options;
    const options = {
      ...rest,
      seqLen: this.task.seqLen,
      ...(evalExamples !== undefined ? { evalWindows: evalExamples } : {}),
      ...(evalBatch !== undefined ? { evalBatch } : {}),
      optimizer: { name: this.optimizer.name, ...this.optimizer.config } as StoredOptimizerConfig,
    } as StoredTrainOptions;
    const state: TrainerState = {
      format: 'reformer-ts.trainer-state',
      version: 1,
      step: this.step,
      tokensSeen: this.tokensSeen,
      elapsedMs: this.elapsedMs,
      sampler: this.sampler.state(),
      modelRandom: this.task.model.getRandomState(),
      options,
      lastValidation: null, // the LM trainer's bits-per-byte record; the task's is in extra.task
      extra: { ...this.extra, task: { kind: this.task.kind, last_evaluation: this.lastValidation } },
    };
    return { state, optimizer: this.optimizer.toBytes() };
  }

  /**
   * Continues from a snapshot of the same task (the model must hold the parameters saved with it).
   * @throws FormatError if it is not a snapshot of this task, or the optimizer state does not fit.
   */
  restore(snapshot: TrainerSnapshot): void {
    const s = snapshot.state;
    const task = (s.extra as { task?: { kind?: string; last_evaluation?: TaskValidationInfo | null } }).task;
    if (!task || task.kind !== this.task.kind) {
      throw new FormatError(
        `trainer state: not a ${this.task.kind} run (its task is ${JSON.stringify(task?.kind ?? 'lm')}); resume it with its own --task`,
      );
    }
    this.optimizer.loadBytes(snapshot.optimizer);
    if (this.optimizer.step !== s.step) {
      throw new FormatError(
        `trainer state: step ${s.step} but the optimizer state is at step ${this.optimizer.step}; the files come from different checkpoints`,
      );
    }
    this.sampler.restore(s.sampler);
    if (s.modelRandom) this.task.model.setRandomState(s.modelRandom);
    this.step = s.step;
    this.tokensSeen = s.tokensSeen;
    this.elapsedMs = s.elapsedMs;
    this.lastValidation = task.last_evaluation ?? null;
    this.lastCheckpointStep = s.step;
    const { task: _t, ...rest } = s.extra as Record<string, unknown>;
    this.extra = rest;
  }

  async run(hooks: TaskTrainHooks = {}): Promise<TaskTrainResult> {
    const start = this.clock();
    const deadline = this.options.minutes !== undefined ? start + this.options.minutes * 60_000 : Infinity;
    const evalEvery = this.options.evalEvery ?? 0;
    const ckEvery = this.options.checkpointEvery ?? 0;
    let lastYield = start;
    let stoppedBy: TaskTrainResult['stoppedBy'];
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
      const info = this.trainStep(); // (not inside `onStep?.(…)`: an absent hook would skip the step)
      await hooks.onStep?.(info);
      if (evalEvery > 0 && this.step % evalEvery === 0) {
        const v = this.validate();
        if (v) await hooks.onValidation?.(v);
      }
      if (ckEvery > 0 && this.step % ckEvery === 0 && hooks.onCheckpoint) {
        await hooks.onCheckpoint(this.snapshot(), 'periodic');
        this.lastCheckpointStep = this.step;
      }
      if (this.clock() - lastYield >= 20) {
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
        lastYield = this.clock();
      }
    }
    await hooks.beforeFinal?.();
    if (this.lastValidation?.step !== this.step) {
      const v = this.validate();
      if (v) await hooks.onValidation?.(v);
    }
    if (hooks.onCheckpoint) {
      await hooks.onCheckpoint(this.snapshot(), 'final');
      this.lastCheckpointStep = this.step;
    }
    return { step: this.step, stoppedBy, lastValidation: this.lastValidation };
  }

  private hint(): string {
    return this.lastCheckpointStep !== null
      ? `The last checkpoint (step ${this.lastCheckpointStep}) is intact: resume from it with a lower learning rate.`
      : 'No checkpoint was written yet: restart with a lower learning rate.';
  }
}
