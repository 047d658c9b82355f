/**
 * Conformance handlers of the model-level HF components (see src/conformance/registry.ts):
 * `ChunkReformerFeedForward`, `AxialPositionEmbeddings`, `PositionEmbeddings`, `ReformerLayer`,
 * `ReformerModel`, `ReformerModelWithLMHead`. Each loads the case's parameters by their HF names,
 * runs our implementation on the `in:` tensors with the captured rotations of the right phase
 * (`cap:eval.layers.<i>.rotations` for `out:eval.*`, `cap:train.…` for `out:train.*` and `grad:*`),
 * and returns outputs, captures and gradients under the fixture's names and layouts.
 */
import type { Float } from '../backend/backend.js';
import type { AttentionBlockWeights } from '../attention/block.js';
import type { AttentionConfig } from '../attention/config.js';
import type { ConformanceContext, ConformanceHandler, ConformanceOutputs } from '../conformance/types.js';
import { ReformerConfig } from '../config/reformer-config.js';
import { FormatError } from '../errors.js';
import { axialPositionForward, checkAxialPositions, checkPlainPositions, plainPositionForward } from '../nn/embeddings.js';
import { feedForwardForward, type FeedForwardSpec, type FeedForwardWeights } from '../nn/feed-forward.js';
import { Rng } from '../util/rng.js';
import { cachedDecodingConformance } from './decode-conformance.js';
import { ReformerModelWithLMHead } from './lm-model.js';
import type { Parameters } from './parameters.js';
import { ReformerModel } from './reformer-model.js';
import { reversibleForward, type SublayerCall } from './reversible.js';
import { AttentionSublayer, FeedForwardSublayer } from './sublayers.js';

export function configOf(ctx: ConformanceContext): ReformerConfig {
  return ReformerConfig.fromJSON(ctx.config as Record<string, unknown>);
}

export function dims(ctx: ConformanceContext, name: string, rank: number): number[] {
  const s = ctx.shape(name);
  if (s.length !== rank) throw new FormatError(`${ctx.name}: ${name} must have rank ${rank}, got [${s.join(', ')}]`);
  return [...s];
}

function ffSpec(config: ReformerConfig, chunkSize: number): FeedForwardSpec {
  return {
    hidden: config.hidden_size,
    inner: config.feed_forward_size,
    act: config.hidden_act,
    eps: config.layer_norm_eps,
    chunkSize,
    dropout: config.hidden_dropout_prob,
  };
}

function ffWeights(get: (n: string) => Float, prefix: string): FeedForwardWeights {
  return {
    lnWeight: get(`${prefix}layer_norm.weight`),
    lnBias: get(`${prefix}layer_norm.bias`),
    w1: get(`${prefix}dense.dense.weight`),
    b1: get(`${prefix}dense.dense.bias`),
    w2: get(`${prefix}output.dense.weight`),
    b2: get(`${prefix}output.dense.bias`),
  };
}

/** Loads every parameter of `params` from the case (names mapped by `fixtureName`). */
export function loadParameters(ctx: ConformanceContext, params: Parameters, fixtureName: (n: string) => string = (n) => n): void {
  for (const e of params.entries) params.set(e.name, ctx.shape(fixtureName(e.name)), ctx.floats(fixtureName(e.name)));
}

/** Rotations of a phase, indexed by layer (null where the case has none). */
export function rotationsOf(ctx: ConformanceContext, config: ReformerConfig, phase: 'eval' | 'train'): Array<Float | null> {
  return config.attn_layers.map((_, i) => {
    const n = `cap:${phase}.layers.${i}.rotations`;
    return ctx.has(n) ? ctx.floats(n) : null;
  });
}

/** Gradients of every parameter under `grad:<fixture name>` (`grad:lm_head.bias` for the tied bias). */
export function gradTensors(params: Parameters, fixtureName: (n: string) => string = (n) => n): Record<string, Float> {
  const out: Record<string, Float> = {};
  for (const e of params.entries) out[`grad:${fixtureName(e.name)}`] = params.grad(e.name);
  return out;
}

export function bucketCaptures(phase: string, buckets: ReadonlyArray<Int32Array | null>): Record<string, Int32Array> {
  const out: Record<string, Int32Array> = {};
  buckets.forEach((b, i) => {
    if (b) out[`cap:${phase}.layers.${i}.buckets`] = b;
  });
  return out;
}

// ------------------------------------------------------------------ handlers

