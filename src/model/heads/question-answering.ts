/**
 * HF `ReformerForQuestionAnswering`: `ReformerModel` (prefix `reformer.`) + `qa_outputs`, a Linear
 * 2D → num_labels (= 2; HF unpacks exactly two channels) at every position:
 *
 *   [start_logits, end_logits][b, t] = S[b, t]·W_qaᵀ + b_qa         channel 0 = start, 1 = end, [B, L] each
 *   loss = (CE_start + CE_end) / 2, positions clamped to [0, L], L ignored (losses.ts `spanLoss`)
 *
 * The loss is a softmax over the positions of a row, so its gradient at a row needs every block of that
 * row: the training step runs the encoder's output stage twice (`trainRows` with a `prepass`): once for
 * the logits, then, with the loss known, for d(loss)/dS block by block. Nothing of [B, L, 2D] is held.
 *
 * `qa_outputs.bias` and the encoder's final LayerNorm bias get zero gradient in exact arithmetic (a
 * constant added to all of a row's logits leaves a softmax over positions unchanged); what we compute
 * there is rounding noise (≈ 1e-8), as HF's is.
 */
import type { Backend, Float } from '../../backend/backend.js';
import type { ReformerOptions } from '../../config/options.js';
import type { ReformerConfig } from '../../config/reformer-config.js';
import { linearBackward, linearForward } from '../../nn/linear.js';
import type { EncoderOutput } from '../encoder-types.js';
import type { LossResult, TokenBatch } from '../language-model.js';
import type { ParamSpec } from '../parameters.js';
import { clampPositions, spanLoss, type SpanLoss } from './losses.js';
import { checkQuestionAnswering, labelInfo } from './task-config.js';
import { ReformerTaskModel, type TaskCallOptions } from './task-model.js';
import { requireModelArgs } from '../validate-inputs.js';

const WHERE = 'ReformerForQuestionAnswering';

/** HF parameter names of the span head (after the encoder's `reformer.*`). */
export function qaParamSpecs(config: ReformerConfig): ParamSpec[] {
  return [
    { name: 'qa_outputs.weight', shape: [2, 2 * config.hidden_size], init: { kind: 'normal', std: config.initializer_range } },
    { name: 'qa_outputs.bias', shape: [2], init: { kind: 'zeros' } },
  ];
}

/** Answer spans of a batch: token positions [B] (inclusive end), HF `start_positions` / `end_positions`. */
export interface SpanPositions {
  readonly start: ArrayLike<number>;
  readonly end: ArrayLike<number>;
}

/** Start and end logits [B, L] each (buffers of the backend). */
export interface SpanLogits {
  readonly start: Float;
  readonly end: Float;
}

/** HF `ReformerForQuestionAnswering`: encoder + `qa_outputs` start/end logits per position; HF's clamped span loss. */
export class ReformerForQuestionAnswering extends ReformerTaskModel {
  readonly architecture = 'ReformerForQuestionAnswering' as const;

  /** @throws ConfigError without a backend or a `ReformerConfig`, or unless num_labels is 2 (see `checkQuestionAnswering`). */
  constructor(backend: Backend, config: ReformerConfig, options: Partial<ReformerOptions> = {}) {
    requireModelArgs(WHERE, backend, config);
    checkQuestionAnswering(labelInfo(config));
    super(backend, config, options, qaParamSpecs(config), WHERE);
  }

  /** Training-mode forward + backward; ACCUMULATES gradients. `tokens` = rows counted by the start loss. */
  lossAndGrad(batch: TokenBatch, positions: SpanPositions): LossResult {
    const r = this.forwardBackward(batch, positions);
    return { loss: r.loss.loss, tokens: r.loss.startCount };
  }

