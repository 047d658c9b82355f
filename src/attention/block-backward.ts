/**
 * Backward of the attention block (block.ts, HF `ReformerAttention`) from its cache:
 *
 *   forward:  normed = LayerNorm(x);  a = SelfAttn(normed);  out = a·W_oᵀ
 *
 * LSH: head by head (block-lsh-backward.ts: W_o's column block, the head's backward, its projections'
 * row blocks, d(normed) accumulated over the heads), the same calls as the fused reversible step
 * (block-reverse.ts), so a store-mode and a reversible backward give the same bits. Local: head by head
 * likewise (block-local-backward.ts, recomputing each head from the cache's LayerNorm output). The
 * LayerNorm backward runs once at the end.
 */
import type { Backend, Float } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { backendArg, dimsArg, objectArg } from '../util/args.js';
import type { AttentionBlockCache, AttentionBlockWeights, AttentionKind } from './block.js';
import { checkLength } from './common.js';
import { type LocalBlockMatrices, localBlockHeadBackward } from './block-local-backward.js';
import { lshBlockHeadBackward } from './block-lsh-backward.js';

function weight(weights: object, name: string, kind: AttentionKind): Float {
  const w = (weights as Record<string, Float | undefined>)[name];
  if (!w) throw new ShapeError(`attention block backward (${kind}): missing "${name}" (the weights do not match the cache's kind)`);
  return w;
}

/**
 * Backward of `attentionBlockForward` / `attentionBlockAddForward(keep 'cache')`. ACCUMULATES into every
 * gradient of `grads` (same names as the weights) and into `dx` `[batch, seqLen, hidden]` (null to skip).
 * `dOut`: `[batch, seqLen, hidden]`, the gradient at F(x).
 * @throws ConfigError (`backend`, `weights` or `grads` not given), ShapeError (a cache that is not one of
 *   the forward's, lengths that do not match it, weights of the other kind).
 */
export function attentionBlockBackward(
  be: Backend,
  weights: AttentionBlockWeights,
  grads: AttentionBlockWeights,
  cache: AttentionBlockCache,
  dOut: Float,
  dx: Float | null,
): void {
  const where = 'attentionBlockBackward';
  backendArg(where, be);
  objectArg(
    where,
    'weights',
    weights,
    'the block weights under their HF names (layer_norm.weight, layer_norm.bias, self_attention.*.weight, output.dense.weight)',
  );
  objectArg(where, 'grads', grads, "gradient buffers under the weights' names");
  dimsArg(
    where,
    'cache',
    cache,
    ['batch', 'seqLen', 'hidden'],
    "the cache of attentionBlockForward (or attentionBlockAddForward with keep 'cache')",
  );
  const { kind, batch: B, seqLen: L, hidden: D } = cache;
  const rows = B * L;
  const all = cache.attnOut.length / rows;
  checkLength('ReformerAttention backward: dOut', dOut, { batch: B, seq: L, hidden: D });
  if (dx) checkLength('ReformerAttention backward: dx', dx, { batch: B, seq: L, hidden: D });
  const w = (n: string): Float => weight(weights, n, kind);
  const g = (n: string): Float => weight(grads, n, kind);
  checkLength('ReformerAttention backward: grads output.dense.weight', g('output.dense.weight'), { hidden: D, heads·head_size: all });
  checkLength('ReformerAttention backward: grads layer_norm.weight', g('layer_norm.weight'), { hidden: D });
  checkLength('ReformerAttention backward: grads layer_norm.bias', g('layer_norm.bias'), { hidden: D });
  be.scope(() => {
    const dNormed = be.floats(rows * D); // [B, L, D]
    if (cache.self.kind === 'lsh') {
      // head by head (block-lsh-backward.ts), as the fused reversible step runs it
      const a = cache.self.attention;
      const { heads: H, headSize: d, numHashes: R } = a;
      const RL = R * L;
      const geo = {
        batch: B,
        seqLen: L,
        heads: H,
        headSize: d,
        hidden: D,
        numHashes: R,
        chunk: a.chunk,
        causal: a.causal,
        dropout: a.dropout,
        mask: a.attentionMask,
        blockRows: a.blockRows,
      };
      const mw = { wo: w('output.dense.weight'), wqk: w('self_attention.query_key.weight'), wv: w('self_attention.value.weight') };
      const mg = { wo: g('output.dense.weight'), wqk: g('self_attention.query_key.weight'), wv: g('self_attention.value.weight') };
      checkLength('ReformerAttention backward: grads query_key.weight', mg.wqk, { heads·head_size: all, hidden: D });
      checkLength('ReformerAttention backward: grads value.weight', mg.wv, { heads·head_size: all, hidden: D });
      for (let h = 0; h < H; h++) {
        lshBlockHeadBackward(
          be,
          geo,
          mw,
          mg,
          h,
          {
            attn: { buf: cache.attnOut, offset: h * d, ld: all },
            qk: { buf: a.qk, offset: h * d, ld: all },
            v: { buf: a.v, offset: h * d, ld: all },
            constants: (b) => {
              const bh = b * H + h;
              return {
                sorted: a.sorted.subarray(bh * RL, (bh + 1) * RL),
                lse: a.lse,
                lseOffset: bh * RL,
                outPerRound: a.outPerRound,
                outPerRoundOffset: bh * RL * d,
                buckets: a.paperExact && a.buckets ? a.buckets.subarray(bh * RL, (bh + 1) * RL) : null,
              };
            },
          },
          cache.normed,
          dOut,
          dNormed,
        );
      }
    } else {
      // head by head (block-local-backward.ts), as the fused reversible step runs it
      const a = cache.self.attention;
      const geo = {
        batch: B,
        seqLen: L,
        heads: a.heads,
        headSize: a.headSize,
        hidden: D,
        chunk: a.chunk,
        causal: a.causal,
        dropout: a.dropout,
        mask: a.attentionMask,
      };
      const names = ['output.dense.weight', 'self_attention.query.weight', 'self_attention.key.weight', 'self_attention.value.weight'];
      const [mw, mg] = [w, g].map((get) => {
        const [wo, wq, wk, wv] = names.map(get) as [Float, Float, Float, Float];
        return { wo, wq, wk, wv };
      }) as [LocalBlockMatrices, LocalBlockMatrices];
      for (const name of names.slice(1))
        checkLength(`ReformerAttention backward: grads ${name}`, g(name), { heads·head_size: all, hidden: D });
      for (let h = 0; h < a.heads; h++) localBlockHeadBackward(be, geo, mw, mg, h, cache.normed, dOut, dNormed);
    }
    // forward: normed = LayerNorm(x)·γ + β
    be.layerNormBackward({
      rows,
      cols: D,
      dy: dNormed,
      x: cache.x,
      mean: cache.mean,
      rstd: cache.rstd,
      gamma: w('layer_norm.weight'),
      dx: dx ?? be.floats(rows * D),
      dgamma: g('layer_norm.weight'),
      dbeta: g('layer_norm.bias'),
    });
  });
}
