/**
 * `WorkerPool`: the Node implementation of the WASM backend's `KernelExecutor`
 * (src/backend/wasm/executor.ts). `threads − 1` worker threads instantiate the same compiled kernel
 * module on the same shared `WebAssembly.Memory`; the calling thread runs its own part of every split
 * operation and the workers run the rest.
 *
 * Why a small Atomics pool and not a task-queue library (piscina, workerpool, ...): the `Backend`
 * interface is synchronous (model code calls `be.gemm(...)` and uses the result on the next line), the
 * data already lives in shared memory (a task is ~15 numbers: sizes and byte addresses), and a split
 * operation is a few milliseconds, so the dispatch must cost microseconds. Message-passing pools are
 * asynchronous (a promise per task) and cost tens of µs per message; here the main thread writes the
 * arguments into a shared control block, bumps a sequence word and notifies, runs its part, then waits
 * for the workers' `done` words: about 2 µs per dispatch while the workers spin, ~0.1 ms when they were
 * asleep (futex wake on a VM: ../shared/PERF-NOTES.md §5).
 *
 * Waiting: workers spin for `spinMs` after each task (so back-to-back dispatches of one layer are
 * cheap), then sleep in `Atomics.wait` (no CPU while the process does other things). The main thread
 * spins for the same time, then waits.
 *
 * Shutdown: workers are `unref()`ed, so an idle pool never keeps the process alive, and `close()`
 * (or `WasmBackend.close()`) stops them. A kernel that traps on a worker makes `run` throw with its
 * message; a worker that could not start makes every later `run` throw.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { UsageError } from '../../errors.js';
import { MAX_KERNEL_ARGS, type KernelCall, type KernelExecutor } from '../../backend/wasm/executor.js';
import { KERNEL_EXPORT_NAMES, type KernelName } from '../../backend/wasm/kernels.js';
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

/** Int32 words per worker slot (64 bytes: one cache line, no false sharing between slots). */
const SLOT_INTS = 16;
const SEQ = 0;
const DONE = 1;
const KERNEL = 2;
const ARGC = 3;
const STATUS = 4;
const DEAD = 5;

const KERNEL_INDEX = new Map<string, number>(KERNEL_EXPORT_NAMES.map((n, i) => [n, i]));

export class WorkerPool implements KernelExecutor {
  readonly threads: number;
  private readonly workers: Worker[] = [];
  private readonly errorPorts: MessagePort[] = [];
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly gen: number[];
  private readonly spinMs: number;
  private readonly stopIndex: number;
  private readonly readyPromise: Promise<void>;
  private closed = false;
  private busy = false;
  /** performance.now() at the end of the last run (the workers spin for spinMs after it). */
  private lastEnd = -Infinity;

