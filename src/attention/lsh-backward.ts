/**
 * Backward of LSH self-attention (lsh.ts / lsh-head.ts) from its cache. Buckets, sort and masks are
 * the forward's constants (HF detaches the hashing); the gradient flows through the round weights (via
 * the per-round lse), the softmax, the key normalisation and the gathers. Head by head; each head's
 * windows are recomputed over all its sorted slots at once (one chunk-attention backward per head).
 */
import type { AttentionDropout, Backend, Float } from '../backend/backend.js';
import { backendArg, dimsArg, objectArg } from '../util/args.js';
import { checkLength } from './common.js';
import { KEY_NORM_EPS, MASK_VALUE, SELF_MASK_VALUE } from './config.js';
import { headDropout, lshSpecArg, type LshAttentionCache } from './lsh.js';
import { lshProjectionsBackward, type LshSelfAttentionCache, type LshSelfAttentionWeights } from './lsh-module.js';

/**
 * Backward of `lshAttentionForward`: ACCUMULATES into `dqk` and `dv` (`[batch, seqLen, heads·headSize]`).
 * `dOut`: `[batch, seqLen, heads·headSize]`.
 * @throws ConfigError('backend'), ShapeError (a malformed cache, lengths that do not match it).
 */
export function lshAttentionBackward(be: Backend, cache: LshAttentionCache, dOut: Float, dqk: Float, dv: Float): void {
  backendArg('lshAttentionBackward', be);
  lshSpecArg('lshAttentionBackward', cache, 'cache', 'the cache of lshAttentionForward');
  const { batch: B, seqLen: L, heads: H, headSize: d, numHashes: R } = cache;
  const all = H * d;
  const RL = R * L;
  checkLength('lsh attention backward: dOut', dOut, { batch: B, seq: L, heads·head_size: all });
  checkLength('lsh attention backward: dqk', dqk, { batch: B, seq: L, heads·head_size: all });
  checkLength('lsh attention backward: dv', dv, { batch: B, seq: L, heads·head_size: all });
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const off = b * L * all + h * d;
      lshHeadBackward(be, {
        seqLen: L,
        headSize: d,
        numHashes: R,
        chunk: cache.chunk,
        causal: cache.causal,
        dropout: headDropout(cache.dropout, bh),
        sorted: cache.sorted.subarray(bh * RL, (bh + 1) * RL),
        buckets: cache.paperExact && cache.buckets ? cache.buckets.subarray(bh * RL, (bh + 1) * RL) : null,
        mask: cache.attentionMask,
        maskOffset: b * L,
        lse: cache.lse,
        lseOffset: bh * RL,
        outPerRound: cache.outPerRound,
        outPerRoundOffset: bh * RL * d,
        qk: { buf: cache.qk, offset: off, ld: all },
        v: { buf: cache.v, offset: off, ld: all },
        dOut: { buf: dOut, offset: off, ld: all },
        dqk: { buf: dqk, offset: off, ld: all },
        dv: { buf: dv, offset: off, ld: all },
      });
    }
  }
}

/** Rows of a matrix: row t of head data at `buf[offset + t·ld ...]` (headSize values). */
export interface HeadRows {
  readonly buf: Float;
  readonly offset: number;
  readonly ld: number;
}

/** One (batch element, head) of the LSH backward: the forward's constants of that head and where its gradients go. */
export interface LshHeadBackwardArgs {
  readonly seqLen: number;
  readonly headSize: number;
  /** Rounds the forward used (1 on the short path). */
  readonly numHashes: number;
  readonly chunk: LshAttentionCache['chunk'];
  readonly causal: boolean;
  /** The head's attention-probability dropout (`headDropout(layer dropout, b·heads + h)`), null: none. */
  readonly dropout: AttentionDropout | null;
  /** `[numHashes·seqLen]` flat index n·L + t at each sorted slot (the forward's sort). */
  readonly sorted: Int32Array;
  /** `[numHashes, seqLen]` offset buckets for the paper-exact masks, or null (HF semantics). */
  readonly buckets: Int32Array | null;
  /** `[batch, seqLen]` attention mask (row of this batch element at `maskOffset`), or null. */
  readonly mask: Int32Array | null;
  readonly maskOffset: number;
  /** `[seqLen, numHashes]` per-round log-sum-exp at `lseOffset`. */
  readonly lse: Float;
  readonly lseOffset: number;
  /** `[seqLen, numHashes, headSize]` per-round outputs at `outPerRoundOffset`. */
  readonly outPerRound: Float;
  readonly outPerRoundOffset: number;
  /** The head's forward inputs (shared query/key vectors, values), `[seqLen, headSize]` rows. */
  readonly qk: HeadRows;
  readonly v: HeadRows;
  /** Gradient at the head output o `[seqLen, headSize]` rows. */
  readonly dOut: HeadRows;
  /** ACCUMULATED gradients at qk and v `[seqLen, headSize]` rows. */
  readonly dqk: HeadRows;
  readonly dv: HeadRows;
}

