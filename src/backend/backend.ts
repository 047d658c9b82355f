/**
 * The compute layer: one interface, two implementations.
 *
 * - `ReferenceBackend` (reference.ts): plain TypeScript loops that mirror the math; f32 or f64.
 *   It is the oracle for the WASM kernels and runs anywhere.
 * - `WasmBackend` (wasm/): the same operations compiled from AssemblyScript with 128-bit SIMD.
 *   Its buffers live in one WebAssembly memory; kernels receive byte offsets and never allocate or throw.
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
 * - Every argument is validated in TypeScript (see validate.ts) before a kernel sees it; a bad shape,
 *   a foreign buffer or an out-of-range index throws `ShapeError` and changes nothing.
 */

/** A float buffer: f32 everywhere, f64 only with the reference backend (for gradient checks). */
export type Float = Float32Array | Float64Array;

/** Element type of a backend's float buffers. */
export type DType = 'f32' | 'f64';

/** Activation functions of HF's `hidden_act`: `relu`, exact `gelu` (erf) and `gelu_new` (tanh approximation). */
export type Activation = 'relu' | 'gelu' | 'gelu_new';

/**
 * General matrix multiply `C = A·B` or `C += A·B` (`accumulate`).
 * A is logically [m, k]; stored [m, k] with row stride `lda`, or [k, m] when `transA`.
 * B is logically [k, n]; stored [k, n] with row stride `ldb`, or [n, k] when `transB`
 * (HF `nn.Linear` weights are [out, in], so `y = x·Wᵀ` is `transB: true`).
 * C is [m, n] with row stride `ldc`. Sizes may be 0 (no-op) or any positive integer.
 */
export interface GemmParams {
  m: number;
  n: number;
  k: number;
  a: Float;
  aOffset?: number;
  lda: number;
  transA?: boolean;
  b: Float;
  bOffset?: number;
  ldb: number;
  transB?: boolean;
  c: Float;
  cOffset?: number;
  ldc: number;
  /** C += A·B instead of C = A·B. Default false. */
  accumulate?: boolean;
}

/** `batch` independent products; matrix `i` starts `i·stride*` elements after the offsets of `GemmParams`. */
export interface GemmBatchedParams extends GemmParams {
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
}

/**
 * Angular LSH (Andoni et al. 2015; Kitaev et al. 2020 Sec. 2): `rotated = x·R`, then per hash round
 * `bucket = argmax([rotated, −rotated])` (ties go to the lowest index, like `torch.argmax`).
 * With several `factors` [f1, f2, ...] (HF's factorised `num_buckets`), the round's rotated vector
 * is cut into slices of f1/2, f2/2, ... columns and `bucket = b1 + f1·b2 + f1·f2·b3 + ...`.
 * An int `num_buckets` is `factors = [num_buckets]`.
 * No round offsets and no padding bucket here: attention code adds those.
 */
export interface LshHashParams {
  /** x: [rows, dHead] with row stride ldx (raw, unnormalised shared query/key vectors of one head). */
  x: Float;
  xOffset?: number;
  ldx: number;
  rows: number;
  dHead: number;
  /** rotations of one head: [dHead, numHashes, rotationSize/2] contiguous, rotationSize = Σ factors. */
  rotations: Float;
  rotationsOffset?: number;
  numHashes: number;
  /** Even bucket factors, each ≥ 2. */
  factors: readonly number[];
  /** out: [numHashes, rows] bucket ids in [0, Π factors). */
  buckets: Int32Array;
  bucketsOffset?: number;
}

/** Row gather/scatter: `dst[i] = src[index[i]]` (gather) or `dst[index[i]] (+)= src[i]` (scatter). */
export interface RowsParams {
  rows: number;
  cols: number;
  index: Int32Array;
  indexOffset?: number;
  src: Float;
  srcOffset?: number;
  ldSrc: number;
  dst: Float;
  dstOffset?: number;
  ldDst: number;
}

