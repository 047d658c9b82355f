/**
 * The browser implementation of the WASM backend's thread protocol (job-board.ts) over Web Workers
 * (browser-safe: no `node:` imports); the Node twin is `WorkerPool` (src/node/threads/pool.ts).
 *
 * Browsers: shared memory needs cross-origin isolation (`crossOriginIsolated`: the page is served with
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`), and the
 * page's main thread may not `Atomics.wait`, so the backend itself runs in a (dedicated) worker, which
 * starts the helpers as nested workers (`WebWorkerPool`).
 */
import { UsageError } from '../../errors.js';
import { optionsArg } from '../../util/args.js';
import type { KernelCall, KernelExecutor } from './executor.js';
import { KERNEL_NAMES } from './kernels.generated.js';
import { CONTROL_LAYOUT, HELPER_LOOP_SOURCE, JobBoard } from './job-board.js';

/**
 * The body of a browser helper: on its one message `{ module, memory, control, names, slot, spinMs,
 * layout }` it instantiates the kernels on the shared memory, posts `{ type: 'ready' }` (or
 * `{ type: 'error', message }`) and runs the loop until STOP.
 */
const WEB_HELPER_SOURCE = `'use strict';
${HELPER_LOOP_SOURCE}
self.onmessage = (event) => {
  self.onmessage = null;
  const { module, memory, control, names, slot, spinMs, layout } = event.data;
  let fns;
  try {
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    fns = names.map((n) => instance.exports[n]);
  } catch (e) {
    self.postMessage({ type: 'error', message: 'worker ' + slot + ' could not instantiate the kernels: ' + (e && e.message ? e.message : String(e)) });
    return;
  }
  self.postMessage({ type: 'ready' });
  reformerKernelHelper(fns, names, control, slot, spinMs, layout, memory);
  self.close();
};
`;

/** True if this thread may block in `Atomics.wait` (false on a page's main thread). */
export function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Options of `WebWorkerPool`: the compiled module, the shared memory, the thread count, the worker factory. */
export interface WebWorkerPoolOptions {
  /** The compiled kernel module (the same one the calling thread instantiated). */
  module: WebAssembly.Module;
  /** The shared memory every instance imports (`backend.arena.memory`). */
  memory: WebAssembly.Memory;
  /** Threads of the pool, the calling thread included (2 … 256), e.g. `navigator.hardwareConcurrency`. */
  threads: number;
  /** Milliseconds a helper (and the waiting caller) spins before sleeping. Default 0.5. */
  spinMs?: number;
  /**
   * Starts one helper from the URL of its script (default `new Worker(url, { name })`). The default
   * script is a Blob URL, which inherits the page's cross-origin isolation.
   */
  createWorker?: (url: string, name: string) => Worker;
}

/**
 * The browser `KernelExecutor`: `threads − 1` Web Workers run the kernels on the backend's shared
 * memory (see the file header). Use it from a dedicated worker of a cross-origin isolated page:
 *
 *   const module = await WebAssembly.compile(bytes);          // a `.shared` build
 *   const be = await instantiateWasmBackend({ source: module, variant, shared: true });
 *   const pool = new WebWorkerPool({ module, memory: be.arena.memory, threads: navigator.hardwareConcurrency });
 *   await pool.ready();
 *   be.setExecutor(pool);                                       // be.close() stops the helpers
 *
 * Results are bit-identical to one thread (and to Node's `WorkerPool`) for the same build.
 */
export class WebWorkerPool implements KernelExecutor {
  readonly threads: number;
  private readonly board: JobBoard;
  private readonly workers: Worker[] = [];
  private readonly url: string | null;
  private readonly readyPromise: Promise<void>;
  private closed = false;

  /**
   * Starts the helpers (they instantiate the module in the background: until they are up, the calling
   * thread does all the work; await `ready()` to be sure they started).
   * @throws UsageError if `threads` is not an integer in [2, 256], the memory is not shared, this
   *   context has no `Worker`, or it cannot block (a page's main thread: run the backend in a worker);
   *   ConfigError('options') without an options object.
   */
  constructor(options: WebWorkerPoolOptions) {
    optionsArg('new WebWorkerPool', options, '{ module, memory: be.arena.memory, threads: 4 }', false);
    const { threads } = options;
    if (!Number.isInteger(threads) || threads < 2 || threads > 256) {
      throw new UsageError(`WebWorkerPool: threads must be an integer in [2, 256] (the calling thread included), got ${threads}`);
    }
    if (
      typeof SharedArrayBuffer === 'undefined' ||
      !(options.memory instanceof WebAssembly.Memory) ||
      !(options.memory.buffer instanceof SharedArrayBuffer)
    ) {
      throw new UsageError(
        'WebWorkerPool: the WebAssembly memory must be shared (a .shared build; browsers need a cross-origin isolated page) so workers can use it',
      );
    }
    if (typeof Worker === 'undefined') throw new UsageError('WebWorkerPool: this context has no Worker; use 1 thread');
    if (!canBlock()) {
      throw new UsageError(
        "WebWorkerPool: this thread cannot block in Atomics.wait (a page's main thread); run the WASM backend in a Web Worker",
      );
    }
    const spinMs = options.spinMs ?? 0.5;
    if (!(spinMs >= 0)) throw new UsageError(`WebWorkerPool: spinMs must be ≥ 0, got ${spinMs}`);
    this.threads = threads;
    this.board = new JobBoard(spinMs, 'WebWorkerPool');
    this.url = URL.createObjectURL(new Blob([WEB_HELPER_SOURCE], { type: 'text/javascript' }));
    const create = options.createWorker ?? ((url: string, name: string) => new Worker(url, { name }));
    const ready: Promise<void>[] = [];
    for (let slot = 1; slot < threads; slot++) {
      const worker = create(this.url, `reformer-kernels-${slot}`);
      ready.push(
        new Promise<void>((resolve, reject) => {
          worker.onmessage = (e: MessageEvent<{ type: string; message?: string }>) => {
            worker.onmessage = null;
            if (e.data?.type === 'ready') resolve();
            else {
              this.board.markDead(slot);
              reject(new Error(`WebWorkerPool: ${e.data?.message ?? `worker ${slot} did not start`}`));
            }
          };
          worker.onerror = (e: ErrorEvent) => {
            this.board.markDead(slot);
            reject(new Error(`WebWorkerPool: worker ${slot} is not running: ${e.message || 'script error'}`));
          };
        }),
      );
      worker.postMessage({
        module: options.module,
        memory: options.memory,
        control: this.board.control,
        names: KERNEL_NAMES,
        slot,
        spinMs,
        layout: CONTROL_LAYOUT,
      });
      this.workers.push(worker);
    }
    this.readyPromise = Promise.all(ready).then(() => undefined);
    this.readyPromise.catch(() => {}); // reported by ready()
  }

  /** Resolves when every helper has instantiated the kernels. @throws Error if one could not */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  runAll(calls: readonly KernelCall[], local: (call: KernelCall) => void): void {
    this.board.runAll(calls, local);
  }

  hot(): boolean {
    return this.board.hot();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.board.stop();
    for (const w of this.workers) w.terminate();
    if (this.url) URL.revokeObjectURL(this.url);
  }
}
