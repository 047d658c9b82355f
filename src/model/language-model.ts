/**
 * What training, evaluation and generation need from a causal language model. Implemented by
 * `ReformerModelWithLMHead` (model/); consumed by train/ and the CLI, so both sides can be built and
 * tested independently.
 */
import type { Backend, Float } from '../backend/backend.js';

/** A batch of token ids: `inputIds: [batch, seqLen]`, row-major. Labels default to the inputs (shifted inside). */
export interface TokenBatch {
  readonly inputIds: Int32Array;
  readonly batch: number;
  readonly seqLen: number;
  /** `[batch, seqLen]`, 1 = real token, 0 = padding; null = all real. */
  readonly attentionMask?: Int32Array | null;
  /** `[batch, seqLen]`, −100 = ignored; null = `inputIds`. HF shifts: logits[t] predicts labels[t+1]. */
  readonly labels?: Int32Array | null;
}

/** Mean cross-entropy in nats over the counted targets, and how many targets were counted. */
export interface LossResult {
  readonly loss: number;
  readonly tokens: number;
}

export interface CausalLanguageModel {
  readonly backend: Backend;
  readonly vocabSize: number;
  /** All parameters in one flat buffer (named views elsewhere), and their gradients (same layout). */
  readonly params: Float;
  readonly grads: Float;
  /** Training-mode forward + backward: ACCUMULATES d(loss)/d(params) into `grads`; returns the loss. */
  lossAndGrad(batch: TokenBatch): LossResult;
  /** Evaluation-mode forward: the loss only (no gradients, no dropout). */
  loss(batch: TokenBatch): LossResult;
  /** Evaluation-mode logits: `[batch, seqLen, vocab]` (a fresh buffer owned by the caller). */
  logits(batch: TokenBatch): Float;
}
