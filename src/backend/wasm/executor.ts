/**
 * How the WASM backend runs one operation on several threads (browser-safe: no `node:` imports).
 *
 * The `WasmBackend` splits a large operation into parts (row ranges of a gemm, chunk ranges of the
 * chunked attention, ...) so that every output element is computed by the same instructions in the
 * same order whatever the number of parts: results are bit-identical for any thread count. Each part
 * is one call of a kernel export with its arguments typed by the kernel's generated signature
 * (`KernelCall`, kernels.generated.ts). An executor runs those calls on
 * other threads whose instances of the SAME compiled module import the SAME shared
 * `WebAssembly.Memory`, while the calling thread runs its own part.
 *
 * The Node implementation is src/node/threads/pool.ts (worker_threads, dispatch and completion through
 * Atomics on a shared control block: spin briefly, then wait). A browser implementation would do the
 * same with Web Workers (cross-origin isolation is required for shared memory; the main thread of a
 * page cannot `Atomics.wait`, so it would run the backend in a worker).
 */
import type { KernelExports, KernelName } from './kernels.generated.js';

/**
 * The arguments of kernel `K`: the labelled tuple of its generated signature (sizes, byte addresses,
 * flags), so a wrong argument count or order is a type error.
 */
export type KernelArgs<K extends KernelName> = Parameters<KernelExports[K]>;

/**
 * One kernel call: a function export of the kernel module and its arguments. A union over the kernel
 * names (`KernelCall<'gemmRows'>` is one kernel's call), so `args` always fits `kernel`.
 */
export type KernelCall<K extends KernelName = KernelName> = {
  [P in K]: {
    readonly kernel: P;
    readonly args: Readonly<KernelArgs<P>>;
    /**
     * Per-thread scratch: the thread with index t (0 = the calling thread, 1… the helpers) runs the call
     * with `args[arg] + t·stride` (the caller reserved `threads·stride` bytes at `args[arg]`), so scratch
     * grows with the thread count, not with the number of parts.
     */
    readonly scratch?: { readonly arg: number; readonly stride: number };
  };
}[K];

/** The call of kernel `K` with `args` (and per-thread `scratch`), as a `KernelCall`. */
export function kernelCall<K extends KernelName>(
  kernel: K,
  args: KernelArgs<K>,
  scratch?: { readonly arg: number; readonly stride: number },
): KernelCall {
  // a generic K is not narrowed to one member of the union: the pairing is checked by the signature above
  return (scratch ? { kernel, args, scratch } : { kernel, args }) as KernelCall;
}

/** Runs one call on this thread's instance of the kernels. */
export function runKernelCall(kernels: KernelExports, call: KernelCall): void {
  const fn = kernels[call.kernel] as (...args: KernelCall['args']) => unknown;
  fn(...call.args);
}

/** Most arguments a `KernelCall` may have (the executor's per-thread argument slots). */
export const MAX_KERNEL_ARGS = 48;

export interface KernelExecutor {
  /** Threads available to one operation, the calling thread included (≥ 1). */
  readonly threads: number;
  /**
   * Runs every call exactly once, on the calling thread (through `local`) or on a helper thread, in
   * any order and assignment (threads take the next call as they become free), and returns once all
   * have finished, also when one throws (the calls use scratch memory that the caller frees
   * afterwards). Synchronous: the calling thread works, then blocks. Calls must write disjoint memory.
   * @throws Error if a call trapped on a helper thread (the message names the kernel); the first error
   *   of a `local` call; UsageError if the executor is closed or there are more than 64 calls
   */
  runAll(calls: readonly KernelCall[], local: (call: KernelCall) => void): void;
  /**
   * True while the helper threads are known to be awake (spinning after a recent `run`), so that a
   * dispatch costs microseconds rather than a futex wake: smaller operations are then worth splitting.
   */
  hot?(): boolean;
  /** Stops the helper threads; later `run` calls throw. Idempotent. */
  close(): void;
}

/**
 * When an operation is worth splitting. A dispatch costs about 2 µs when the helper threads are
 * spinning and 90–200 µs when they sleep (futex wake on a VM: ../shared/PERF-NOTES.md §5), so only
 * operations estimated above `minWorkNs` of single-thread work are split.
 */
export interface ParallelPolicy {
  /** Estimated single-thread nanoseconds below which an operation stays on the calling thread. Default 1e6 (1 ms). */
  minWorkNs?: number;
  /**
   * Work per part: an operation is cut into about `workNs / partWorkNs` parts, at least one per thread
   * and at most 4 per thread (taken dynamically, so a thread the OS did not schedule does not hold the
   * others up). Default 2e5 (0.2 ms).
   */
  partWorkNs?: number;
  /** The same while the helper threads are awake (`KernelExecutor.hot()`). Default 1e5 (0.1 ms). */
  minWorkNsHot?: number;
}

export const DEFAULT_MIN_WORK_NS = 1_000_000;
export const DEFAULT_PART_WORK_NS = 200_000;
/** Most parts per thread of one operation. */
export const MAX_PARTS_PER_THREAD = 4;
export const DEFAULT_MIN_WORK_NS_HOT = 100_000;

/**
 * `parts` ranges `[b[i], b[i+1])` covering [0, total): boundaries at multiples of `unit` (except the
 * end), sizes as equal as the unit allows. Returns [0, total] for one part.
 */
export function splitRange(total: number, parts: number, unit: number): number[] {
  const units = Math.ceil(total / unit);
  const p = Math.max(1, Math.min(parts, units));
  const bounds = [0];
  for (let i = 1; i < p; i++) bounds.push(Math.min(total, Math.round((i * units) / p) * unit));
  bounds.push(total);
  return bounds;
}
