/**
 * HF `ReformerForSequenceClassification`: `ReformerModel` (prefix `reformer.`) + `ReformerClassificationHead`
 * (classifier-head.ts) on position 0 of the encoder output, whatever the attention mask says (a
 * left-padded row pools a padding token), and HF's three losses:
 *
 *   regression                    MSE(logits, labels): mean over B·num_labels (num_labels 1: over B)
 *   single_label_classification   cross-entropy of logits [B, n] vs class ids [B] (−100 ignored)
 *   multi_label_classification    BCE-with-logits vs float targets [B, n], mean over B·n
 *
 * `problem_type` null: the first call with labels picks it (`resolveProblemType`: num_labels 1 →
 * regression; Int32Array labels → single label; float labels → multi label) and keeps it for later
 * calls, as HF writes it into its config; `resolvedConfig()` saves it.
 *
 * `is_decoder` true is allowed (HF only warns): position 0 then sees nothing but itself. The trunk runs
 * with `use_cache` as configured, which changes nothing in the outputs.
 *
 * Streamed: the training step and `logits`/`loss` consume the encoder output block by block; the head
 * runs on the block that holds a row's position 0, so [B, L, 2D] is never held.
 */
import type { Backend, Float } from '../../backend/backend.js';
import type { ReformerOptions } from '../../config/options.js';
import type { ReformerConfig } from '../../config/reformer-config.js';
import type { EncoderOutput } from '../encoder-types.js';
import type { LossResult, TokenBatch } from '../language-model.js';
import type { ParamSpec } from '../parameters.js';
import { classifierBackward, classifierForward, type ClassifierSpec, type ClassifierWeights } from './classifier-head.js';
import { classificationLossPlan, classificationRowTerm, type ClassificationLabels, type ClassificationLossPlan } from './losses.js';
import { classifierDropout, labelInfo, resolveProblemType, type LabelInfo, type ProblemType } from './task-config.js';
import { ReformerTaskModel, type TaskCallOptions } from './task-model.js';
import { requireModelArgs } from '../validate-inputs.js';

const WHERE = 'ReformerForSequenceClassification';

/** HF parameter names of the classification head (after the encoder's `reformer.*`). */
export function classifierParamSpecs(config: ReformerConfig, numLabels: number): ParamSpec[] {
  const D = config.hidden_size;
  const normal = { kind: 'normal', std: config.initializer_range } as const;
  const zeros = { kind: 'zeros' } as const;
  return [
    { name: 'classifier.dense.weight', shape: [D, 2 * D], init: normal },
    { name: 'classifier.dense.bias', shape: [D], init: zeros },
    { name: 'classifier.out_proj.weight', shape: [numLabels, D], init: normal },
    { name: 'classifier.out_proj.bias', shape: [numLabels], init: zeros },
  ];
}

/** Result of `evaluate`. */
export interface ClassificationEval {
  /** [B, num_labels] */
  readonly logits: Float;
  /** Mean loss, or null without labels. */
  readonly loss: number | null;
  /** Counted rows (single label) or entries (regression, multi-label) of the mean; 0 without labels. */
  readonly count: number;
  readonly encoder: EncoderOutput;
  /** classifier.dense output before the tanh [B, D] (HF `cap:eval.classifier_dense`). */
  readonly dense: Float;
}

/** Result of `forwardBackward`. */
export interface ClassificationTrainResult {
  readonly loss: number;
  readonly count: number;
  /** The training forward's logits [B, num_labels]. */
  readonly logits: Float;
  /** d(loss)/d(embedding output) [B, L, hidden_size] (HF `grad:embedding_output`). */
  readonly dEmbedding: Float;
  /** Per layer: the training forward's LSH buckets (null for local layers). */
  readonly buckets: ReadonlyArray<Int32Array | null>;
}

/** HF `ReformerForSequenceClassification`: encoder + classification head on position 0; CE, MSE or BCE loss by `problem_type`. */
export class ReformerForSequenceClassification extends ReformerTaskModel {
  readonly architecture = 'ReformerForSequenceClassification' as const;
  /** num_labels, class names and ids, as configured. */
  readonly labels: LabelInfo;
  /** The loss in use: the config's `problem_type`, or the one the first labelled call picked (null before). */
  problemType: ProblemType | null;

  /** @throws ConfigError without a backend or a `ReformerConfig`, or for invalid label fields (task-config.ts `labelInfo`). */
  constructor(backend: Backend, config: ReformerConfig, options: Partial<ReformerOptions> = {}) {
    requireModelArgs(WHERE, backend, config);
    const labels = labelInfo(config);
    super(backend, config, options, classifierParamSpecs(config, labels.numLabels), WHERE);
    this.labels = labels;
    this.problemType = labels.problemType;
  }

  get numLabels(): number {
    return this.labels.numLabels;
  }

  /** The config to save, with `problem_type` as resolved by the first labelled call. */
  override resolvedConfig(): ReformerConfig {
    const c = super.resolvedConfig();
    return this.problemType !== null && c.extra.problem_type !== this.problemType ? c.with({ problem_type: this.problemType }) : c;
  }

  /** Training-mode forward + backward; ACCUMULATES gradients. `tokens` = the rows/entries counted. */
  lossAndGrad(batch: TokenBatch, labels: ClassificationLabels): LossResult {
    const r = this.forwardBackward(batch, labels);
    return { loss: r.loss, tokens: r.count };
  }

