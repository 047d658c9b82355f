/**
 * Backward of LSH self-attention (lsh.ts / lsh-head.ts) from its cache. Buckets, sort and masks are
 * the forward's constants (HF detaches the hashing); the gradient flows through the round weights (via
 * the per-round lse), the softmax, the key normalisation and the gathers. Head by head, each head
 * block by block of sorted chunks (lsh-head-backward.ts, the one per-head backward).
 */
import type { Backend, Float } from '../backend/backend.js';
import { backendArg, dimsArg, objectArg } from '../util/args.js';
import { checkLength } from './common.js';
import { headDropout, lshSpecArg, type LshAttentionCache } from './lsh.js';
import { lshHeadBackward } from './lsh-head-backward.js';
import { lshProjectionsBackward, type LshSelfAttentionCache, type LshSelfAttentionWeights } from './lsh-module.js';

export { type HeadRows, type LshHeadBackwardArgs, lshHeadBackward } from './lsh-head-backward.js';

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
        blockRows: cache.blockRows,
      });
    }
  }
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
