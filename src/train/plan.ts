/**
 * Planning a time-bounded training run (`reformer demo`, docs/TRAINING.md "Planning"): which model
 * shape (preset, window length, batch), learning rate and number of steps fit a budget, from the
 * seconds per step measured on the machine at hand.
 *
 * Why steps, not tokens: a byte-level model first learns unigram and bigram statistics (≈ 3.5 bits per
 * byte) and leaves that plateau only after a number of optimizer *steps* that barely depends on the
 * tokens per step (docs/TRAINING.md). On a slow or loaded machine the default shape gets too few steps
 * in the budget; a shape with fewer tokens per step (and a smaller model) gets several times more, and
 * leaves the plateau. The planner takes the first shape of a ladder (best model first) whose measured
 * step count to the target fits, measuring each shape only when the one before it does not fit.
 *
 * Browser-safe: no clocks, no files; the caller measures.
 */
import { ConfigError } from '../errors.js';
import { numberArg } from '../util/args.js';
import type { OptimizerName } from './optimizer.js';

/** One way to spend a budget: a preset trained on windows of `seqLen` tokens, `batch` windows per step. */
export interface RunShape {
  /** Preset name (`tiny`, `small`, `base`). */
  readonly preset: string;
  /** Training window in tokens (sets `axial_pos_shape`). */
  readonly seqLen: number;
  /** Windows per step. */
  readonly batch: number;
  /** Peak AdamW learning rate (cosine decay to lr/10 over the planned steps), measured for this shape. */
  readonly lr: number;
  /** Linear warm-up steps. */
  readonly warmup: number;
  /**
   * Steps after which the measured validation bits per byte first read below 3.2 (the model has left
   * the ≈ 3.5 unigram/bigram plateau).
   */
  readonly plateauSteps: number;
  /** Steps of the measured run (cosine over them) that ended at `targetBpb`. */
  readonly targetSteps: number;
  /** Held-out bits per byte that run ended at (the whole held-out split of the embedded novel). */
  readonly targetBpb: number;
}

/**
 * The ladder of `reformer demo`, best model first; every number is a measured run on the embedded
 * novel (docs/TRAINING.md, "Planning the default run").
 */
export const DEMO_LADDER: readonly RunShape[] = Object.freeze([
  // the default, 603k parameters, local windows of chunk 4 (the preset): `reformer train --preset small
  // --steps 800 --eval-every 100` read 3.35 at step 100, 2.91 at 200, 2.65 at 300 and 2.51 at 400 on the
  // whole held-out split (warm-up 80). With the old chunk of 64 the same model read 3.50 at 400 and left
  // the plateau only after ≈ 600 steps (docs/TRAINING.md, "The local window").
  Object.freeze({ preset: 'small', seqLen: 4096, batch: 1, lr: 3e-3, warmup: 80, plateauSteps: 200, targetSteps: 400, targetBpb: 2.51 }),
  // 114k parameters, a step 3–4.7× cheaper: `reformer train --preset tiny --steps 400` (warm-up 40) read
  // 3.37 at step 100, 3.07 at 150, 2.89 at 200 (16 held-out windows) and ended at 2.67 on the whole
  // held-out split. Batch 1 × 1024 left the old (chunk 64) plateau no sooner than 4 × 1024.
  Object.freeze({ preset: 'tiny', seqLen: 1024, batch: 4, lr: 3e-3, warmup: 40, plateauSteps: 150, targetSteps: 400, targetBpb: 2.67 }),
]);

/** Where a plan stands against the plateau and the target. */
export type PlanVerdict = 'reaches-target' | 'leaves-plateau' | 'on-plateau';

export interface RunPlan {
  readonly shape: RunShape;
  /** Planned steps (≥ warm-up + 1, unless `maxSteps` caps them). */
  readonly steps: number;
  /** The seconds per step this plan used (training step plus its share of periodic validation). */
  readonly stepSeconds: number;
  readonly verdict: PlanVerdict;
  /** Budget in minutes at which `shape` would get its `targetSteps` at `stepSeconds` (rounded up). */
  readonly minutesForTarget: number;
  /** Shapes measured while planning, in order, with their seconds per step. */
  readonly measured: readonly { shape: RunShape; stepSeconds: number }[];
  /** One line for the user when the verdict is not `reaches-target` (what to expect, what to do); else null. */
  readonly warning: string | null;
}

export interface PlanOptions {
  /** Seconds of the budget spent outside the steps (final validation, checkpoint, sample). Default 0. */
  readonly reserveSeconds?: number;
  /** Caps the steps (`--steps`); the verdict then counts the capped steps. */
  readonly maxSteps?: number;
  /** Steps already trained (a continued run): the verdict counts them with the planned ones. Default 0. */
  readonly stepsDone?: number;
  /** A second remedy for the warning, after `--minutes` (e.g. `--preset tiny`). */
  readonly alternative?: string;
}

function stepsIn(budgetS: number, stepS: number, shape: RunShape): number {
  return Math.max(shape.warmup + 1, Math.floor(budgetS / stepS));
}

function verdictOf(total: number, shape: RunShape): PlanVerdict {
  return total >= shape.targetSteps ? 'reaches-target' : total >= shape.plateauSteps ? 'leaves-plateau' : 'on-plateau';
}

/**
 * The plan for a budget: the first shape of `ladder` whose planned steps reach its `targetSteps`; when
 * none does, the shape with the largest share of its `targetSteps`, with a warning saying what to expect
 * and which `--minutes` (or smaller shape) would reach the target.
 *
 * @param budgetMinutes training budget in minutes (the whole budget: `reserveSeconds` is taken off it).
 * @param ladder shapes, best model first (e.g. {@link DEMO_LADDER}, or one preset's entries).
 * @param stepSecondsOf seconds per step of a shape on this machine (training step plus the validation
 *   share); called lazily, in ladder order, only until a shape fits.
 * @throws ConfigError for an empty ladder, a non-positive budget or a non-positive measured step time.
 */
