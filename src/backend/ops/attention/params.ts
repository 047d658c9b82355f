/**
 * The chunked-attention family (kernels: assembly/attention.ts): parameter types and argument checks of
 * the chunked attention forward and backward (LSH and local attention), with the attention-probability
 * dropout (dropout.ts) and the paper-exact multi-round mode.
 */
import { ShapeError } from '../../../errors.js';
import type { Float } from '../../backend.js';
import { checkBlock, checkFinite, checkInt, checkVec } from '../checks.js';

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
 *     `N_ij` = number of rounds in which i and j share a bucket. Row i is slot
 *     `(rowBase + i) mod (numHashes·seqLen)` of the sorted sequence, whose round is `⌊slot / seqLen⌋`.
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
  /** Paper-exact multi-round mode (rows grouped by round in blocks of seqLen in the whole sequence, see `rowBase`). */
  paper?: PaperExactParams | null;
  /**
   * Index of row 0 of this call in the whole attention sequence (LSH: the sorted slot; local: the
   * position), when the call is one streamed block of it (an integer; may be negative for a block whose
   * first neighbour rows wrap around). Query row i is row `rowBase + i`: its dropout mask is keyed by that
   * index, and in paper mode the round of any row comes from it. Default 0 (the call is the whole sequence).
   */
  rowBase?: number;
  /** Process only query chunks [chunkBegin, chunkEnd) (for splitting work); default all. */
  chunkBegin?: number;
  chunkEnd?: number;
  /**
   * Dropout on the attention probabilities (HF `*_attention_probs_dropout_prob`, training only): after the
   * softmax, `p_iw ← keep(seed, i, w) ? p_iw/(1 − prob) : 0` before `P·V`; `lse` stays the undropped one.
   * The mask is a pure function of (seed, row rowBase + i, window slot w) (dropout.ts), so the backward
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
  const rowBase = p.rowBase ?? 0;
  if (!Number.isInteger(rowBase) || Math.abs(rowBase) > 2 ** 31 - 1 - p.n) {
    throw new ShapeError(`${op}: rowBase must be an integer with |rowBase| + n < 2^31, got ${String(p.rowBase)}`);
  }
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