/**
 * Backward of one head of `lshHeadForward` (lsh-head.ts) for one batch element, from that head's
 * forward constants (sort, per-round lse and outputs): ACCUMULATES into `dqk` and `dv`. Every LSH
 * backward runs this (lshAttentionBackward per (b, h) of its cache, the attention block's backward and
 * its fused reversible step per head), so all give the same bits. Arguments are trusted (callers check).
 */
export function lshHeadBackward(be: Backend, a: LshHeadBackwardArgs): void {
  const { seqLen: L, headSize: d, numHashes: R } = a;
  const RL = R * L;
  be.scope(() => {
    const rows = sortedRows(be, a);
    // forward: w_{t,·} = softmax_n(z_{t,·}) (Eq. 12; recomputed from the kept z at buffer precision)
    const weights = be.floats(RL); // [L, R]
    const zAll = be.floats(L);
    be.softmaxRows({ rows: L, cols: R, s: a.lse, sOffset: a.lseOffset, lds: R, p: weights, ldp: R, lse: zAll });
    // forward: o_t = Σ_n w_{t,n} o⁽ⁿ⁾_t
    //   ⇒ dw_{t,n} = dOut_t · o⁽ⁿ⁾_t    and    do⁽ⁿ⁾_t = w_{t,n} · dOut_t
    const dw = be.floats(RL); // [L, R]
    be.gemmBatched({
      batch: L,
      m: 1,
      n: R,
      k: d,
      a: a.dOut.buf,
      aOffset: a.dOut.offset,
      lda: d,
      strideA: a.dOut.ld,
      b: a.outPerRound,
      bOffset: a.outPerRoundOffset,
      ldb: d,
      transB: true,
      strideB: R * d,
      c: dw,
      ldc: R,
      strideC: R,
    });
    const dOt = be.floats(RL * d); // [L, R, d]
    be.gemmBatched({
      batch: L,
      m: R,
      n: d,
      k: 1,
      a: weights,
      lda: 1,
      strideA: R,
      b: a.dOut.buf,
      bOffset: a.dOut.offset,
      ldb: d,
      strideB: a.dOut.ld,
      c: dOt,
      ldc: d,
      strideC: R * d,
    });
    // forward: w_{t,·} = softmax_n(z_{t,·})  ⇒  dz_{t,n} = w_{t,n}(dw_{t,n} − Σ_m w_{t,m} dw_{t,m})
    const dz = be.floats(RL); // [L, R]
    be.softmaxRowsBackward({ rows: L, cols: R, p: weights, ldp: R, dp: dw, lddp: R, ds: dz, ldds: R });
    // forward: unsort (scatter by tMajor)  ⇒  backward: sort (gather by tMajor)
    const dOs = be.floats(RL * d); // [R·L, d]
    const dLseS = be.floats(RL); // [R·L]
    const lseS = be.floats(RL); // [R·L] forward lse in sorted order
    be.gatherRows({ rows: RL, cols: d, index: rows.tMajor, src: dOt, ldSrc: d, dst: dOs, ldDst: d });
    be.gatherRows({ rows: RL, cols: 1, index: rows.tMajor, src: dz, ldSrc: 1, dst: dLseS, ldDst: 1 });
    be.gatherRows({ rows: RL, cols: 1, index: rows.tMajor, src: a.lse, srcOffset: a.lseOffset, ldSrc: 1, dst: lseS, ldDst: 1 });
    // recompute the sorted q, k̂, v (same order as the forward; nothing is re-hashed)
    const qs = be.floats(RL * d);
    const ks = be.floats(RL * d);
    const vs = be.floats(RL * d);
    const rstd = be.floats(RL);
    be.gatherRows({ rows: RL, cols: d, index: rows.pos, src: a.qk.buf, srcOffset: a.qk.offset, ldSrc: a.qk.ld, dst: qs, ldDst: d });
    be.gatherRows({ rows: RL, cols: d, index: rows.pos, src: a.v.buf, srcOffset: a.v.offset, ldSrc: a.v.ld, dst: vs, ldDst: d });
    be.rmsNormForward({ rows: RL, cols: d, x: qs, y: ks, rstd, eps: KEY_NORM_EPS, scale: 1 / Math.sqrt(d) });
    // forward: o = softmax(masked q·k̂ᵀ)·v per window, z = logsumexp  ⇒  dq, dk̂, dv in sorted order
    const dqs = be.floats(RL * d);
    const dks = be.floats(RL * d);
    const dvs = be.floats(RL * d);
    be.chunkAttentionBackward({
      n: RL,
      d,
      chunkLength: a.chunk.chunkLength,
      numChunksBefore: a.chunk.numChunksBefore,
      numChunksAfter: a.chunk.numChunksAfter,
      q: qs,
      k: ks,
      v: vs,
      pos: rows.pos,
      keyValid: rows.keyValid,
      causal: a.causal,
      maskValue: MASK_VALUE,
      selfMaskValue: SELF_MASK_VALUE,
      rowBase: 0, // the rows are the sorted slots themselves (the forward's blocks gave their offset)
      paper: a.buckets ? { seqLen: L, numHashes: R, buckets: a.buckets } : null,
      dropout: a.dropout,
      lse: lseS,
      dOut: dOs,
      dLse: dLseS,
      dq: dqs,
      dk: dks,
      dv: dvs,
    });
    // forward: k̂ = q·rsqrt(mean(q²) + 1e-6)/√d  ⇒  dq += ∂k̂/∂q · dk̂ (keys are the shared vectors too)
    be.rmsNormBackward({ rows: RL, cols: d, dy: dks, x: qs, rstd, scale: 1 / Math.sqrt(d), dx: dqs });
    // forward: q_k = qk[p_k], v_k = v[p_k] (gather = sort)  ⇒  scatter-add back (R copies per position add up)
    be.scatterAddRows({ rows: RL, cols: d, index: rows.pos, src: dqs, ldSrc: d, dst: a.dqk.buf, dstOffset: a.dqk.offset, ldDst: a.dqk.ld });
    be.scatterAddRows({ rows: RL, cols: d, index: rows.pos, src: dvs, ldSrc: d, dst: a.dv.buf, dstOffset: a.dv.offset, ldDst: a.dv.ld });
  });
}

