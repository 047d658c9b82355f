/**
 * Backward of local self-attention (local.ts) from its cache: one chunk-attention backward per head over
 * the whole sequence (the forward's blocks gave every row its position, `rowBase` 0 here), then the
 * projections.
 */
import type { Backend, Float } from '../backend/backend.js';
import { linearBackward } from '../nn/linear.js';
import { backendArg, dimsArg, objectArg } from '../util/args.js';
import { checkLength, iota } from './common.js';
import { MASK_VALUE } from './config.js';
import { localSpecArg, type LocalAttentionCache, type LocalSelfAttentionCache, type LocalSelfAttentionWeights } from './local.js';
import { headDropout } from './lsh.js';

/**
 * Backward of the local attention from its cache (`localAttentionForward` or the attention block):
 * ACCUMULATES `dq`, `dk` (for the unscaled k) and `dv` (`[batch, seqLen, heads·headSize]`).
 * `dOut`: `[batch, seqLen, heads·headSize]`.
 * @throws ConfigError('backend'), ShapeError (a malformed cache, lengths that do not match it).
 */
export function localAttentionBackward(be: Backend, cache: LocalAttentionCache, dOut: Float, dq: Float, dk: Float, dv: Float): void {
  backendArg('localAttentionBackward', be);
  localSpecArg('localAttentionBackward', cache, 'cache', 'the cache of localAttentionForward');
  const { batch: B, seqLen: L, heads: H, headSize: d } = cache;
  const all = H * d;
  for (const [name, t] of [
    ['dOut', dOut],
    ['dq', dq],
    ['dk', dk],
    ['dv', dv],
  ] as const) {
    checkLength(`local attention backward: ${name}`, t, { batch: B, seq: L, heads·head_size: all });
  }
  be.scope(() => {
    const pos = iota(be, L); // sequence order: row t is position t
    const dkScaled = be.floats(B * L * all); // gradient w.r.t. k/√d
    for (let b = 0; b < B; b++) {
      const keyValid = cache.attentionMask ? cache.attentionMask.subarray(b * L, (b + 1) * L) : null;
      for (let h = 0; h < H; h++) {
        const off = b * L * all + h * d;
        // forward: out = softmax(masked q·(k/√d)ᵀ)·v per window
        be.chunkAttentionBackward({
          n: L,
          d,
          chunkLength: cache.chunk.chunkLength,
          numChunksBefore: cache.chunk.numChunksBefore,
          numChunksAfter: cache.chunk.numChunksAfter,
          q: cache.q,
          qOffset: off,
          ldq: all,
          k: cache.kScaled,
          kOffset: off,
          ldk: all,
          v: cache.v,
          vOffset: off,
          ldv: all,
          pos,
          keyValid,
          causal: cache.causal,
          maskValue: MASK_VALUE,
          selfMaskValue: null,
          rowBase: 0,
          dropout: headDropout(cache.dropout, b * H + h),
          lse: cache.lse,
          lseOffset: (b * H + h) * L,
          dOut,
          dOutOffset: off,
          ldOut: all,
          dq,
          dk: dkScaled,
          dv,
        });
      }
    }
    // forward: kScaled = k/√d  ⇒  dk += dkScaled/√d
    be.axpy(dk, 1 / Math.sqrt(d), dkScaled, dkScaled.length);
  });
}

/**
 * Backward of `localSelfAttentionForward` (and of the attention block's local self-attention):
 * ACCUMULATES the three weight gradients and `dx` `[batch, seqLen, hidden]` (null to skip).
 * `dOut`: `[batch, seqLen, heads·headSize]`.
 * @throws ConfigError (`backend`, `weights` or `grads` not given), ShapeError (a malformed cache,
 *   lengths that do not match it).
 */
export function localSelfAttentionBackward(
  be: Backend,
  weights: LocalSelfAttentionWeights,
  grads: LocalSelfAttentionWeights,
  cache: LocalSelfAttentionCache,
  dOut: Float,
  dx: Float | null,
): void {
  const where = 'localSelfAttentionBackward';
  backendArg(where, be);
  objectArg(where, 'weights', weights, 'the LocalSelfAttention weights (query.weight, key.weight, value.weight)');
  objectArg(where, 'grads', grads, "gradient buffers under the weights' names");
  dimsArg(where, 'cache', cache, ['hidden'], 'the cache of localSelfAttentionForward');
  localSpecArg(where, cache.attention, 'cache.attention', 'the cache of localSelfAttentionForward');
  const a = cache.attention;
  const rows = a.batch * a.seqLen;
  const all = a.heads * a.headSize;
  const D = cache.hidden;
  for (const name of ['query.weight', 'key.weight', 'value.weight'] as const) {
    checkLength(`LocalSelfAttention backward: grads ${name}`, grads[name], { heads·head_size: all, hidden: D });
  }
  if (dx) checkLength('LocalSelfAttention backward: dx', dx, { batch: a.batch, seq: a.seqLen, hidden: D });
  be.scope(() => {
    const dq = be.floats(rows * all);
    const dk = be.floats(rows * all);
    const dv = be.floats(rows * all);
    localAttentionBackward(be, a, dOut, dq, dk, dv);
    // forward: q = x·W_qᵀ, k = x·W_kᵀ, v = x·W_vᵀ
    linearBackward(be, cache.x, rows, D, weights['query.weight'], all, dq, dx, grads['query.weight'], null);
    linearBackward(be, cache.x, rows, D, weights['key.weight'], all, dk, dx, grads['key.weight'], null);
    linearBackward(be, cache.x, rows, D, weights['value.weight'], all, dv, dx, grads['value.weight'], null);
  });
}