/** Row softmax with stored log-sum-exp: `lse = log Σ exp(s)`, then `p = exp(s − lse)`. */
export interface SoftmaxParams {
  rows: number;
  cols: number;
  s: Float;
  sOffset?: number;
  lds: number;
  /** May be the same buffer and offset as s (in place). */
  p: Float;
  pOffset?: number;
  ldp: number;
  /** out: [rows] */
  lse: Float;
  lseOffset?: number;
}

/**
 * Backward of `SoftmaxParams`: `ds += p ⊙ (dp − Σ_j p_j·dp_j) + p ⊙ dlse` per row.
 * `dlse` (the gradient that reaches the stored log-sum-exp) is optional.
 */
export interface SoftmaxBackwardParams {
  rows: number;
  cols: number;
  p: Float;
  pOffset?: number;
  ldp: number;
  dp: Float;
  dpOffset?: number;
  lddp: number;
  dlse?: Float | null;
  dlseOffset?: number;
  ds: Float;
  dsOffset?: number;
  ldds: number;
}

/** HF LayerNorm: `y = (x − mean)/sqrt(var + eps)·gamma + beta`, biased variance, over the last axis. */
export interface LayerNormParams {
  rows: number;
  cols: number;
  x: Float;
  gamma: Float;
  beta: Float;
  eps: number;
  y: Float;
  /** out: [rows] */
  mean: Float;
  /** out: [rows], 1/sqrt(var + eps) */
  rstd: Float;
}

export interface LayerNormBackwardParams {
  rows: number;
  cols: number;
  dy: Float;
  x: Float;
  mean: Float;
  rstd: Float;
  gamma: Float;
  /** accumulated */
  dx: Float;
  /** accumulated */
  dgamma: Float;
  /** accumulated */
  dbeta: Float;
}

/**
 * Key length-normalisation of shared-QK attention (HF `_len_and_dim_norm`):
 * `y = x · rstd · scale` with `rstd = 1/sqrt(mean(x²) + eps)`; HF uses eps = 1e-6, scale = 1/sqrt(dHead).
 */
export interface RmsNormParams {
  rows: number;
  cols: number;
  x: Float;
  y: Float;
  /** out: [rows] */
  rstd: Float;
  eps: number;
  scale: number;
}

export interface RmsNormBackwardParams {
  rows: number;
  cols: number;
  dy: Float;
  x: Float;
  rstd: Float;
  scale: number;
  /** accumulated */
  dx: Float;
}

/**
 * Chunked attention over rows that are already in attention order (LSH: sorted by bucket; local:
 * sequence order). Rows are cut into `numChunks = n / chunkLength` chunks; query chunk `c` attends to
 * the keys of chunks `c − numChunksBefore … c + numChunksAfter` taken modulo `numChunks`, laid out in
 * that order (HF `_look_adjacent`, wrap-around, duplicates kept). With `numChunks = 1` and no
 * neighbours this is full attention over the n rows.
 *
 * Scores `s = q_i · k_j` (keys arrive already scaled), then, replacing (not adding):
 *   - `maskValue` where `keyValid[j] == 0` (padding) or, if `causal`, where `pos[i] < pos[j]`;
 *   - then `selfMaskValue` (if not null) where `pos[i] == pos[j]`; this overrides the line above.
 *   - paper-exact mode (`paper` set; Kitaev et al. App. A Eq. 11-16): additionally `maskValue` where
 *     the key row belongs to another hash round than the query row, or where the key's bucket in the
 *     query's round differs from the query's; and `log N_ij` is subtracted from the remaining scores,
 *     `N_ij` = number of rounds in which i and j share a bucket.
 * Then `lse_i = logsumexp_j s_ij` (stored at buffer precision before use), `p = exp(s − lse)`,
 * optionally dropout on p (`dropout`), `out_i = Σ_j p_ij v_j`.
 */
