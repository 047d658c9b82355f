/**
 * HF `ReformerModelWithLMHead`: `ReformerModel` (prefix `reformer.`) + `ReformerOnlyLMHead`
 * (`lm_head.decoder.weight` [V, 2D], `lm_head.bias` [V], tied with `lm_head.decoder.bias`) + the
 * shifted cross-entropy (logits[:, t] predicts labels[:, t + 1], −100 ignored, mean over counted
 * targets). Implements `CausalLanguageModel` for the trainer and the CLI.
 *
 * Requires `is_decoder: true` and `*_num_chunks_after == 0` for the attention types in use (HF asserts
 * the same); the constructor throws ConfigError otherwise.
 *
 * `loss`, `logits` and the training step consume the encoder output block by block (the logits of at
 * most one block exist at a time; paper Sec. 3 "the computation of log-probabilities and the loss can
 * also be chunked"); `evaluate` materialises everything (fixtures). Before a run, the memory estimate
 * (model/memory.ts) is compared with the backend's hard limit (WASM: 4 GiB): a run that cannot fit
 * throws ResourceError with the numbers and a way out, before anything is allocated. A NaN or infinite
 * hidden state, logit or loss throws NumericalError naming where it appeared and the non-finite
 * parameter behind it, if any (model/numerics.ts).
 */
import type { Backend, Float } from '../backend/backend.js';
import { resolveOptions, type ReformerOptions } from '../config/options.js';
import { checkCausalLM, type ReformerConfig } from '../config/reformer-config.js';
import { ShapeError } from '../errors.js';
import { checkLabels, countTargets, lmHeadForward, lmHeadLoss, lmHeadLossRows, type LmHeadWeights } from '../nn/lm-head.js';
import { Rng } from '../util/rng.js';
import { DecodeSession } from './decode.js';
import type { DecodeOptions } from './decode-types.js';
import type { CausalLanguageModel, LossResult, ParamTensor, TokenBatch } from './language-model.js';
import { checkBackendMemory } from './memory/check.js';
import { estimateMemory, type MemoryEstimate, type MemoryMode } from './memory/estimate.js';
import { checkFiniteScalar, checkFiniteValues, type NumericsScope } from './numerics.js';
import { Parameters, type ParamSpec } from './parameters.js';
import { reformerParamSpecs } from './param-specs.js';
import type { EncoderInput, EncoderOutput } from './encoder-types.js';
import { ReformerModel } from './reformer-model.js';
import { requireModelArgs, requireReformerConfig, validateTokenBatch } from './validate-inputs.js';

/** Per-call extras beyond `TokenBatch` (fixtures, conformance). */
export interface LmCallOptions {
  /** Injected LSH rotations per layer index (see `EncoderInput.rotations`). */
  readonly rotations?: ReadonlyArray<Float | null | undefined> | null;
  /** Hash rounds of every LSH layer for this call instead of `num_hashes` (see `EncoderInput.numHashes`). */
  readonly numHashes?: number | null;
}

/** Result of `forwardBackward`. */
export interface LmTrainResult extends LossResult {
  /** d(loss)/d(embedding output) [batch, seqLen, hidden_size] (HF `grad:embedding_output`). */
  readonly dEmbedding: Float;
  /** The training forward's logits [batch, seqLen, vocab] if asked for, else null. */
  readonly logits: Float | null;
}

/** HF parameter names of the LM (encoder under `reformer.`, then the head). @throws ConfigError unless `config` is a `ReformerConfig`. */
export function lmParamSpecs(config: ReformerConfig): ParamSpec[] {
  requireReformerConfig(config, 'lmParamSpecs');
  return [
    ...reformerParamSpecs(config, 'reformer.'),
    {
      name: 'lm_head.decoder.weight',
      shape: [config.vocab_size, 2 * config.hidden_size],
      init: { kind: 'normal', std: config.initializer_range },
    },
    { name: 'lm_head.bias', shape: [config.vocab_size], init: { kind: 'zeros' } },
  ];
}

export class ReformerModelWithLMHead implements CausalLanguageModel {
  readonly backend: Backend;
  readonly options: ReformerOptions;
  readonly parameters: Parameters;
  /** The encoder (`reformer.*` parameters live in the same store). */
  readonly reformer: ReformerModel;

  /**
   * @param options our switches (reversible, paper-exact attention, seed). Parameters are HF-initialised
   *   from `options.seed`; load weights with `loadCheckpoint` / `parameters.set`.
   * @throws ConfigError without a backend or a `ReformerConfig`, or if the config is not a causal LM
   *   (see `checkCausalLM`).
   */
  constructor(backend: Backend, config: ReformerConfig, options: Partial<ReformerOptions> = {}) {
    requireModelArgs('ReformerModelWithLMHead', backend, config);
    checkCausalLM(config);
    this.backend = backend;
    this.options = resolveOptions(options);
    this.parameters = new Parameters(backend, lmParamSpecs(config));
    this.parameters.initialize(new Rng(this.options.seed));
    this.reformer = new ReformerModel(backend, config, { options: this.options, prefix: 'reformer.', parameters: this.parameters });
  }