  /**
   * Training-mode forward and backward (dropout on, reversible backward per options): logits, the loss
   * of `labels` (see the file header), gradients ACCUMULATED into `grads`, d(loss)/d(embedding output).
   * @throws ShapeError (ids, mask, labels: see `classificationLossPlan`), ConfigError / ResourceError as
   *   `ReformerModel.forward`.
   */
  forwardBackward(batch: TokenBatch, labels: ClassificationLabels, call: TaskCallOptions = {}): ClassificationTrainResult {
    const be = this.backend;
    const input = this.encoderInput(batch, true, call, WHERE);
    const plan = this.plan(labels, batch.batch);
    this.checkMemory(batch, 'train', false, false);
    const n = this.numLabels;
    const L = batch.seqLen;
    const logits = be.floats(batch.batch * n);
    const p = classifierDropout(this.config);
    const rng = this.reformer.rng;
    const spec: ClassifierSpec = {
      hidden: this.config.hidden_size,
      numLabels: n,
      dropout: p,
      seeds: p > 0 ? { input: rng.u32(), hidden: rng.u32() } : null,
    };
    const { w, g } = this.headWeights();
    let sum = 0;
    const { dEmbedding, buckets } = this.reformer.trainRows(input, (r0, _n, h, dh) => {
      if (r0 % L !== 0) return; // the head reads position 0 of each row only
      const b = r0 / L;
      const out = logits.subarray(b * n, (b + 1) * n);
      const cache = classifierForward(be, spec, w, h, 1, b, out);
      const dLogits = be.floats(n);
      sum += classificationRowTerm(plan, b, out, 0, dLogits, 0);
      classifierBackward(be, spec, w, g, cache, 1, b, dLogits, dh!);
    });
    return { loss: sum / plan.divisor, count: plan.divisor, logits, dEmbedding, buckets };
  }

  /** Evaluation-mode logits [B, num_labels] (streamed encoder output; dropout off). */
  logits(batch: TokenBatch, call: TaskCallOptions = {}): Float {
    return this.streamed(batch, null, call).logits;
  }

  /** Evaluation-mode loss (and logits) of `labels`, streamed. */
  loss(batch: TokenBatch, labels: ClassificationLabels, call: TaskCallOptions = {}): LossResult & { logits: Float } {
    const r = this.streamed(batch, labels, call);
    return { loss: r.loss!, tokens: r.count, logits: r.logits };
  }

  /**
   * Evaluation-mode logits and (with labels) loss from ONE forward, as HF's `model(input_ids,
   * attention_mask, labels)`, with the encoder output and the dense layer's output (fixtures).
   */
  evaluate(batch: TokenBatch, labels: ClassificationLabels | null = null, call: TaskCallOptions = {}): ClassificationEval {
    const be = this.backend;
    const enc = this.reformer.forward(this.encoderInput(batch, false, call, WHERE));
    const plan = labels ? this.plan(labels, batch.batch) : null;
    const D2 = 2 * this.config.hidden_size;
    const B = batch.batch;
    const pooled = be.floats(B * D2);
    for (let b = 0; b < B; b++) pooled.set(enc.output.subarray(b * batch.seqLen * D2, b * batch.seqLen * D2 + D2), b * D2);
    const logits = be.floats(B * this.numLabels);
    const cache = classifierForward(be, this.evalSpec(), this.headWeights().w, pooled, B, 0, logits);
    let loss: number | null = null;
    if (plan) {
      let sum = 0;
      for (let b = 0; b < B; b++) sum += classificationRowTerm(plan, b, logits, b * this.numLabels, null);
      loss = sum / plan.divisor;
    }
    return { logits, loss, count: plan?.divisor ?? 0, encoder: enc, dense: cache.z };
  }

  // ------------------------------------------------------------------ internals

  private streamed(
    batch: TokenBatch,
    labels: ClassificationLabels | null,
    call: TaskCallOptions,
  ): { logits: Float; loss: number | null; count: number } {
    const be = this.backend;
    const input = this.encoderInput(batch, false, call, WHERE);
    const plan = labels ? this.plan(labels, batch.batch) : null;
    this.checkMemory(batch, 'forward', false, false);
    const n = this.numLabels;
    const L = batch.seqLen;
    const logits = be.floats(batch.batch * n);
    const spec = this.evalSpec();
    const { w } = this.headWeights();
    let sum = 0;
    this.reformer.forwardRows(input, (r0, _n, h) => {
      if (r0 % L !== 0) return;
      const b = r0 / L;
      classifierForward(be, spec, w, h, 1, b, logits.subarray(b * n, (b + 1) * n));
      if (plan) sum += classificationRowTerm(plan, b, logits, b * n, null);
    });
    return { logits, loss: plan ? sum / plan.divisor : null, count: plan?.divisor ?? 0 };
  }

  /** The loss plan of a batch; resolves `problem_type` on the first labelled call (HF). */
  private plan(labels: ClassificationLabels, batch: number): ClassificationLossPlan {
    const problem = this.problemType ?? resolveProblemType(this.numLabels, labels instanceof Int32Array);
    const plan = classificationLossPlan(problem, labels, batch, this.numLabels); // throws before anything is kept
    this.problemType = problem;
    return plan;
  }

  private evalSpec(): ClassifierSpec {
    return { hidden: this.config.hidden_size, numLabels: this.numLabels, dropout: 0, seeds: null };
  }

  private headWeights(): { w: ClassifierWeights; g: ClassifierWeights } {
    const P = this.parameters;
    const views = (get: (n: string) => Float): ClassifierWeights => ({
      denseWeight: get('classifier.dense.weight'),
      denseBias: get('classifier.dense.bias'),
      outWeight: get('classifier.out_proj.weight'),
      outBias: get('classifier.out_proj.bias'),
    });
    return { w: views((n) => P.param(n)), g: views((n) => P.grad(n)) };
  }
}
