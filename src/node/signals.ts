/**
 * Graceful stop on SIGINT / SIGTERM during training.
 *
 * First signal: `requested` becomes true (the trainer checks it between steps, so the current step
 * finishes, then the final checkpoint is saved and the process exits 0). The handlers are removed right
 * away, which restores the operating system's default action: a SECOND signal terminates the process at
 * once (exit status 130 for SIGINT, 143 for SIGTERM), even in the middle of a step or of a save. The
 * previous checkpoint is untouched then: saves are atomic (atomic.ts).
 */
export type StopSignal = 'SIGINT' | 'SIGTERM';

export class StopSignals {
  requested = false;
  signal: StopSignal | null = null;
  private readonly onFirst: (signal: StopSignal) => void;
  private readonly handlers = new Map<StopSignal, () => void>();

  /** @param onFirst called once, on the first signal (e.g. to print what happens next). */
  constructor(onFirst: (signal: StopSignal) => void = () => {}) {
    this.onFirst = onFirst;
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
    for (const [sig, h] of this.handlers) process.removeListener(sig, h);
    this.handlers.clear();
  }

  private handle(sig: StopSignal): void {
    this.dispose();
    if (this.requested) return;
    this.requested = true;
    this.signal = sig;
    this.onFirst(sig);
  }
}
