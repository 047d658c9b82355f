/**
 * The attention block of a Reformer layer, HF `ReformerAttention`:
 *
 *   F(x) = W_o · SelfAttn(LayerNorm(x))                     (Sec. 3: "layer norm moved inside the residual blocks")
 *
 * with SelfAttn = LSH (lsh-head.ts) or local (local.ts) attention, heads merged to `[.., heads·headSize]`
 * and `W_o` = `output.dense.weight` `[hidden, heads·headSize]` without bias. The residual
 * `Y1 = X1 + F(X2)` (Eq. 9) is done here in place: `attentionBlockAddForward` adds F(x) into y.
 *
 * One path for every use. Evaluation, the training forward, the reversible recompute and the HF module
 * run the same code; `keep` only says what is written aside ('none', the LSH 'buckets', or the whole
 * backward 'cache'), never what is computed, so all of them give the same bits:
 *
 * - LSH, head by head: LayerNorm and the head's projections (qk_h, v_h: [seqLen, headSize]) in row
 *   blocks, `lshHeadForward` (hash, sort, blocks of sorted chunks, online softmax over rounds), then
 *   `y += o_h · W_o[:, h·d:(h+1)·d]ᵀ`. Temporaries: O(seqLen·headSize + num_hashes·seqLen) per head.
 * - Local, block by block of query chunks with their neighbour chunks (wrapping like HF's
 *   `_look_adjacent`): LayerNorm and the q/k/v projections of the block's rows, the chunk attention of
 *   its query chunks (all heads), `W_o` on its query rows, added into y. Temporaries: O(block rows · H·d).
 *
 * So a 2^20-token evaluation forward holds the two residual streams and per-head / per-block buffers.
 *
 * Reversible recompute (HF `ReformerLayer.backward_pass`): run the block again on the reconstructed input
 * with `{ buckets: <the first forward's buckets> }` (and the same dropout seed) into a zeroed buffer;
 * nothing is re-hashed, so the recompute equals the first forward. The backward is block-backward.ts.
 */
import type { AttentionDropout, Backend, Float } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { backendArg, objectArg, optionsArg } from '../util/args.js';
import type { Rng } from '../util/rng.js';
import { checkBatchSeq, checkLength, copyMask } from './common.js';
import { attentionConfigArg, headLayout, type AttentionConfig } from './config.js';
import type { AttentionBlockCache, AttentionBlockResult, AttentionKeep, BlockWeights } from './block-cache.js';
import { localBlock } from './block-local.js';
import { lshBlock } from './block-lsh.js';

export type { AttentionBlockCache, AttentionBlockResult, AttentionKeep } from './block-cache.js';

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
  rotations?: Float | null;
  /** LSH only: generator for the rotations (when no injection and no `hash_seed`). */
  rng?: Rng | null;
  /** LSH only: offset buckets `[batch, heads, numHashes, seqLen]` of an earlier forward, replayed (reversible recompute). */
  buckets?: Int32Array | null;
  /** LSH only: paper-exact multi-round attention (App. A); default false (HF). */
  paperExact?: boolean;
  /**
   * Dropout on the attention probabilities with the layer's seed (HF `lsh_attention_probs_dropout_prob` /
   * `local_attention_probs_dropout_prob`, training only). Pass the same value to a reversible recompute:
   * the mask is a function of the seed, so the recompute and the backward replay it. Null: none.
   */
  dropout?: AttentionDropout | null;
  /** Query rows per streamed block (default ATTENTION_BLOCK_ROWS). Changes memory and speed, never results. */
  blockRows?: number;
  /**
   * Rows per block streamed between host-resident buffers (plain JS arrays outside the WASM arena, see
   * backend/host-streams.ts) and the arena in the reversible step (default HOST_BLOCK_ROWS). Never
   * changes results.
   */
  hostBlockRows?: number;
}

