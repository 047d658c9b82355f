/**
 * `WasmDispatch`: how the WASM backend hands an operation to its kernels. The op families'
 * wasm.ts wrappers (src/backend/ops/<family>/wasm.ts) take it as their first argument.
 *
 * - Pointers: `f()` / `i()` turn a float / int buffer of this backend into a byte address, and reject a
 *   foreign array or a Float64Array with `ShapeError` (before any kernel runs). Addresses at or above
 *   2^31 are passed as is (they wrap to the same u32 bits); a null optional buffer is address 0 (the
 *   arena never hands out address 0: it starts above the module's static data); flags are 0 / 1.
 * - Scratch: `withScratch` lends arena memory for the duration of one call.
 * - Threads: `partsFor` decides from an operation's estimated work how many parts it is cut into (the
 *   `ParallelPolicy`), `split` cuts a range into that many typed kernel calls (`KernelCall`) with
 *   per-thread scratch, and `runCalls` runs them on this thread and the executor's threads.
 */
import { ShapeError, UsageError } from '../../errors.js';
import type { Float } from '../backend.js';
import { WASM_MAX_BYTES, type Arena } from './arena.js';
import {
  DEFAULT_MIN_WORK_NS,
  DEFAULT_MIN_WORK_NS_HOT,
  DEFAULT_PART_WORK_NS,
  kernelCall,
  MAX_PARTS_PER_THREAD,
  runKernelCall,
  splitRange,
  type KernelArgs,
  type KernelCall,
  type KernelExecutor,
  type ParallelPolicy,
} from './executor.js';
import { KERNEL_SCRATCH_ARG, type KernelExports, type KernelName } from './kernels.generated.js';

export class WasmDispatch {
  private executor: KernelExecutor | null = null;
  private minWorkNs = DEFAULT_MIN_WORK_NS;
  private minWorkNsHot = DEFAULT_MIN_WORK_NS_HOT;
  private partWorkNs = DEFAULT_PART_WORK_NS;

  constructor(
    /** The raw kernel exports (pointer-level; no validation). */
    readonly kernels: KernelExports,
    /** The allocator over the module's memory (buffers and scratch). */
    readonly arena: Arena,
  ) {}

  /** Threads one operation may use, the calling thread included (1 without an executor). */
  get threads(): number {
    return this.executor ? this.executor.threads : 1;
  }

  /** Bytes the arena can hand out at most: the 4 GiB of a 32-bit memory above the static data. */
  get maxBufferBytes(): number {
    return WASM_MAX_BYTES - this.arena.base;
  }

  /**
   * Attaches an executor (or detaches with null; the previous one is not closed).
   * @throws UsageError if the executor has several threads but the memory is not shared
   */
  setExecutor(executor: KernelExecutor | null): void {
    if (executor && executor.threads > 1 && !this.arena.shared) {
      throw new UsageError(
        `a ${executor.threads}-thread executor needs a shared WebAssembly memory (SharedArrayBuffer); this backend's memory is private: load it with shared memory or use 1 thread`,
      );
    }
    this.executor = executor;
  }

  /**
   * Sets when operations are split (thresholds ≥ 0; `minWorkNs: 0` splits every operation that can be
   * split: tests). `minWorkNsHot` defaults to min(minWorkNs, 1e5).
   * @throws UsageError for a negative or non-numeric threshold
   */
  setParallelPolicy(policy: ParallelPolicy): void {
    const w = policy.minWorkNs ?? DEFAULT_MIN_WORK_NS;
    const h = policy.minWorkNsHot ?? Math.min(w, DEFAULT_MIN_WORK_NS_HOT);
    const pw = policy.partWorkNs ?? DEFAULT_PART_WORK_NS;
    if (!(w >= 0)) throw new UsageError(`parallel.minWorkNs must be a number ≥ 0, got ${w}`);
    if (!(h >= 0)) throw new UsageError(`parallel.minWorkNsHot must be a number ≥ 0, got ${h}`);
    if (!(pw >= 0)) throw new UsageError(`parallel.partWorkNs must be a number ≥ 0, got ${pw}`);
    this.minWorkNs = w;
    this.minWorkNsHot = h;
    this.partWorkNs = pw;
  }

  /** Stops the executor's threads (if any); later operations run on the calling thread. Idempotent. */
  close(): void {
    const e = this.executor;
    this.executor = null;
    e?.close();
  }

