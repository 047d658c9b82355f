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
  RmsNormBackwardParams,
  RmsNormParams,
  RowsParams,
  SoftmaxBackwardParams,
  SoftmaxParams,
} from '../backend.js';
import { dropoutThreshold } from '../attention-dropout.js';
import * as v from '../validate.js';
import { Arena, type ArenaOptions } from './arena.js';
import type { KernelExports } from './kernels.js';

/** The two kernel builds: plain 128-bit SIMD, or with relaxed SIMD (fused multiply-add). */
export type WasmVariant = 'simd' | 'relaxed-simd';

const ACTIVATION_KIND: Record<Activation, number> = { relu: 0, gelu: 1, gelu_new: 2 };

export interface WasmBackendInit extends ArenaOptions {
  exports: KernelExports;
  memory: WebAssembly.Memory;
  variant: WasmVariant;
}

export class WasmBackend implements Backend {
  /** `wasm-simd` or `wasm-relaxed-simd`. */
  readonly name: string;
  readonly dtype: DType = 'f32';
  readonly variant: WasmVariant;
  /** The allocator over the module's memory (exposed for tests, diagnostics and the future thread pool). */
  readonly arena: Arena;
  /** The raw kernel exports (pointer-level; no validation). */
  readonly kernels: KernelExports;

  constructor(init: WasmBackendInit) {
    this.kernels = init.exports;
    this.variant = init.variant;
    this.name = `wasm-${init.variant}`;
    this.arena = new Arena(init.memory, this.kernels.heapBase() >>> 0, { poisonFreed: init.poisonFreed ?? false });
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
    this.withScratch(k.gemmScratchBytes(p.m, p.n, p.k, p.transB ? 1 : 0) >>> 0, (s) =>
      k.gemm(p.m, p.n, p.k, a, p.lda, p.transA ? 1 : 0, b, p.ldb, p.transB ? 1 : 0, c, p.ldc, p.accumulate ? 1 : 0, s),
    );
  }

  gemmBatched(p: GemmBatchedParams): void {
    v.validateGemmBatched(p);
    if (p.batch === 0) return;
    const op = 'gemmBatched';
    const a = this.f(op, 'A', p.a, p.aOffset ?? 0);
    const b = this.f(op, 'B', p.b, p.bOffset ?? 0);
    const c = this.f(op, 'C', p.c, p.cOffset ?? 0);
    const k = this.kernels;
    this.withScratch(k.gemmScratchBytes(p.m, p.n, p.k, p.transB ? 1 : 0) >>> 0, (s) =>
      k.gemmBatched(
        p.batch, p.strideA, p.strideB, p.strideC,
        p.m, p.n, p.k, a, p.lda, p.transA ? 1 : 0, b, p.ldb, p.transB ? 1 : 0, c, p.ldc, p.accumulate ? 1 : 0, s,
      ),
    );
  }

  // ---------------------------------------------------------------- element-wise

  add(out: Float, a: Float, b: Float, n: number): void {
    v.validateElementwise('add', n, ['out', out], ['a', a], ['b', b]);
    this.kernels.add(this.f('add', 'out', out), this.f('add', 'a', a), this.f('add', 'b', b), n);
  }

  axpy(y: Float, alpha: number, x: Float, n: number): void {
    v.validateElementwise('axpy', n, ['y', y], ['x', x]);
    v.checkFinite('axpy', 'alpha', alpha);
    this.kernels.axpy(this.f('axpy', 'y', y), alpha, this.f('axpy', 'x', x), n);
  }

  scale(x: Float, alpha: number, n: number): void {
    v.validateElementwise('scale', n, ['x', x]);
    v.checkFinite('scale', 'alpha', alpha);
    this.kernels.scale(this.f('scale', 'x', x), alpha, n);
  }

  addRowVector(x: Float, vec: Float, rows: number, cols: number): void {
    v.validateRowVector('addRowVector', x, vec, rows, cols);
    this.kernels.addRowVector(this.f('addRowVector', 'x', x), this.f('addRowVector', 'vector', vec), rows, cols);
  }

  sumRows(out: Float, x: Float, rows: number, cols: number): void {
    v.validateRowVector('sumRows', x, out, rows, cols);
    const o = this.f('sumRows', 'out', out);
    const xp = this.f('sumRows', 'x', x);
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
    this.kernels.activationForward(activationKind(op, kind), this.f(op, 'x', x), this.f(op, 'y', y), n);
  }