  /**
   * Starts `threads − 1` workers (they instantiate the module in the background; the first `run`
   * waits for them, or await `ready()`).
   * @throws UsageError if `threads` is not an integer in [2, 256] or the memory is not shared
   */
  constructor(options: WorkerPoolOptions) {
    const { threads } = options;
    if (!Number.isInteger(threads) || threads < 2 || threads > 256) {
      throw new UsageError(`WorkerPool: threads must be an integer in [2, 256] (the calling thread included), got ${threads}`);
    }
    if (!(options.memory.buffer instanceof SharedArrayBuffer)) {
      throw new UsageError('WorkerPool: the WebAssembly memory must be shared (created with shared: true) so workers can use it');
    }
    const spinMs = options.spinMs ?? 0.5;
    if (!(spinMs >= 0)) throw new UsageError(`WorkerPool: spinMs must be ≥ 0, got ${spinMs}`);
    this.threads = threads;
    this.spinMs = spinMs;
    const helpers = threads - 1;
    const headerBytes = (helpers * SLOT_INTS + SLOT_INTS) * 4; // slots + one line holding the stop word
    const control = new SharedArrayBuffer(headerBytes + helpers * MAX_KERNEL_ARGS * 8);
    this.ctl = new Int32Array(control);
    this.args = new Float64Array(control, headerBytes);
    this.stopIndex = helpers * SLOT_INTS;
    this.gen = new Array<number>(helpers).fill(0);
    const ready: Promise<void>[] = [];
    for (let slot = 0; slot < helpers; slot++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          module: options.module,
          memory: options.memory,
          control,
          names: KERNEL_EXPORT_NAMES,
          slot,
          spinMs,
          errors: port2,
          argsOffset: headerBytes,
          maxArgs: MAX_KERNEL_ARGS,
          slotInts: SLOT_INTS,
          stopIndex: this.stopIndex,
        },
        transferList: [port2],
        // the source is CommonJS: do not inherit --input-type=module / --experimental-default-type
        execArgv: [],
        name: `reformer-kernels-${slot + 1}`,
      });
      worker.unref();
      port1.unref();
      ready.push(
        new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', (e) => {
            Atomics.store(this.ctl, slot * SLOT_INTS + DEAD, 1);
            reject(e);
          });
          worker.once('exit', () => resolve());
        }),
      );
      this.workers.push(worker);
      this.errorPorts.push(port1);
    }
    this.readyPromise = Promise.all(ready).then(() => {
      for (let slot = 0; slot < helpers; slot++) this.throwIfDead(slot);
    });
    this.readyPromise.catch(() => {}); // reported by ready() / run()
  }

  /** Resolves when every worker has instantiated the kernels. @throws Error if one could not */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  run(local: () => void, remote: readonly KernelCall[]): void {
    if (this.closed) throw new UsageError('WorkerPool: run after close()');
    if (remote.length > this.threads - 1) {
      throw new UsageError(`WorkerPool: ${remote.length} remote calls for ${this.threads - 1} worker threads`);
    }
    if (this.busy) throw new UsageError('WorkerPool: run is not reentrant (a kernel call is already being dispatched)');
    this.busy = true;
    try {
      for (let i = 0; i < remote.length; i++) this.post(i, remote[i]!);
      let failure: unknown = null;
      try {
        local();
      } catch (e) {
        failure = e;
      }
      const errors: string[] = [];
      for (let i = 0; i < remote.length; i++) {
        const err = this.await(i);
        if (err) errors.push(err);
      }
      if (failure !== null) throw failure;
      if (errors.length > 0) throw new Error(`WASM kernel trapped on a worker thread: ${errors.join('; ')}`);
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
    Atomics.store(this.ctl, this.stopIndex, 1);
    for (let i = 0; i < this.workers.length; i++) {
      const seq = i * SLOT_INTS + SEQ;
      Atomics.add(this.ctl, seq, 1);
      Atomics.notify(this.ctl, seq);
      void this.workers[i]!.terminate();
      this.errorPorts[i]!.close();
    }
  }

  private post(slot: number, call: KernelCall): void {
    this.throwIfDead(slot);
    const index = KERNEL_INDEX.get(call.kernel as KernelName);
    if (index === undefined) throw new UsageError(`WorkerPool: unknown kernel '${call.kernel}'`);
    if (call.args.length > MAX_KERNEL_ARGS) {
      throw new UsageError(`WorkerPool: ${call.kernel} has ${call.args.length} arguments, more than ${MAX_KERNEL_ARGS}`);
    }
    const base = slot * SLOT_INTS;
    this.args.set(call.args, slot * MAX_KERNEL_ARGS);
    this.ctl[base + KERNEL] = index;
    this.ctl[base + ARGC] = call.args.length;
    const g = (this.gen[slot]! + 1) | 0;
    this.gen[slot] = g;
    Atomics.store(this.ctl, base + SEQ, g); // publishes the arguments written above
    Atomics.notify(this.ctl, base + SEQ);
  }

  /** Waits for slot's current task; returns its error message or null. */
  private await(slot: number): string | null {
    const base = slot * SLOT_INTS;
    const g = this.gen[slot]!;
    let t0 = performance.now();
    let i = 0;
    let d: number;
    while ((d = Atomics.load(this.ctl, base + DONE)) !== g) {
      if ((++i & 1023) === 0) {
        if (Atomics.load(this.ctl, base + DEAD) !== 0) this.throwIfDead(slot);
        if (performance.now() - t0 > this.spinMs) {
          Atomics.wait(this.ctl, base + DONE, d, 50); // re-check the dead flag every 50 ms
          t0 = performance.now();
        }
      }
    }
    if (this.ctl[base + STATUS] === 0) return null;
    const msg = receiveMessageOnPort(this.errorPorts[slot]!);
    return msg ? String(msg.message) : `kernel on worker ${slot + 1} failed`;
  }

  private throwIfDead(slot: number): void {
    if (Atomics.load(this.ctl, slot * SLOT_INTS + DEAD) === 0) return;
    const msg = receiveMessageOnPort(this.errorPorts[slot]!);
    this.closed = true;
    throw new Error(`WorkerPool: worker ${slot + 1} is not running${msg ? `: ${String(msg.message)}` : ''}`);
  }
}
