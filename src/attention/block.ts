/**
 * The attention block of a Reformer layer, HF `ReformerAttention`:
 *
 *   F(x) = W_o · SelfAttn(LayerNorm(x))                     (Sec. 3: "layer norm moved inside the residual blocks")
 *
 * with SelfAttn = LSH (`lsh.ts`) or local (`local.ts`) attention, heads merged to `[.., heads·headSize]`
 * and `W_o` = `output.dense.weight` `[hidden, heads·headSize]` without bias. The residual
 * `Y1 = X1 + F(X2)` (Eq. 9) belongs to the reversible layer, not here.
 *
 * Reversible recompute (HF `ReformerLayer.backward_pass`): run `attentionBlockForward` again on the
 * reconstructed input with `{ buckets: firstCache.buckets }` (and the same `dropout` seed); no rotation is
 * drawn and nothing is re-hashed, so the recompute equals the first forward; then call `attentionBlockBackward`.
 */
import type { AttentionDropout, Backend, Float } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { checkBatchSeq, checkLength, linearBackward, linearForward } from './common.js';
import { ATTENTION_DEFAULTS, headLayout, type AttentionConfig, type NumBuckets } from './config.js';
import { lshSelfAttentionBackward, lshSelfAttentionForward, type LshAttentionOptions, type LshSelfAttentionCache } from './lsh.js';
import { localSelfAttentionBackward, localSelfAttentionForward, type LocalSelfAttentionCache } from './local.js';

/** HF `attn_layers` entry. */
export type AttentionKind = 'lsh' | 'local';

/**
 * Parameters of one attention block, keyed by their HF `state_dict` names relative to
 * `…layers.<i>.attention.` (so `reformer.encoder.layers.3.attention.output.dense.weight` is
 * `'output.dense.weight'`). Shapes: layer norm `[hidden]`; projections `[heads·headSize, hidden]`;
 * output `[hidden, heads·headSize]`. Gradients use the same type.
 */
export interface LshAttentionBlockWeights {
  readonly 'layer_norm.weight': Float;
  readonly 'layer_norm.bias': Float;
  readonly 'self_attention.query_key.weight': Float;
  readonly 'self_attention.value.weight': Float;
  readonly 'output.dense.weight': Float;
}

export interface LocalAttentionBlockWeights {
  readonly 'layer_norm.weight': Float;
  readonly 'layer_norm.bias': Float;
  readonly 'self_attention.query.weight': Float;
  readonly 'self_attention.key.weight': Float;
  readonly 'self_attention.value.weight': Float;
  readonly 'output.dense.weight': Float;
}

export type AttentionBlockWeights = LshAttentionBlockWeights | LocalAttentionBlockWeights;

/**
 * Parameter names and shapes of an attention block (relative HF names, see `LshAttentionBlockWeights`),
 * in HF `state_dict` order. Lets the model allocate weights and gradients.
 */
export function attentionBlockParamShapes(cfg: AttentionConfig, kind: AttentionKind): Array<[string, number[]]> {
  const { hidden: D, all } = headLayout(cfg);
  const proj: Array<[string, number[]]> =
    kind === 'lsh'
      ? [
          ['self_attention.query_key.weight', [all, D]],
          ['self_attention.value.weight', [all, D]],
        ]
      : [
          ['self_attention.query.weight', [all, D]],
          ['self_attention.key.weight', [all, D]],
          ['self_attention.value.weight', [all, D]],
        ];
  return [['layer_norm.weight', [D]], ['layer_norm.bias', [D]], ...proj, ['output.dense.weight', [D, all]]];
}

/** Options of one block forward. */
export interface AttentionBlockOptions {
  batch: number;
  seqLen: number;
  /** `[batch, seqLen]` HF attention mask (1 = real token, 0 = padding), or null. */
  attentionMask?: ArrayLike<number> | null;
  /** Overrides `config.is_decoder`. */
  isDecoder?: boolean;
  /** LSH only: overrides `num_hashes` for this forward. */
  numHashes?: number;
  /** LSH only: injected rotations `[heads, headSize, numHashes, rotationSize/2]`. */
  rotations?: LshAttentionOptions['rotations'];
  /** LSH only: generator for the rotations (when no injection and no `hash_seed`). */
  rng?: LshAttentionOptions['rng'];
  /** LSH only: buckets of an earlier forward (`cache.buckets`) for a reversible recompute. */
  buckets?: Int32Array | null;
  /** LSH only: paper-exact multi-round attention (App. A); default false (HF). */
  paperExact?: boolean;
  /**
   * Dropout on the attention probabilities with the layer's seed (HF `lsh_attention_probs_dropout_prob` /
   * `local_attention_probs_dropout_prob`, training only). Pass the same value to a reversible recompute:
   * the mask is a function of the seed, so the recompute and the backward replay it. Null: none.
   */
  dropout?: AttentionDropout | null;
}

