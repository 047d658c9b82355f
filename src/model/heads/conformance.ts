/**
 * Conformance handlers of the HF task heads (the `head_*` fixture cases): `ReformerForMaskedLM`,
 * `ReformerForSequenceClassification`, `ReformerForQuestionAnswering`. Each loads the case's
 * parameters by their HF names, runs `evaluate` on the `in:` tensors with the eval rotations
 * (`out:eval.*`, `cap:eval.*`) and `forwardBackward` with the train rotations (`out:train.*`, every
 * `grad:*`, `grad:embedding_output`), and returns them under the fixture's names and layouts.
 */
import type { ConformanceContext, ConformanceHandler, ConformanceOutputs } from '../../conformance/types.js';
import { bucketCaptures, configOf, dims, gradTensors, loadParameters, rotationsOf } from '../conformance.js';
import type { TokenBatch } from '../language-model.js';
import type { ClassificationLabels } from './losses.js';
import { ReformerForMaskedLM } from './masked-lm.js';
import { ReformerForQuestionAnswering } from './question-answering.js';
import { ReformerForSequenceClassification } from './sequence-classification.js';

function batchOf(ctx: ConformanceContext, labels: Int32Array | null = null): TokenBatch {
  const [B, L] = dims(ctx, 'in:input_ids', 2) as [number, number];
  return {
    inputIds: ctx.ints('in:input_ids'),
    batch: B,
    seqLen: L,
    attentionMask: ctx.has('in:attention_mask') ? ctx.ints('in:attention_mask') : null,
    labels,
  };
}

/** Whether the case has a training phase. */
function trains(ctx: ConformanceContext): boolean {
  return ctx.has('out:train.loss');
}

const maskedLM: ConformanceHandler = (ctx): ConformanceOutputs => {
  const config = configOf(ctx);
  const model = new ReformerForMaskedLM(ctx.be, config);
  loadParameters(ctx, model.parameters);
  const batch = batchOf(ctx, ctx.has('in:labels') ? ctx.ints('in:labels') : null);
  const tensors: Record<string, ArrayLike<number>> = {};
  const ev = model.evaluate(batch, { rotations: rotationsOf(ctx, config, 'eval') });
  tensors['out:eval.logits'] = ev.logits;
  if (ev.loss !== null) tensors['out:eval.loss'] = [ev.loss];
  tensors['cap:eval.sequence_output'] = ev.encoder.output;
  tensors['cap:eval.embedding_output'] = ev.encoder.embedding;
  Object.assign(tensors, bucketCaptures('eval', ev.encoder.buckets));
  if (trains(ctx)) {
    model.parameters.zeroGrads();
    const tr = model.forwardBackward(batch, { rotations: rotationsOf(ctx, config, 'train'), returnLogits: true });
    tensors['out:train.loss'] = [tr.loss];
    tensors['out:train.logits'] = tr.logits!;
    tensors['grad:embedding_output'] = tr.dEmbedding;
    Object.assign(tensors, bucketCaptures('train', tr.buckets));
    Object.assign(tensors, gradTensors(model.parameters));
  }
  return { tensors };
};

/** `in:labels`: I64 class ids, or F32 targets (regression [B], multi-label [B, n]). */
function classificationLabels(ctx: ConformanceContext): ClassificationLabels | null {
  if (!ctx.has('in:labels')) return null;
  return ctx.tensors.entry('in:labels').dtype === 'I64' ? ctx.ints('in:labels') : ctx.floats('in:labels');
}

const sequenceClassification: ConformanceHandler = (ctx): ConformanceOutputs => {
  const config = configOf(ctx);
  const model = new ReformerForSequenceClassification(ctx.be, config);
  loadParameters(ctx, model.parameters);
  const batch = batchOf(ctx);
  const labels = classificationLabels(ctx);
  const tensors: Record<string, ArrayLike<number>> = {};
  const ev = model.evaluate(batch, labels, { rotations: rotationsOf(ctx, config, 'eval') });
  tensors['out:eval.logits'] = ev.logits;
  if (ev.loss !== null) tensors['out:eval.loss'] = [ev.loss];
  tensors['cap:eval.sequence_output'] = ev.encoder.output;
  tensors['cap:eval.embedding_output'] = ev.encoder.embedding;
  tensors['cap:eval.classifier_dense'] = ev.dense;
  Object.assign(tensors, bucketCaptures('eval', ev.encoder.buckets));
  if (trains(ctx) && labels) {
    model.parameters.zeroGrads();
    const tr = model.forwardBackward(batch, labels, { rotations: rotationsOf(ctx, config, 'train') });
    tensors['out:train.loss'] = [tr.loss];
    tensors['out:train.logits'] = tr.logits;
    tensors['grad:embedding_output'] = tr.dEmbedding;
    Object.assign(tensors, bucketCaptures('train', tr.buckets));
    Object.assign(tensors, gradTensors(model.parameters));
  }
  const checks = [];
  const want = ctx.json.head as { loss?: string } | undefined;
  if (typeof want?.loss === 'string' && model.problemType !== null) {
    const passed = want.loss.startsWith(model.problemType);
    checks.push({ name: 'problem_type', passed, detail: `ours ${model.problemType}; fixture: ${want.loss.split(':')[0]}` });
  }
  return { tensors, checks };
};

const questionAnswering: ConformanceHandler = (ctx): ConformanceOutputs => {
  const config = configOf(ctx);
  const model = new ReformerForQuestionAnswering(ctx.be, config);
  loadParameters(ctx, model.parameters);
  const batch = batchOf(ctx);
  const positions = ctx.has('in:start_positions') ? { start: ctx.ints('in:start_positions'), end: ctx.ints('in:end_positions') } : null;
  const tensors: Record<string, ArrayLike<number>> = {};
  const ev = model.evaluate(batch, positions, { rotations: rotationsOf(ctx, config, 'eval') });
  tensors['out:eval.start_logits'] = ev.start;
  tensors['out:eval.end_logits'] = ev.end;
  if (ev.loss) tensors['out:eval.loss'] = [ev.loss.loss];
  tensors['cap:eval.sequence_output'] = ev.encoder.output;
  tensors['cap:eval.embedding_output'] = ev.encoder.embedding;
  Object.assign(tensors, bucketCaptures('eval', ev.encoder.buckets));
  if (trains(ctx) && positions) {
    model.parameters.zeroGrads();
    const tr = model.forwardBackward(batch, positions, { rotations: rotationsOf(ctx, config, 'train') });
    tensors['out:train.loss'] = [tr.loss.loss];
    tensors['out:train.start_logits'] = tr.start;
    tensors['out:train.end_logits'] = tr.end;
    tensors['grad:embedding_output'] = tr.dEmbedding;
    Object.assign(tensors, bucketCaptures('train', tr.buckets));
    Object.assign(tensors, gradTensors(model.parameters));
  }
  return { tensors };
};

/** Handlers of the task heads, by HF class name (the fixture JSON's `component`). */
export const headConformanceHandlers: Readonly<Record<string, ConformanceHandler>> = Object.freeze({
  ReformerForMaskedLM: maskedLM,
  ReformerForSequenceClassification: sequenceClassification,
  ReformerForQuestionAnswering: questionAnswering,
});

/** The shared `head_*` cases these handlers cover (test/fixtures/hf-reformer). */
export const HEAD_CONFORMANCE_CASES: readonly string[] = Object.freeze([
  'head_mlm_lsh_local_b1a1_pad',
  'head_seqcls_3labels_pad',
  'head_seqcls_regression',
  'head_seqcls_multilabel',
  'head_qa_lsh_local_clamp',
]);
