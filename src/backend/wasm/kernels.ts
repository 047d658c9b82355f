/**
 * The exports of the AssemblyScript kernel module (assembly/index.ts), as TypeScript sees them.
 *
 * Every pointer is a byte address in the module's one linear memory (a JS number; addresses at or
 * above 2^31 are passed as is and wrap to the same u32 bits). Sizes and strides are element counts.
 * Booleans are passed as 0 / 1, and a null optional buffer as address 0 (the arena never hands out
 * address 0: it starts above the module's static data). Kernels never allocate, check or throw.
 */
export interface KernelExports {
  readonly memory?: WebAssembly.Memory;
  /** First byte after the static data (constant tables). */
  heapBase(): number;

  gemmScratchBytes(m: number, n: number, k: number, transB: number): number;
  gemm(
    m: number,
    n: number,
    k: number,
    a: number,
    lda: number,
    transA: number,
    b: number,
    ldb: number,
    transB: number,
    c: number,
    ldc: number,
    accumulate: number,
    scratch: number,
  ): void;
  /** Rows [rowBegin, rowEnd) of `gemm` (path chosen from the whole m, n, k: the bits of one call). */
  gemmRows(
    m: number,
    n: number,
    k: number,
    a: number,
    lda: number,
    transA: number,
    b: number,
    ldb: number,
    transB: number,
    c: number,
    ldc: number,
    accumulate: number,
    scratch: number,
    rowBegin: number,
    rowEnd: number,
  ): void;
  gemmBatched(
    batch: number,
    strideA: number,
    strideB: number,
    strideC: number,
    m: number,
    n: number,
    k: number,
    a: number,
    lda: number,
    transA: number,
    b: number,
    ldb: number,
    transB: number,
    c: number,
    ldc: number,
    accumulate: number,
    scratch: number,
  ): void;

  lshHashScratchBytes(rows: number, dHead: number, numHashes: number, half: number): number;
  lshHash(
    x: number,
    ldx: number,
    rows: number,
    dHead: number,
    rot: number,
    numHashes: number,
    factors: number,
    numFactors: number,
    half: number,
    buckets: number,
    ldBuckets: number,
    scratch: number,
  ): void;

  argsortKeys(perm: number, keys: number, n: number, numKeys: number, counts: number): void;
  /** Split counting sort (assembly/sort.ts): per-part counts, offsets in a fixed order, per-part placement. */
  argsortCount(keys: number, n: number, numKeys: number, counts: number): void;
  argsortOffsets(counts: number, parts: number, numKeys: number): void;
  argsortPlace(perm: number, keys: number, n: number, indexBase: number, offsets: number): void;
  invertPermutation(inv: number, perm: number, n: number): void;
  gatherRows(rows: number, cols: number, index: number, src: number, ldSrc: number, dst: number, ldDst: number): void;
  scatterRows(rows: number, cols: number, index: number, src: number, ldSrc: number, dst: number, ldDst: number): void;
  scatterAddRows(rows: number, cols: number, index: number, src: number, ldSrc: number, dst: number, ldDst: number): void;

  softmaxRows(rows: number, cols: number, s: number, lds: number, p: number, ldp: number, lse: number): void;
  softmaxRowsBackward(
    rows: number,
    cols: number,
    p: number,
    ldp: number,
    dp: number,
    lddp: number,
    dlse: number,
    ds: number,
    ldds: number,
  ): void;

  layerNormForward(
    rows: number,
    cols: number,
    x: number,
    gamma: number,
    beta: number,
    eps: number,
    y: number,
    mean: number,
    rstd: number,
  ): void;
  layerNormBackward(
    rows: number,
    cols: number,
    dy: number,
    x: number,
    mean: number,
    rstd: number,
    gamma: number,
    dx: number,
    dgamma: number,
    dbeta: number,
  ): void;
  /** layerNormBackward's dx alone (any row range) and its dgamma/dbeta for columns [colBegin, colEnd). */
  layerNormBackwardDx(rows: number, cols: number, dy: number, x: number, mean: number, rstd: number, gamma: number, dx: number): void;
  layerNormBackwardParams(
    rows: number,
    cols: number,
    colBegin: number,
    colEnd: number,
    dy: number,
    x: number,
    mean: number,
    rstd: number,
    dgamma: number,
    dbeta: number,
  ): void;
  rmsNormForward(rows: number, cols: number, x: number, y: number, rstd: number, eps: number, scale: number): void;
  rmsNormBackward(rows: number, cols: number, dy: number, x: number, rstd: number, scale: number, dx: number): void;