  /** The config (the encoder's: `num_buckets: null` becomes the resolved value after the first LSH forward, as in HF). */
  get config(): ReformerConfig {
    return this.reformer.config;
  }

  get vocabSize(): number {
    return this.config.vocab_size;
  }

  get params(): Float {
    return this.parameters.params;
  }

  get grads(): Float {
    return this.parameters.grads;
  }

  /** Every parameter tensor (HF name, offset, size, shape), in layout order: Adafactor factors the matrices. */
  get paramTensors(): readonly ParamTensor[] {
    return this.parameters.entries;
  }

  /** Training-mode forward + backward; ACCUMULATES gradients into `grads`. */
  lossAndGrad(batch: TokenBatch): LossResult {
    const r = this.forwardBackward(batch);
    return { loss: r.loss, tokens: r.tokens };
  }

  /**
   * Training-mode forward and backward with extras: injected rotations, the gradient at the embedding
   * output, optionally the training logits. Gradients ACCUMULATE into `grads`.
   */
  forwardBackward(batch: TokenBatch, call: LmCallOptions & { returnLogits?: boolean } = {}): LmTrainResult {
    const be = this.backend;
    const labels = this.labelsOf(batch);
    const D2 = 2 * this.config.hidden_size;
    const V = this.vocabSize;
    const chunk = this.config.chunk_size_lm_head;
    const head = this.headWeights();
    const streams = this.checkMemory(batch, 'train', call.returnLogits ?? false);
    const input = { ...this.encoderInput(batch, true, call), streams };
    const tokens = countTargets(labels, batch.batch, batch.seqLen);
    const logits = call.returnLogits ? be.floats(batch.batch * batch.seqLen * V) : null;
    let sum = 0; // Σ −log p(target) over the blocks
    // the head consumes the encoder output block by block and hands back dL/dh (never [rows, 2D] or [rows, V] at once)
    const { dEmbedding } = this.reformer.trainRows(input, (r0, n, h, dh) => {
      if (logits) lmHeadForward(be, head.w, h, n, D2, V, chunk, logits.subarray(r0 * V, (r0 + n) * V));
      sum += lmHeadLossRows(be, head.w, h, r0, n, batch.seqLen, D2, V, labels, tokens, chunk, {
        weight: head.g.weight,
        bias: head.g.bias,
        dh: dh!,
      });
    });
    if (logits) checkFiniteValues(this.numerics, 'the logits', logits, logits.length);
    checkFiniteScalar(this.numerics, 'the training loss', sum);
    return { loss: tokens === 0 ? 0 : sum / tokens, tokens, dEmbedding, logits };
  }

