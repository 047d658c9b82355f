/**
 * `WasmBackend`: the `Backend` operations run by AssemblyScript kernels compiled to WebAssembly with
 * 128-bit SIMD (assembly/, built by scripts/build-wasm.mjs), over one linear memory.
 *
 * - Buffers: `floats(n)` / `ints(n)` return zeroed views into the module's memory (see arena.ts).
 *   Every operation validates its arguments with validate.ts, then checks that each array is a view of
 *   this backend's memory: a foreign array (a plain `new Float32Array`, another backend's buffer) or a
 *   Float64Array (the WASM backend computes in f32 only) throws `ShapeError`, and nothing changes.
 * - Kernels receive byte addresses; their scratch memory is taken from the arena for the duration of
 *   one call (so a call may grow a shared memory; see arena.ts for the non-shared case).
 * - Numerics: f32 throughout (sums in f32 SIMD lanes, a few row statistics and sumSquares in f64);
 *   the log-sum-exp of softmax and attention rows is stored as f32 and re-read before use, like the
 *   reference backend. The relaxed build uses fused multiply-add where the CPU has it, so its results
 *   differ from the plain SIMD build in the last bits.
 *
 * Create one with `instantiateWasmBackend` (load.ts, from bytes or a compiled module; runs in browsers)
 * or, in Node, `loadWasmBackend` (src/node/wasm.ts).
 */