const chunkFeedForward: ConformanceHandler = (ctx) => {
  const be = ctx.be;
  const config = configOf(ctx);
  const [B, L, D] = dims(ctx, 'in:hidden_states', 3) as [number, number, number];
  const x = ctx.floats('in:hidden_states');
  const w = ffWeights((n) => ctx.floats(n), '');
  const chunked = Number(ctx.json.chunk_size_feed_forward_chunked ?? 0);
  const run = (chunk: number): Float => {
    const out = be.floats(B * L * D);
    feedForwardForward(be, ffSpec(config, chunk), w, x, B * L, out, null, false);
    return out;
  };
  const out0 = run(config.chunk_size_feed_forward);
  const out1 = run(chunked);
  const same = out0.every((v, i) => v === out1[i]);
  return {
    tensors: { 'out:chunk0': out0, 'out:chunked': out1 },
    checks: [{ name: 'chunked == unchunked (bits)', passed: same, detail: same ? 'identical' : 'chunking changed some bits' }],
  };
};

const axialPositionEmbeddings: ConformanceHandler = (ctx) => {
  const be = ctx.be;
  const config = configOf(ctx);
  const spec = { shape: config.axial_pos_shape, dims: config.axial_pos_embds_dim };
  const tables = config.axial_pos_shape.map((_, k) => ctx.floats(`weights.${k}`));
  const tensors: Record<string, Float> = {};
  for (const [input, output, training] of [
    ['in:position_ids_eval', 'out:eval', false],
    ['in:position_ids_custom', 'out:custom', false],
    ['in:position_ids_train', 'out:train', true],
  ] as const) {
    if (!ctx.has(input)) continue;
    const [B, L] = dims(ctx, input, 2) as [number, number];
    let pos = ctx.ints(input);
    if (training) {
      // HF training: L must equal Π axial_pos_shape; the table is used in row-major order (ids ignored)
      pos = be.ints(B * L);
      for (let r = 0; r < B * L; r++) pos[r] = r % L;
    }
    checkAxialPositions(spec, pos, B * L);
    const out = be.floats(B * L * config.hidden_size);
    axialPositionForward(be, spec, tables, pos, B * L, out, null);
    tensors[output] = out;
  }
  return { tensors };
};

const positionEmbeddings: ConformanceHandler = (ctx) => {
  const be = ctx.be;
  const config = configOf(ctx);
  const [B, L] = dims(ctx, 'in:position_ids', 2) as [number, number];
  const pos = ctx.ints('in:position_ids');
  checkPlainPositions(pos, B * L, config.max_position_embeddings);
  const out = be.floats(B * L * config.hidden_size);
  plainPositionForward(be, ctx.floats('embedding.weight'), config.hidden_size, pos, B * L, out);
  return { tensors: { 'out:position_embeddings': out } };
};

const reformerLayer: ConformanceHandler = (ctx) => {
  const be = ctx.be;
  const config = configOf(ctx);
  const [B, L, D] = dims(ctx, 'in:hidden_states', 3) as [number, number, number];
  const kind = config.attn_layers[0]!;
  const get = (n: string): Float => ctx.floats(n);
  const attnNames = [
    'layer_norm.weight',
    'layer_norm.bias',
    ...(kind === 'lsh' ? ['query_key', 'value'] : ['query', 'key', 'value']).map((w) => `self_attention.${w}.weight`),
    'output.dense.weight',
  ];
  const attnWeights = Object.fromEntries(attnNames.map((n) => [n, get(`attention.${n}`)])) as unknown as AttentionBlockWeights;
  const attnGrads = Object.fromEntries(
    attnNames.map((n) => [n, be.floats(ctx.floats(`attention.${n}`).length)]),
  ) as unknown as AttentionBlockWeights;
  const ffW = ffWeights(get, 'feed_forward.');
  const ffG = ffWeights((n) => be.floats(get(n).length), 'feed_forward.');
  const f = new AttentionSublayer(be, { ...config } as unknown as AttentionConfig, kind, 0, attnWeights, attnGrads, 0, false);
  const g = new FeedForwardSublayer(be, ffSpec(config, config.chunk_size_feed_forward), ffW, ffG);
  // HF ReformerLayer(prev_attn_output = X1, hidden_states = X2)
  const x1 = ctx.floats('in:prev_attn_output');
  const x2 = ctx.floats('in:hidden_states');
  const call: SublayerCall = {
    batch: B,
    seqLen: L,
    training: false,
    attentionMask: ctx.has('in:attention_mask') ? ctx.ints('in:attention_mask') : null,
    rng: new Rng(0),
    rotations: [ctx.has('cap:rotations') ? ctx.floats('cap:rotations') : null],
  };
  const rec = reversibleForward(be, [{ f, g }], x1, x2, B * L * D, call, 'inference');
  const tensors: Record<string, ArrayLike<number>> = { 'out:attn_output': rec.y1, 'out:hidden_states': rec.y2 };
  const buckets = (rec.states[0]!.f as { buckets: Int32Array | null }).buckets;
  if (buckets) tensors['cap:buckets'] = buckets;
  return { tensors };
};