  /**
   * Evaluation-mode loss (no dropout, no gradients; eval padding applies). Streams: the encoder output
   * and the logits exist one block of rows at a time, so memory is the two residual streams plus
   * per-block temporaries (a 2^20-token loss fits the 4 GiB WASM memory).
   */
  loss(batch: TokenBatch, call: LmCallOptions = {}): LossResult {
    const labels = this.labelsOf(batch);
    const D2 = 2 * this.config.hidden_size;
    const head = this.headWeights();
    const streams = this.checkMemory(batch, 'forward', false);
    const input = { ...this.encoderInput(batch, false, call), streams };
    const tokens = countTargets(labels, batch.batch, batch.seqLen);
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
      );
    });
    checkFiniteScalar(this.numerics, 'the loss', sum);
    return { loss: tokens === 0 ? 0 : sum / tokens, tokens };
  }

  /** Evaluation-mode logits [batch, seqLen, vocab] (fresh buffer; the encoder output is streamed into it). */
  logits(batch: TokenBatch, call: LmCallOptions = {}): Float {
    const V = this.vocabSize;
    const encoderInput = this.encoderInput(batch, false, call); // validates the batch first
    const streams = this.checkMemory(batch, 'forward', true);
    const input = { ...encoderInput, streams };
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
    checkFiniteValues(this.numerics, 'the logits', logits, logits.length);
    return logits;
  }

  /** Evaluation-mode logits and loss from ONE forward (one rotation draw), as HF's `model(ids, labels=...)`. */
  evaluate(batch: TokenBatch, call: LmCallOptions = {}): { logits: Float; encoder: EncoderOutput } & LossResult {
    const labels = this.labelsOf(batch);
    const enc = this.reformer.forward(this.encoderInput(batch, false, call));
    const head = this.headWeights();
    const r = lmHeadLoss(
      this.backend,
      head.w,
      enc.output,
      batch.batch,
      batch.seqLen,
      2 * this.config.hidden_size,
      this.vocabSize,
      labels,
      this.config.chunk_size_lm_head,
      null,
    );
    const logits = this.head(enc);
    checkFiniteValues(this.numerics, 'the logits', logits, logits.length);
    checkFiniteScalar(this.numerics, 'the loss', r.loss);
    return { logits, encoder: enc, ...r };
  }

  /**
   * Cached incremental decoding of one sequence (model/decode.ts): HF `use_cache` /
   * `past_buckets_states` semantics, batch 1. `prompt(ids)` then `step(id)`; see `DecodeSession`.
   * @throws UsageError with paper-exact attention (no cached path), ConfigError for bad options.
   */
  createDecoder(options: DecodeOptions = {}): DecodeSession {
    return new DecodeSession(this, options);
  }

  /** The config with `num_buckets` resolved by the first LSH forward (see `ReformerModel.resolvedConfig`). */
  resolvedConfig(): ReformerConfig {
    return this.reformer.resolvedConfig();
  }

  /**
   * The memory this call would need (model/memory.ts), for `batch` in `mode`, from the model's options
   * and the backend's thread count.
   */
  memoryEstimate(
    batch: Pick<TokenBatch, 'batch' | 'seqLen' | 'attentionMask'>,
    mode: MemoryMode,
    options: { logits?: boolean; optimizer?: boolean; hostStreams?: boolean } = {},
  ): MemoryEstimate {
    return estimateMemory(this.config, {
      batch: batch.batch,
      seqLen: batch.seqLen,
      mode,
      reversible: this.options.reversible,
      padding: batch.attentionMask != null,
      threads: this.backend.threads ?? 1,
      hostBlockRows: this.options.hostBlockRows,
      ...options,
    });
  }

  /**
   * Whether a call of this size keeps its residual streams in host memory (`options.hostStreams`,
   * memory/check.ts), or throws the ResourceError the call would throw.
   */
  usesHostStreams(batch: Pick<TokenBatch, 'batch' | 'seqLen' | 'attentionMask'>, mode: MemoryMode): boolean {
    return this.checkMemory({ ...batch, inputIds: new Int32Array(0) }, mode, false) === 'host';
  }

  // ------------------------------------------------------------------ internals

  /** What the non-finite checks read (numerics.ts). */
  private get numerics(): NumericsScope {
    return { be: this.backend, params: this.parameters };
  }

  /**
   * Refuses a run whose estimated peak exceeds the backend's hard limit (WASM: 4 GiB) before anything
   * is allocated: ResourceError with the numbers and a way out (see `checkMemory`).
   */
  private checkMemory(batch: TokenBatch, mode: MemoryMode, logits: boolean): 'arena' | 'host' {
    const { hostStreams } = checkBackendMemory(this.backend, this.config, {
      batch: batch.batch,
      seqLen: batch.seqLen,
      mode,
      reversible: this.options.reversible,
      padding: batch.attentionMask != null,
      logits,
      hostStreams: this.options.hostStreams,
      hostBlockRows: this.options.hostBlockRows,
      ...(this.options.hostMemoryBytes !== null ? { hostBudgetBytes: this.options.hostMemoryBytes } : {}),
    });
    return hostStreams ? 'host' : 'arena';
  }

  private head(enc: EncoderOutput): Float {
    const rows = enc.batch * enc.seqLen;
    const logits = this.backend.floats(rows * this.vocabSize);
    lmHeadForward(
      this.backend,
      this.headWeights().w,
      enc.output,
      rows,
      2 * this.config.hidden_size,
      this.vocabSize,
      this.config.chunk_size_lm_head,
      logits,
    );
    return logits;
  }

  private headWeights(): { w: LmHeadWeights; g: LmHeadWeights } {
    const P = this.parameters;
    return {
      w: { weight: P.param('lm_head.decoder.weight'), bias: P.param('lm_head.bias') },
      g: { weight: P.grad('lm_head.decoder.weight'), bias: P.grad('lm_head.bias') },
    };
  }

  private labelsOf(batch: TokenBatch): Int32Array {
    validateTokenBatch(batch, 'ReformerModelWithLMHead');
    const labels = batch.labels ?? batch.inputIds;
    const n = batch.batch * batch.seqLen;
    if (labels.length !== n) throw new ShapeError(`labels must have batch·seqLen = ${n} elements, got ${labels.length}`);
    if (batch.labels) checkLabels(labels, n, this.vocabSize); // default labels are the ids, checked by the encoder
    return labels;
  }

  private encoderInput(batch: TokenBatch, training: boolean, call: LmCallOptions): EncoderInput {
    validateTokenBatch(batch, 'ReformerModelWithLMHead');
    return {
      inputIds: batch.inputIds,
      batch: batch.batch,
      seqLen: batch.seqLen,
      attentionMask: batch.attentionMask ?? null,
      training,
      rotations: call.rotations ?? null,
      numHashes: call.numHashes ?? null,
    };
  }
}
