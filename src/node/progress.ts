/**
 * Training progress on the terminal: a cli-progress bar (step, loss, bits per byte, tokens/s, ETA)
 * when the stream is a TTY, plain log lines otherwise (CI, pipes): the first step, every `logEvery`
 * steps, at least every 30 s, and every validation.
 */
import cliProgress from 'cli-progress';
import type { StepInfo, ValidationInfo } from '../train/trainer.js';

export interface ProgressOptions {
  /** Where to write (default process.stdout). */
  stream?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Force bar (true) or lines (false); default: bar iff the stream is a TTY. */
  tty?: boolean;
  /** Step budget (absolute), if bounded by steps. */
  totalSteps?: number;
  /** Time budget in minutes, if bounded by time. */
  minutes?: number;
  /** Step the run starts from (resume). */
  startStep: number;
  /** Plain-line period in steps. Default 10. */
  logEvery?: number;
  /** Show bits per byte (default true); false for task runs whose loss is not per byte (classification, QA). */
  bitsPerByte?: boolean;
}

export class TrainingProgress {
  private readonly stream: NodeJS.WritableStream;
  private readonly bar: cliProgress.SingleBar | null;
  private readonly opts: ProgressOptions;
  private readonly started = Date.now();
  private lastLine = 0;
  private lastValidation = '';

  constructor(options: ProgressOptions) {
    this.opts = options;
    this.stream = options.stream ?? process.stdout;
    const tty = options.tty ?? Boolean((this.stream as NodeJS.WriteStream).isTTY);
    if (tty) {
      const byTime = options.totalSteps === undefined;
      this.bar = new cliProgress.SingleBar(
        {
          stream: this.stream as NodeJS.WriteStream,
          format: `{bar} ${byTime ? '{elapsedText}/{budgetText}' : 'step {value}/{total}'} | loss {loss}${options.bitsPerByte === false ? '' : ' | bpb {bpb}'}{val} | {tps} tok/s | ETA {etaText}`,
          hideCursor: true,
          etaBuffer: 20,
          fps: 5,
          barsize: 24,
        },
        cliProgress.Presets.shades_classic,
      );
      const total = byTime ? Math.round((options.minutes ?? 0) * 60) : options.totalSteps!;
      this.bar.start(total, byTime ? 0 : options.startStep, this.payload(null));
    } else {
      this.bar = null;
    }
  }

  step(s: StepInfo): void {
    if (this.bar) {
      const value = this.opts.totalSteps === undefined ? Math.round((Date.now() - this.started) / 1000) : s.step;
      this.bar.update(value, this.payload(s));
      return;
    }
    const every = this.opts.logEvery ?? 10;
    const now = Date.now();
    if (s.step === this.opts.startStep + 1 || s.step % every === 0 || now - this.lastLine >= 30_000) {
      this.lastLine = now;
      const total = this.opts.totalSteps !== undefined ? `/${this.opts.totalSteps}` : '';
      this.line(
        `step ${s.step}${total} | loss ${s.loss.toFixed(4)}${this.opts.bitsPerByte === false ? '' : ` | bpb ${s.bitsPerByte.toFixed(4)}`} | ${fmtRate(s.tokensPerSecond)} tok/s | ` +
          `lr ${s.lr.toExponential(2)} | grad norm ${s.gradNorm.toFixed(3)}${this.eta(s)}`,
      );
    }
  }

  validation(v: ValidationInfo): void {
    this.lastValidation = v.bitsPerByte.toFixed(4);
    if (!this.bar)
      this.line(`validation at step ${v.step}: ${v.bitsPerByte.toFixed(4)} bits per byte (${v.targets} bytes, ${v.windows} windows)`);
  }

  /**
   * A validation of a task run: `text` as a plain line (e.g. `validation at step 100: accuracy 0.91,
   * macro-F1 0.90 (200 examples)`), `short` in the bar (e.g. `acc 0.910`).
   */
  validationSummary(text: string, short: string): void {
    this.lastValidation = short;
    if (!this.bar) this.line(text);
  }

  /** A message line (printed above the bar in TTY mode). */
  message(text: string): void {
    if (this.bar) {
      // clear the bar line and print the message; the bar redraws itself below it at its next update
      this.stream.write(`\r\x1b[K${text}\n`);
    } else {
      this.line(text);
    }
  }

  stop(): void {
    this.bar?.stop();
  }

  private payload(s: StepInfo | null): Record<string, string> {
    const elapsed = Math.round((Date.now() - this.started) / 1000);
    return {
      loss: s ? s.loss.toFixed(4) : '-',
      bpb: s ? s.bitsPerByte.toFixed(3) : '-',
      val: this.lastValidation ? ` (val ${this.lastValidation})` : '',
      tps: s ? fmtRate(s.tokensPerSecond) : '-',
      etaText: s ? fmtEta(this.etaSeconds(s)) : '-',
      elapsedText: fmtDuration(elapsed),
      budgetText: fmtDuration(Math.round((this.opts.minutes ?? 0) * 60)),
    };
  }

  private eta(s: StepInfo): string {
    const left = this.etaSeconds(s);
    if (left === null) return '';
    return this.opts.totalSteps !== undefined ? ` | eta ${fmtDuration(left)}` : ` | ${fmtDuration(left)} left`;
  }

  /**
   * Seconds to the end of the run: by the step budget at the average pace so far, capped by what is
   * left of the time budget when there is one too (the run stops at whichever comes first); null if
   * unbounded or not yet measurable.
   */
  private etaSeconds(s: StepInfo): number | null {
    const elapsed = (Date.now() - this.started) / 1000;
    const timeLeft = this.opts.minutes !== undefined ? Math.max(0, this.opts.minutes * 60 - elapsed) : null;
    let stepsLeft: number | null = null;
    if (this.opts.totalSteps !== undefined) {
      const done = s.step - this.opts.startStep;
      if (done > 0) stepsLeft = (elapsed / done) * Math.max(0, this.opts.totalSteps - s.step);
    }
    const left = stepsLeft === null ? timeLeft : timeLeft === null ? stepsLeft : Math.min(stepsLeft, timeLeft);
    return left === null ? null : Math.round(left);
  }

  private line(text: string): void {
    this.stream.write(`${text}\n`);
  }
}

function fmtEta(seconds: number | null): string {
  return seconds === null ? '-' : fmtDuration(seconds);
}

function fmtRate(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

/** 75 -> "1m15s", 3700 -> "1h01m40s". */
export function fmtDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m${String(s).padStart(2, '0')}s`;
  if (m > 0) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}