  /** kind: 0 relu, 1 gelu, 2 gelu_new */
  activationForward(kind: number, x: number, y: number, n: number): void;
  activationBackward(kind: number, x: number, dy: number, dx: number, n: number): void;

  add(out: number, a: number, b: number, n: number): void;
  axpy(y: number, alpha: number, x: number, n: number): void;
  scale(x: number, alpha: number, n: number): void;
  addRowVector(x: number, v: number, rows: number, cols: number): void;
  sumRows(out: number, x: number, rows: number, cols: number, acc: number): void;
  /** sumRows over x with row stride ldx (a column range of a wider matrix). */
  sumRowsStrided(out: number, x: number, rows: number, cols: number, ldx: number, acc: number): void;
  sumSquares(x: number, n: number): number;

  chunkAttentionScratchBytes(d: number, chunkLength: number, before: number, after: number, backward: number): number;
  /** dropThreshold 0: no attention dropout; else floor(prob·2^32) (u32), dropScale 1/(1 − prob) (attention-dropout.ts). */
  chunkAttentionForward(
    n: number,
    d: number,
    chunkLength: number,
    before: number,
    after: number,
    q: number,
    ldq: number,
    k: number,
    ldk: number,
    v: number,
    ldv: number,
    pos: number,
    keyValid: number,
    causal: number,
    maskValue: number,
    hasSelf: number,
    selfValue: number,
    paper: number,
    seqLen: number,
    numHashes: number,
    chunkBegin: number,
    chunkEnd: number,
    out: number,
    ldOut: number,
    lse: number,
    scratch: number,
    dropSeed: number,
    dropThreshold: number,
    dropScale: number,
  ): void;
  chunkAttentionBackward(
    n: number,
    d: number,
    chunkLength: number,
    before: number,
    after: number,
    q: number,
    ldq: number,
    k: number,
    ldk: number,
    v: number,
    ldv: number,
    pos: number,
    keyValid: number,
    causal: number,
    maskValue: number,
    hasSelf: number,
    selfValue: number,
    paper: number,
    seqLen: number,
    numHashes: number,
    chunkBegin: number,
    chunkEnd: number,
    lse: number,
    dOut: number,
    ldOut: number,
    dLse: number,
    dq: number,
    dk: number,
    dv: number,
    scratch: number,
    dropSeed: number,
    dropThreshold: number,
    dropScale: number,
    /** 1: the call owns chunks [chunkBegin, chunkEnd) (race-free, bit-identical thread splits); 0: query chunks only. */
    partition: number,
  ): void;

  /** Online softmax over hash rounds (assembly/rounds.ts): rows of one round folded into acc/stats by position. */
  lshRoundCombine(
    rows: number,
    d: number,
    first: number,
    last: number,
    pos: number,
    out: number,
    ldOut: number,
    lse: number,
    acc: number,
    ldAcc: number,
    stats: number,
  ): void;

  adamw(
    n: number,
    param: number,
    grad: number,
    m: number,
    v: number,
    beta1: number,
    beta2: number,
    eps: number,
    decay: number,
    stepSize: number,
    invSqrtBc2: number,
  ): void;
}

/** Names every kernel module must export (checked at instantiation). */
export const KERNEL_EXPORT_NAMES: readonly (keyof KernelExports)[] = [
  'heapBase',
  'gemmScratchBytes',
  'gemm',
  'gemmRows',
  'gemmBatched',
  'lshHashScratchBytes',
  'lshHash',
  'argsortKeys',
  'argsortCount',
  'argsortOffsets',
  'argsortPlace',
  'invertPermutation',
  'gatherRows',
  'scatterRows',
  'scatterAddRows',
  'softmaxRows',
  'softmaxRowsBackward',
  'layerNormForward',
  'layerNormBackward',
  'layerNormBackwardDx',
  'layerNormBackwardParams',
  'rmsNormForward',
  'rmsNormBackward',
  'activationForward',
  'activationBackward',
  'add',
  'axpy',
  'scale',
  'addRowVector',
  'sumRows',
  'sumRowsStrided',
  'sumSquares',
  'chunkAttentionScratchBytes',
  'chunkAttentionForward',
  'chunkAttentionBackward',
  'lshRoundCombine',
  'adamw',
];

/** Name of a kernel entry point (a function export of the module). */
export type KernelName = Exclude<keyof KernelExports, 'memory'>;
