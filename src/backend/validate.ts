/**
 * Argument checks shared by every backend. Kernels (especially WASM ones) never check anything, so each
 * public backend method calls one of these first. Each check throws `ShapeError` naming the operation,
 * the argument, what was expected and what was given.
 */
import { ShapeError } from '../errors.js';
import type {
  AdamWParams,
  ChunkAttentionBackwardParams,
  ChunkAttentionForwardParams,
  ChunkAttentionParams,
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

type AnyArray = Float | Int32Array;

/** Throws unless `v` is an integer in [min, max]. */
export function checkInt(op: string, name: string, v: number, min = 0, max = 2 ** 31 - 1): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ShapeError(`${op}: ${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
}

/** Throws unless `v` is a finite number. */
export function checkFinite(op: string, name: string, v: number): void {
  if (!Number.isFinite(v)) throw new ShapeError(`${op}: ${name} must be a finite number, got ${v}`);
}

/**
 * Checks that a row-major block [rows, cols] with row stride `ld` starting at `offset` fits in `arr`.
 * Empty blocks (rows or cols = 0) always fit.
 */
export function checkBlock(
  op: string,
  name: string,
  arr: AnyArray | null | undefined,
  offset: number,
  rows: number,
  cols: number,
  ld: number,
): void {
  if (arr === null || arr === undefined || typeof (arr as AnyArray).length !== 'number') {
    throw new ShapeError(`${op}: ${name} must be a typed array, got ${String(arr)}`);
  }
  checkInt(op, `${name} offset`, offset);
  checkInt(op, `${name} rows`, rows);
  checkInt(op, `${name} cols`, cols);
  checkInt(op, `${name} leading dimension`, ld);
  if (rows === 0 || cols === 0) return;
  if (rows > 1 && ld < cols) {
    throw new ShapeError(`${op}: ${name} leading dimension ${ld} is smaller than its ${cols} columns`);
  }
  const last = offset + (rows - 1) * ld + cols;
  if (last > arr.length) {
    throw new ShapeError(`${op}: ${name} [${rows}, ${cols}] (ld ${ld}, offset ${offset}) needs ${last} elements, buffer has ${arr.length}`);
  }
}

/** Checks a contiguous vector of `n` elements. */
export function checkVec(op: string, name: string, arr: AnyArray | null | undefined, n: number, offset = 0): void {
  checkBlock(op, name, arr, offset, 1, n, n);
}

/** Throws if two blocks of the same buffer overlap (an output must not alias an input unless documented). */
export function checkNoOverlap(
  op: string,
  nameA: string,
  a: AnyArray,
  aStart: number,
  aEnd: number,
  nameB: string,
  b: AnyArray,
  bStart: number,
  bEnd: number,
): void {
  if (a.buffer !== b.buffer || aEnd <= aStart || bEnd <= bStart) return;
  const a0 = a.byteOffset + aStart * a.BYTES_PER_ELEMENT;
  const a1 = a.byteOffset + aEnd * a.BYTES_PER_ELEMENT;
  const b0 = b.byteOffset + bStart * b.BYTES_PER_ELEMENT;
  const b1 = b.byteOffset + bEnd * b.BYTES_PER_ELEMENT;
  if (a0 < b1 && b0 < a1) throw new ShapeError(`${op}: output ${nameA} overlaps input ${nameB}`);
}

function blockEnd(offset: number, rows: number, cols: number, ld: number): number {
  return rows === 0 || cols === 0 ? offset : offset + (rows - 1) * ld + cols;
}

export function validateGemm(p: GemmParams, op = 'gemm'): void {
  checkInt(op, 'm', p.m);
  checkInt(op, 'n', p.n);
  checkInt(op, 'k', p.k);
  const aOff = p.aOffset ?? 0;
  const bOff = p.bOffset ?? 0;
  const cOff = p.cOffset ?? 0;
  const [ar, ac] = p.transA ? [p.k, p.m] : [p.m, p.k];
  const [br, bc] = p.transB ? [p.n, p.k] : [p.k, p.n];
  checkBlock(op, 'A', p.a, aOff, ar, ac, p.lda);
  checkBlock(op, 'B', p.b, bOff, br, bc, p.ldb);
  checkBlock(op, 'C', p.c, cOff, p.m, p.n, p.ldc);
  const cEnd = blockEnd(cOff, p.m, p.n, p.ldc);
  checkNoOverlap(op, 'C', p.c, cOff, cEnd, 'A', p.a, aOff, blockEnd(aOff, ar, ac, p.lda));
  checkNoOverlap(op, 'C', p.c, cOff, cEnd, 'B', p.b, bOff, blockEnd(bOff, br, bc, p.ldb));
}

export function validateGemmBatched(p: GemmBatchedParams): void {
  const op = 'gemmBatched';
  checkInt(op, 'batch', p.batch);
  checkInt(op, 'strideA', p.strideA);
  checkInt(op, 'strideB', p.strideB);
  checkInt(op, 'strideC', p.strideC);
  if (p.batch === 0) return;
  const last = p.batch - 1;
  // first and last matrices in range; the ones between then are too
  validateGemm(p, op);
  validateGemm(
    {
      ...p,
      aOffset: (p.aOffset ?? 0) + last * p.strideA,
      bOffset: (p.bOffset ?? 0) + last * p.strideB,
      cOffset: (p.cOffset ?? 0) + last * p.strideC,
    },
    op,
  );
  if (p.batch > 1 && p.m > 0 && p.n > 0 && p.strideC < blockEnd(0, p.m, p.n, p.ldc)) {
    throw new ShapeError(`${op}: strideC ${p.strideC} makes output matrices overlap`);
  }
}

export function validateElementwise(op: string, n: number, ...arrays: [string, AnyArray][]): void {
  checkInt(op, 'n', n);
  for (const [name, arr] of arrays) checkVec(op, name, arr, n);
}

export function validateRowVector(op: string, x: Float, v: Float, rows: number, cols: number): void {
  checkInt(op, 'rows', rows);
  checkInt(op, 'cols', cols);
  checkBlock(op, 'x', x, 0, rows, cols, cols);
  checkVec(op, 'vector', v, cols);
}

export function validateLayerNorm(p: LayerNormParams): void {
  const op = 'layerNormForward';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  checkFinite(op, 'eps', p.eps);
  checkBlock(op, 'x', p.x, 0, p.rows, p.cols, p.cols);
  checkBlock(op, 'y', p.y, 0, p.rows, p.cols, p.cols);
  checkVec(op, 'gamma', p.gamma, p.cols);
  checkVec(op, 'beta', p.beta, p.cols);
  checkVec(op, 'mean', p.mean, p.rows);
  checkVec(op, 'rstd', p.rstd, p.rows);
}

export function validateLayerNormBackward(p: LayerNormBackwardParams): void {
  const op = 'layerNormBackward';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  for (const [name, arr] of [
    ['dy', p.dy],
    ['x', p.x],
    ['dx', p.dx],
  ] as const) {
    checkBlock(op, name, arr, 0, p.rows, p.cols, p.cols);
  }
  checkVec(op, 'mean', p.mean, p.rows);
  checkVec(op, 'rstd', p.rstd, p.rows);
  checkVec(op, 'gamma', p.gamma, p.cols);
  checkVec(op, 'dgamma', p.dgamma, p.cols);
  checkVec(op, 'dbeta', p.dbeta, p.cols);
}

export function validateRmsNorm(p: RmsNormParams): void {
  const op = 'rmsNormForward';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  checkFinite(op, 'eps', p.eps);
  checkFinite(op, 'scale', p.scale);
  checkBlock(op, 'x', p.x, 0, p.rows, p.cols, p.cols);
  checkBlock(op, 'y', p.y, 0, p.rows, p.cols, p.cols);
  checkVec(op, 'rstd', p.rstd, p.rows);
}

export function validateRmsNormBackward(p: RmsNormBackwardParams): void {
  const op = 'rmsNormBackward';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  checkFinite(op, 'scale', p.scale);
  for (const [name, arr] of [
    ['dy', p.dy],
    ['x', p.x],
    ['dx', p.dx],
  ] as const) {
    checkBlock(op, name, arr, 0, p.rows, p.cols, p.cols);
  }
  checkVec(op, 'rstd', p.rstd, p.rows);
}

export function validateSoftmax(p: SoftmaxParams): void {
  const op = 'softmaxRows';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  checkBlock(op, 's', p.s, p.sOffset ?? 0, p.rows, p.cols, p.lds);
  checkBlock(op, 'p', p.p, p.pOffset ?? 0, p.rows, p.cols, p.ldp);
  checkVec(op, 'lse', p.lse, p.rows, p.lseOffset ?? 0);
  const sameInPlace = p.p === p.s && (p.pOffset ?? 0) === (p.sOffset ?? 0) && p.ldp === p.lds;
  if (!sameInPlace) {
    checkNoOverlap(
      op,
      'p',
      p.p,
      p.pOffset ?? 0,
      blockEnd(p.pOffset ?? 0, p.rows, p.cols, p.ldp),
      's',
      p.s,
      p.sOffset ?? 0,
      blockEnd(p.sOffset ?? 0, p.rows, p.cols, p.lds),
    );
  }
}

export function validateSoftmaxBackward(p: SoftmaxBackwardParams): void {
  const op = 'softmaxRowsBackward';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols, 1);
  checkBlock(op, 'p', p.p, p.pOffset ?? 0, p.rows, p.cols, p.ldp);
  checkBlock(op, 'dp', p.dp, p.dpOffset ?? 0, p.rows, p.cols, p.lddp);
  checkBlock(op, 'ds', p.ds, p.dsOffset ?? 0, p.rows, p.cols, p.ldds);
  if (p.dlse) checkVec(op, 'dlse', p.dlse, p.rows, p.dlseOffset ?? 0);
}

export function validateLshHash(p: LshHashParams): void {
  const op = 'lshHash';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'dHead', p.dHead, 1);
  checkInt(op, 'numHashes', p.numHashes, 1);
  if (!Array.isArray(p.factors) || p.factors.length === 0) {
    throw new ShapeError(`${op}: factors must be a non-empty list of even bucket counts, got ${String(p.factors)}`);
  }
  let prod = 1;
  let half = 0;
  for (const f of p.factors) {
    if (!Number.isInteger(f) || f < 2 || f % 2 !== 0) {
      throw new ShapeError(`${op}: every bucket factor must be an even integer >= 2, got ${f}`);
    }
    prod *= f;
    half += f / 2;
  }
  if (prod > 2 ** 30) throw new ShapeError(`${op}: product of bucket factors ${prod} exceeds 2^30`);
  checkBlock(op, 'x', p.x, p.xOffset ?? 0, p.rows, p.dHead, p.ldx);
  checkVec(op, 'rotations', p.rotations, p.dHead * p.numHashes * half, p.rotationsOffset ?? 0);
  checkVec(op, 'buckets', p.buckets, p.numHashes * p.rows, p.bucketsOffset ?? 0);
}

export function validateArgsort(perm: Int32Array, keys: Int32Array, n: number, numKeys: number): void {
  const op = 'argsortKeys';
  checkInt(op, 'n', n);
  checkInt(op, 'numKeys', numKeys, 1);
  checkVec(op, 'perm', perm, n);
  checkVec(op, 'keys', keys, n);
  for (let i = 0; i < n; i++) {
    const key = keys[i]!;
    if (key < 0 || key >= numKeys) {
      throw new ShapeError(`${op}: keys[${i}] = ${key} is outside [0, ${numKeys})`);
    }
  }
}

export function validatePermutation(op: string, perm: Int32Array, n: number): void {
  checkInt(op, 'n', n);
  checkVec(op, 'perm', perm, n);
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = perm[i]!;
    if (j < 0 || j >= n || seen[j]) {
      throw new ShapeError(`${op}: perm is not a permutation of 0..${n - 1} (entry ${i} = ${j})`);
    }
    seen[j] = 1;
  }
}

/** `targetRows` = number of rows of the side indexed by `index` (src for gather, dst for scatter). */
export function validateRows(op: string, p: RowsParams, targetRows: number, indexedSide: 'src' | 'dst'): void {
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'cols', p.cols);
  const idxOff = p.indexOffset ?? 0;
  checkVec(op, 'index', p.index, p.rows, idxOff);
  for (let i = 0; i < p.rows; i++) {
    const j = p.index[idxOff + i]!;
    if (j < 0 || j >= targetRows) throw new ShapeError(`${op}: index[${i}] = ${j} is outside [0, ${targetRows})`);
  }
  const srcRows = indexedSide === 'src' ? targetRows : p.rows;
  const dstRows = indexedSide === 'dst' ? targetRows : p.rows;
  checkBlock(op, 'src', p.src, p.srcOffset ?? 0, srcRows, p.cols, p.ldSrc);
  checkBlock(op, 'dst', p.dst, p.dstOffset ?? 0, dstRows, p.cols, p.ldDst);
  checkNoOverlap(
    op,
    'dst',
    p.dst,
    p.dstOffset ?? 0,
    blockEnd(p.dstOffset ?? 0, dstRows, p.cols, p.ldDst),
    'src',
    p.src,
    p.srcOffset ?? 0,
    blockEnd(p.srcOffset ?? 0, srcRows, p.cols, p.ldSrc),
  );
}

function validateChunkCommon(op: string, p: ChunkAttentionParams): { begin: number; end: number; numChunks: number } {
  checkInt(op, 'n', p.n);
  checkInt(op, 'd', p.d, 1);
  checkInt(op, 'chunkLength', p.chunkLength, 1);
  checkInt(op, 'numChunksBefore', p.numChunksBefore);
  checkInt(op, 'numChunksAfter', p.numChunksAfter);
  if (p.n % p.chunkLength !== 0) {
    throw new ShapeError(`${op}: n (${p.n}) must be a multiple of chunkLength (${p.chunkLength})`);
  }
  const numChunks = p.n / p.chunkLength;
  const begin = p.chunkBegin ?? 0;
  const end = p.chunkEnd ?? numChunks;
  checkInt(op, 'chunkBegin', begin, 0, numChunks);
  checkInt(op, 'chunkEnd', end, begin, numChunks);
  checkFinite(op, 'maskValue', p.maskValue);
  if (p.selfMaskValue !== null) checkFinite(op, 'selfMaskValue', p.selfMaskValue);
  checkBlock(op, 'q', p.q, p.qOffset ?? 0, p.n, p.d, p.ldq ?? p.d);
  checkBlock(op, 'k', p.k, p.kOffset ?? 0, p.n, p.d, p.ldk ?? p.d);
  checkBlock(op, 'v', p.v, p.vOffset ?? 0, p.n, p.d, p.ldv ?? p.d);
  checkVec(op, 'pos', p.pos, p.n);
  if (p.keyValid) checkVec(op, 'keyValid', p.keyValid, p.n);
  if (p.dropout) {
    const { prob, seed } = p.dropout;
    if (typeof prob !== 'number' || !(prob >= 0 && prob < 1)) {
      throw new ShapeError(`${op}: dropout.prob must be a number in [0, 1), got ${String(prob)}`);
    }
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new ShapeError(`${op}: dropout.seed must be an integer in [0, 2^32), got ${String(seed)}`);
    }
  }
  if (p.paper) {
    const { seqLen, numHashes, buckets } = p.paper;
    checkInt(op, 'paper.seqLen', seqLen, 1);
    checkInt(op, 'paper.numHashes', numHashes, 1);
    if (seqLen * numHashes !== p.n) {
      throw new ShapeError(`${op}: paper mode needs n = seqLen·numHashes (${seqLen}·${numHashes}), got ${p.n}`);
    }
    checkVec(op, 'paper.buckets', buckets, numHashes * seqLen);
    for (let i = 0; i < p.n; i++) {
      const t = p.pos[i]!;
      if (t < 0 || t >= seqLen) throw new ShapeError(`${op}: pos[${i}] = ${t} is outside [0, ${seqLen})`);
    }
  }
  return { begin, end, numChunks };
}

export function validateChunkForward(p: ChunkAttentionForwardParams): void {
  const op = 'chunkAttentionForward';
  validateChunkCommon(op, p);
  checkBlock(op, 'out', p.out, p.outOffset ?? 0, p.n, p.d, p.ldOut ?? p.d);
  checkVec(op, 'lse', p.lse, p.n, p.lseOffset ?? 0);
}

export function validateChunkBackward(p: ChunkAttentionBackwardParams): void {
  const op = 'chunkAttentionBackward';
  validateChunkCommon(op, p);
  checkVec(op, 'lse', p.lse, p.n, p.lseOffset ?? 0);
  checkBlock(op, 'dOut', p.dOut, p.dOutOffset ?? 0, p.n, p.d, p.ldOut ?? p.d);
  if (p.dLse) checkVec(op, 'dLse', p.dLse, p.n, p.dLseOffset ?? 0);
  checkBlock(op, 'dq', p.dq, p.qOffset ?? 0, p.n, p.d, p.ldq ?? p.d);
  checkBlock(op, 'dk', p.dk, p.kOffset ?? 0, p.n, p.d, p.ldk ?? p.d);
  checkBlock(op, 'dv', p.dv, p.vOffset ?? 0, p.n, p.d, p.ldv ?? p.d);
}

/** Per-position generation stamps of validateLshRoundCombine's distinctness check (grown on demand, reused). */
let seenStamp = new Int32Array(0);
let seenGeneration = 0;

export function validateLshRoundCombine(p: LshRoundCombineParams): void {
  const op = 'lshRoundCombine';
  checkInt(op, 'rows', p.rows);
  checkInt(op, 'd', p.d, 1);
  checkInt(op, 'seqLen', p.seqLen);
  if (p.rows > p.seqLen)
    throw new ShapeError(`${op}: rows (${p.rows}) exceeds seqLen (${p.seqLen}); each position occurs at most once per call`);
  const posOff = p.posOffset ?? 0;
  checkVec(op, 'pos', p.pos, p.rows, posOff);
  const ldOut = p.ldRoundOut ?? p.d;
  const ldAcc = p.ldAcc ?? p.d;
  const outOff = p.roundOutOffset ?? 0;
  const lseOff = p.roundLseOffset ?? 0;
  const accOff = p.accOffset ?? 0;
  const statsOff = p.statsOffset ?? 0;
  checkBlock(op, 'roundOut', p.roundOut, outOff, p.rows, p.d, ldOut);
  checkVec(op, 'roundLse', p.roundLse, p.rows, lseOff);
  checkBlock(op, 'acc', p.acc, accOff, p.seqLen, p.d, ldAcc);
  checkVec(op, 'stats', p.stats, 2 * p.seqLen, statsOff);
  const accEnd = blockEnd(accOff, p.seqLen, p.d, ldAcc);
  const statsEnd = statsOff + 2 * p.seqLen;
  checkNoOverlap(op, 'acc', p.acc, accOff, accEnd, 'roundOut', p.roundOut, outOff, blockEnd(outOff, p.rows, p.d, ldOut));
  checkNoOverlap(op, 'acc', p.acc, accOff, accEnd, 'roundLse', p.roundLse, lseOff, lseOff + p.rows);
  checkNoOverlap(op, 'stats', p.stats, statsOff, statsEnd, 'roundOut', p.roundOut, outOff, blockEnd(outOff, p.rows, p.d, ldOut));
  checkNoOverlap(op, 'stats', p.stats, statsOff, statsEnd, 'roundLse', p.roundLse, lseOff, lseOff + p.rows);
  checkNoOverlap(op, 'stats', p.stats, statsOff, statsEnd, 'acc', p.acc, accOff, accEnd);
  // positions in range and distinct (rows of one call may then run in any order, on any thread)
  if (seenStamp.length < p.seqLen || seenGeneration >= 2 ** 31 - 1) {
    seenStamp = new Int32Array(Math.max(p.seqLen, seenStamp.length));
    seenGeneration = 0;
  }
  const gen = ++seenGeneration;
  for (let i = 0; i < p.rows; i++) {
    const t = p.pos[posOff + i]!;
    if (!(t >= 0 && t < p.seqLen)) throw new ShapeError(`${op}: pos[${i}] = ${t} is outside [0, ${p.seqLen})`);
    if (seenStamp[t] === gen) throw new ShapeError(`${op}: position ${t} occurs twice (pos[${i}]); each position may occur once per call`);
    seenStamp[t] = gen;
  }
}

export function validateAdamW(p: AdamWParams): void {
  const op = 'adamw';
  checkInt(op, 'n', p.n);
  checkInt(op, 'step', p.step, 1);
  for (const [name, v] of [
    ['lr', p.lr],
    ['beta1', p.beta1],
    ['beta2', p.beta2],
    ['eps', p.eps],
    ['weightDecay', p.weightDecay],
  ] as const)
    checkFinite(op, name, v);
  for (const [name, arr] of [
    ['param', p.param],
    ['grad', p.grad],
    ['m', p.m],
    ['v', p.v],
  ] as const) {
    checkVec(op, name, arr, p.n);
  }
}
