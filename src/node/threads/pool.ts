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
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { optionsArg } from '../../util/args.js';
import { UsageError } from '../../errors.js';
import { MAX_KERNEL_ARGS, type KernelCall, type KernelExecutor } from '../../backend/wasm/executor.js';
import { KERNEL_EXPORT_NAMES } from '../../backend/wasm/kernels.js';
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
export const MAX_CALLS = 64;

/**
 * Word indices of the control block (Int32 view; each hot word on its own 64-byte line), then the call
 * table (kernel index, argc per call) and the f64 arguments (Float64 view).
 */
const LAYOUT = {
  SEQ: 0, // job generation (12 bits), bumped per job; workers wait on it
  NEXT: 16, // claim word: generation << 20 | next call index
  COUNT: 32, // calls of the current job
  DONE: 48, // calls finished; the main thread waits on it
  FAILED: 64, // 1 if a call trapped on a worker
  STOP: 80, // 1: workers exit
  DEAD: 96, // slot + 1 of a worker that could not start
  GEN_SHIFT: 20,
  INDEX_MASK: (1 << 20) - 1,
  callBase: 112,
  callWords: 4, // kernel index, argc, scratch argument index (−1: none), scratch stride in bytes
  argsBase: 0, // Float64 index, set below
  maxArgs: MAX_KERNEL_ARGS,
} as const;
const GEN_MASK = (1 << (32 - LAYOUT.GEN_SHIFT)) - 1;
const HEADER_INTS = LAYOUT.callBase + MAX_CALLS * LAYOUT.callWords;
const ARGS_BASE = Math.ceil((HEADER_INTS * 4) / 8); // in f64 elements
const CONTROL_BYTES = ARGS_BASE * 8 + MAX_CALLS * MAX_KERNEL_ARGS * 8;

const KERNEL_INDEX = new Map<string, number>(KERNEL_EXPORT_NAMES.map((n, i) => [n, i]));