import { ShapeError, UsageError } from '../../errors.js';
import type {
  Activation,
  AdamWParams,
  Backend,
  ChunkAttentionBackwardParams,
  ChunkAttentionForwardParams,
  ChunkAttentionParams,
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
import { dropoutThreshold } from '../attention-dropout.js';
import * as v from '../validate.js';
import { Arena, WASM_MAX_BYTES, type ArenaOptions } from './arena.js';
import {
  DEFAULT_MIN_WORK_NS,
  DEFAULT_MIN_WORK_NS_HOT,
  DEFAULT_PART_WORK_NS,
  MAX_PARTS_PER_THREAD,
  splitRange,
  type KernelCall,
  type KernelExecutor,
  type ParallelPolicy,
} from './executor.js';
import type { KernelExports, KernelName } from './kernels.js';

/** The two kernel builds: plain 128-bit SIMD, or with relaxed SIMD (fused multiply-add). */
export type WasmVariant = 'simd' | 'relaxed-simd';

const ACTIVATION_KIND: Record<Activation, number> = { relu: 0, gelu: 1, gelu_new: 2 };

/** Index of the scratch address among the arguments of the kernels that take scratch (see kernels.ts). */
const SCRATCH_ARG: Partial<Record<KernelName, number>> = {
  gemmRows: 12,
  gemmBatched: 16,
  lshHash: 11,
  sumRowsStrided: 5,
  chunkAttentionForward: 25,
  chunkAttentionBackward: 29,
};

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
  private executor: KernelExecutor | null = null;
  private minWorkNs: number;
  private minWorkNsHot: number;
  private partWorkNs: number;

  constructor(init: WasmBackendInit) {
    this.kernels = init.exports;
    this.variant = init.variant;
    this.name = `wasm-${init.variant}`;
    this.arena = new Arena(init.memory, this.kernels.heapBase() >>> 0, { poisonFreed: init.poisonFreed ?? false });
    this.minWorkNs = DEFAULT_MIN_WORK_NS;
    this.minWorkNsHot = DEFAULT_MIN_WORK_NS_HOT;
    this.partWorkNs = DEFAULT_PART_WORK_NS;
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

  /** Stops the executor's threads (if any); the backend keeps working on the calling thread. Idempotent. */
  close(): void {
    const e = this.executor;
    this.executor = null;
    e?.close();
  }

  /**
   * Number of parts for an operation of about `workNs` single-thread nanoseconds: 1 below the
   * thresholds, else about workNs / partWorkNs, between `threads` and 4·`threads` (`maxPerThread`).
   */
  private partsFor(workNs: number, maxPerThread = MAX_PARTS_PER_THREAD): number {
    const e = this.executor;
    if (!e || e.threads <= 1) return 1;
    const t = e.threads;
    if (workNs < this.minWorkNs && !(workNs >= this.minWorkNsHot && e.hot?.() === true)) return 1;
    const byWork = this.partWorkNs > 0 ? Math.floor(workNs / this.partWorkNs) : Infinity;
    return Math.max(t, Math.min(t * maxPerThread, byWork));
  }

  private call(c: KernelCall): void {
    (this.kernels[c.kernel] as (...args: number[]) => unknown)(...c.args);
  }

  /** Runs the calls on this thread and the executor's threads; returns when all are done. */
  private runCalls(calls: readonly KernelCall[]): void {
    if (calls.length === 1) {
      this.call(calls[0]!);
      return;
    }
    this.executor!.runAll(calls, (c) => this.call(c));
  }

  /**
   * Splits [0, total) into `parts` ranges (multiples of `unit`) and runs `make(begin, end, scratch)`'s
   * call for each. With `scratchBytes > 0` every thread gets its own scratch of that size (the kernel's
   * scratch argument, SCRATCH_ARG, is offset per thread by the executor); freed afterwards.
   */
  private split(
    kernel: KernelName,
    total: number,
    parts: number,
    unit: number,
    scratchBytes: number,
    make: (begin: number, end: number, scratch: number) => number[],
  ): void {
    const bounds = splitRange(total, parts, unit);
    const n = bounds.length - 1;
    const mark = this.arena.mark();
    try {
      const stride = Math.ceil(scratchBytes / 64) * 64;
      const base = scratchBytes > 0 ? this.arena.alloc(stride * (n > 1 ? this.threads : 1)) : 0;
      const arg = SCRATCH_ARG[kernel];
      const scratch = scratchBytes > 0 && n > 1 && arg !== undefined ? { arg, stride } : undefined;
      const calls: KernelCall[] = [];
      for (let i = 0; i < n; i++) {
        const args = make(bounds[i]!, bounds[i + 1]!, base);
        if (scratchBytes > 0 && (arg === undefined || args[arg] !== base)) {
          throw new Error(`WasmBackend.split: ${kernel} takes no scratch argument at index ${String(arg)} (internal error)`);
        }
        calls.push(scratch ? { kernel, args, scratch } : { kernel, args });
      }
      this.runCalls(calls);
    } finally {
      this.arena.release(mark);
    }
  }

  /** True if the memory is shared (SharedArrayBuffer): it can grow while buffers are live. */
  get sharedMemory(): boolean {
    return this.arena.shared;
  }

  floats(n: number): Float32Array {
    v.checkInt('floats', 'n', n);
    return this.arena.floats(n);
  }

  ints(n: number): Int32Array {
    v.checkInt('ints', 'n', n);
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

  // ---------------------------------------------------------------- pointers

  /** Byte address of element `offset` of a float buffer of this backend. */
  private f(op: string, name: string, arr: Float, offset = 0): number {
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
  private i(op: string, name: string, arr: Int32Array, offset = 0): number {
    if (!(arr instanceof Int32Array)) {
      throw new ShapeError(`${op}: ${name} must be an Int32Array allocated with backend.ints(n), got ${describe(arr)}`);
    }
    if (!this.arena.owns(arr)) throw foreign(op, name, 'ints');
    return arr.byteOffset + offset * 4;
  }

  /** Runs `fn` with `bytes` of scratch (address 0 if none is needed), freed afterwards. */
  private withScratch(bytes: number, fn: (scratch: number) => void): void {
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

  // ---------------------------------------------------------------- dense linear algebra

  gemm(p: GemmParams): void {
    v.validateGemm(p);
    const op = 'gemm';
    const a = this.f(op, 'A', p.a, p.aOffset ?? 0);
    const b = this.f(op, 'B', p.b, p.bOffset ?? 0);
    const c = this.f(op, 'C', p.c, p.cOffset ?? 0);
    const k = this.kernels;
    const bytes = k.gemmScratchBytes(p.m, p.n, p.k, p.transB ? 1 : 0) >>> 0;
    const flags = [p.transA ? 1 : 0, p.transB ? 1 : 0, p.accumulate ? 1 : 0] as const;
    const parts = this.partsFor((p.m * p.n * p.k) / 15);
    if (parts > 1 && p.m >= 8) {
      // row ranges (multiples of the 4-row micro-tile); gemmRows picks the path from the whole product
      this.split('gemmRows', p.m, parts, 4, bytes, (r0, r1, s) => [
        p.m,
        p.n,
        p.k,
        a,
        p.lda,
        flags[0],
        b,
        p.ldb,
        flags[1],
        c,
        p.ldc,
        flags[2],
        s,
        r0,
        r1,
      ]);
      return;
    }
    this.withScratch(bytes, (s) => k.gemm(p.m, p.n, p.k, a, p.lda, flags[0], b, p.ldb, flags[1], c, p.ldc, flags[2], s));
  }

  gemmBatched(p: GemmBatchedParams): void {
    v.validateGemmBatched(p);
    if (p.batch === 0) return;
    const op = 'gemmBatched';
    const a = this.f(op, 'A', p.a, p.aOffset ?? 0);
    const b = this.f(op, 'B', p.b, p.bOffset ?? 0);
    const c = this.f(op, 'C', p.c, p.cOffset ?? 0);
    const k = this.kernels;
    const bytes = k.gemmScratchBytes(p.m, p.n, p.k, p.transB ? 1 : 0) >>> 0;
    const parts = this.partsFor(p.batch * ((p.m * p.n * p.k) / 15 + 30));
    if (parts > 1 && p.batch >= 2) {
      // whole matrices per part: each product is computed as in one call
      this.split('gemmBatched', p.batch, parts, 1, bytes, (i0, i1, s) => [
        i1 - i0,
        p.strideA,
        p.strideB,
        p.strideC,
        p.m,
        p.n,
        p.k,
        a + i0 * p.strideA * 4,
        p.lda,
        p.transA ? 1 : 0,
        b + i0 * p.strideB * 4,
        p.ldb,
        p.transB ? 1 : 0,
        c + i0 * p.strideC * 4,
        p.ldc,
        p.accumulate ? 1 : 0,
        s,
      ]);
      return;
    }
    if (parts > 1 && p.m >= 8) {
      this.gemm(p); // one matrix: split its rows
      return;
    }
    this.withScratch(bytes, (s) =>
      k.gemmBatched(
        p.batch,
        p.strideA,
        p.strideB,
        p.strideC,
        p.m,
        p.n,
        p.k,
        a,
        p.lda,
        p.transA ? 1 : 0,
        b,
        p.ldb,
        p.transB ? 1 : 0,
        c,
        p.ldc,
        p.accumulate ? 1 : 0,
        s,
      ),
    );
  }

  // ---------------------------------------------------------------- element-wise

  add(out: Float, a: Float, b: Float, n: number): void {
    v.validateElementwise('add', n, ['out', out], ['a', a], ['b', b]);
    const o = this.f('add', 'out', out);
    const ap = this.f('add', 'a', a);
    const bp = this.f('add', 'b', b);
    this.split('add', n, this.partsFor(n * 0.5), 16, 0, (i0, i1) => [o + 4 * i0, ap + 4 * i0, bp + 4 * i0, i1 - i0]);
  }

  axpy(y: Float, alpha: number, x: Float, n: number): void {
    v.validateElementwise('axpy', n, ['y', y], ['x', x]);
    v.checkFinite('axpy', 'alpha', alpha);
    const yp = this.f('axpy', 'y', y);
    const xp = this.f('axpy', 'x', x);
    this.split('axpy', n, this.partsFor(n * 0.5), 16, 0, (i0, i1) => [yp + 4 * i0, alpha, xp + 4 * i0, i1 - i0]);
  }

  scale(x: Float, alpha: number, n: number): void {
    v.validateElementwise('scale', n, ['x', x]);
    v.checkFinite('scale', 'alpha', alpha);
    const xp = this.f('scale', 'x', x);
    this.split('scale', n, this.partsFor(n * 0.4), 16, 0, (i0, i1) => [xp + 4 * i0, alpha, i1 - i0]);
  }

  addRowVector(x: Float, vec: Float, rows: number, cols: number): void {
    v.validateRowVector('addRowVector', x, vec, rows, cols);
    const xp = this.f('addRowVector', 'x', x);
    const vp = this.f('addRowVector', 'vector', vec);
    this.split('addRowVector', rows, this.partsFor(rows * cols * 0.5), 1, 0, (r0, r1) => [xp + 4 * r0 * cols, vp, r1 - r0, cols]);
  }

  sumRows(out: Float, x: Float, rows: number, cols: number): void {
    v.validateRowVector('sumRows', x, out, rows, cols);
    const o = this.f('sumRows', 'out', out);
    const xp = this.f('sumRows', 'x', x);
    const parts = this.partsFor(rows * cols);
    if (parts > 1 && cols >= 8) {
      // column ranges: each column's f64 sum runs over the rows in order, as in one call
      const bounds = splitRange(cols, parts, 4);
      const width = Math.max(...bounds.slice(1).map((e, i) => e - bounds[i]!));
      this.split('sumRowsStrided', cols, parts, 4, width * 8, (c0, c1, s) => [o + 4 * c0, xp + 4 * c0, rows, c1 - c0, cols, s]);
      return;
    }
    this.withScratch(cols * 8, (s) => this.kernels.sumRows(o, xp, rows, cols, s));
  }

  sumSquares(x: Float, n: number): number {
    v.validateElementwise('sumSquares', n, ['x', x]);
    return this.kernels.sumSquares(this.f('sumSquares', 'x', x), n);
  }

  // ---------------------------------------------------------------- activations

  activationForward(kind: Activation, x: Float, y: Float, n: number): void {
    const op = 'activationForward';
    v.validateElementwise(op, n, ['x', x], ['y', y]);
    const kd = activationKind(op, kind);
    const xp = this.f(op, 'x', x);
    const yp = this.f(op, 'y', y);
    this.split('activationForward', n, this.partsFor(n * 2), 16, 0, (i0, i1) => [kd, xp + 4 * i0, yp + 4 * i0, i1 - i0]);
  }

  activationBackward(kind: Activation, x: Float, dy: Float, dx: Float, n: number): void {
    const op = 'activationBackward';
    v.validateElementwise(op, n, ['x', x], ['dy', dy], ['dx', dx]);
    const kd = activationKind(op, kind);
    const xp = this.f(op, 'x', x);
    const dyp = this.f(op, 'dy', dy);
    const dxp = this.f(op, 'dx', dx);
    this.split('activationBackward', n, this.partsFor(n * 3), 16, 0, (i0, i1) => [kd, xp + 4 * i0, dyp + 4 * i0, dxp + 4 * i0, i1 - i0]);
  }

  // ---------------------------------------------------------------- normalisation

  layerNormForward(p: LayerNormParams): void {
    v.validateLayerNorm(p);
    const op = 'layerNormForward';
    const x = this.f(op, 'x', p.x);
    const gamma = this.f(op, 'gamma', p.gamma);
    const beta = this.f(op, 'beta', p.beta);
    const y = this.f(op, 'y', p.y);
    const mean = this.f(op, 'mean', p.mean);
    const rstd = this.f(op, 'rstd', p.rstd);
    const C = p.cols;
    this.split('layerNormForward', p.rows, this.partsFor(p.rows * C * 2), 1, 0, (r0, r1) => [
      r1 - r0,
      C,
      x + 4 * r0 * C,
      gamma,
      beta,
      p.eps,
      y + 4 * r0 * C,
      mean + 4 * r0,
      rstd + 4 * r0,
    ]);
  }

  layerNormBackward(p: LayerNormBackwardParams): void {
    v.validateLayerNormBackward(p);
    const op = 'layerNormBackward';
    const dy = this.f(op, 'dy', p.dy);
    const x = this.f(op, 'x', p.x);
    const mean = this.f(op, 'mean', p.mean);
    const rstd = this.f(op, 'rstd', p.rstd);
    const gamma = this.f(op, 'gamma', p.gamma);
    const dx = this.f(op, 'dx', p.dx);
    const dgamma = this.f(op, 'dgamma', p.dgamma);
    const dbeta = this.f(op, 'dbeta', p.dbeta);
    const R = p.rows;
    const C = p.cols;
    const parts = this.partsFor(R * C * 3);
    if (parts === 1) {
      this.kernels.layerNormBackward(R, C, dy, x, mean, rstd, gamma, dx, dgamma, dbeta);
      return;
    }
    // dx by row ranges, then dgamma / dbeta by column ranges (each column accumulates over the rows in
    // order): the same per-element instructions as the fused kernel
    this.split('layerNormBackwardDx', R, parts, 1, 0, (r0, r1) => [
      r1 - r0,
      C,
      dy + 4 * r0 * C,
      x + 4 * r0 * C,
      mean + 4 * r0,
      rstd + 4 * r0,
      gamma,
      dx + 4 * r0 * C,
    ]);
    this.split('layerNormBackwardParams', C, parts, 4, 0, (c0, c1) => [R, C, c0, c1, dy, x, mean, rstd, dgamma, dbeta]);
  }

  rmsNormForward(p: RmsNormParams): void {
    v.validateRmsNorm(p);
    const op = 'rmsNormForward';
    const x = this.f(op, 'x', p.x);
    const y = this.f(op, 'y', p.y);
    const rstd = this.f(op, 'rstd', p.rstd);
    const C = p.cols;
    this.split('rmsNormForward', p.rows, this.partsFor(p.rows * C * 1.5), 1, 0, (r0, r1) => [
      r1 - r0,
      C,
      x + 4 * r0 * C,
      y + 4 * r0 * C,
      rstd + 4 * r0,
      p.eps,
      p.scale,
    ]);
  }

  rmsNormBackward(p: RmsNormBackwardParams): void {
    v.validateRmsNormBackward(p);
    const op = 'rmsNormBackward';
    const dy = this.f(op, 'dy', p.dy);
    const x = this.f(op, 'x', p.x);
    const rstd = this.f(op, 'rstd', p.rstd);
    const dx = this.f(op, 'dx', p.dx);
    const C = p.cols;
    this.split('rmsNormBackward', p.rows, this.partsFor(p.rows * C * 1.5), 1, 0, (r0, r1) => [
      r1 - r0,
      C,
      dy + 4 * r0 * C,
      x + 4 * r0 * C,
      rstd + 4 * r0,
      p.scale,
      dx + 4 * r0 * C,
    ]);
  }

  // ---------------------------------------------------------------- softmax

  softmaxRows(p: SoftmaxParams): void {
    v.validateSoftmax(p);
    const op = 'softmaxRows';
    const sp = this.f(op, 's', p.s, p.sOffset ?? 0);
    const pp = this.f(op, 'p', p.p, p.pOffset ?? 0);
    const lse = this.f(op, 'lse', p.lse, p.lseOffset ?? 0);
    this.split('softmaxRows', p.rows, this.partsFor(p.rows * (p.cols * 4 + 20)), 1, 0, (r0, r1) => [
      r1 - r0,
      p.cols,
      sp + 4 * r0 * p.lds,
      p.lds,
      pp + 4 * r0 * p.ldp,
      p.ldp,
      lse + 4 * r0,
    ]);
  }

  softmaxRowsBackward(p: SoftmaxBackwardParams): void {
    v.validateSoftmaxBackward(p);
    const op = 'softmaxRowsBackward';
    const pp = this.f(op, 'p', p.p, p.pOffset ?? 0);
    const dp = this.f(op, 'dp', p.dp, p.dpOffset ?? 0);
    const dlse = p.dlse ? this.f(op, 'dlse', p.dlse, p.dlseOffset ?? 0) : 0;
    const ds = this.f(op, 'ds', p.ds, p.dsOffset ?? 0);
    this.split('softmaxRowsBackward', p.rows, this.partsFor(p.rows * (p.cols * 2 + 10)), 1, 0, (r0, r1) => [
      r1 - r0,
      p.cols,
      pp + 4 * r0 * p.ldp,
      p.ldp,
      dp + 4 * r0 * p.lddp,
      p.lddp,
      dlse ? dlse + 4 * r0 : 0,
      ds + 4 * r0 * p.ldds,
      p.ldds,
    ]);
  }

  // ---------------------------------------------------------------- LSH hashing and sorting

  lshHash(p: LshHashParams): void {
    v.validateLshHash(p);
    const op = 'lshHash';
    const x = this.f(op, 'x', p.x, p.xOffset ?? 0);
    const rot = this.f(op, 'rotations', p.rotations, p.rotationsOffset ?? 0);
    const buckets = this.i(op, 'buckets', p.buckets, p.bucketsOffset ?? 0);
    const half = p.factors.reduce((s, f) => s + f / 2, 0);
    const k = this.kernels;
    const mark = this.arena.mark();
    try {
      const factorsPtr = this.arena.alloc(p.factors.length * 4);
      new Int32Array(this.arena.buffer, factorsPtr, p.factors.length).set(p.factors);
      const bytes = k.lshHashScratchBytes(p.rows, p.dHead, p.numHashes, half) >>> 0;
      const width = p.numHashes * half;
      const parts = this.partsFor(p.rows * ((p.dHead * width) / 15 + 2 * width));
      // blocks of HASH_ROW_BLOCK = 128 rows, as the kernel rotates them: the bits of one call
      this.split('lshHash', p.rows, parts, 128, bytes, (r0, r1, s) => [
        x + 4 * r0 * p.ldx,
        p.ldx,
        r1 - r0,
        p.dHead,
        rot,
        p.numHashes,
        factorsPtr,
        p.factors.length,
        half,
        buckets + 4 * r0,
        p.rows,
        s,
      ]);
    } finally {
      this.arena.release(mark);
    }
  }

  argsortKeys(perm: Int32Array, keys: Int32Array, n: number, numKeys: number): void {
    v.validateArgsort(perm, keys, n, numKeys);
    const pp = this.i('argsortKeys', 'perm', perm);
    const kp = this.i('argsortKeys', 'keys', keys);
    const parts = this.partsFor(n * 5 + numKeys, 1); // one part per thread: the counts are per part
    if (parts > 1 && n >= 1024) {
      // stable counting sort in three steps: per-part counts, offsets in a fixed order, per-part
      // placement; the permutation is unique (stable), so it is the same for any split
      const bounds = splitRange(n, parts, 16);
      const np = bounds.length - 1;
      const mark = this.arena.mark();
      try {
        const counts = this.arena.alloc(np * numKeys * 4);
        const at = (i: number): number => counts + i * numKeys * 4;
        const range = (i: number): [number, number] => [bounds[i]!, bounds[i + 1]!];
        this.runCalls(
          Array.from({ length: np }, (_, i) => {
            const [i0, i1] = range(i);
            return { kernel: 'argsortCount' as const, args: [kp + 4 * i0, i1 - i0, numKeys, at(i)] };
          }),
        );
        this.kernels.argsortOffsets(counts, np, numKeys);
        this.runCalls(
          Array.from({ length: np }, (_, i) => {
            const [i0, i1] = range(i);
            return { kernel: 'argsortPlace' as const, args: [pp, kp + 4 * i0, i1 - i0, i0, at(i)] };
          }),
        );
      } finally {
        this.arena.release(mark);
      }
      return;
    }
    this.withScratch((numKeys + 1) * 4, (s) => this.kernels.argsortKeys(pp, kp, n, numKeys, s));
  }

  invertPermutation(inv: Int32Array, perm: Int32Array, n: number): void {
    v.validatePermutation('invertPermutation', perm, n);
    v.checkVec('invertPermutation', 'inv', inv, n);
    this.kernels.invertPermutation(this.i('invertPermutation', 'inv', inv), this.i('invertPermutation', 'perm', perm), n);
  }

  gatherRows(p: RowsParams): void {
    const targets = rowsAddressable(p.src, p.srcOffset ?? 0, p.ldSrc, p.cols);
    v.validateRows('gatherRows', p, targets, 'src');
    this.rows('gatherRows', p, this.partsFor(p.rows * (p.cols * 0.5 + 10)));
  }

  scatterRows(p: RowsParams): void {
    const targets = rowsAddressable(p.dst, p.dstOffset ?? 0, p.ldDst, p.cols);
    v.validateRows('scatterRows', p, targets, 'dst');
    let parts = this.partsFor(p.rows * (p.cols * 0.5 + 10));
    // threads write disjoint rows only if no target repeats (the contract; else: one thread, last write wins)
    if (parts > 1 && (p.cols === 0 || !distinct(p.index, p.indexOffset ?? 0, p.rows, targets))) parts = 1;
    this.rows('scatterRows', p, parts);
  }

  scatterAddRows(p: RowsParams): void {
    v.validateRows('scatterAddRows', p, rowsAddressable(p.dst, p.dstOffset ?? 0, p.ldDst, p.cols), 'dst');
    this.rows('scatterAddRows', p, 1); // repeated targets add up in order of i: one thread
  }

  /** gather/scatter by ranges of i (index, and the side not indexed, advance with i). */
  private rows(op: 'gatherRows' | 'scatterRows' | 'scatterAddRows', p: RowsParams, parts: number): void {
    const index = this.i(op, 'index', p.index, p.indexOffset ?? 0);
    const src = this.f(op, 'src', p.src, p.srcOffset ?? 0);
    const dst = this.f(op, 'dst', p.dst, p.dstOffset ?? 0);
    const gather = op === 'gatherRows';
    this.split(op, p.rows, parts, 16, 0, (i0, i1) => [
      i1 - i0,
      p.cols,
      index + 4 * i0,
      gather ? src : src + 4 * i0 * p.ldSrc,
      p.ldSrc,
      gather ? dst + 4 * i0 * p.ldDst : dst,
      p.ldDst,
    ]);
  }

  // ---------------------------------------------------------------- attention

  chunkAttentionForward(p: ChunkAttentionForwardParams): void {
    v.validateChunkForward(p);
    const op = 'chunkAttentionForward';
    const c = this.chunkCommon(op, p);
    const out = this.f(op, 'out', p.out, p.outOffset ?? 0);
    const lse = this.f(op, 'lse', p.lse, p.lseOffset ?? 0);
    const k = this.kernels;
    const bytes = k.chunkAttentionScratchBytes(p.d, p.chunkLength, p.numChunksBefore, p.numChunksAfter, 0) >>> 0;
    const window = (p.numChunksBefore + 1 + p.numChunksAfter) * p.chunkLength;
    const parts = this.partsFor(((c.end - c.begin) * p.chunkLength * window * p.d) / 7.5);
    // query chunk ranges: each chunk's rows are written by one call, computed as in one call
    this.split('chunkAttentionForward', c.end - c.begin, parts, 1, bytes, (c0, c1, s) => [
      p.n,
      p.d,
      p.chunkLength,
      p.numChunksBefore,
      p.numChunksAfter,
      c.q,
      c.ldq,
      c.k,
      c.ldk,
      c.v,
      c.ldv,
      c.pos,
      c.keyValid,
      p.causal ? 1 : 0,
      p.maskValue,
      c.hasSelf,
      c.selfValue,
      c.paper,
      c.seqLen,
      c.numHashes,
      c.begin + c0,
      c.begin + c1,
      out,
      p.ldOut ?? p.d,
      lse,
      s,
      c.dropSeed,
      c.dropThreshold,
      c.dropScale,
    ]);
  }

  chunkAttentionBackward(p: ChunkAttentionBackwardParams): void {
    v.validateChunkBackward(p);
    const op = 'chunkAttentionBackward';
    const c = this.chunkCommon(op, p);
    const lse = this.f(op, 'lse', p.lse, p.lseOffset ?? 0);
    const dOut = this.f(op, 'dOut', p.dOut, p.dOutOffset ?? 0);
    const dLse = p.dLse ? this.f(op, 'dLse', p.dLse, p.dLseOffset ?? 0) : 0;
    const dq = this.f(op, 'dq', p.dq, p.qOffset ?? 0);
    const dk = this.f(op, 'dk', p.dk, p.kOffset ?? 0);
    const dv = this.f(op, 'dv', p.dv, p.vOffset ?? 0);
    const k = this.kernels;
    const bytes = k.chunkAttentionScratchBytes(p.d, p.chunkLength, p.numChunksBefore, p.numChunksAfter, 1) >>> 0;
    const numChunks = p.chunkLength > 0 ? p.n / p.chunkLength : 0;
    const window = (p.numChunksBefore + 1 + p.numChunksAfter) * p.chunkLength;
    // only a call over all chunks is split: in partition mode each part owns a chunk range (dq rows of
    // its query chunks, dk/dv rows of its key chunks) and recomputes the few neighbouring query chunks
    // whose windows reach into it, so parts write disjoint rows in the order of one call
    const all = c.begin === 0 && c.end === numChunks;
    const parts = all ? this.partsFor((p.n * window * p.d) / 3, 2) : 1;
    const partition = parts > 1 ? 1 : 0;
    this.split('chunkAttentionBackward', c.end - c.begin, parts, 1, bytes, (c0, c1, s) => [
      p.n,
      p.d,
      p.chunkLength,
      p.numChunksBefore,
      p.numChunksAfter,
      c.q,
      c.ldq,
      c.k,
      c.ldk,
      c.v,
      c.ldv,
      c.pos,
      c.keyValid,
      p.causal ? 1 : 0,
      p.maskValue,
      c.hasSelf,
      c.selfValue,
      c.paper,
      c.seqLen,
      c.numHashes,
      c.begin + c0,
      c.begin + c1,
      lse,
      dOut,
      p.ldOut ?? p.d,
      dLse,
      dq,
      dk,
      dv,
      s,
      c.dropSeed,
      c.dropThreshold,
      c.dropScale,
      partition,
    ]);
  }

  lshRoundCombine(p: LshRoundCombineParams): void {
    v.validateLshRoundCombine(p);
    const op = 'lshRoundCombine';
    const pos = this.i(op, 'pos', p.pos, p.posOffset ?? 0);
    const out = this.f(op, 'roundOut', p.roundOut, p.roundOutOffset ?? 0);
    const lse = this.f(op, 'roundLse', p.roundLse, p.roundLseOffset ?? 0);
    const acc = this.f(op, 'acc', p.acc, p.accOffset ?? 0);
    const stats = this.f(op, 'stats', p.stats, p.statsOffset ?? 0);
    const ldOut = p.ldRoundOut ?? p.d;
    const ldAcc = p.ldAcc ?? p.d;
    // row ranges: the positions of one call are distinct (validated), so the parts write disjoint
    // acc rows and stats entries, each computed from its own row only
    this.split('lshRoundCombine', p.rows, this.partsFor(p.rows * (p.d + 60)), 16, 0, (r0, r1) => [
      r1 - r0,
      p.d,
      p.first ? 1 : 0,
      p.last ? 1 : 0,
      pos + 4 * r0,
      out + 4 * r0 * ldOut,
      ldOut,
      lse + 4 * r0,
      acc,
      ldAcc,
      stats,
    ]);
  }

  private chunkCommon(op: string, p: ChunkAttentionParams) {
    const drop = p.dropout && p.dropout.prob > 0 ? p.dropout : null;
    return {
      dropSeed: drop ? drop.seed >>> 0 : 0,
      dropThreshold: drop ? dropoutThreshold(drop.prob) : 0,
      dropScale: drop ? 1 / (1 - drop.prob) : 1,
      q: this.f(op, 'q', p.q, p.qOffset ?? 0),
      k: this.f(op, 'k', p.k, p.kOffset ?? 0),
      v: this.f(op, 'v', p.v, p.vOffset ?? 0),
      ldq: p.ldq ?? p.d,
      ldk: p.ldk ?? p.d,
      ldv: p.ldv ?? p.d,
      pos: this.i(op, 'pos', p.pos),
      keyValid: p.keyValid ? this.i(op, 'keyValid', p.keyValid) : 0,
      hasSelf: p.selfMaskValue !== null ? 1 : 0,
      selfValue: p.selfMaskValue ?? 0,
      paper: p.paper ? this.i(op, 'paper.buckets', p.paper.buckets) : 0,
      seqLen: p.paper ? p.paper.seqLen : 0,
      numHashes: p.paper ? p.paper.numHashes : 0,
      begin: p.chunkBegin ?? 0,
      end: p.chunkEnd ?? (p.chunkLength > 0 ? p.n / p.chunkLength : 0),
    };
  }

  // ---------------------------------------------------------------- optimiser

  adamw(p: AdamWParams): void {
    v.validateAdamW(p);
    const op = 'adamw';
    const bc1 = 1 - p.beta1 ** p.step;
    const bc2 = 1 - p.beta2 ** p.step;
    const param = this.f(op, 'param', p.param);
    const grad = this.f(op, 'grad', p.grad);
    const m = this.f(op, 'm', p.m);
    const vv = this.f(op, 'v', p.v);
    this.split('adamw', p.n, this.partsFor(p.n * 2), 16, 0, (i0, i1) => [
      i1 - i0,
      param + 4 * i0,
      grad + 4 * i0,
      m + 4 * i0,
      vv + 4 * i0,
      p.beta1,
      p.beta2,
      p.eps,
      1 - p.lr * p.weightDecay,
      p.lr / bc1,
      1 / Math.sqrt(bc2),
    ]);
  }
}

// ------------------------------------------------------------------ helpers

function activationKind(op: string, kind: Activation): number {
  const k = ACTIVATION_KIND[kind];
  if (k === undefined) throw new ShapeError(`${op}: unknown activation '${String(kind)}'; expected relu, gelu or gelu_new`);
  return k;
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

/** True if index[offset … offset + rows) has no repeated value (all in [0, targets)). */
function distinct(index: Int32Array, offset: number, rows: number, targets: number): boolean {
  const seen = new Uint8Array(targets);
  for (let i = 0; i < rows; i++) {
    const j = index[offset + i]!;
    if (seen[j]) return false;
    seen[j] = 1;
  }
  return true;
}

/** How many whole rows of `cols` elements with stride `ld` fit in `arr` after `offset` (as the reference). */
function rowsAddressable(arr: Float, offset: number, ld: number, cols: number): number {
  if (cols === 0) return 2 ** 31 - 1;
  const avail = arr.length - offset - cols;
  if (avail < 0) return 0;
  return ld === 0 ? 1 : Math.floor(avail / ld) + 1;
}
