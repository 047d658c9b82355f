/**
 * The page's handle on a compute worker (web/src/worker/compute.worker.ts): typed requests that
 * resolve with the worker's result, with the worker's events (progress, tokens, training steps)
 * passed to a callback. Several clients can coexist (the browser test runs one per backend choice).
 */
import type { Event, FromWorker, Request, Results, ToWorker } from './protocol.js';

type Kind = Request['kind'];

export class ComputeClient {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; onEvent?: (e: Event) => void }>();

  constructor() {
    this.worker = new Worker(new URL('./worker/compute.worker.ts', import.meta.url), { type: 'module', name: 'reformer-compute' });
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'event') {
        p.onEvent?.(m.event);
        return;
      }
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.result);
      else {
        const err = new Error(m.message);
        err.name = m.name;
        p.reject(err);
      }
    };
    this.worker.onerror = (e) => {
      const err = new Error(`the compute worker failed: ${e.message || 'script error'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  /** Sends one request; resolves with its result. */
  call<K extends Kind>(request: Extract<Request, { kind: K }>, onEvent?: (e: Event) => void): Promise<Results[K]> {
    const id = this.nextId++;
    return new Promise<Results[K]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, ...(onEvent ? { onEvent } : {}) });
      const message: ToWorker = { id, request };
      this.worker.postMessage(message);
    });
  }

  /** Stops the worker (and its kernel threads). */
  terminate(): void {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(new Error('the compute worker was terminated'));
    this.pending.clear();
  }
}