const reformerModel: ConformanceHandler = (ctx): ConformanceOutputs => {
  const be = ctx.be;
  const config = configOf(ctx);
  const model = new ReformerModel(be, config);
  loadParameters(ctx, model.parameters);
  const [B, L] = dims(ctx, 'in:input_ids', 2) as [number, number];
  const inputIds = ctx.ints('in:input_ids');
  const attentionMask = ctx.has('in:attention_mask') ? ctx.ints('in:attention_mask') : null;
  const tensors: Record<string, ArrayLike<number>> = {};
  const ev = model.forward({ inputIds, batch: B, seqLen: L, attentionMask, training: false, rotations: rotationsOf(ctx, config, 'eval') });
  tensors['out:eval.last_hidden_state'] = ev.output;
  tensors['cap:eval.embedding_output'] = ev.embedding;
  Object.assign(tensors, bucketCaptures('eval', ev.buckets));
  if (ctx.has('out:train.last_hidden_state')) {
    const tr = model.forward({
      inputIds,
      batch: B,
      seqLen: L,
      attentionMask,
      training: true,
      rotations: rotationsOf(ctx, config, 'train'),
    });
    tensors['out:train.last_hidden_state'] = tr.output;
    Object.assign(tensors, bucketCaptures('train', tr.buckets));
    if (ctx.has('in:probe')) {
      // HF: loss = sum(last_hidden_state · probe)  ⇒  dLoss/dOutput = probe
      const probe = ctx.floats('in:probe');
      let loss = 0;
      for (let i = 0; i < probe.length; i++) loss += tr.output[i]! * probe[i]!;
      tensors['out:train.loss'] = [loss];
      model.parameters.zeroGrads();
      tensors['grad:embedding_output'] = model.backward(tr, probe);
      Object.assign(tensors, gradTensors(model.parameters));
    }
  }
  return { tensors };
};

const reformerModelWithLMHead: ConformanceHandler = (ctx): ConformanceOutputs => {
  if (ctx.json.procedure === 'cached_greedy_decoding') return cachedDecodingConformance(ctx); // decode_* cases
  const be = ctx.be;
  const config = configOf(ctx);
  const model = new ReformerModelWithLMHead(be, config);
  loadParameters(ctx, model.parameters);
  const [B, L] = dims(ctx, 'in:input_ids', 2) as [number, number];
  const batch = {
    inputIds: ctx.ints('in:input_ids'),
    batch: B,
    seqLen: L,
    attentionMask: ctx.has('in:attention_mask') ? ctx.ints('in:attention_mask') : null,
    labels: ctx.has('in:labels') ? ctx.ints('in:labels') : null,
  };
  const tensors: Record<string, ArrayLike<number>> = {};
  const ev = model.evaluate(batch, { rotations: rotationsOf(ctx, config, 'eval') });
  tensors['out:eval.logits'] = ev.logits;
  tensors['out:eval.loss'] = [ev.loss];
  tensors['cap:eval.embedding_output'] = ev.encoder.embedding;
  Object.assign(tensors, bucketCaptures('eval', ev.encoder.buckets));
  if (ctx.has('out:train.loss') || ctx.has('grad:lm_head.bias')) {
    model.parameters.zeroGrads();
    const tr = model.forwardBackward(batch, { rotations: rotationsOf(ctx, config, 'train'), returnLogits: true });
    tensors['out:train.loss'] = [tr.loss];
    if (tr.logits) tensors['out:train.logits'] = tr.logits;
    tensors['grad:embedding_output'] = tr.dEmbedding;
    Object.assign(tensors, gradTensors(model.parameters));
  }
  const checks = [];
  if (ctx.json.effective_num_buckets !== undefined) {
    const ours = model.resolvedConfig().num_buckets;
    const want = ctx.json.effective_num_buckets;
    checks.push({
      name: 'effective_num_buckets',
      passed: JSON.stringify(ours) === JSON.stringify(want),
      detail: `ours ${JSON.stringify(ours)}, HF ${JSON.stringify(want)}`,
    });
  }
  return { tensors, checks };
};

/** Handlers of the model-level components, by HF module name (the fixture JSON's `component`). */
export const modelConformanceHandlers: Readonly<Record<string, ConformanceHandler>> = Object.freeze({
  ChunkReformerFeedForward: chunkFeedForward,
  AxialPositionEmbeddings: axialPositionEmbeddings,
  PositionEmbeddings: positionEmbeddings,
  ReformerLayer: reformerLayer,
  ReformerModel: reformerModel,
  ReformerModelWithLMHead: reformerModelWithLMHead,
});

/** For tests: a backend-independent way to name the cases these handlers cover. */
export const MODEL_CONFORMANCE_CASES: readonly string[] = Object.freeze([
  'ff_relu_chunk8',
  'ff_gelu_chunk16',
  'axial_pos_8x8',
  'plain_pos_emb',
  'rev_layer_lsh_causal',
  'model_lm_local_lsh_train',
  'model_lm_eval_autopad',
  'model_encoder_lsh_local',
]);
