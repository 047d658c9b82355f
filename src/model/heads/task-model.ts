/**
 * What the three HF task heads share (`ReformerForMaskedLM`, `ReformerForSequenceClassification`,
 * `ReformerForQuestionAnswering`): a `ReformerModel` under the prefix `reformer.` and the head's own
 * parameters in ONE parameter store (HF `state_dict()` names, HF initialisation in layout order), our
 * options, the encoder call of a batch, the memory check, and the model's random state (hash rotations,
 * dropout seeds) for resumable training.
 *
 * Each head consumes the encoder's output S [B, L, 2D] (the final LayerNorm of [Y1, Y2], cut back to
 * the caller's length) as HF does; the streamed paths (`ReformerModel.forwardRows` / `trainRows`) never
 * hold S whole, `evaluate` materialises it (fixtures, diagnostics).
 */
import type { Backend, Float } from '../../backend/backend.js';
import { resolveOptions, type ReformerOptions } from '../../config/options.js';
import type { ReformerConfig } from '../../config/reformer-config.js';
import { Rng, type RngState } from '../../util/rng.js';
import type { EncoderInput } from '../encoder-types.js';
import type { ParamTensor, TokenBatch } from '../language-model.js';
import type { LmCallOptions } from '../lm-model.js';
import { checkBackendMemory } from '../memory/check.js';
import type { MemoryMode } from '../memory/estimate.js';
import { reformerParamSpecs } from '../param-specs.js';
import { Parameters, type ParamSpec } from '../parameters.js';
import { ReformerModel } from '../reformer-model.js';
import { requireModelArgs, validateTokenBatch } from '../validate-inputs.js';

/** HF class names of the models this library builds (config.json `architectures`). */
export type ReformerArchitecture =
  | 'ReformerModel'
  | 'ReformerModelWithLMHead'
  | 'ReformerForMaskedLM'
  | 'ReformerForSequenceClassification'
  | 'ReformerForQuestionAnswering';

/** Per-call extras (fixtures, conformance): injected rotations, hash rounds. */
export type TaskCallOptions = LmCallOptions;

/** The common part of the task heads: encoder under `reformer.`, one parameter store, options, random state. */
export abstract class ReformerTaskModel {
  readonly backend: Backend;
  readonly config: ReformerConfig;
  readonly options: ReformerOptions;
  readonly parameters: Parameters;
  /** The encoder (`reformer.*` parameters live in the same store). */
  readonly reformer: ReformerModel;
  /** HF class name, written to config.json `architectures`. */
  abstract readonly architecture: ReformerArchitecture;

  /**
   * @param headSpecs the head's parameters (after the encoder's in the layout).
   * @param where class name for messages.
   * @throws ConfigError without a backend, or if `config` is not a `ReformerConfig`.
   */
  protected constructor(
    backend: Backend,
    config: ReformerConfig,
    options: Partial<ReformerOptions>,
    headSpecs: readonly ParamSpec[],
    where: string,
  ) {
    requireModelArgs(where, backend, config);
    this.backend = backend;
    this.config = config;
    this.options = resolveOptions(options);
    this.parameters = new Parameters(backend, [...reformerParamSpecs(config, 'reformer.'), ...headSpecs]);
    this.parameters.initialize(new Rng(this.options.seed));
    this.reformer = new ReformerModel(backend, config, { options: this.options, prefix: 'reformer.', parameters: this.parameters });
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

  /**
   * The config to save: `num_buckets` as resolved by the first LSH forward (see
   * `ReformerModel.resolvedConfig`), plus what a head resolves itself (the classifier's `problem_type`).
   */
  resolvedConfig(): ReformerConfig {
    return this.reformer.resolvedConfig();
  }

  /** The encoder's generator state (rotations without hash_seed, dropout seeds), for trainer snapshots. */
  getRandomState(): RngState {
    return this.reformer.rng.state();
  }

  setRandomState(state: RngState): void {
    this.reformer.rng = Rng.fromState(state);
  }

  /** The encoder call of a batch (structure checked; values are checked by the encoder). */
  protected encoderInput(batch: TokenBatch, training: boolean, call: TaskCallOptions, where: string): EncoderInput {
    validateTokenBatch(batch, where);
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

  /**
   * Refuses a run whose estimated peak exceeds the backend's hard limit (WASM: 4 GiB) before anything
   * is allocated (ResourceError). `lmHead`: the masked LM's [V, 2D] head and logit blocks are counted;
   * the classification and span heads are a few rows and are not.
   */
  protected checkMemory(batch: TokenBatch, mode: MemoryMode, lmHead: boolean, logits: boolean): void {
    checkBackendMemory(this.backend, this.config, {
      batch: batch.batch,
      seqLen: batch.seqLen,
      mode,
      reversible: this.options.reversible,
      padding: batch.attentionMask != null,
      head: lmHead,
      logits,
    });
  }
}