export interface AttentionBlockCache {
  readonly kind: AttentionKind;
  readonly batch: number;
  readonly seqLen: number;
  readonly hidden: number;
  /** Reference to the input `[batch, seqLen, hidden]`; must stay unchanged until the backward. */
  readonly x: Float;
  /** LayerNorm output `[batch, seqLen, hidden]` (HF `cap:layer_norm_out`). */
  readonly normed: Float;
  readonly mean: Float;
  readonly rstd: Float;
  /** Self-attention output before `output.dense` `[batch, seqLen, heads·headSize]` (HF `cap:self_attention_out`). */
  readonly attnOut: Float;
  readonly self: LshSelfAttentionCache | LocalSelfAttentionCache;
  /** LSH: the offset buckets `[batch, heads, numHashes, seqLen]` to replay; null for local attention or the short path. */
  readonly buckets: Int32Array | null;
  /** LSH: the resolved `num_buckets` (store it in the config when it was automatic); null otherwise. */
  readonly numBuckets: NumBuckets | null;
}

function requireWeight(weights: object, name: string, kind: AttentionKind): Float {
  const w = (weights as Record<string, Float | undefined>)[name];
  if (!w) {
    throw new ShapeError(
      `attention block (${kind}): missing weight "${name}"; an ${kind} block needs ` +
        (kind === 'lsh' ? 'self_attention.query_key.weight and self_attention.value.weight' : 'self_attention.query/key/value.weight'),
    );
  }
  return w;
}

/**
 * HF `ReformerAttention.forward`: `out = LayerNorm(x)` → self-attention → `·W_oᵀ`.
 * @param x `[batch, seqLen, hidden_size]`
 * @returns out `[batch, seqLen, hidden_size]` and the cache.
 * @throws ShapeError (shapes, sequence length not a multiple of the chunk length, missing weights),
 *   ConfigError (config fields), UsageError (no source of LSH rotations).
 */
export function attentionBlockForward(
  be: Backend,
  cfg: AttentionConfig,
  kind: AttentionKind,
  weights: AttentionBlockWeights,
  x: Float,
  options: AttentionBlockOptions,
): { out: Float; cache: AttentionBlockCache } {
  if (kind !== 'lsh' && kind !== 'local') {
    throw new ShapeError(`attention block: kind must be "lsh" or "local" (HF attn_layers), got ${String(kind)}`);
  }
  const { hidden: D, all } = headLayout(cfg);
  const { batch: B, seqLen: L } = options;
  checkBatchSeq('ReformerAttention', B, L);
  const rows = B * L;
  checkLength('ReformerAttention: hidden_states', x, { batch: B, seq: L, hidden: D });
  const gamma = requireWeight(weights, 'layer_norm.weight', kind);
  const beta = requireWeight(weights, 'layer_norm.bias', kind);
  const wo = requireWeight(weights, 'output.dense.weight', kind);
  checkLength('ReformerAttention: layer_norm.weight', gamma, { hidden: D });
  checkLength('ReformerAttention: layer_norm.bias', beta, { hidden: D });
  checkLength('ReformerAttention: output.dense.weight', wo, { hidden: D, heads·head_size: all });

  // LayerNorm (biased variance, eps = layer_norm_eps)
  const normed = be.floats(rows * D); // [B, L, D]
  const mean = be.floats(rows); // [B·L]
  const rstd = be.floats(rows); // [B·L]
  be.layerNormForward({
    rows,
    cols: D,
    x,
    gamma,
    beta,
    eps: cfg.layer_norm_eps ?? ATTENTION_DEFAULTS.layer_norm_eps,
    y: normed,
    mean,
    rstd,
  });

  let attnOut: Float;
  let self: LshSelfAttentionCache | LocalSelfAttentionCache;
  let buckets: Int32Array | null = null;
  let numBuckets: NumBuckets | null = null;
  if (kind === 'lsh') {
    const r = lshSelfAttentionForward(
      be,
      cfg,
      {
        'query_key.weight': requireWeight(weights, 'self_attention.query_key.weight', kind),
        'value.weight': requireWeight(weights, 'self_attention.value.weight', kind),
      },
      normed,
      {
        batch: B,
        seqLen: L,
        attentionMask: options.attentionMask ?? null,
        rotations: options.rotations ?? null,
        rng: options.rng ?? null,
        buckets: options.buckets ?? null,
        paperExact: options.paperExact ?? false,
        dropout: options.dropout ?? null,
        ...(options.numHashes !== undefined ? { numHashes: options.numHashes } : {}),
        ...(options.isDecoder !== undefined ? { isDecoder: options.isDecoder } : {}),
      },
    );
    attnOut = r.out;
    self = r.cache;
    buckets = r.cache.attention.buckets;
    numBuckets = r.numBuckets;
  } else {
    const r = localSelfAttentionForward(
      be,
      cfg,
      {
        'query.weight': requireWeight(weights, 'self_attention.query.weight', kind),
        'key.weight': requireWeight(weights, 'self_attention.key.weight', kind),
        'value.weight': requireWeight(weights, 'self_attention.value.weight', kind),
      },
      normed,
      {
        batch: B,
        seqLen: L,
        attentionMask: options.attentionMask ?? null,
        dropout: options.dropout ?? null,
        ...(options.isDecoder !== undefined ? { isDecoder: options.isDecoder } : {}),
      },
    );
    attnOut = r.out;
    self = r.cache;
  }

  // output.dense: out = attnOut·W_oᵀ (no bias)
  const out = be.floats(rows * D); // [B, L, D]
  linearForward(be, attnOut, wo, out, rows, all, D);
  return { out, cache: { kind, batch: B, seqLen: L, hidden: D, x, normed, mean, rstd, attnOut, self, buckets, numBuckets } };
}

