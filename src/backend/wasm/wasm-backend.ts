/**
 * `WasmBackend`: the `Backend` operations run by AssemblyScript kernels compiled to WebAssembly with
 * 128-bit SIMD (assembly/, built by scripts/build-wasm.mjs), over one linear memory.
 *
 * - Buffers: `floats(n)` / `ints(n)` return zeroed views into the module's memory (see arena.ts).
 *   Every operation validates its arguments (ops/<family>/params.ts), then checks that each array is a view of
 *   this backend's memory: a foreign array (a plain `new Float32Array`, another backend's buffer) or a
 *   Float64Array (the WASM backend computes in f32 only) throws `ShapeError`, and nothing changes.
 * - Kernels receive byte addresses; their scratch memory is taken from the arena for the duration of
 *   one call (so a call may grow a shared memory; see arena.ts for the non-shared case).
 * - Numerics: f32 throughout (sums in f32 SIMD lanes, a few row statistics and sumSquares in f64);
 *   the log-sum-exp of softmax and attention rows is stored as f32 and re-read before use, like the
 *   reference backend. The relaxed build uses fused multiply-add where the CPU has it, so its results
 *   differ from the plain SIMD build in the last bits.
 *
 * Each method delegates to its op family's wrapper (ops/<family>/wasm.ts), which gets the thread policy,
 * pointer helpers and scratch from `WasmDispatch` (dispatch.ts).
 *
 * Create one with `instantiateWasmBackend` (load.ts, from bytes or a compiled module; runs in browsers)
 * or, in Node, `loadWasmBackend` (src/node/wasm.ts).
 */
import { ConfigError, UsageError } from '../../errors.js';
import { describeValue, objectArg } from '../../util/args.js';
import type {
  Activation,
  AdamWParams,
  Backend,
  ChunkAttentionBackwardParams,
  ChunkAttentionForwardParams,
  DType,
  Float,
  GemmBatchedParams,
  GemmParams,
  LayerNormBackwardParams,
  LayerNormParams,
  LshHashParams,
  LshRoundCombineParams,
  RmsNormBackwardParams,
  RmsNormParams,
  RowsParams,
  SoftmaxBackwardParams,
  SoftmaxParams,
} from '../backend.js';
import * as activations from '../ops/activations/wasm.js';
import * as adamw from '../ops/adamw/wasm.js';
import * as attention from '../ops/attention/wasm.js';
import { checkInt } from '../ops/checks.js';
import * as elementwise from '../ops/elementwise/wasm.js';
import * as gemm from '../ops/gemm/wasm.js';
import * as hash from '../ops/hash/wasm.js';
import * as norms from '../ops/norms/wasm.js';
import * as rounds from '../ops/rounds/wasm.js';
import * as softmax from '../ops/softmax/wasm.js';
import * as sort from '../ops/sort/wasm.js';
import { Arena, type ArenaOptions } from './arena.js';
import { WasmDispatch } from './dispatch.js';
import type { KernelExecutor, ParallelPolicy } from './executor.js';
import type { KernelExports } from './kernels.generated.js';

/** The two kernel builds: plain 128-bit SIMD, or with relaxed SIMD (fused multiply-add). */
export type WasmVariant = 'simd' | 'relaxed-simd';

export interface WasmBackendInit extends ArenaOptions {
  exports: KernelExports;
  memory: WebAssembly.Memory;
  variant: WasmVariant;
  /** Runs parts of large operations on other threads (needs a shared memory); default none (one thread). */
  executor?: KernelExecutor | null;
  /** When an operation is split (see ParallelPolicy). */
  parallel?: ParallelPolicy;
}

export class WasmBackend implements Backend {
  /** `wasm-simd` or `wasm-relaxed-simd`. */
  readonly name: string;
  readonly dtype: DType = 'f32';
  readonly variant: WasmVariant;
  /** The allocator over the module's memory (exposed for tests, diagnostics and the thread pool). */
  readonly arena: Arena;
  /** The raw kernel exports (pointer-level; no validation). */
  readonly kernels: KernelExports;
  /** Thread policy, pointers and scratch of the op wrappers. */
  private readonly d: WasmDispatch;

