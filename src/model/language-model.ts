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

/**
 * One parameter tensor inside the flat `params`/`grads` buffers (`ParamEntry` of model/parameters.ts
 * fits): optimizers that treat tensors differently (Adafactor factors matrices) read these.
 */
export interface ParamTensor {
  /** e.g. the HF `state_dict()` name; names the tensor's optimizer state. */
  readonly name?: string;
  /** Element offset in the flat buffers. */
  readonly offset: number;
  /** Element count (product of `shape`). */
  readonly size: number;
  /** torch layout, e.g. `[out, in]` for a linear weight. */
  readonly shape: readonly number[];
}

export interface CausalLanguageModel {
  readonly backend: Backend;
  readonly vocabSize: number;
  /** All parameters in one flat buffer (named views elsewhere), and their gradients (same layout). */
  readonly params: Float;
  readonly grads: Float;
  /**
   * Optional: the tensors of `params`, in offset order, tiling the whole buffer. Absent: optimizers see
   * one 1-D tensor of `params.length` elements.
   */
  readonly paramTensors?: readonly ParamTensor[];
  /** Training-mode forward + backward: ACCUMULATES d(loss)/d(params) into `grads`; returns the loss. */
  lossAndGrad(batch: TokenBatch): LossResult;
  /** Evaluation-mode forward: the loss only (no gradients, no dropout). */
  loss(batch: TokenBatch): LossResult;
  /** Evaluation-mode logits: `[batch, seqLen, vocab]` (a fresh buffer owned by the caller). */
  logits(batch: TokenBatch): Float;
  /**
   * Optional: cached incremental decoding (batch 1). Absent: generation re-runs `logits` on the
   * context window for every new token.
   */
  createDecoder?(options?: IncrementalDecoderOptions): IncrementalDecoder;
}

/** Options every incremental decoder takes (implementations add their own). */
export interface IncrementalDecoderOptions {
  /** Most positions the cache may hold (default: the model's longest input). */
  readonly maxLength?: number;
  /** Positions to allocate at first (the cache grows up to `maxLength`). */
  readonly capacity?: number;
}

/**
 * Cached incremental decoding of one sequence (HF `use_cache` / `past_buckets_states`): `prompt`
 * fills the cache and returns the logits of the last prompt position, `step` appends one token and
 * returns its logits. Logits rows are fresh `[vocab]` arrays owned by the caller.
 */
export interface IncrementalDecoder {
  /** Positions cached (prompt + steps since the last `prompt`). */
  readonly length: number;
  /** Most positions the cache holds; `step` at this length throws (start again with `prompt`). */
  readonly maxLength: number;
  /** Bytes the cache takes now. */
  readonly cacheBytes: number;
  /** Forgets the cache and runs the prompt (`[1 … maxLength]` ids); logits of its last position. */
  prompt(ids: ArrayLike<number>): Float64Array;
  /** Appends one token at position `length`; its logits (the next token's distribution). */
  step(id: number): Float64Array;
}