  /**
   * Number of parts for an operation of about `workNs` single-thread nanoseconds: 1 below the
   * thresholds, else about workNs / partWorkNs, between `threads` and 4·`threads` (`maxPerThread`).
   */
  partsFor(workNs: number, maxPerThread = MAX_PARTS_PER_THREAD): number {
    const e = this.executor;
    if (!e || e.threads <= 1) return 1;
    const t = e.threads;
    if (workNs < this.minWorkNs && !(workNs >= this.minWorkNsHot && e.hot?.() === true)) return 1;
    const byWork = this.partWorkNs > 0 ? Math.floor(workNs / this.partWorkNs) : Infinity;
    return Math.max(t, Math.min(t * maxPerThread, byWork));
  }

  /** Runs the calls on this thread and the executor's threads; returns when all are done. */
  runCalls(calls: readonly KernelCall[]): void {
    if (calls.length === 1) {
      runKernelCall(this.kernels, calls[0]!);
      return;
    }
    this.executor!.runAll(calls, (c) => runKernelCall(this.kernels, c));
  }

  /**
   * Splits [0, total) into `parts` ranges (multiples of `unit`) and runs `make(begin, end, scratch)`'s
   * call of `kernel` for each. With `scratchBytes > 0` every thread gets its own scratch of that size
   * (the kernel's scratch argument, `KERNEL_SCRATCH_ARG`, is offset per thread by the executor); freed
   * afterwards.
   */
  split<K extends KernelName>(
    kernel: K,
    total: number,
    parts: number,
    unit: number,
    scratchBytes: number,
    make: (begin: number, end: number, scratch: number) => KernelArgs<K>,
  ): void {
    const bounds = splitRange(total, parts, unit);
    const n = bounds.length - 1;
    const mark = this.arena.mark();
    try {
      const stride = Math.ceil(scratchBytes / 64) * 64;
      const base = scratchBytes > 0 ? this.arena.alloc(stride * (n > 1 ? this.threads : 1)) : 0;
      const arg = KERNEL_SCRATCH_ARG[kernel];
      const scratch = scratchBytes > 0 && n > 1 && arg !== undefined ? { arg, stride } : undefined;
      const calls: KernelCall[] = [];
      for (let i = 0; i < n; i++) {
        const args = make(bounds[i]!, bounds[i + 1]!, base);
        if (scratchBytes > 0 && (arg === undefined || args[arg] !== base)) {
          throw new Error(`WasmBackend.split: ${kernel} takes no scratch argument at index ${String(arg)} (internal error)`);
        }
        calls.push(kernelCall(kernel, args, scratch));
      }
      this.runCalls(calls);
    } finally {
      this.arena.release(mark);
    }
  }

  /** Runs `fn` with `bytes` of scratch (address 0 if none is needed), freed afterwards. */
  withScratch(bytes: number, fn: (scratch: number) => void): void {
    if (bytes <= 0) {
      fn(0);
      return;
    }
    const mark = this.arena.mark();
    try {
      fn(this.arena.alloc(bytes));
    } finally {
      this.arena.release(mark);
    }
  }

  /** Byte address of element `offset` of a float buffer of this backend. */
  f(op: string, name: string, arr: Float, offset = 0): number {
    if (!(arr instanceof Float32Array)) {
      if (arr instanceof Float64Array) {
        throw new ShapeError(
          `${op}: ${name} is a Float64Array, but the WASM backend computes in f32 only; allocate it with backend.floats(n)`,
        );
      }
      throw new ShapeError(`${op}: ${name} must be a Float32Array allocated with backend.floats(n), got ${describe(arr)}`);
    }
    if (!this.arena.owns(arr)) throw foreign(op, name, 'floats');
    return arr.byteOffset + offset * 4;
  }

  /** Byte address of element `offset` of an int buffer of this backend. */
  i(op: string, name: string, arr: Int32Array, offset = 0): number {
    if (!(arr instanceof Int32Array)) {
      throw new ShapeError(`${op}: ${name} must be an Int32Array allocated with backend.ints(n), got ${describe(arr)}`);
    }
    if (!this.arena.owns(arr)) throw foreign(op, name, 'ints');
    return arr.byteOffset + offset * 4;
  }
}

function foreign(op: string, name: string, alloc: 'floats' | 'ints'): ShapeError {
  return new ShapeError(
    `${op}: ${name} is not a buffer of this WASM backend's memory; allocate it with backend.${alloc}(n) ` +
      `of the backend that runs the operation (copy data in with .set())`,
  );
}

function describe(arr: unknown): string {
  if (arr === null || arr === undefined) return String(arr);
  const ctor = (arr as { constructor?: { name?: string } }).constructor;
  return ctor?.name ?? typeof arr;
}
