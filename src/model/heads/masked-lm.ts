/**
 * HF `ReformerForMaskedLM`: `ReformerModel` (prefix `reformer.`, bidirectional: `is_decoder` must be
 * false) + `ReformerOnlyLMHead` (`lm_head.decoder.weight` [V, 2D], `lm_head.bias` [V], tied with
 * `lm_head.decoder.bias`; the decoder is not tied to the word embeddings).
 *
 *   logits[b, t] = S[b, t]·W_decᵀ + bias                       at every position, [B, L, V]
 *   loss = mean over (b, t) with labels[b, t] ≠ −100 of −log softmax(logits[b, t])[labels[b, t]]
 *
 * There is NO shift (unlike `ReformerModelWithLMHead`): position t predicts its own label, which the
 * caller sets to the original token at masked positions and −100 elsewhere (see train/masking.ts for
 * HF's 80/10/10 recipe). A label on a padded position counts too (HF); put −100 there.
 *
 * The loss and the training step consume the encoder output block by block, as the causal LM does
 * (nn/lm-head.ts, `shift` 0): at most one block of logits exists at a time.
 */
import type { Backend, Float } from '../../backend/backend.js';
import type { ReformerOptions } from '../../config/options.js';
import type { ReformerConfig } from '../../config/reformer-config.js';
import { ShapeError } from '../../errors.js';
import { checkLabels, countTargets, lmHeadForward, lmHeadLoss, lmHeadLossRows, type LmHeadWeights } from '../../nn/lm-head.js';
import type { EncoderOutput } from '../encoder-types.js';
import type { LossResult, TokenBatch } from '../language-model.js';
import { lmParamSpecs, type LmTrainResult } from '../lm-model.js';
import { reformerParamSpecs } from '../param-specs.js';
import { checkMaskedLM } from './task-config.js';
import { ReformerTaskModel, type TaskCallOptions } from './task-model.js';
import { requireModelArgs } from '../validate-inputs.js';

const WHERE = 'ReformerForMaskedLM';

/** HF parameter names of the masked LM: the encoder under `reformer.`, then `lm_head.*` (the causal LM's names). */
export function maskedLmParamSpecs(config: ReformerConfig): ReturnType<typeof lmParamSpecs> {
  return lmParamSpecs(config);
}

/** HF `ReformerForMaskedLM`: bidirectional encoder + LM head, unshifted masked-token loss; `logits`, `loss`, `lossAndGrad`, `evaluate`. */
export class ReformerForMaskedLM extends ReformerTaskModel {
  readonly architecture = 'ReformerForMaskedLM' as const;

  /**
   * @throws ConfigError without a backend or a `ReformerConfig`, or if `is_decoder` is true (HF asserts it is false).
   */
  constructor(backend: Backend, config: ReformerConfig, options: Partial<ReformerOptions> = {}) {
    requireModelArgs(WHERE, backend, config);
    checkMaskedLM(config);
    const encoder = reformerParamSpecs(config, 'reformer.').length;
    super(backend, config, options, maskedLmParamSpecs(config).slice(encoder), WHERE);
  }

  get vocabSize(): number {
    return this.config.vocab_size;
  }

  /** Training-mode forward + backward; ACCUMULATES gradients. `batch.labels` is required (unshifted). */
  lossAndGrad(batch: TokenBatch): LossResult {
    const r = this.forwardBackward(batch);
    return { loss: r.loss, tokens: r.tokens };
  }

  /**
   * Training-mode forward and backward (dropout on, reversible backward per options): the masked-LM
   * loss over `batch.labels`, gradients ACCUMULATED into `grads`, d(loss)/d(embedding output), and the
   * training logits [B, L, V] if asked for, and each LSH layer's buckets. A batch without a counted
   * label has loss 0 and no gradient.
   * @throws ShapeError (ids, mask, labels: missing, wrong length, outside [0, vocab) and not −100),
   *   ConfigError / ResourceError as `ReformerModel.forward`.
   */
  forwardBackward(
    batch: TokenBatch,
    call: TaskCallOptions & { returnLogits?: boolean } = {},
  ): LmTrainResult & { buckets: ReadonlyArray<Int32Array | null> } {
    const be = this.backend;
    const labels = this.labelsOf(batch);
    const input = this.encoderInput(batch, true, call, WHERE);
    const D2 = 2 * this.config.hidden_size;
    const V = this.vocabSize;
    const chunk = this.config.chunk_size_lm_head;
    const head = this.headWeights();
    this.checkMemory(batch, 'train', true, call.returnLogits ?? false);
    const tokens = countTargets(labels, batch.batch, batch.seqLen, 0);
    const logits = call.returnLogits ? be.floats(batch.batch * batch.seqLen * V) : null;
    let sum = 0;
    const { dEmbedding, buckets } = this.reformer.trainRows(input, (r0, n, h, dh) => {
      if (logits) lmHeadForward(be, head.w, h, n, D2, V, chunk, logits.subarray(r0 * V, (r0 + n) * V));
      sum += lmHeadLossRows(be, head.w, h, r0, n, batch.seqLen, D2, V, labels, tokens, chunk, { ...head.g, dh: dh! }, 0);
    });
    return { loss: tokens === 0 ? 0 : sum / tokens, tokens, dEmbedding, logits, buckets };
  }

