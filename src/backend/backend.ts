/**
 * The compute layer: one interface, two implementations.
 *
 * - `ReferenceBackend` (reference.ts): plain TypeScript loops that mirror the math; f32 or f64.
 *   It is the oracle for the WASM kernels and runs anywhere.
 * - `WasmBackend` (wasm/): the same operations compiled from AssemblyScript with 128-bit SIMD.
 *   Its buffers live in one WebAssembly memory; kernels receive byte offsets and never allocate or throw.
 *
 * Each op family has one home, ops/<family>/ next to its kernels in assembly/<family>.ts: `params.ts`
 * (parameter types and validation), `reference.ts` (the plain loops) and `wasm.ts` (the WASM wrapper:
 * pointers, scratch, thread split). Both backends delegate each method to their family's function.
 * The parameter types are re-exported here.
 *
 * Conventions shared by every operation
 * - Buffers are typed-array views allocated with `floats()` / `ints()` of the backend that runs the
 *   operation (the WASM backend rejects foreign arrays). Matrices are row-major; `ld*` is the distance
 *   in elements between consecutive rows (the "leading dimension"); `*Offset` is an element offset
 *   into the buffer (default 0). Nothing here keeps a reference to an argument after returning.
 * - Forward operations overwrite their outputs. Every backward operation ACCUMULATES into its gradient
 *   outputs (`dx += ...`), as in llm.c: callers zero gradients once, and contributions from several
 *   uses of a tensor simply add up.
 * - Masking replaces scores (`s = allowed ? s : maskValue`); nothing is added (HF's semantics).
 * - Every argument is validated in TypeScript (ops/<family>/params.ts; shared checks in ops/checks.ts)
 *   before a kernel sees it; a bad shape, a foreign buffer or an out-of-range index throws `ShapeError`
 *   and changes nothing.
 * - Non-finite values (NaN, ±Infinity) in buffers are data, not errors: every operation gives them the
 *   IEEE semantics of the reference backend's formulas, and the WASM kernels give every output element
 *   the same class (finite, NaN, +Infinity, −Infinity; spec/kernels/non-finite.spec.ts). So a NaN input
 *   makes the outputs that depend on it NaN (a softmax row with a NaN is NaN, 0·∞ is NaN, also where a
 *   mask or dropout multiplies by 0), nothing silently drops it. Where the formulas leave a choice, the
 *   op's parameter docs state the rule (e.g. LshHashParams: NaN is the largest value, as torch.argmax).
 *   Kernels never check for non-finite values; the models do (src/model/numerics.ts, NumericalError).
 */
import type { AdamWParams } from './ops/adamw/params.js';
import type { ChunkAttentionBackwardParams, ChunkAttentionForwardParams } from './ops/attention/params.js';
import type { GemmBatchedParams, GemmParams } from './ops/gemm/params.js';
import type { LshHashParams } from './ops/hash/params.js';
import type { LayerNormBackwardParams, LayerNormParams, RmsNormBackwardParams, RmsNormParams } from './ops/norms/params.js';
import type { LshRoundCombineParams } from './ops/rounds/params.js';
import type { SoftmaxBackwardParams, SoftmaxParams } from './ops/softmax/params.js';
import type { RowsParams } from './ops/sort/params.js';

/** A float buffer: f32 everywhere, f64 only with the reference backend (for gradient checks). */
export type Float = Float32Array | Float64Array;

/** Element type of a backend's float buffers. */
export type DType = 'f32' | 'f64';

/** Activation functions of HF's `hidden_act`: `relu`, exact `gelu` (erf) and `gelu_new` (tanh approximation). */
export type Activation = 'relu' | 'gelu' | 'gelu_new';

export type { AdamWParams } from './ops/adamw/params.js';
export type {
  AttentionDropout,
  ChunkAttentionBackwardParams,
  ChunkAttentionForwardParams,
  ChunkAttentionParams,
  PaperExactParams,
} from './ops/attention/params.js';
export type { GemmBatchedParams, GemmParams } from './ops/gemm/params.js';
export type { LshHashParams } from './ops/hash/params.js';
export type { LayerNormBackwardParams, LayerNormParams, RmsNormBackwardParams, RmsNormParams } from './ops/norms/params.js';
export type { LshRoundCombineParams } from './ops/rounds/params.js';
export type { SoftmaxBackwardParams, SoftmaxParams } from './ops/softmax/params.js';
export type { RowsParams } from './ops/sort/params.js';