  /**
   * Training-mode forward and backward (dropout on, reversible backward per options): the span logits
   * of the training forward, HF's span loss, gradients ACCUMULATED into `grads`, d(loss)/d(embedding
   * output), each LSH layer's buckets. A side with no counted row has a NaN loss (HF) and contributes no gradient.
   * @throws ShapeError (ids, mask, positions), ConfigError / ResourceError as `ReformerModel.forward`.
   */
  forwardBackward(
    batch: TokenBatch,
    positions: SpanPositions,
    call: TaskCallOptions = {},
  ): SpanLogits & { loss: SpanLoss; dEmbedding: Float; buckets: ReadonlyArray<Int32Array | null> } {
    const be = this.backend;
    const input = this.encoderInput(batch, true, call, WHERE);
    const { batch: B, seqLen: L } = batch;
    clampPositions(positions.start, B, L, 'start_positions'); // checked before any work
    clampPositions(positions.end, B, L, 'end_positions');
    this.checkMemory(batch, 'train', false, false);
    const D2 = 2 * this.config.hidden_size;
    const start = be.floats(B * L);
    const end = be.floats(B * L);
    const P = this.parameters;
    const w = P.param('qa_outputs.weight');
    const bias = P.param('qa_outputs.bias');
    // filled at the first block of the gradient pass, once the prepass has produced every logit
    const st: { loss: SpanLoss | null; dStart: Float64Array; dEnd: Float64Array } = {
      loss: null,
      dStart: new Float64Array(B * L),
      dEnd: new Float64Array(B * L),
    };
    const { dEmbedding, buckets } = this.reformer.trainRows(
      input,
      (r0, n, h, dh) => {
        // every block's logits are in (prepass): the loss and d(loss)/d(logits) of the whole batch
        st.loss ??= spanLoss(start, end, B, L, positions.start, positions.end, st.dStart, st.dEnd);
        const dLogits = be.floats(n * 2);
        for (let i = 0; i < n; i++) {
          dLogits[2 * i] = st.dStart[r0 + i]!;
          dLogits[2 * i + 1] = st.dEnd[r0 + i]!;
        }
        // [start, end] = h·W_qaᵀ + b_qa
        linearBackward(be, h, n, D2, w, 2, dLogits, dh!, P.grad('qa_outputs.weight'), P.grad('qa_outputs.bias'));
      },
      { prepass: (r0, n, h) => this.spanRows(h, n, r0, w, bias, start, end) },
    );
    return { start, end, loss: st.loss!, dEmbedding, buckets };
  }

  /** Evaluation-mode start/end logits [B, L] (streamed encoder output). */
  logits(batch: TokenBatch, call: TaskCallOptions = {}): SpanLogits {
    const input = this.encoderInput(batch, false, call, WHERE);
    this.checkMemory(batch, 'forward', false, false);
    const { batch: B, seqLen: L } = batch;
    const start = this.backend.floats(B * L);
    const end = this.backend.floats(B * L);
    const w = this.parameters.param('qa_outputs.weight');
    const bias = this.parameters.param('qa_outputs.bias');
    this.reformer.forwardRows(input, (r0, n, h) => this.spanRows(h, n, r0, w, bias, start, end));
    return { start, end };
  }

  /**
   * Evaluation-mode logits and (with positions) loss from ONE forward, as HF's `model(input_ids,
   * attention_mask, start_positions, end_positions)`, with the encoder output (fixtures).
   */
  evaluate(
    batch: TokenBatch,
    positions: SpanPositions | null = null,
    call: TaskCallOptions = {},
  ): SpanLogits & { loss: SpanLoss | null; encoder: EncoderOutput } {
    const enc = this.reformer.forward(this.encoderInput(batch, false, call, WHERE));
    const { batch: B, seqLen: L } = batch;
    const start = this.backend.floats(B * L);
    const end = this.backend.floats(B * L);
    this.spanRows(enc.output, B * L, 0, this.parameters.param('qa_outputs.weight'), this.parameters.param('qa_outputs.bias'), start, end);
    const loss = positions ? spanLoss(start, end, B, L, positions.start, positions.end, null, null) : null;
    return { start, end, loss, encoder: enc };
  }

  /** Span logits of rows r0 … r0 + n − 1 (h [n, 2D]) into start/end [B·L]. */
  private spanRows(h: Float, n: number, r0: number, w: Float, bias: Float, start: Float, end: Float): void {
    const be = this.backend;
    be.scope(() => {
      const out = be.floats(n * 2);
      linearForward(be, h, n, 2 * this.config.hidden_size, w, 2, bias, out); // [n, 2]
      for (let i = 0; i < n; i++) {
        start[r0 + i] = out[2 * i]!;
        end[r0 + i] = out[2 * i + 1]!;
      }
    });
  }
}
