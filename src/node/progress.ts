/**
 * Training progress on the terminal: a cli-progress bar (step, loss, bits per byte, tokens/s, ETA)
 * when the stream is a TTY, plain log lines otherwise (CI, pipes): the first step, every `logEvery`
 * steps, at least every 30 s, and every validation.
 */
import cliProgress from 'cli-progress';
import { intArg, optionsArg } from '../util/args.js';
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
    optionsArg('TrainingProgress', options, '{ startStep: 0, totalSteps: 300 }', false);
    intArg('TrainingProgress', 'start_step', options.startStep, 0);
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
      this.line(
        `validation at step ${v.step}: ${v.bitsPerByte.toFixed(4)} bits per byte (${plural(v.targets, 'byte')}, ${plural(v.windows, 'window')})`,
      );
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
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return '?';
  seconds = Math.round(seconds);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m${String(s).padStart(2, '0')}s`;
  if (m > 0) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

/** Options of `TaskProgress`. */
export interface TaskProgressOptions {
  /** Where to write (the CLI: stderr, so stdout keeps only results). */
  readonly stream: NodeJS.WritableStream | { write(text: string): boolean; isTTY?: boolean };
  /** Bar (true) or plain lines (false); default: bar iff the stream is a TTY. */
  readonly tty?: boolean;
  /** What runs, e.g. `eval`. */
  readonly label: string;
  /** Plural unit of `total`, e.g. `windows` (the singular drops a final `s`). */
  readonly unit: string;
  /** Units to do. */
  readonly total: number;
  /** Plain lines: none before this many seconds (short tasks stay silent), then at most one per `everySeconds`. Defaults 3 and 10. */
  readonly quietSeconds?: number;
  readonly everySeconds?: number;
  /** Milliseconds clock (tests). Default `performance.now`. */
  readonly now?: () => number;
}

/**
 * Progress of a long computation other than training (evaluation, sampling, the attention check):
 * a cli-progress bar on a terminal, plain lines in a pipe (`eval: 3/15 windows (20%), 12s elapsed,
 * about 48s left`), the first after `quietSeconds`, then every `everySeconds`, and a last line
 * `eval: 15/15 windows in 1m02s` when any line was printed.
 */
export class TaskProgress {
  private readonly o: TaskProgressOptions;
  private readonly now: () => number;
  private readonly started: number;
  private readonly bar: cliProgress.SingleBar | null;
  private lastLine = -Infinity;
  private printed = false;
  private done = 0;
  private stopped = false;

  constructor(options: TaskProgressOptions) {
    optionsArg('TaskProgress', options, "{ stream: process.stderr, label: 'eval', unit: 'windows', total: 10 }", false);
    intArg('TaskProgress', 'total', options.total, 0);
    this.o = options;
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
    const tty = options.tty ?? Boolean((options.stream as { isTTY?: boolean }).isTTY);
    this.bar = tty
      ? new cliProgress.SingleBar(
          {
            stream: options.stream as NodeJS.WriteStream,
            format: `${options.label} {bar} {value}/{total} ${options.unit} | {duration_formatted} | ETA {eta_formatted}`,
            hideCursor: true,
            barsize: 24,
            fps: 5,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
    this.bar?.start(options.total, 0);
  }

  /** `done` units of `total` are finished. */
  update(done: number): void {
    this.done = done;
    if (this.bar) {
      this.bar.update(done);
      return;
    }
    const t = this.now();
    const elapsed = (t - this.started) / 1000;
    if (elapsed < (this.o.quietSeconds ?? 3) || (t - this.lastLine) / 1000 < (this.o.everySeconds ?? 10) || done >= this.o.total) return;
    this.lastLine = t;
    this.printed = true;
    const left = done > 0 ? fmtDuration(((this.o.total - done) * elapsed) / done) : '?';
    const pct = this.o.total > 0 ? Math.floor((100 * done) / this.o.total) : 100;
    this.write(
      `${this.o.label}: ${done}/${this.o.total} ${this.unitOf(this.o.total)} (${pct}%), ${fmtDuration(elapsed)} elapsed, about ${left} left`,
    );
  }

  /** Ends the bar (or prints the closing line when lines were printed). Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.bar) {
      this.bar.stop();
      return;
    }
    if (this.printed) {
      this.write(
        `${this.o.label}: ${this.done}/${this.o.total} ${this.unitOf(this.o.total)} in ${fmtDuration((this.now() - this.started) / 1000)}`,
      );
    }
  }

  private unitOf(n: number): string {
    return n === 1 ? this.o.unit.replace(/s$/, '') : this.o.unit;
  }

  private write(line: string): void {
    this.o.stream.write(`${line}\n`);
  }
}

/** `1 window`, `2 windows`: `n` and the noun, plural unless n is 1. */
export function plural(n: number, singular: string, pluralForm = `${singular}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? singular : pluralForm}`;
}