/** The operations every backend implements with identical semantics (see file header). */
export interface Backend {
  /** e.g. `reference-f32`, `reference-f64`, `wasm-simd`, `wasm-relaxed-simd`. */
  readonly name: string;
  readonly dtype: DType;
  /**
   * The most bytes all live buffers together can take, if the backend has a hard limit (WASM: one
   * 32-bit memory, 4 GiB); undefined = only the machine's memory limits it. The models check their
   * memory estimate (model/memory.ts) against it before a run.
   */
  readonly maxBufferBytes?: number;
  /** Threads one operation may use (WASM with a worker pool); undefined = 1. Memory estimates count scratch per thread. */
  readonly threads?: number;

  /** A zeroed float buffer of `n` elements that this backend's kernels accept. */
  floats(n: number): Float;
  /** A zeroed int32 buffer of `n` elements that this backend's kernels accept. */
  ints(n: number): Int32Array;
  /**
   * Runs `fn` and then frees every buffer allocated inside it (stack discipline): a buffer
   * allocated inside must not be used after `scope` returns.
   */
  scope<T>(fn: () => T): T;

  // ---- dense linear algebra (ops/gemm/) ----
  gemm(p: GemmParams): void;
  gemmBatched(p: GemmBatchedParams): void;
  /**
   * Where the reduction (k) of a gemm of these sizes may be cut into consecutive calls, the later ones
   * accumulating, with the bits of one call: cuts at multiples of the returned depth (each part itself
   * checked with this function), or 0 = nowhere. Backends with a memory limit implement it for the
   * host-resident streams (backend/host-streams.ts `gemmStreamK`); undefined = never cut.
   */
  gemmReductionStep?(m: number, n: number, k: number, transB: boolean): number;

  // ---- element-wise helpers, n elements, contiguous (ops/elementwise/) ----
  /** out = a + b (out may alias a or b). */
  add(out: Float, a: Float, b: Float, n: number): void;
  /** y += alpha·x */
  axpy(y: Float, alpha: number, x: Float, n: number): void;
  /** x *= alpha */
  scale(x: Float, alpha: number, n: number): void;
  /** x[r, :] += v for r < rows (bias add); x: [rows, cols], v: [cols]. */
  addRowVector(x: Float, v: Float, rows: number, cols: number): void;
  /** out[:] += Σ_r x[r, :] (bias gradient); x: [rows, cols], out: [cols]. */
  sumRows(out: Float, x: Float, rows: number, cols: number): void;
  /** Σ x_i² (for gradient norms), accumulated in float64. */
  sumSquares(x: Float, n: number): number;
  /**
   * How many of x[0 … n) are NaN or ±Infinity (the models' non-finite checks, src/model/numerics.ts;
   * one memory-bound pass, split over threads).
   */
  countNonFinite(x: Float, n: number): number;

  // ---- activations, HF ACT2FN (ops/activations/) ----
  activationForward(kind: Activation, x: Float, y: Float, n: number): void;
  /** dx += act'(x) ⊙ dy */
  activationBackward(kind: Activation, x: Float, dy: Float, dx: Float, n: number): void;

  // ---- normalisation (ops/norms/) ----
  layerNormForward(p: LayerNormParams): void;
  layerNormBackward(p: LayerNormBackwardParams): void;
  rmsNormForward(p: RmsNormParams): void;
  rmsNormBackward(p: RmsNormBackwardParams): void;

  // ---- softmax (ops/softmax/) ----
  softmaxRows(p: SoftmaxParams): void;
  softmaxRowsBackward(p: SoftmaxBackwardParams): void;

  // ---- LSH hashing (ops/hash/) ----
  lshHash(p: LshHashParams): void;

  // ---- sorting and row permutations (ops/sort/) ----
  /**
   * Stable counting sort: `perm[r]` = index of the r-th smallest key, equal keys in index order.
   * keys: [n] in [0, numKeys). Equivalent to sorting the packed key `key·n + index`.
   */
  argsortKeys(perm: Int32Array, keys: Int32Array, n: number, numKeys: number): void;
  /** inv[perm[i]] = i */
  invertPermutation(inv: Int32Array, perm: Int32Array, n: number): void;
  /** dst[i, :] = src[index[i], :] */
  gatherRows(p: RowsParams): void;
  /** dst[index[i], :] = src[i, :] (index must be a permutation of its targets). */
  scatterRows(p: RowsParams): void;
  /** dst[index[i], :] += src[i, :] (backward of gatherRows; repeated indices add up). */
  scatterAddRows(p: RowsParams): void;

  // ---- chunked attention (ops/attention/) ----
  chunkAttentionForward(p: ChunkAttentionForwardParams): void;
  chunkAttentionBackward(p: ChunkAttentionBackwardParams): void;

  // ---- LSH hash rounds (ops/rounds/) ----
  /** Folds one hash round into the online softmax over rounds (see LshRoundCombineParams). */
  lshRoundCombine(p: LshRoundCombineParams): void;

  // ---- optimiser (ops/adamw/) ----
  adamw(p: AdamWParams): void;
}
