/**
 * Conformance handlers of the attention components: HF `LSHSelfAttention`, `LocalSelfAttention` and
 * `ReformerAttention` (LayerNorm → self-attention → output dense). Each runs the module on the
 * fixture's `in:` tensors with its parameters and, for LSH, the injected `cap:rotations`, and returns
 * the outputs and HF's captured intermediates in the fixture layouts.
 */
import type { Float } from '../backend/backend.js';
import { attentionBlockForward, type AttentionBlockWeights, type AttentionKind } from '../attention/block.js';
import type { AttentionConfig } from '../attention/config.js';
import type { NumBuckets } from '../config/buckets.js';
import { lshCaptures, type LshAttentionCache } from '../attention/lsh.js';
import { lshSelfAttentionForward } from '../attention/lsh-module.js';
import { localSelfAttentionForward } from '../attention/local.js';
import { FormatError } from '../errors.js';
import type { ConformanceCheck, ConformanceContext, ConformanceHandler, ConformanceOutputs } from './types.js';

function inputs(ctx: ConformanceContext): { x: Float; batch: number; seqLen: number; mask: Int32Array | null } {
  const shape = ctx.shape('in:hidden_states');
  if (shape.length !== 3) throw new FormatError(`${ctx.name}: in:hidden_states must be [batch, seq, hidden], got [${shape.join(', ')}]`);
  return {
    x: ctx.floats('in:hidden_states'),
    batch: shape[0]!,
    seqLen: shape[1]!,
    mask: ctx.has('in:attention_mask') ? ctx.ints('in:attention_mask') : null,
  };
}

/** HF capture layouts of an LSH forward (`cap:buckets`, sort indices, per-round lse and outputs, qk). */
function lshCaps(cache: LshAttentionCache): Record<string, ArrayLike<number>> {
  if (cache.shortPath) return {};
  const { lse, outPerHash } = lshCaptures(cache);
  const { batch: B, seqLen: L, heads: H, headSize: d } = cache;
  // cap:query_key_vectors [B, H, L, d] from qk [B, L, H·d]
  const qkv = new Float64Array(B * H * L * d);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < L; t++)
      for (let h = 0; h < H; h++)
        for (let j = 0; j < d; j++) qkv[((b * H + h) * L + t) * d + j] = cache.qk[(b * L + t) * H * d + h * d + j]!;
  return {
    'cap:buckets': cache.buckets!,
    'cap:sorted_bucket_idx': cache.sorted,
    'cap:undo_sorted_bucket_idx': cache.undoSorted,
    'cap:lse': lse,
    'cap:out_per_hash': outPerHash,
    'cap:query_key_vectors': qkv,
  };
}

/** The JSON's `effective_num_buckets` (what HF used) against our resolved value. */
function numBucketsCheck(ctx: ConformanceContext, ours: NumBuckets | null): ConformanceCheck[] {
  const want = ctx.json.effective_num_buckets;
  if (want === undefined || want === null) return [];
  const same = JSON.stringify(want) === JSON.stringify(ours);
  return [{ name: 'effective_num_buckets', passed: same, detail: `ours ${JSON.stringify(ours)}, HF ${JSON.stringify(want)}` }];
}

const lshSelfAttention: ConformanceHandler = (ctx): ConformanceOutputs => {
  const { x, batch, seqLen, mask } = inputs(ctx);
  const r = lshSelfAttentionForward(
    ctx.be,
    ctx.config as unknown as AttentionConfig,
    { 'query_key.weight': ctx.floats('query_key.weight'), 'value.weight': ctx.floats('value.weight') },
    x,
    { batch, seqLen, attentionMask: mask, rotations: ctx.has('cap:rotations') ? ctx.floats('cap:rotations') : null },
  );
  return {
    tensors: { 'out:hidden_states': r.out, ...lshCaps(r.cache.attention) },
    checks: numBucketsCheck(ctx, r.numBuckets),
  };
};

const localSelfAttention: ConformanceHandler = (ctx): ConformanceOutputs => {
  const { x, batch, seqLen, mask } = inputs(ctx);
  const r = localSelfAttentionForward(
    ctx.be,
    ctx.config as unknown as AttentionConfig,
    {
      'query.weight': ctx.floats('query.weight'),
      'key.weight': ctx.floats('key.weight'),
      'value.weight': ctx.floats('value.weight'),
    },
    x,
    { batch, seqLen, attentionMask: mask },
  );
  return { tensors: { 'out:hidden_states': r.out } };
};

const reformerAttention: ConformanceHandler = (ctx): ConformanceOutputs => {
  const { x, batch, seqLen, mask } = inputs(ctx);
  const layers = ctx.config.attn_layers;
  const kind = (Array.isArray(layers) ? layers[0] : undefined) as AttentionKind | undefined; // HF layer_id = 0
  if (kind !== 'lsh' && kind !== 'local') {
    throw new FormatError(`${ctx.name}: config.attn_layers[0] must be "lsh" or "local", got ${JSON.stringify(kind)}`);
  }
  const names =
    kind === 'lsh'
      ? ['self_attention.query_key.weight', 'self_attention.value.weight']
      : ['self_attention.query.weight', 'self_attention.key.weight', 'self_attention.value.weight'];
  const weights: Record<string, Float> = {};
  for (const n of ['layer_norm.weight', 'layer_norm.bias', ...names, 'output.dense.weight']) weights[n] = ctx.floats(n);
  const r = attentionBlockForward(ctx.be, ctx.config as unknown as AttentionConfig, kind, weights as unknown as AttentionBlockWeights, x, {
    batch,
    seqLen,
    attentionMask: mask,
    rotations: ctx.has('cap:rotations') ? ctx.floats('cap:rotations') : null,
  });
  const caps = r.cache.self.kind === 'lsh' ? lshCaps(r.cache.self.attention) : {};
  return {
    tensors: {
      'out:hidden_states': r.out,
      'cap:layer_norm_out': r.cache.normed,
      'cap:self_attention_out': r.cache.attnOut,
      ...caps,
    },
    checks: kind === 'lsh' ? numBucketsCheck(ctx, r.cache.numBuckets) : [],
  };
};

/** Handlers of the attention components, keyed by the fixture JSON's `component`. */
export const attentionConformanceHandlers: Readonly<Record<string, ConformanceHandler>> = {
  LSHSelfAttention: lshSelfAttention,
  LocalSelfAttention: localSelfAttention,
  ReformerAttention: reformerAttention,
};
