/**
 * The reference backend: plain TypeScript loops that mirror the math, one operation at a time.
 *
 * It is the oracle every fast kernel is checked against (spec/kernels), and a fallback that runs in
 * any JavaScript engine. No processor-specific tricks: sums are accumulated in float64 and stored at
 * the buffer's precision (f32 or f64). Values that HF stores in fp32 before reusing them (the
 * log-sum-exp of attention rows, see the fixtures README "fp32 logsumexp quirk") are re-read from
 * the output buffer, so an f32 reference reproduces fp32 rounding where it matters.
 *
 * The loops live with their op family (ops/<family>/reference.ts); this class holds the buffers and
 * delegates each method.
 */
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
} from './backend.js';
import * as activations from './ops/activations/reference.js';
import * as adamw from './ops/adamw/reference.js';
import * as attention from './ops/attention/reference.js';
import { checkInt } from './ops/checks.js';
import { ConfigError } from '../errors.js';
import { describeValue, optionsArg } from '../util/args.js';
import * as elementwise from './ops/elementwise/reference.js';
import * as gemm from './ops/gemm/reference.js';
import * as hash from './ops/hash/reference.js';
import * as norms from './ops/norms/reference.js';
import * as rounds from './ops/rounds/reference.js';
import * as softmax from './ops/softmax/reference.js';
import * as sort from './ops/sort/reference.js';

export interface ReferenceBackendOptions {
  /** Element type of float buffers. Default 'f32'; 'f64' for gradient checks. */
  dtype?: DType;
}

export class ReferenceBackend implements Backend {
  readonly name: string;
  readonly dtype: DType;

  /** @throws ConfigError for options that are not an object or a `dtype` other than 'f32' / 'f64'. */
  constructor(options: ReferenceBackendOptions = {}) {
    optionsArg('new ReferenceBackend', options, "{ dtype: 'f64' }");
    const dtype = options.dtype ?? 'f32';
    if (dtype !== 'f32' && dtype !== 'f64') throw new ConfigError('dtype', `must be 'f32' or 'f64', got ${describeValue(dtype)}`);
    this.dtype = dtype;
    this.name = `reference-${this.dtype}`;
  }

  floats(n: number): Float {
    checkInt('floats', 'n', n);
    return this.dtype === 'f64' ? new Float64Array(n) : new Float32Array(n);
  }

  ints(n: number): Int32Array {
    checkInt('ints', 'n', n);
    return new Int32Array(n);
  }

  scope<T>(fn: () => T): T {
    // Buffers are garbage-collected JS arrays: nothing to free.
    return fn();
  }

  gemm(p: GemmParams): void {
    gemm.gemm(p);
  }
  gemmBatched(p: GemmBatchedParams): void {
    gemm.gemmBatched(p);
  }

  add(out: Float, a: Float, b: Float, n: number): void {
    elementwise.add(out, a, b, n);
  }
  axpy(y: Float, alpha: number, x: Float, n: number): void {
    elementwise.axpy(y, alpha, x, n);
  }
  scale(x: Float, alpha: number, n: number): void {
    elementwise.scale(x, alpha, n);
  }
  addRowVector(x: Float, vec: Float, rows: number, cols: number): void {
    elementwise.addRowVector(x, vec, rows, cols);
  }
  sumRows(out: Float, x: Float, rows: number, cols: number): void {
    elementwise.sumRows(out, x, rows, cols);
  }
  sumSquares(x: Float, n: number): number {
    return elementwise.sumSquares(x, n);
  }
  countNonFinite(x: Float, n: number): number {
    return elementwise.countNonFinite(x, n);
  }

  activationForward(kind: Activation, x: Float, y: Float, n: number): void {
    activations.activationForward(kind, x, y, n);
  }
  activationBackward(kind: Activation, x: Float, dy: Float, dx: Float, n: number): void {
    activations.activationBackward(kind, x, dy, dx, n);
  }

  layerNormForward(p: LayerNormParams): void {
    norms.layerNormForward(p);
  }
  layerNormBackward(p: LayerNormBackwardParams): void {
    norms.layerNormBackward(p);
  }
  rmsNormForward(p: RmsNormParams): void {
    norms.rmsNormForward(p);
  }
  rmsNormBackward(p: RmsNormBackwardParams): void {
    norms.rmsNormBackward(p);
  }

  softmaxRows(p: SoftmaxParams): void {
    softmax.softmaxRows(p);
  }
  softmaxRowsBackward(p: SoftmaxBackwardParams): void {
    softmax.softmaxRowsBackward(p);
  }

  lshHash(p: LshHashParams): void {
    hash.lshHash(p);
  }

  argsortKeys(perm: Int32Array, keys: Int32Array, n: number, numKeys: number): void {
    sort.argsortKeys(perm, keys, n, numKeys);
  }
  invertPermutation(inv: Int32Array, perm: Int32Array, n: number): void {
    sort.invertPermutation(inv, perm, n);
  }
  gatherRows(p: RowsParams): void {
    sort.gatherRows(p);
  }
  scatterRows(p: RowsParams): void {
    sort.scatterRows(p);
  }
  scatterAddRows(p: RowsParams): void {
    sort.scatterAddRows(p);
  }

  chunkAttentionForward(p: ChunkAttentionForwardParams): void {
    attention.chunkAttentionForward(p);
  }
  chunkAttentionBackward(p: ChunkAttentionBackwardParams): void {
    attention.chunkAttentionBackward(p);
  }

  lshRoundCombine(p: LshRoundCombineParams): void {
    rounds.lshRoundCombine(p, this.dtype);
  }

  adamw(p: AdamWParams): void {
    adamw.adamw(p);
  }
}