interface SortedRows {
  /** [R·L] sequence position p_k of sorted slot k */
  pos: Int32Array;
  /** [R·L] row of slot k in the (t, n) layout: t·R + n */
  tMajor: Int32Array;
  /** [R·L] attention_mask of the key at slot k, or null */
  keyValid: Int32Array | null;
}

/** Index vectors of one (b, h) in sorted order, from the forward's permutation (temporaries of the caller's scope). */
function sortedRows(be: Backend, a: LshHeadBackwardArgs): SortedRows {
  const { seqLen: L, numHashes: R } = a;
  const RL = R * L;
  const pos = be.ints(RL);
  const tMajor = be.ints(RL);
  const keyValid = a.mask ? be.ints(RL) : null;
  for (let k = 0; k < RL; k++) {
    const i = a.sorted[k]!; // i = n·L + t
    const t = i % L;
    pos[k] = t;
    tMajor[k] = t * R + (i - t) / L;
    if (keyValid) keyValid[k] = a.mask![a.maskOffset + t]!;
  }
  return { pos, tMajor, keyValid };
}

/**
 * Backward of `lshSelfAttentionForward`: ACCUMULATES `grads['query_key.weight']`, `grads['value.weight']`
 * and `dx` `[batch, seqLen, hidden]` (null to skip). `dOut`: `[batch, seqLen, heads·headSize]`.
 * @throws ConfigError (`backend`, `weights` or `grads` not given), ShapeError (a malformed cache,
 *   lengths that do not match it).
 */
export function lshSelfAttentionBackward(
  be: Backend,
  weights: LshSelfAttentionWeights,
  grads: LshSelfAttentionWeights,
  cache: LshSelfAttentionCache,
  dOut: Float,
  dx: Float | null,
): void {
  const where = 'lshSelfAttentionBackward';
  backendArg(where, be);
  objectArg(where, 'weights', weights, 'the LSHSelfAttention weights (query_key.weight, value.weight)');
  objectArg(where, 'grads', grads, "gradient buffers under the weights' names");
  dimsArg(where, 'cache', cache, ['hidden'], 'the cache of lshSelfAttentionForward');
  lshSpecArg(where, cache.attention, 'cache.attention', 'the cache of lshSelfAttentionForward');
  const a = cache.attention;
  const rows = a.batch * a.seqLen;
  const all = a.heads * a.headSize;
  if (dx) checkLength('LSHSelfAttention backward: dx', dx, { batch: a.batch, seq: a.seqLen, hidden: cache.hidden });
  be.scope(() => {
    const dqk = be.floats(rows * all); // [B, L, H·d]
    const dv = be.floats(rows * all); // [B, L, H·d]
    lshAttentionBackward(be, a, dOut, dqk, dv);
    lshProjectionsBackward(be, weights, grads, cache.x, rows, cache.hidden, all, dqk, dv, dx);
  });
}