  activationBackward(kind: Activation, x: Float, dy: Float, dx: Float, n: number): void {
    const op = 'activationBackward';
    v.validateElementwise(op, n, ['x', x], ['dy', dy], ['dx', dx]);
    this.kernels.activationBackward(activationKind(op, kind), this.f(op, 'x', x), this.f(op, 'dy', dy), this.f(op, 'dx', dx), n);
  }

  // ---------------------------------------------------------------- normalisation

  layerNormForward(p: LayerNormParams): void {
    v.validateLayerNorm(p);
    const op = 'layerNormForward';
    this.kernels.layerNormForward(
      p.rows, p.cols, this.f(op, 'x', p.x), this.f(op, 'gamma', p.gamma), this.f(op, 'beta', p.beta), p.eps,
      this.f(op, 'y', p.y), this.f(op, 'mean', p.mean), this.f(op, 'rstd', p.rstd),
    );
  }

  layerNormBackward(p: LayerNormBackwardParams): void {
    v.validateLayerNormBackward(p);
    const op = 'layerNormBackward';
    this.kernels.layerNormBackward(
      p.rows, p.cols, this.f(op, 'dy', p.dy), this.f(op, 'x', p.x), this.f(op, 'mean', p.mean),
      this.f(op, 'rstd', p.rstd), this.f(op, 'gamma', p.gamma), this.f(op, 'dx', p.dx),
      this.f(op, 'dgamma', p.dgamma), this.f(op, 'dbeta', p.dbeta),
    );
  }

  rmsNormForward(p: RmsNormParams): void {
    v.validateRmsNorm(p);
    const op = 'rmsNormForward';
    this.kernels.rmsNormForward(p.rows, p.cols, this.f(op, 'x', p.x), this.f(op, 'y', p.y), this.f(op, 'rstd', p.rstd), p.eps, p.scale);
  }

  rmsNormBackward(p: RmsNormBackwardParams): void {
    v.validateRmsNormBackward(p);
    const op = 'rmsNormBackward';
    this.kernels.rmsNormBackward(
      p.rows, p.cols, this.f(op, 'dy', p.dy), this.f(op, 'x', p.x), this.f(op, 'rstd', p.rstd), p.scale, this.f(op, 'dx', p.dx),
    );
  }

  // ---------------------------------------------------------------- softmax

  softmaxRows(p: SoftmaxParams): void {
    v.validateSoftmax(p);
    const op = 'softmaxRows';
    this.kernels.softmaxRows(
      p.rows, p.cols, this.f(op, 's', p.s, p.sOffset ?? 0), p.lds, this.f(op, 'p', p.p, p.pOffset ?? 0), p.ldp,
      this.f(op, 'lse', p.lse, p.lseOffset ?? 0),
    );
  }

