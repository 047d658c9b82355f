/**
 * Graceful stop on SIGINT / SIGTERM during training.
 *
 * First signal: `requested` becomes true (the trainer checks it between steps, so the current step
 * finishes, then the final checkpoint is saved and the process exits 0).
 *
 * The same stop is often delivered twice within milliseconds: a signal sent to a whole process group
 * (Ctrl-C in a terminal, `kill -- -PGID`, a systemd stop) reaches both `npx`/`npm` and this process,
 * and npm forwards its copy to the child as well. Signals that reach JavaScript within
 * `duplicateWindowMs` (default 500 ms) of the first are therefore taken as that same stop and ignored.
 *
 * After the window the handlers are removed, which restores the operating system's default action:
 * a SECOND signal terminates the process at once (exit status 130 for SIGINT, 143 for SIGTERM), even
 * in the middle of a step, of the final validation or of a save. The removal is a timer, so it needs
 * the event loop: the trainer awaits `settled()` before its final validation and checkpoint (a pause
 * of at most the window). A second signal that reaches JavaScript after the window but before the
 * removal is re-raised with the default action, with the same effect. The previous checkpoint is
 * untouched then: saves are atomic (atomic.ts).
 */
import { ConfigError } from '../errors.js';
import { describeValue, optionsArg } from '../util/args.js';
export type StopSignal = 'SIGINT' | 'SIGTERM';

export interface StopSignalsOptions {
  /** Signals within this many milliseconds of the first are the same stop delivered twice. Default 500. */
  readonly duplicateWindowMs?: number;
  /** Terminates the process by `signal` with the default action (tests replace it). */
  readonly raise?: (signal: StopSignal) => void;
  /** Milliseconds clock (tests replace it). Default `performance.now`. */
  readonly now?: () => number;
}

export class StopSignals {
  requested = false;
  signal: StopSignal | null = null;
  private readonly onFirst: (signal: StopSignal) => void;
  private readonly handlers = new Map<StopSignal, () => void>();
  private readonly windowMs: number;
  private readonly raise: (signal: StopSignal) => void;
  private readonly now: () => number;
  private firstAt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly waiting: Array<() => void> = [];

  /** @param onFirst called once, on the first signal (e.g. to print what happens next). */
  constructor(onFirst: (signal: StopSignal) => void = () => {}, options: StopSignalsOptions = {}) {
    if (typeof onFirst !== 'function')
      throw new ConfigError('on_first', `StopSignals needs a function (or none), got ${describeValue(onFirst)}`);
    optionsArg('StopSignals', options, '{ duplicateWindowMs: 500 }');
    this.onFirst = onFirst;
    this.windowMs = options.duplicateWindowMs ?? 500;
    this.raise = options.raise ?? ((sig) => process.kill(process.pid, sig));
    this.now = options.now ?? (() => performance.now());
  }

  install(): this {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const h = (): void => this.handle(sig);
      this.handlers.set(sig, h);
      process.on(sig, h);
    }
    return this;
  }

  /** Removes the handlers (the default action applies again). */
  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const [sig, h] of this.handlers) process.removeListener(sig, h);
    this.handlers.clear();
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  /**
   * Resolves once a requested stop's duplicate window is over and the handlers are removed (at once if
   * no stop was requested or they are already gone): from then on a second signal kills at once.
   */
  settled(): Promise<void> {
    if (!this.requested || this.handlers.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private handle(sig: StopSignal): void {
    if (!this.requested) {
      this.requested = true;
      this.signal = sig;
      this.firstAt = this.now();
      this.onFirst(sig);
      this.timer = setTimeout(() => this.dispose(), this.windowMs);
      return;
    }
    if (this.now() - this.firstAt < this.windowMs) return; // the first stop, delivered twice
    this.dispose();
    this.raise(sig);
  }
}