/**
 * Backward of `attentionBlockForward`. ACCUMULATES into every gradient of `grads` (same names as the
 * weights) and into `dx` `[batch, seqLen, hidden]` (null to skip). `dOut`: `[batch, seqLen, hidden]`.
 */
export function attentionBlockBackward(
  be: Backend,
  weights: AttentionBlockWeights,
  grads: AttentionBlockWeights,
  cache: AttentionBlockCache,
  dOut: Float,
  dx: Float | null,
): void {
  const { kind, batch: B, seqLen: L, hidden: D } = cache;
  const rows = B * L;
  const all = cache.attnOut.length / rows;
  checkLength('ReformerAttention backward: dOut', dOut, { batch: B, seq: L, hidden: D });
  if (dx) checkLength('ReformerAttention backward: dx', dx, { batch: B, seq: L, hidden: D });
  const wo = requireWeight(weights, 'output.dense.weight', kind);
  const gWo = requireWeight(grads, 'output.dense.weight', kind);
  const gamma = requireWeight(weights, 'layer_norm.weight', kind);
  const gGamma = requireWeight(grads, 'layer_norm.weight', kind);
  const gBeta = requireWeight(grads, 'layer_norm.bias', kind);
  checkLength('ReformerAttention backward: grads output.dense.weight', gWo, { hidden: D, heads·head_size: all });
  checkLength('ReformerAttention backward: grads layer_norm.weight', gGamma, { hidden: D });
  checkLength('ReformerAttention backward: grads layer_norm.bias', gBeta, { hidden: D });
  be.scope(() => {
    // forward: out = attnOut·W_oᵀ  ⇒  dW_o += dOutᵀ·attnOut, dAttn = dOut·W_o
    const dAttn = be.floats(rows * all); // [B, L, H·d]
    linearBackward(be, cache.attnOut, wo, dOut, gWo, dAttn, rows, all, D);
    // forward: attnOut = SelfAttn(normed)
    const dNormed = be.floats(rows * D); // [B, L, D]
    if (cache.self.kind === 'lsh') {
      lshSelfAttentionBackward(
        be,
        {
          'query_key.weight': requireWeight(weights, 'self_attention.query_key.weight', kind),
          'value.weight': requireWeight(weights, 'self_attention.value.weight', kind),
        },
        {
          'query_key.weight': requireWeight(grads, 'self_attention.query_key.weight', kind),
          'value.weight': requireWeight(grads, 'self_attention.value.weight', kind),
        },
        cache.self,
        dAttn,
        dNormed,
      );
    } else {
      localSelfAttentionBackward(
        be,
        {
          'query.weight': requireWeight(weights, 'self_attention.query.weight', kind),
          'key.weight': requireWeight(weights, 'self_attention.key.weight', kind),
          'value.weight': requireWeight(weights, 'self_attention.value.weight', kind),
        },
        {
          'query.weight': requireWeight(grads, 'self_attention.query.weight', kind),
          'key.weight': requireWeight(grads, 'self_attention.key.weight', kind),
          'value.weight': requireWeight(grads, 'self_attention.value.weight', kind),
        },
        cache.self,
        dAttn,
        dNormed,
      );
    }
    // forward: normed = LayerNorm(x)·γ + β
    be.layerNormBackward({
      rows,
      cols: D,
      dy: dNormed,
      x: cache.x,
      mean: cache.mean,
      rstd: cache.rstd,
      gamma,
      dx: dx ?? be.floats(rows * D),
      dgamma: gGamma,
      dbeta: gBeta,
    });
  });
}