export interface ChunkAttentionParams {
  /** Number of rows; a multiple of chunkLength. */
  n: number;
  /** Head size. */
  d: number;
  chunkLength: number;
  numChunksBefore: number;
  numChunksAfter: number;
  /** q, k, v, out: [n, d] with row strides ldq, ldk, ldv, ldOut (default d). */
  q: Float;
  qOffset?: number;
  ldq?: number;
  k: Float;
  kOffset?: number;
  ldk?: number;
  v: Float;
  vOffset?: number;
  ldv?: number;
  /** Sequence position of each row: [n]. */
  pos: Int32Array;
  /** 1 = real key, 0 = padding, per ROW: [n]. Null means all valid. */
  keyValid?: Int32Array | null;
  causal: boolean;
  /** HF: −1e9 in fp32. */
  maskValue: number;
  /** HF LSH: −1e5 in fp32; null for local attention (no self mask). */
  selfMaskValue: number | null;
  /** Paper-exact multi-round mode; rows must be grouped by round in blocks of seqLen. */
  paper?: PaperExactParams | null;
  /** Process only query chunks [chunkBegin, chunkEnd) (for splitting work); default all. */
  chunkBegin?: number;
  chunkEnd?: number;
  /**
   * Dropout on the attention probabilities (HF `*_attention_probs_dropout_prob`, training only): after the
   * softmax, `p_iw ← keep(seed, i, w) ? p_iw/(1 − prob) : 0` before `P·V`; `lse` stays the undropped one.
   * The mask is a pure function of (seed, row i, window slot w) (attention-dropout.ts), so the backward
   * replays it from the same parameters. Null / absent / prob 0: none.
   */
  dropout?: AttentionDropout | null;
}

/** Attention-probability dropout of one chunk-attention call (see `ChunkAttentionParams.dropout`). */
export interface AttentionDropout {
  /** Drop probability in [0, 1). */
  prob: number;
  /** 32-bit seed (an integer in [0, 2^32)); one per call, e.g. per (layer, batch element, head). */
  seed: number;
}

/** Extra inputs of the paper-exact multi-round mode (see ChunkAttentionParams). */
export interface PaperExactParams {
  seqLen: number;
  numHashes: number;
  /** [numHashes, seqLen] bucket of each position in each round. */
  buckets: Int32Array;
}

export interface ChunkAttentionForwardParams extends ChunkAttentionParams {
  out: Float;
  outOffset?: number;
  ldOut?: number;
  /** out: [n] log-sum-exp of each query row. */
  lse: Float;
  lseOffset?: number;
}

/**
 * Backward of the chunked attention. Scores and probabilities are recomputed from q, k and the
 * forward's `lse` (same masks, same dropout mask when `dropout` is given: pass the forward's); the
 * forward's buckets and order are constants.
 * Accumulates `dq`, `dk`, `dv` (same layouts and strides as q, k, v).
 */
export interface ChunkAttentionBackwardParams extends ChunkAttentionParams {
  /** Forward log-sum-exp: [n]. */
  lse: Float;
  lseOffset?: number;
  /** dOut: [n, d] with stride ldOut (default d). */
  dOut: Float;
  dOutOffset?: number;
  ldOut?: number;
  /** Gradient reaching lse (LSH round weights); null if none. [n] */
  dLse?: Float | null;
  dLseOffset?: number;
  dq: Float;
  dk: Float;
  dv: Float;
}