export class WorkerPool implements KernelExecutor {
  readonly threads: number;
  private readonly workers: Worker[] = [];
  private readonly errorPorts: MessagePort[] = [];
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private gen = 0;
  private readonly spinMs: number;
  private readonly readyPromise: Promise<void>;
  private closed = false;
  private busy = false;
  /** performance.now() at the end of the last job (the workers spin for spinMs after it). */
  private lastEnd = -Infinity;

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
    this.spinMs = spinMs;
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    this.ctl = new Int32Array(control);
    this.args = new Float64Array(control);
    const ready: Promise<void>[] = [];
    for (let slot = 0; slot < threads - 1; slot++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          module: options.module,
          memory: options.memory,
          control,
          names: KERNEL_EXPORT_NAMES,
          slot: slot + 1,
          spinMs,
          errors: port2,
          layout: { ...LAYOUT, argsBase: ARGS_BASE },
        },
        transferList: [port2],
        name: `reformer-kernels-${slot + 1}`,
        // the source is CommonJS: do not inherit --input-type=module / --experimental-default-type
        execArgv: [],
      });
      worker.unref();
      port1.unref();
      ready.push(
        new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', (e) => {
            Atomics.store(this.ctl, LAYOUT.DEAD, slot + 1);
            reject(e);
          });
          worker.once('exit', () => resolve());
        }),
      );
      this.workers.push(worker);
      this.errorPorts.push(port1);
    }
    this.readyPromise = Promise.all(ready).then(() => {
      const dead = Atomics.load(this.ctl, LAYOUT.DEAD);
      if (dead !== 0)
        throw new Error(
          `WorkerPool: worker ${dead} is not running${this.drainErrors()
            .map((m) => `: ${m}`)
            .join('')}`,
        );
    });
    this.readyPromise.catch(() => {}); // reported by ready()
  }

  /** Resolves when every worker has instantiated the kernels. @throws Error if one could not */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  runAll(calls: readonly KernelCall[], local: (call: KernelCall) => void): void {
    if (this.closed) throw new UsageError('WorkerPool: run after close()');
    if (this.busy) throw new UsageError('WorkerPool: runAll is not reentrant (a kernel call is already being dispatched)');
    const n = calls.length;
    if (n > MAX_CALLS) throw new UsageError(`WorkerPool: ${n} calls in one job, more than ${MAX_CALLS}`);
    if (n === 0) return;
    this.busy = true;
    const H = this.ctl;
    try {
      this.gen = (this.gen + 1) & GEN_MASK;
      const gen = this.gen;
      // close the claim word first: a worker still holding the previous job's last claim word (index ==
      // its count) must fail its compare-and-swap instead of taking a call of the table rewritten below
      Atomics.store(H, LAYOUT.NEXT, (gen << LAYOUT.GEN_SHIFT) | LAYOUT.INDEX_MASK);
      for (let i = 0; i < n; i++) {
        const call = calls[i]!;
        const index = KERNEL_INDEX.get(call.kernel);
        if (index === undefined) throw new UsageError(`WorkerPool: unknown kernel '${call.kernel}'`);
        if (call.args.length > MAX_KERNEL_ARGS) {
          throw new UsageError(`WorkerPool: ${call.kernel} has ${call.args.length} arguments, more than ${MAX_KERNEL_ARGS}`);
        }
        const c = LAYOUT.callBase + i * LAYOUT.callWords;
        H[c] = index;
        H[c + 1] = call.args.length;
        H[c + 2] = call.scratch ? call.scratch.arg : -1;
        H[c + 3] = call.scratch ? call.scratch.stride : 0;
        this.args.set(call.args, ARGS_BASE + i * MAX_KERNEL_ARGS);
      }
      Atomics.store(H, LAYOUT.COUNT, n); // atomic: ordered after the closing store above
      Atomics.store(H, LAYOUT.DONE, 0);
      Atomics.store(H, LAYOUT.FAILED, 0);
      Atomics.store(H, LAYOUT.NEXT, gen << LAYOUT.GEN_SHIFT); // publishes the calls written above
      Atomics.store(H, LAYOUT.SEQ, gen);
      Atomics.notify(H, LAYOUT.SEQ);

      // take calls like a worker; after a local failure, take the rest without running them
      let failure: unknown = null;
      let failed = false;
      for (;;) {
        const w = Atomics.load(H, LAYOUT.NEXT);
        const i = w & LAYOUT.INDEX_MASK;
        if (i >= n) break;
        if (Atomics.compareExchange(H, LAYOUT.NEXT, w, w + 1) !== w) continue;
        if (!failed) {
          try {
            local(calls[i]!);
          } catch (e) {
            failure = e;
            failed = true;
          }
        }
        Atomics.add(H, LAYOUT.DONE, 1);
      }
      this.awaitDone(n);
      if (failed) throw failure;
      if (Atomics.load(H, LAYOUT.FAILED) !== 0) {
        throw new Error(`WASM kernel trapped on a worker thread: ${this.drainErrors().join('; ') || 'no message'}`);
      }
    } finally {
      this.busy = false;
      this.lastEnd = performance.now();
    }
  }

  hot(): boolean {
    return performance.now() - this.lastEnd < this.spinMs * 0.8;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, LAYOUT.STOP, 1);
    Atomics.store(this.ctl, LAYOUT.SEQ, (this.gen + 1) & GEN_MASK);
    Atomics.notify(this.ctl, LAYOUT.SEQ);
    for (let i = 0; i < this.workers.length; i++) {
      void this.workers[i]!.terminate();
      this.errorPorts[i]!.close();
    }
  }

  /** Waits until DONE == n: spins for spinMs, then sleeps on the DONE word. */
  private awaitDone(n: number): void {
    const H = this.ctl;
    let t0 = performance.now();
    let i = 0;
    for (let d = Atomics.load(H, LAYOUT.DONE); d !== n; d = Atomics.load(H, LAYOUT.DONE)) {
      if ((++i & 1023) === 0 && performance.now() - t0 > this.spinMs) {
        Atomics.wait(H, LAYOUT.DONE, d, 50);
        t0 = performance.now();
      }
    }
  }

  /** Error messages the workers posted. */
  private drainErrors(): string[] {
    const out: string[] = [];
    for (const port of this.errorPorts) {
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) out.push(String(m.message));
    }
    return out;
  }
}