/** The argument checks of the block calls (O(1)). @throws ConfigError naming the missing argument. */
export function blockArgs(where: string, be: unknown, cfg: unknown, weights: unknown, options: unknown): void {
  backendArg(where, be);
  attentionConfigArg(where, cfg);
  objectArg(
    where,
    'weights',
    weights,
    'the block weights under their HF names (layer_norm.weight, layer_norm.bias, self_attention.*.weight, output.dense.weight)',
  );
  optionsArg(where, options as object, '{ batch: 1, seqLen: 64 }', false);
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
 * Checks kind, shapes and weights of a block call and returns the weights by role (O(1)).
 * @throws ShapeError (kind, lengths, missing weights).
 */
export function blockWeights(
  cfg: AttentionConfig,
  kind: AttentionKind,
  weights: AttentionBlockWeights,
  x: Float,
  y: Float,
  options: AttentionBlockOptions,
): BlockWeights {
  if (kind !== 'lsh' && kind !== 'local') {
    throw new ShapeError(`attention block: kind must be "lsh" or "local" (HF attn_layers), got ${String(kind)}`);
  }
  const { hidden: D, all } = headLayout(cfg);
  const { batch: B, seqLen: L } = options;
  checkBatchSeq('ReformerAttention', B, L);
  checkLength('ReformerAttention: hidden_states', x, { batch: B, seq: L, hidden: D });
  checkLength('ReformerAttention: output', y, { batch: B, seq: L, hidden: D });
  const w: BlockWeights = {
    gamma: requireWeight(weights, 'layer_norm.weight', kind),
    beta: requireWeight(weights, 'layer_norm.bias', kind),
    wo: requireWeight(weights, 'output.dense.weight', kind),
    proj:
      kind === 'lsh'
        ? ['self_attention.query_key.weight', 'self_attention.value.weight'].map((n) => requireWeight(weights, n, kind))
        : ['self_attention.query.weight', 'self_attention.key.weight', 'self_attention.value.weight'].map((n) =>
            requireWeight(weights, n, kind),
          ),
  };
  checkLength('ReformerAttention: layer_norm.weight', w.gamma, { hidden: D });
  checkLength('ReformerAttention: layer_norm.bias', w.beta, { hidden: D });
  checkLength('ReformerAttention: output.dense.weight', w.wo, { hidden: D, heads·head_size: all });
  for (const [i, p] of w.proj.entries()) {
    checkLength(`ReformerAttention: ${kind === 'lsh' ? ['query_key', 'value'][i] : ['query', 'key', 'value'][i]}.weight`, p, {
      heads·head_size: all,
      hidden: D,
    });
  }
  return w;
}

/**
 * `y += F(x)` for one attention block (HF `ReformerAttention`, see the file header).
 * @param x `[batch, seqLen, hidden]` (not modified; must not alias y)
 * @param y `[batch, seqLen, hidden]`, accumulated in place
 * @param keep what to keep besides (default 'none'); 'cache' allocates the cache in the caller's scope.
 * @throws ShapeError (shapes, sequence length not a multiple of the chunk length, missing weights),
 *   ConfigError (config fields; `backend`, `config`, `weights` or `options` not given), UsageError (no
 *   source of LSH rotations).
 */
export function attentionBlockAddForward(
  be: Backend,
  cfg: AttentionConfig,
  kind: AttentionKind,
  weights: AttentionBlockWeights,
  x: Float,
  y: Float,
  options: AttentionBlockOptions,
  keep: AttentionKeep = 'none',
): AttentionBlockResult {
  blockArgs('attentionBlockAddForward', be, cfg, weights, options);
  const w = blockWeights(cfg, kind, weights, x, y, options);
  const { batch: B, seqLen: L } = options;
  const mask = copyMask(be, 'ReformerAttention', options.attentionMask, B, L);
  return kind === 'lsh' ? lshBlock(be, cfg, w, x, y, mask, options, keep) : localBlock(be, cfg, w, x, y, mask, options, keep);
}

/**
 * HF `ReformerAttention.forward` keeping the cache: `out = F(x)` (a new buffer) and the backward's cache.
 * Same computation as `attentionBlockAddForward` (into zeros).
 * @throws as `attentionBlockAddForward`.
 */
export function attentionBlockForward(
  be: Backend,
  cfg: AttentionConfig,
  kind: AttentionKind,
  weights: AttentionBlockWeights,
  x: Float,
  options: AttentionBlockOptions,
): { out: Float; cache: AttentionBlockCache } {
  blockArgs('attentionBlockForward', be, cfg, weights, options);
  const out = be.floats(options.batch * options.seqLen * headLayout(cfg).hidden);
  const r = attentionBlockAddForward(be, cfg, kind, weights, x, out, options, 'cache');
  return { out, cache: r.cache! };
}