  /**
   * Wraps an instantiated kernel build (use `instantiateWasmBackend`, or `loadWasmBackend` from `reformer-ts/node`).
   * @throws ConfigError('init') without the build's exports and memory; UsageError for a bad variant.
   */
  constructor(init: WasmBackendInit) {
    const how =
      'a WasmBackendInit {exports, memory, variant}: create the backend with instantiateWasmBackend(options), or loadWasmBackend() from reformer-ts/node';
    objectArg('new WasmBackend', 'init', init, how);
    if (init.exports === null || typeof init.exports !== 'object' || typeof init.exports.heapBase !== 'function') {
      throw new ConfigError(
        'init',
        `new WasmBackend: exports must be the kernel module's exports (${how}), got ${describeValue(init.exports)}`,
      );
    }
    if (!(init.memory instanceof WebAssembly.Memory)) {
      throw new ConfigError(
        'init',
        `new WasmBackend: memory must be the module's WebAssembly.Memory (${how}), got ${describeValue(init.memory)}`,
      );
    }
    if (init.variant !== 'simd' && init.variant !== 'relaxed-simd') {
      throw new UsageError(`new WasmBackend: variant must be 'simd' or 'relaxed-simd', got ${describeValue(init.variant)}`);
    }
    this.kernels = init.exports;
    this.variant = init.variant;
    this.name = `wasm-${init.variant}`;
    this.arena = new Arena(init.memory, this.kernels.heapBase() >>> 0, { poisonFreed: init.poisonFreed ?? false });
    this.d = new WasmDispatch(this.kernels, this.arena);
    if (init.parallel) this.setParallelPolicy(init.parallel);
    if (init.executor) this.setExecutor(init.executor);
  }

  /**
   * Threads one operation may use, the calling thread included (1 without an executor).
   *
   * Threading. With an executor (Node: `loadWasmBackend({ threads })`), operations estimated above
   * `ParallelPolicy.minWorkNs` of work are split into 1–4 parts per thread (about
   * `ParallelPolicy.partWorkNs` of work each), which the threads take as they become free: gemm by row ranges (the
   * path is chosen from the whole product), gemmBatched by matrices, the chunked attention by chunk
   * ranges (the backward in its race-free `partition` mode), hashing by blocks of 128 rows, the
   * counting sort by key ranges (count, fixed-order offsets, place), row gathers/scatters, norms,
   * softmax and the LSH round combination by rows (layer-norm parameter gradients by columns),
   * element-wise ops by ranges of 16.
   * Every output element is computed by the same instructions in the same order whatever the split,
   * so results are bit-identical for any thread count. Stay on one thread: `scatterAddRows` (repeated
   * indices add up in order), `sumSquares` (one f64 sum), `invertPermutation`, and small calls.
   */
  get threads(): number {
    return this.d.threads;
  }

  /** Bytes the arena can hand out at most: the 4 GiB of a 32-bit memory above the static data. */
  get maxBufferBytes(): number {
    return this.d.maxBufferBytes;
  }

  /**
   * Attaches an executor (or detaches with null; the previous one is not closed).
   * @throws UsageError if the executor has several threads but the memory is not shared
   */
  setExecutor(executor: KernelExecutor | null): void {
    this.d.setExecutor(executor);
  }

  /**
   * Sets when operations are split (thresholds ≥ 0; `minWorkNs: 0` splits every operation that can be
   * split: tests). `minWorkNsHot` defaults to min(minWorkNs, 1e5).
   * @throws UsageError for a negative or non-numeric threshold
   */
  setParallelPolicy(policy: ParallelPolicy): void {
    this.d.setParallelPolicy(policy);
  }

  /** Stops the executor's threads (if any); the backend keeps working on the calling thread. Idempotent. */
  close(): void {
    this.d.close();
  }

  /** True if the memory is shared (SharedArrayBuffer): it can grow while buffers are live. */
  get sharedMemory(): boolean {
    return this.arena.shared;
  }

  floats(n: number): Float32Array {
    checkInt('floats', 'n', n);
    return this.arena.floats(n);
  }

  ints(n: number): Int32Array {
    checkInt('ints', 'n', n);
    return this.arena.ints(n);
  }

