/**
 * Backward of LSH self-attention (lsh.ts / lsh-head.ts) from its cache. Buckets, sort and masks are
 * the forward's constants (HF detaches the hashing); the gradient flows through the round weights (via
 * the per-round lse), the softmax, the key normalisation and the gathers. Head by head; each head's
 * windows are recomputed over all its sorted slots at once (one chunk-attention backward per head).
 */
import type { Backend, Float } from '../backend/backend.js';
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
      be.scope(() => {
        const bh = b * H + h;
        const rows = sortedRows(be, cache, b, h);
        const qkOff = b * L * all + h * d;
        // forward: w_{t,·} = softmax_n(z_{t,·}) (Eq. 12; recomputed from the kept z at buffer precision)
        const weights = be.floats(RL); // [L, R]
        const zAll = be.floats(L);
        be.softmaxRows({ rows: L, cols: R, s: cache.lse, sOffset: bh * RL, lds: R, p: weights, ldp: R, lse: zAll });
        // forward: o_t = Σ_n w_{t,n} o⁽ⁿ⁾_t
        //   ⇒ dw_{t,n} = dOut_t · o⁽ⁿ⁾_t    and    do⁽ⁿ⁾_t = w_{t,n} · dOut_t
        const dw = be.floats(RL); // [L, R]
        be.gemmBatched({
          batch: L,
          m: 1,
          n: R,
          k: d,
          a: dOut,
          aOffset: qkOff,
          lda: d,
          strideA: all,
          b: cache.outPerRound,
          bOffset: bh * RL * d,
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
          b: dOut,
          bOffset: qkOff,
          ldb: d,
          strideB: all,
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
        be.gatherRows({ rows: RL, cols: 1, index: rows.tMajor, src: cache.lse, srcOffset: bh * RL, ldSrc: 1, dst: lseS, ldDst: 1 });
        // recompute the sorted q, k̂, v (same order as the forward; nothing is re-hashed)
        const qs = be.floats(RL * d);
        const ks = be.floats(RL * d);
        const vs = be.floats(RL * d);
        const rstd = be.floats(RL);
        be.gatherRows({ rows: RL, cols: d, index: rows.pos, src: cache.qk, srcOffset: qkOff, ldSrc: all, dst: qs, ldDst: d });
        be.gatherRows({ rows: RL, cols: d, index: rows.pos, src: cache.v, srcOffset: qkOff, ldSrc: all, dst: vs, ldDst: d });
        be.rmsNormForward({ rows: RL, cols: d, x: qs, y: ks, rstd, eps: KEY_NORM_EPS, scale: 1 / Math.sqrt(d) });
        // forward: o = softmax(masked q·k̂ᵀ)·v per window, z = logsumexp  ⇒  dq, dk̂, dv in sorted order
        const dqs = be.floats(RL * d);
        const dks = be.floats(RL * d);
        const dvs = be.floats(RL * d);
        be.chunkAttentionBackward({
          n: RL,
          d,
          chunkLength: cache.chunk.chunkLength,
          numChunksBefore: cache.chunk.numChunksBefore,
          numChunksAfter: cache.chunk.numChunksAfter,
          q: qs,
          k: ks,
          v: vs,
          pos: rows.pos,
          keyValid: rows.keyValid,
          causal: cache.causal,
          maskValue: MASK_VALUE,
          selfMaskValue: SELF_MASK_VALUE,
          rowBase: 0, // the rows are the sorted slots themselves (the forward's blocks gave their offset)
          paper:
            cache.paperExact && cache.buckets ? { seqLen: L, numHashes: R, buckets: cache.buckets.subarray(bh * RL, (bh + 1) * RL) } : null,
          dropout: headDropout(cache.dropout, bh),
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
        be.scatterAddRows({ rows: RL, cols: d, index: rows.pos, src: dqs, ldSrc: d, dst: dqk, dstOffset: qkOff, ldDst: all });
        be.scatterAddRows({ rows: RL, cols: d, index: rows.pos, src: dvs, ldSrc: d, dst: dv, dstOffset: qkOff, ldDst: all });
      });
    }
  }
}

interface SortedRows {
  /** [R·L] sequence position p_k of sorted slot k */
  pos: Int32Array;
  /** [R·L] row of slot k in the (t, n) layout: t·R + n */
  tMajor: Int32Array;
  /** [R·L] attention_mask of the key at slot k, or null */
  keyValid: Int32Array | null;
}

/** Index vectors of one (b, h) in sorted order, from the cached permutation (temporaries of the caller's scope). */
function sortedRows(be: Backend, cache: LshAttentionCache, b: number, h: number): SortedRows {
  const { seqLen: L, numHashes: R } = cache;
  const RL = R * L;
  const base = (b * cache.heads + h) * RL;
  const pos = be.ints(RL);
  const tMajor = be.ints(RL);
  const keyValid = cache.attentionMask ? be.ints(RL) : null;
  for (let k = 0; k < RL; k++) {
    const i = cache.sorted[base + k]!; // i = n·L + t
    const t = i % L;
    pos[k] = t;
    tMajor[k] = t * R + (i - t) / L;
    if (keyValid) keyValid[k] = cache.attentionMask![b * L + t]!;
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