  /** Evaluation-mode loss over `batch.labels` (streamed: the logits of one block at a time). */
  loss(batch: TokenBatch, call: TaskCallOptions = {}): LossResult {
    const labels = this.labelsOf(batch);
    const input = this.encoderInput(batch, false, call, WHERE);
    const D2 = 2 * this.config.hidden_size;
    const head = this.headWeights();
    this.checkMemory(batch, 'forward', true, false);
    const tokens = countTargets(labels, batch.batch, batch.seqLen, 0);
    let sum = 0;
    this.reformer.forwardRows(input, (r0, n, h) => {
      sum += lmHeadLossRows(
        this.backend,
        head.w,
        h,
        r0,
        n,
        batch.seqLen,
        D2,
        this.vocabSize,
        labels,
        tokens,
        this.config.chunk_size_lm_head,
        null,
        0,
      );
    });
    return { loss: tokens === 0 ? 0 : sum / tokens, tokens };
  }

  /** Evaluation-mode logits [B, L, V] (a fresh buffer; the encoder output is streamed into it). */
  logits(batch: TokenBatch, call: TaskCallOptions = {}): Float {
    const input = this.encoderInput(batch, false, call, WHERE);
    const V = this.vocabSize;
    this.checkMemory(batch, 'forward', true, true);
    const logits = this.backend.floats(batch.batch * batch.seqLen * V);
    const head = this.headWeights();
    this.reformer.forwardRows(input, (r0, n, h) => {
      lmHeadForward(
        this.backend,
        head.w,
        h,
        n,
        2 * this.config.hidden_size,
        V,
        this.config.chunk_size_lm_head,
        logits.subarray(r0 * V, (r0 + n) * V),
      );
    });
    return logits;
  }

  /**
   * Evaluation-mode logits and (with `batch.labels`) loss from ONE forward (one rotation draw), as HF's
   * `model(input_ids, attention_mask, labels)`; also the encoder output (fixtures). Without labels the
   * loss is null.
   */
  evaluate(batch: TokenBatch, call: TaskCallOptions = {}): { logits: Float; encoder: EncoderOutput; loss: number | null; tokens: number } {
    const labels = batch.labels ? this.labelsOf(batch) : null;
    const enc = this.reformer.forward(this.encoderInput(batch, false, call, WHERE));
    const head = this.headWeights();
    const D2 = 2 * this.config.hidden_size;
    const rows = enc.batch * enc.seqLen;
    const V = this.vocabSize;
    const logits = this.backend.floats(rows * V);
    lmHeadForward(this.backend, head.w, enc.output, rows, D2, V, this.config.chunk_size_lm_head, logits);
    if (!labels) return { logits, encoder: enc, loss: null, tokens: 0 };
    const r = lmHeadLoss(
      this.backend,
      head.w,
      enc.output,
      batch.batch,
      batch.seqLen,
      D2,
      V,
      labels,
      this.config.chunk_size_lm_head,
      null,
      0,
    );
    return { logits, encoder: enc, loss: r.loss, tokens: r.tokens };
  }

  private headWeights(): { w: LmHeadWeights; g: LmHeadWeights } {
    const P = this.parameters;
    return {
      w: { weight: P.param('lm_head.decoder.weight'), bias: P.param('lm_head.bias') },
      g: { weight: P.grad('lm_head.decoder.weight'), bias: P.grad('lm_head.bias') },
    };
  }

  private labelsOf(batch: TokenBatch): Int32Array {
    this.encoderInput(batch, false, {}, WHERE); // structure first
    const n = batch.batch * batch.seqLen;
    if (!batch.labels) {
      throw new ShapeError(
        `${WHERE}: labels [batch, seqLen] = ${n} are required for the loss (the original token at each masked position, −100 elsewhere); there is no default, unlike the causal LM`,
      );
    }
    checkLabels(batch.labels, n, this.vocabSize);
    return batch.labels;
  }
}