  /**
   * Runs `fn` (synchronously) and then frees every buffer allocated inside it, also when it throws.
   * @throws UsageError if `fn` returns a promise (the buffers would be freed before it settles)
   */
  scope<T>(fn: () => T): T {
    const mark = this.arena.mark();
    try {
      const result = fn();
      if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
        throw new UsageError('scope: the callback returned a promise; scope() is synchronous, await inside it is not supported');
      }
      return result;
    } finally {
      this.arena.release(mark);
    }
  }

  gemm(p: GemmParams): void {
    gemm.gemm(this.d, p);
  }
  gemmBatched(p: GemmBatchedParams): void {
    gemm.gemmBatched(this.d, p);
  }
  /** The packed path sums k in panels of 256 added into C in order (assembly/gemm.ts `gemmReductionStep`). */
  gemmReductionStep(m: number, n: number, k: number, transB: boolean): number {
    return this.kernels.gemmReductionStep(m, n, k, transB ? 1 : 0);
  }

  add(out: Float, a: Float, b: Float, n: number): void {
    elementwise.add(this.d, out, a, b, n);
  }
  axpy(y: Float, alpha: number, x: Float, n: number): void {
    elementwise.axpy(this.d, y, alpha, x, n);
  }
  scale(x: Float, alpha: number, n: number): void {
    elementwise.scale(this.d, x, alpha, n);
  }
  addRowVector(x: Float, vec: Float, rows: number, cols: number): void {
    elementwise.addRowVector(this.d, x, vec, rows, cols);
  }
  sumRows(out: Float, x: Float, rows: number, cols: number): void {
    elementwise.sumRows(this.d, out, x, rows, cols);
  }
  sumSquares(x: Float, n: number): number {
    return elementwise.sumSquares(this.d, x, n);
  }
  countNonFinite(x: Float, n: number): number {
    return elementwise.countNonFinite(this.d, x, n);
  }

  activationForward(kind: Activation, x: Float, y: Float, n: number): void {
    activations.activationForward(this.d, kind, x, y, n);
  }
  activationBackward(kind: Activation, x: Float, dy: Float, dx: Float, n: number): void {
    activations.activationBackward(this.d, kind, x, dy, dx, n);
  }

  layerNormForward(p: LayerNormParams): void {
    norms.layerNormForward(this.d, p);
  }
  layerNormBackward(p: LayerNormBackwardParams): void {
    norms.layerNormBackward(this.d, p);
  }
  rmsNormForward(p: RmsNormParams): void {
    norms.rmsNormForward(this.d, p);
  }
  rmsNormBackward(p: RmsNormBackwardParams): void {
    norms.rmsNormBackward(this.d, p);
  }

  softmaxRows(p: SoftmaxParams): void {
    softmax.softmaxRows(this.d, p);
  }
  softmaxRowsBackward(p: SoftmaxBackwardParams): void {
    softmax.softmaxRowsBackward(this.d, p);
  }

  lshHash(p: LshHashParams): void {
    hash.lshHash(this.d, p);
  }

  argsortKeys(perm: Int32Array, keys: Int32Array, n: number, numKeys: number): void {
    sort.argsortKeys(this.d, perm, keys, n, numKeys);
  }
  invertPermutation(inv: Int32Array, perm: Int32Array, n: number): void {
    sort.invertPermutation(this.d, inv, perm, n);
  }
  gatherRows(p: RowsParams): void {
    sort.gatherRows(this.d, p);
  }
  scatterRows(p: RowsParams): void {
    sort.scatterRows(this.d, p);
  }
  scatterAddRows(p: RowsParams): void {
    sort.scatterAddRows(this.d, p);
  }

  chunkAttentionForward(p: ChunkAttentionForwardParams): void {
    attention.chunkAttentionForward(this.d, p);
  }
  chunkAttentionBackward(p: ChunkAttentionBackwardParams): void {
    attention.chunkAttentionBackward(this.d, p);
  }

  lshRoundCombine(p: LshRoundCombineParams): void {
    rounds.lshRoundCombine(this.d, p);
  }

  adamw(p: AdamWParams): void {
    adamw.adamw(this.d, p);
  }
}