  softmaxRowsBackward(p: SoftmaxBackwardParams): void {
    v.validateSoftmaxBackward(p);
    const op = 'softmaxRowsBackward';
    this.kernels.softmaxRowsBackward(
      p.rows, p.cols, this.f(op, 'p', p.p, p.pOffset ?? 0), p.ldp, this.f(op, 'dp', p.dp, p.dpOffset ?? 0), p.lddp,
      p.dlse ? this.f(op, 'dlse', p.dlse, p.dlseOffset ?? 0) : 0, this.f(op, 'ds', p.ds, p.dsOffset ?? 0), p.ldds,
    );
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
      const scratch = this.arena.alloc(k.lshHashScratchBytes(p.rows, p.dHead, p.numHashes, half) >>> 0);
      k.lshHash(x, p.ldx, p.rows, p.dHead, rot, p.numHashes, factorsPtr, p.factors.length, half, buckets, scratch);
    } finally {
      this.arena.release(mark);
    }
  }

  argsortKeys(perm: Int32Array, keys: Int32Array, n: number, numKeys: number): void {
    v.validateArgsort(perm, keys, n, numKeys);
    const pp = this.i('argsortKeys', 'perm', perm);
    const kp = this.i('argsortKeys', 'keys', keys);
    this.withScratch((numKeys + 1) * 4, (s) => this.kernels.argsortKeys(pp, kp, n, numKeys, s));
  }

  invertPermutation(inv: Int32Array, perm: Int32Array, n: number): void {
    v.validatePermutation('invertPermutation', perm, n);
    v.checkVec('invertPermutation', 'inv', inv, n);
    this.kernels.invertPermutation(this.i('invertPermutation', 'inv', inv), this.i('invertPermutation', 'perm', perm), n);
  }

  gatherRows(p: RowsParams): void {
    v.validateRows('gatherRows', p, rowsAddressable(p.src, p.srcOffset ?? 0, p.ldSrc, p.cols), 'src');
    this.rows('gatherRows', p, this.kernels.gatherRows);
  }

  scatterRows(p: RowsParams): void {
    v.validateRows('scatterRows', p, rowsAddressable(p.dst, p.dstOffset ?? 0, p.ldDst, p.cols), 'dst');
    this.rows('scatterRows', p, this.kernels.scatterRows);
  }

  scatterAddRows(p: RowsParams): void {
    v.validateRows('scatterAddRows', p, rowsAddressable(p.dst, p.dstOffset ?? 0, p.ldDst, p.cols), 'dst');
    this.rows('scatterAddRows', p, this.kernels.scatterAddRows);
  }

  private rows(op: string, p: RowsParams, kernel: KernelExports['gatherRows']): void {
    kernel(
      p.rows, p.cols, this.i(op, 'index', p.index, p.indexOffset ?? 0),
      this.f(op, 'src', p.src, p.srcOffset ?? 0), p.ldSrc, this.f(op, 'dst', p.dst, p.dstOffset ?? 0), p.ldDst,
    );
  }

  // ---------------------------------------------------------------- attention

  chunkAttentionForward(p: ChunkAttentionForwardParams): void {
    v.validateChunkForward(p);
    const op = 'chunkAttentionForward';
    const c = this.chunkCommon(op, p);
    const out = this.f(op, 'out', p.out, p.outOffset ?? 0);
    const lse = this.f(op, 'lse', p.lse, p.lseOffset ?? 0);
    const k = this.kernels;
    this.withScratch(k.chunkAttentionScratchBytes(p.d, p.chunkLength, p.numChunksBefore, p.numChunksAfter, 0) >>> 0, (s) =>
      k.chunkAttentionForward(
        p.n, p.d, p.chunkLength, p.numChunksBefore, p.numChunksAfter,
        c.q, c.ldq, c.k, c.ldk, c.v, c.ldv,
        c.pos, c.keyValid, p.causal ? 1 : 0, p.maskValue, c.hasSelf, c.selfValue,
        c.paper, c.seqLen, c.numHashes, c.begin, c.end,
        out, p.ldOut ?? p.d, lse, s,
        c.dropSeed, c.dropThreshold, c.dropScale,
      ),
    );
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
    this.withScratch(k.chunkAttentionScratchBytes(p.d, p.chunkLength, p.numChunksBefore, p.numChunksAfter, 1) >>> 0, (s) =>
      k.chunkAttentionBackward(
        p.n, p.d, p.chunkLength, p.numChunksBefore, p.numChunksAfter,
        c.q, c.ldq, c.k, c.ldk, c.v, c.ldv,
        c.pos, c.keyValid, p.causal ? 1 : 0, p.maskValue, c.hasSelf, c.selfValue,
        c.paper, c.seqLen, c.numHashes, c.begin, c.end,
        lse, dOut, p.ldOut ?? p.d, dLse, dq, dk, dv, s,
        c.dropSeed, c.dropThreshold, c.dropScale,
      ),
    );
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
    this.kernels.adamw(
      p.n, this.f(op, 'param', p.param), this.f(op, 'grad', p.grad), this.f(op, 'm', p.m), this.f(op, 'v', p.v),
      p.beta1, p.beta2, p.eps, 1 - p.lr * p.weightDecay, p.lr / bc1, 1 / Math.sqrt(bc2),
    );
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

/** How many whole rows of `cols` elements with stride `ld` fit in `arr` after `offset` (as the reference). */
function rowsAddressable(arr: Float, offset: number, ld: number, cols: number): number {
  if (cols === 0) return 2 ** 31 - 1;
  const avail = arr.length - offset - cols;
  if (avail < 0) return 0;
  return ld === 0 ? 1 : Math.floor(avail / ld) + 1;
}
