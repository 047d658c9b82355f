/**
 * Learning-rate schedules: linear warm-up, then a decay to a floor.
 *
 * With `s` the 1-based number of the step about to run, `W` the warm-up steps, `T` the total steps,
 * `peak` the peak rate and `floor = minLr`:
 *
 *   warm-up       s ≤ W:  lr = peak · s / W              (step 1 already trains, at peak/W)
 *   cosine        s > W:  lr = floor + (peak − floor) · ½(1 + cos(π · min(1, (s − W) / (T − W))))
 *   inverse-sqrt  s > W:  lr = max(floor, peak · sqrt(max(W, 1) / s))      (Vaswani et al. 2017; no T needed)
 *   constant      s > W:  lr = peak
 *
 * Cosine needs the total number of steps (it reaches the floor exactly at step T and stays there);
 * inverse-sqrt suits runs bounded by time instead of steps.
 */
import { ConfigError } from '../errors.js';
import { intArg, optionsArg } from '../util/args.js';

export type ScheduleKind = 'cosine' | 'inverse-sqrt' | 'constant';

export interface LrSchedule {
  readonly kind: ScheduleKind;
  /** Peak learning rate (after warm-up), > 0. */
  readonly peakLr: number;
  /** Linear warm-up steps, ≥ 0 (0 = start at the peak). */
  readonly warmupSteps: number;
  /** Total steps; required by `cosine`, which must have totalSteps > warmupSteps. */
  readonly totalSteps?: number;
  /** Floor reached by the decay, in [0, peakLr]. Default 0. */
  readonly minLr?: number;
}

/**
 * Checks a schedule's fields.
 * @throws ConfigError naming the field (`lr`, `warmup`, `steps`, `min_lr`, `schedule`) with the value and the fix.
 */
export function validateSchedule(s: LrSchedule): void {
  optionsArg('validateSchedule', s, "{ kind: 'cosine', peakLr: 3e-3, warmupSteps: 100, totalSteps: 1000 }", false);
  if (!(Number.isFinite(s.peakLr) && s.peakLr > 0)) throw new ConfigError('lr', `must be a positive finite number, got ${s.peakLr}`);
  if (!Number.isSafeInteger(s.warmupSteps) || s.warmupSteps < 0) {
    throw new ConfigError('warmup', `must be a non-negative integer number of steps, got ${s.warmupSteps}`);
  }
  const floor = s.minLr ?? 0;
  if (!(floor >= 0 && floor <= s.peakLr)) throw new ConfigError('min_lr', `must be in [0, lr = ${s.peakLr}], got ${floor}`);
  if (s.kind === 'cosine') {
    const t = s.totalSteps;
    if (t === undefined || !Number.isSafeInteger(t) || t <= 0) {
      throw new ConfigError(
        'steps',
        `the cosine schedule needs the total number of steps (a positive integer), got ${t}; use inverse-sqrt for time-bounded runs`,
      );
    }
    if (t <= s.warmupSteps) {
      throw new ConfigError(
        'warmup',
        `${s.warmupSteps} warm-up steps leave nothing to decay over ${t} total steps; use fewer warm-up steps than steps`,
      );
    }
  } else if (s.kind !== 'inverse-sqrt' && s.kind !== 'constant') {
    throw new ConfigError('schedule', `unknown schedule "${String(s.kind)}" (allowed: cosine, inverse-sqrt, constant)`);
  }
}

/** Learning rate of the 1-based step `step` (see the file header for the formulas). */
export function learningRate(step: number, s: LrSchedule): number {
  intArg('learningRate', 'step', step, 0);
  validateSchedule(s);
  const w = s.warmupSteps;
  const floor = s.minLr ?? 0;
  if (step <= w) return (s.peakLr * step) / w;
  switch (s.kind) {
    case 'cosine': {
      const t = s.totalSteps!;
      const progress = Math.min(1, (step - w) / (t - w));
      return floor + (s.peakLr - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
    case 'inverse-sqrt':
      return Math.max(floor, s.peakLr * Math.sqrt(Math.max(w, 1) / step));
    case 'constant':
      return s.peakLr;
  }
}