export function planRun(
  budgetMinutes: number,
  ladder: readonly RunShape[],
  stepSecondsOf: (shape: RunShape) => number,
  opts: PlanOptions = {},
): RunPlan {
  numberArg('planRun', 'budgetMinutes', budgetMinutes);
  if (!(budgetMinutes > 0)) throw new ConfigError('minutes', `must be a positive number of minutes, got ${budgetMinutes}`);
  if (ladder.length === 0) throw new ConfigError('ladder', 'planRun needs at least one run shape');
  const budgetS = Math.max(1, budgetMinutes * 60 - (opts.reserveSeconds ?? 0));
  const done = opts.stepsDone ?? 0;
  const measured: { shape: RunShape; stepSeconds: number }[] = [];
  let best: { shape: RunShape; stepSeconds: number; steps: number; share: number } | null = null;
  for (const shape of ladder) {
    const stepS = stepSecondsOf(shape);
    if (!(stepS > 0) || !Number.isFinite(stepS)) {
      throw new ConfigError(
        'stepSeconds',
        `the measured seconds per step of ${shapeLabel(shape)} must be positive and finite, got ${stepS}`,
      );
    }
    measured.push({ shape, stepSeconds: stepS });
    // the choice follows the budget; a --steps cap only shortens the chosen plan
    const steps = stepsIn(budgetS, stepS, shape);
    const share = (done + steps) / shape.targetSteps;
    if (best === null || share > best.share) best = { shape, stepSeconds: stepS, steps, share };
    if (share >= 1) break;
  }
  // best is set: the ladder is not empty
  const { shape, stepSeconds, steps: fit } = best as NonNullable<typeof best>;
  const capped = opts.maxSteps !== undefined && opts.maxSteps < fit;
  const steps = capped ? (opts.maxSteps as number) : fit;
  const verdict = verdictOf(done + steps, shape);
  const minutesForTarget = Math.ceil((Math.max(0, shape.targetSteps - done) * stepSeconds + (opts.reserveSeconds ?? 0)) / 60);
  const fix = capped
    ? `raise --steps to ${shape.targetSteps - done} or leave it out`
    : `run with --minutes ${minutesForTarget} or more${opts.alternative !== undefined ? `, or ${opts.alternative}` : ''}`;
  const warning = verdict === 'reaches-target' ? null : warningOf(shape, steps, done, verdict, fix);
  return Object.freeze({ shape, steps, stepSeconds, verdict, minutesForTarget, measured: Object.freeze(measured), warning });
}

/** `small, 1 × 4096 tokens per step`. */
export function shapeLabel(s: RunShape): string {
  return `${s.preset}, ${s.batch} × ${s.seqLen} tokens per step`;
}

function warningOf(shape: RunShape, steps: number, done: number, verdict: PlanVerdict, fix: string): string {
  const total = done + steps;
  const plan = `${steps} steps${done > 0 ? ` (${total} in total)` : ''} of ${shapeLabel(shape)}`;
  if (verdict === 'on-plateau') {
    return (
      `the plan (${plan}) is shorter than the ≈ ${shape.plateauSteps} steps this model needs to leave the ≈ 3.5 bits-per-byte ` +
      `plateau (docs/TRAINING.md): expect ≈ 3.5 bits per byte and a sample without real words; ${fix} (${shape.targetSteps} steps reached ${shape.targetBpb} in the measured run)`
    );
  }
  return (
    `the plan (${plan}) should leave the ≈ 3.5 bits-per-byte plateau (≈ ${shape.plateauSteps} steps) but stops short of the ` +
    `${shape.targetSteps} steps that reached ${shape.targetBpb} bits per byte in the measured run; ${fix}`
  );
}

/**
 * Measured best peak learning rates of `reformer train` per preset and optimizer (docs/TRAINING.md,
 * "Learning rates"; cosine decay to lr/10). AdamW: the lr; Adafactor: the external lr with
 * `scale_parameter` (a step is at most lr × the tensor's RMS).
 */
export const TRAIN_LR: Readonly<Record<string, Readonly<Record<OptimizerName, number>>>> = Object.freeze({
  tiny: Object.freeze({ adamw: 3e-3, adafactor: 0.03 }),
  small: Object.freeze({ adamw: 3e-3, adafactor: 0.03 }),
  base: Object.freeze({ adamw: 3e-3, adafactor: 0.03 }),
});

/** Peak learning rate for a fine-tuned checkpoint or a model that is not a preset (AdamW / Adafactor). */
export const FALLBACK_LR: Readonly<Record<OptimizerName, number>> = Object.freeze({ adamw: 1e-3, adafactor: 0.03 });

/** The default peak learning rate of `preset` (or of a non-preset model when `preset` is undefined or unknown). */
export function defaultLearningRate(preset: string | undefined, optimizer: OptimizerName): number {
  const row = preset !== undefined && Object.hasOwn(TRAIN_LR, preset) ? TRAIN_LR[preset] : undefined;
  return row ? row[optimizer] : FALLBACK_LR[optimizer];
}

/** The table of {@link TRAIN_LR} for help texts: `tiny 0.003 / 0.03, small …` (AdamW / Adafactor). */
export function describeTrainLr(): string {
  return `${Object.entries(TRAIN_LR)
    .map(([p, r]) => `${p} ${r.adamw} / ${r.adafactor}`)
    .join(', ')} (AdamW / Adafactor)`;
}