/**
 * One step of the online softmax over LSH hash rounds: HF's logsumexp-weighted sum over hashes
 * (Kitaev et al. Eq. 12), `o_t = Σ_n exp(z⁽ⁿ⁾_t − Z_t)·o⁽ⁿ⁾_t` with `Z_t = logsumexp_n z⁽ⁿ⁾_t`, computed
 * round by round without keeping the rounds. The call folds the query rows of one round, in any order
 * (LSH: sorted order), into a running state per sequence position t = pos[k]:
 *
 *   acc_t = Σ_n exp(z⁽ⁿ⁾_t − m_t)·o⁽ⁿ⁾_t,   s_t = Σ_n exp(z⁽ⁿ⁾_t − m_t),   m_t = max_n z⁽ⁿ⁾_t
 *
 * Per row k (z = roundLse[k], o = roundOut[k, :]), with α, β computed in float64:
 *   - `first`:     m_t = z, s_t = 1, acc_t = o (acc and stats are only written: they need no initial values);
 *   - z ≤ m_t:     β = exp(z − m_t),  s_t ← s_t + β,    acc_t ← acc_t + β·o;
 *   - z > m_t:     α = exp(m_t − z),  s_t ← α·s_t + 1,  m_t ← z,  acc_t ← α·acc_t + o;
 *   - `last` also finishes the position: Z_t = m_t + log s_t, stored at buffer precision first (HF's fp32
 *     logsumexp: near the self-mask value −1e5 the rounding of Z makes the round weights sum to ≠ 1, and
 *     HF's outputs carry that), and α, β are multiplied by exp(m_t − Z_t), so acc_t becomes o_t.
 * m_t and s_t are stored at buffer precision (`stats`, f32 on WASM) and re-read before use: m_t is a
 * maximum of stored z values, so f32 holds it exactly; s_t ∈ [1, rounds] loses at most 2^-24 relative per
 * round, which moves Z_t by ≤ rounds·6e-8 (HF sums these exponentials in fp32 too).
 *
 * Each position may occur at most once per call (a round visits every position once), so rows can be
 * processed in any order and split over threads. `first` and `last` may both be set (one round).
 */
export interface LshRoundCombineParams {
  /** Query rows of this call. */
  rows: number;
  /** Head size (columns of roundOut and acc). */
  d: number;
  /** Sequence length: positions are in [0, seqLen); acc and stats have seqLen rows. */
  seqLen: number;
  /** First round: overwrite acc_t and the state instead of combining. */
  first: boolean;
  /** Last round: finish o_t = acc_t·exp(m_t − Z_t) in acc. */
  last: boolean;
  /** Sequence position of each row: [rows], distinct, in [0, seqLen). */
  pos: Int32Array;
  posOffset?: number;
  /** Per-round outputs o⁽ⁿ⁾: [rows, d] with row stride ldRoundOut (default d). */
  roundOut: Float;
  roundOutOffset?: number;
  ldRoundOut?: number;
  /** Per-round log-sum-exp z⁽ⁿ⁾ of each row: [rows]. */
  roundLse: Float;
  roundLseOffset?: number;
  /** In/out: [seqLen, d] with row stride ldAcc (default d), by position. */
  acc: Float;
  accOffset?: number;
  ldAcc?: number;
  /** In/out: [seqLen, 2] = (m_t, s_t) per position. */
  stats: Float;
  statsOffset?: number;
}

/** Decoupled-weight-decay Adam (Loshchilov & Hutter 2019), bias-corrected, over flat buffers. */
export interface AdamWParams {
  n: number;
  param: Float;
  grad: Float;
  m: Float;
  v: Float;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step number, for bias correction. */
  step: number;
}

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

  // ---- dense linear algebra ----
  gemm(p: GemmParams): void;
  gemmBatched(p: GemmBatchedParams): void;

  // ---- element-wise helpers (n elements, contiguous) ----
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

  // ---- activations (HF ACT2FN) ----
  activationForward(kind: Activation, x: Float, y: Float, n: number): void;
  /** dx += act'(x) ⊙ dy */
  activationBackward(kind: Activation, x: Float, dy: Float, dx: Float, n: number): void;

  // ---- normalisation ----
  layerNormForward(p: LayerNormParams): void;
  layerNormBackward(p: LayerNormBackwardParams): void;
  rmsNormForward(p: RmsNormParams): void;
  rmsNormBackward(p: RmsNormBackwardParams): void;

  // ---- softmax ----
  softmaxRows(p: SoftmaxParams): void;
  softmaxRowsBackward(p: SoftmaxBackwardParams): void;

  // ---- LSH: hashing and sorting ----
  lshHash(p: LshHashParams): void;
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

  // ---- attention ----
  chunkAttentionForward(p: ChunkAttentionForwardParams): void;
  chunkAttentionBackward(p: ChunkAttentionBackwardParams): void;
  /** Folds one hash round into the online softmax over rounds (see LshRoundCombineParams). */
  lshRoundCombine(p: LshRoundCombineParams): void;

  // ---- optimiser ----
  adamw(p: AdamWParams): void;
}
