/**
 * `WorkerPool`: the Node implementation of the WASM backend's `KernelExecutor`
 * (src/backend/wasm/executor.ts). `threads − 1` worker threads instantiate the same compiled kernel
 * module on the same shared `WebAssembly.Memory`; the calling thread works too.
 *
 * Why a small Atomics pool and not a task-queue library (piscina, workerpool, ...): the `Backend`
 * interface is synchronous (model code calls `be.gemm(...)` and uses the result on the next line), the
 * data already lives in shared memory (a call is ~15 numbers: sizes and byte addresses), and a split
 * operation lasts a few milliseconds, so a dispatch must cost microseconds. Message-passing pools are
 * asynchronous (a promise per task) and cost tens of µs per message. Here the main thread writes the
 * calls into a shared control block, bumps a job word and notifies; then every thread, the caller
 * included, takes calls from a shared counter until none is left; the caller waits for the last one.
 * Worker t (1 … threads − 1) offsets a call's scratch argument by t·stride (`KernelCall.scratch`).
 * The protocol (control block, `JobBoard`, the helpers' loop) is shared with the browser's
 * `WebWorkerPool`: src/backend/wasm/worker-executor.ts.
 * About 2 µs per dispatch while the workers spin, ~0.1 ms when they were asleep (futex wake on a VM:
 * ../shared/PERF-NOTES.md §5).
 *
 * Dynamic claiming (rather than one fixed part per thread) keeps a split operation from waiting on a
 * worker that the OS has not scheduled (other processes on a shared machine): the caller simply takes
 * the remaining calls itself. Which thread runs a call never changes the result (calls write disjoint
 * outputs with the instructions of one whole call: see WasmBackend.threads).
 *
 * Waiting: workers spin for `spinMs` after each job (so the back-to-back operations of one layer are
 * cheap to dispatch), then sleep in `Atomics.wait` (no CPU while the process does other things). The
 * caller spins for the same time, then waits.
 *
 * Shutdown: workers are `unref()`ed, so an idle pool never keeps the process alive, and `close()`
 * (or `WasmBackend.close()`) stops them. A kernel that traps on a worker makes `runAll` throw with its
 * message. A worker that could not start makes `ready()` reject; its share is done by the others.
 */
import { Worker } from 'node:worker_threads';
import { optionsArg } from '../../util/args.js';
import { UsageError } from '../../errors.js';
import type { KernelCall, KernelExecutor } from '../../backend/wasm/executor.js';
import { KERNEL_NAMES } from '../../backend/wasm/kernels.generated.js';
import { CONTROL_LAYOUT, JobBoard, MAX_CALLS } from '../../backend/wasm/job-board.js';
import { WORKER_SOURCE } from './worker-source.js';

export interface WorkerPoolOptions {
  /** The compiled kernel module (the same one the main thread instantiated). */
  module: WebAssembly.Module;
  /** The shared memory every instance imports. */
  memory: WebAssembly.Memory;
  /** Threads of the pool, the calling thread included (≥ 2; 1 needs no pool). */
  threads: number;
  /** Milliseconds a worker (and the waiting main thread) spins before sleeping. Default 0.5. */
  spinMs?: number;
}

/** Most calls of one `runAll`. */
export { MAX_CALLS };

export class WorkerPool implements KernelExecutor {
  readonly threads: number;
  private readonly workers: Worker[] = [];
  private readonly board: JobBoard;
  private readonly readyPromise: Promise<void>;
  private closed = false;

  /**
   * Starts `threads − 1` workers (they instantiate the module in the background: until they are up,
   * the calling thread does all the work; await `ready()` to be sure they started).
   * @throws UsageError if `threads` is not an integer in [2, 256] or the memory is not shared
   */
  constructor(options: WorkerPoolOptions) {
    optionsArg('WorkerPool', options, '{ module, memory, threads: 2 }', false);
    const { threads } = options;
    if (!Number.isInteger(threads) || threads < 2 || threads > 256) {
      throw new UsageError(`WorkerPool: threads must be an integer in [2, 256] (the calling thread included), got ${threads}`);
    }
    if (!(options.module instanceof WebAssembly.Module) || !(options.memory instanceof WebAssembly.Memory)) {
      throw new UsageError('WorkerPool: options.module must be the compiled WebAssembly.Module and options.memory its WebAssembly.Memory');
    }
    if (!(options.memory.buffer instanceof SharedArrayBuffer)) {
      throw new UsageError('WorkerPool: the WebAssembly memory must be shared (created with shared: true) so workers can use it');
    }
    const spinMs = options.spinMs ?? 0.5;
    if (!(spinMs >= 0)) throw new UsageError(`WorkerPool: spinMs must be ≥ 0, got ${spinMs}`);
    this.threads = threads;
    this.board = new JobBoard(spinMs, 'WorkerPool');
    const errors: string[] = [];
    const ready: Promise<void>[] = [];
    for (let slot = 1; slot < threads; slot++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          module: options.module,
          memory: options.memory,
          control: this.board.control,
          names: KERNEL_NAMES,
          slot,
          spinMs,
          layout: CONTROL_LAYOUT,
        },
        name: `reformer-kernels-${slot}`,
        // the source is CommonJS: do not inherit --input-type=module / --experimental-default-type
        execArgv: [],
      });
      worker.unref();
      ready.push(
        new Promise<void>((resolve) => {
          worker.once('message', () => resolve());
          worker.once('error', (e) => {
            this.board.markDead(slot);
            errors.push(e.message);
            resolve();
          });
          worker.once('exit', () => resolve());
        }),
      );
      this.workers.push(worker);
    }
    this.readyPromise = Promise.all(ready).then(() => {
      const dead = this.board.dead();
      if (dead !== 0) throw new Error(`WorkerPool: worker ${dead} is not running${errors.map((m) => `: ${m}`).join('')}`);
    });
    this.readyPromise.catch(() => {}); // reported by ready()
  }

  /** Resolves when every worker has instantiated the kernels. @throws Error if one could not */
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
    for (const worker of this.workers) void worker.terminate();
  }
}
