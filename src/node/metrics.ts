/**
 * The JSONL metrics log of a training run: one JSON object per line,
 *   {"kind":"train","step":10,"loss":2.1,"bits_per_byte":3.03,"lr":0.001,"grad_norm":0.8,"tokens_per_second":5120,"elapsed_s":12.5,"time":"…"}
 *   {"kind":"validation","step":100,"loss":1.9,"bits_per_byte":2.74,"targets":8191,"windows":8,"time":"…"}
 * Task runs (`train --task`) log `{"kind":"validation","task":"classify","step":…,"loss":…,"accuracy":…,"macro_f1":…}`
 * (their train records have `bits_per_byte: null` except for the masked LM).
 * Appended line by line (a crash loses at most the line being written). On resume the records after
 * the checkpoint's step are dropped first (`truncateAfter`), so the log matches the resumed run.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { pathArg } from '../util/args.js';
import { dirname } from 'node:path';
import type { StepInfo, ValidationInfo } from '../train/trainer.js';
import { writeFileAtomic } from './atomic.js';

export interface TrainRecord {
  readonly kind: 'train';
  readonly step: number;
  readonly loss: number;
  readonly bits_per_byte: number;
  readonly lr: number;
  readonly grad_norm: number;
  readonly tokens_per_second: number;
  readonly elapsed_s: number;
  readonly time: string;
}

export interface ValidationRecord {
  readonly kind: 'validation';
  readonly step: number;
  readonly loss: number;
  readonly bits_per_byte: number;
  readonly targets: number;
  readonly windows: number;
  readonly time: string;
}

/** A validation of a task run (`train --task mlm|classify|qa`): the task's loss and metrics. */
export interface TaskValidationRecord {
  readonly kind: 'validation';
  readonly task: string;
  readonly step: number;
  readonly loss: number;
  /** bits per masked byte (masked LM only) */
  readonly bits_per_byte?: number;
  readonly examples: number;
  readonly time: string;
  /** The task's metrics: accuracy, macro_f1, mse, exact_match, f1, ... */
  readonly [metric: string]: number | string | undefined;
}

export type MetricsRecord = TrainRecord | ValidationRecord;

export class MetricsLog {
  readonly path: string;
  constructor(path: string) {
    pathArg('MetricsLog', 'path', path);
    this.path = path;
    mkdirSync(dirname(path), { recursive: true });
  }

  step(s: StepInfo): TrainRecord {
    const r: TrainRecord = {
      kind: 'train',
      step: s.step,
      loss: s.loss,
      bits_per_byte: s.bitsPerByte,
      lr: s.lr,
      grad_norm: s.gradNorm,
      tokens_per_second: s.tokensPerSecond,
      elapsed_s: s.elapsedMs / 1000,
      time: new Date().toISOString(),
    };
    this.append(r);
    return r;
  }

  validation(v: ValidationInfo): ValidationRecord {
    const r: ValidationRecord = {
      kind: 'validation',
      step: v.step,
      loss: v.loss,
      bits_per_byte: v.bitsPerByte,
      targets: v.targets,
      windows: v.windows,
      time: new Date().toISOString(),
    };
    this.append(r);
    return r;
  }

  /** A task run's validation (its metrics beside the loss). */
  taskValidation(
    task: string,
    v: { step: number; loss: number; metrics: Readonly<Record<string, number>>; examples: number },
  ): TaskValidationRecord {
    const r: TaskValidationRecord = {
      kind: 'validation',
      task,
      step: v.step,
      loss: v.loss,
      ...v.metrics,
      examples: v.examples,
      time: new Date().toISOString(),
    };
    appendFileSync(this.path, `${JSON.stringify(r)}\n`);
    return r;
  }

  /** All well-formed records (a torn last line is skipped). */
  read(): MetricsRecord[] {
    if (!existsSync(this.path)) return [];
    const out: MetricsRecord[] = [];
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as MetricsRecord;
        if ((r.kind === 'train' || r.kind === 'validation') && typeof r.step === 'number') out.push(r);
      } catch {
        // a line torn by a crash
      }
    }
    return out;
  }

  /** Drops records with step > `step` (atomic rewrite). */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept = this.read().filter((r) => r.step <= step);
    writeFileAtomic(this.path, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }

  private append(r: MetricsRecord): void {
    appendFileSync(this.path, `${JSON.stringify(r)}\n`);
  }
}
