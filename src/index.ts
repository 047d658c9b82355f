/**
 * reformer-ts: the Reformer (Kitaev, Kaiser & Levskaya, ICLR 2020) in TypeScript with WebAssembly SIMD
 * kernels, HuggingFace-compatible (`ReformerConfig` fields, `state_dict()` parameter names, safetensors).
 *
 * This is the browser-safe core (package export `reformer-ts`): nothing here touches the file system;
 * it takes bytes and memory. Node adapters (WASM loading from disk, checkpoint folders, the CLI) are in
 * `reformer-ts/node` (src/node/index.ts).
 *
 * Modules (each file's header documents its math, shapes and conventions; docs/ARCHITECTURE.md the rules):
 * - errors: typed errors (ConfigError, ShapeError, FormatError, UsageError, ResourceError, NumericalError)
 * - config: `ReformerConfig` (HF fields and defaults), options, CLI presets
 * - backend: the `Backend` interface, `ReferenceBackend` (plain TypeScript, f32/f64), `WasmBackend`
 *   (SIMD kernels; instantiate from bytes), attention-probability dropout masks
 * - io: safetensors reader/writer
 * - attention: exact oracle, LSH and local self-attention, the attention block, the quality report
 * - model: `ReformerModel`, `ReformerModelWithLMHead`, reversible layers, checkpoints as bytes
 * - train: byte tokenizer, corpus preparation, batch sampler, AdamW, schedules, `Trainer`, evaluation
 *   in bits per byte, generation
 * - conformance: the HF fixture runner (`runConformance` over case bytes, `ConformanceRegistry` of
 *   handlers by component, `formatConformanceReport`); reading a fixture folder is `reformer-ts/node`'s
 *   `runConformanceFolder`
 * - util: the seeded generator `Rng` (xoshiro128**)
 *
 * Quick example (README "Library"): load a checkpoint's bytes, compute logits, generate.
 *
 * ```ts
 * import { ReferenceBackend, lmFromCheckpoint, generateTokens, ByteTokenizer } from 'reformer-ts';
 * const lm = lmFromCheckpoint(new ReferenceBackend(), { config: configJsonText, safetensors: weightBytes });
 * const tok = new ByteTokenizer();
 * const ids = tok.encode('Raskolnikov ');
 * const logits = lm.logits({ inputIds: ids, batch: 1, seqLen: ids.length }); // [1, seqLen, vocab_size]
 * const next = [...generateTokens(lm, ids, { maxNewTokens: 40, temperature: 0.8, seed: 0 })]; // window: the model's longest input
 * ```
 */

// ---- errors
export { ConfigError, FormatError, NumericalError, ReformerError, ResourceError, ShapeError, UsageError } from './errors.js';

// ---- config
export * from './config/index.js';

// ---- backend
export type {
  Activation,
  AdamWParams,
  AttentionDropout,
  Backend,
  ChunkAttentionBackwardParams,
  ChunkAttentionParams,
  DType,
  Float,
  GemmBatchedParams,
  GemmParams,
  LayerNormParams,
  LshHashParams,
  PaperExactParams,
  RmsNormParams,
  RowsParams,
  SoftmaxBackwardParams,
  SoftmaxParams,
} from './backend/backend.js';
export * from './backend/wasm/index.js';

// ---- io
export {
  SafetensorsFile,
  parseSafetensors,
  serializeSafetensors,
  type SafetensorsDType,
  type TensorEntry,
  type TensorToWrite,
} from './io/safetensors.js';

// ---- HF's published checkpoints: PyTorch .bin, sharded weights, SentencePiece
export * from './io/pytorch/index.js';
export * from './tokenizer/index.js';

// ---- attention (config helpers shared with `config` are exported once, from there)
export {
  attentionConfig,
  attentionBlockAddForward,
  KEY_NORM_EPS,
  MASK_VALUE,
  SELF_MASK_VALUE,
  attentionBlockBackward,
  attentionBlockForward,
  attentionQualityReport,
  lshAttendedKeys,
  lshQueryWindows,
  drawRotations,
  exactLocalAttention,
  exactSharedQkAttention,
  exactSharedQkProbabilities,
  hashBuckets,
  localAttentionBackward,
  localAttentionForward,
  localSelfAttentionBackward,
  localSelfAttentionForward,
  localSpecFromConfig,
  lshAttentionBackward,
  lshAttentionForward,
  lshCaptures,
  lshSelfAttentionBackward,
  lshSelfAttentionForward,
  lshSpecFromConfig,
  rotationShape,
  type AttentionBlockOptions,
  type AttentionConfig,
  type AttentionKind,
  type ChunkSpec,
  type LocalSelfAttentionWeights,
  type LshAttentionBlockWeights,
  type LshAttentionCache,
  type LshAttentionOptions,
  type LshAttentionSpec,
  type LshSelfAttentionOptions,
  type LshSelfAttentionWeights,
} from './attention/index.js';

// ---- model
export * from './model/index.js';

// ---- train
export * from './train/index.js';

// ---- conformance (browser-safe: cases are bytes; `readConformanceFolder` in reformer-ts/node reads a folder)
export {
  BUILTIN_HANDLER_TABLES,
  ConformanceRegistry,
  DEFAULT_CONFORMANCE_RTOL,
  SkipCase,
  createConformanceRegistry,
  formatConformanceReport,
  runConformance,
  type CaseReport,
  type CaseStatus,
  type ConformanceCaseInput,
  type ConformanceCheck,
  type ConformanceContext,
  type ConformanceHandler,
  type ConformanceOptions,
  type ConformanceOutputs,
  type ConformanceReference,
  type ConformanceReport,
  type FixtureJson,
  type TensorComparison,
} from './conformance/index.js';

// ---- util
export {
  /** The seeded generator used everywhere (xoshiro128**): u32, uniform, normal, int, split, state save/restore. */
  Rng,
  type RngState,
} from './util/rng.js';

// ---- doc comments for exports whose declarations carry none (the file headers document them in full)

export type {
  /** Parameters of `chunkAttentionForward`: `ChunkAttentionParams` plus `out` [n, d] and the per-row log-sum-exp `lse` [n]. */
  ChunkAttentionForwardParams,
  /** Parameters of `layerNormBackward`: dy, the forward's x / mean / rstd / gamma; accumulates dx, dgamma, dbeta. */
  LayerNormBackwardParams,
  /** Parameters of `rmsNormBackward` (key length-normalisation): dy, x, the forward's rstd and scale; accumulates dx. */
  RmsNormBackwardParams,
} from './backend/backend.js';
export {
  /** The oracle backend: plain TypeScript loops, float64 accumulation, f32 or f64 buffers (`{ dtype: 'f64' }` for gradient checks). */
  ReferenceBackend,
  /** Options of `new ReferenceBackend(options)`: `dtype` 'f32' (default) or 'f64'. */
  type ReferenceBackendOptions,
} from './backend/reference.js';
export {
  /** The SIMD WebAssembly backend: every `Backend` op as an AssemblyScript kernel on one linear memory (create it with `instantiateWasmBackend`). */
  WasmBackend,
  /** Construction options of `WasmBackend` (arena options plus the kernel module and variant). */
  type WasmBackendInit,
} from './backend/wasm/wasm-backend.js';
export type {
  /** Memory options of an instantiated WASM backend: shared or private memory, initial/maximum bytes, poisoning of freed memory. */
  WasmBackendOptions,
  /** Options of `instantiateWasmBackend[Sync]`: `WasmBackendOptions` plus the build variant (`simd`, `relaxed-simd`). */
  InstantiateWasmOptions,
} from './backend/wasm/load.js';
export type {
  /** Runs the parts of one split WASM operation on helper threads sharing the module's memory (Node: src/node/threads/pool.ts). */
  KernelExecutor,
} from './backend/wasm/executor.js';
export type {
  /** Options of the WASM backend's allocator: poisoning of freed memory (tests). */
  ArenaOptions,
} from './backend/wasm/arena.js';
export {
  /** Names of the CLI presets: `tiny`, `small` (the default), `base`. */
  PRESET_NAMES,
  /** A resolved preset: name, `ReformerConfig`, options, training length and the reasons for its choices. */
  type Preset,
  /** `'tiny' | 'small' | 'base'`. */
  type PresetName,
} from './config/presets.js';
export {
  /** The defaults of `ReformerOptions`: reversible backward on, HF (not paper-exact) LSH attention, seed 0. */
  DEFAULT_OPTIONS,
  /** Options of ours that are not HF config fields: `reversible` backward, `paperExactAttention`, `seed` of the initialisation. */
  type ReformerOptions,
} from './config/options.js';
export type {
  /** Everything the LSH quality report needs besides the input: batch, seqLen, the `num_hashes` values, mask, generator. */
  AttentionQualityOptions,
  /** One row of `attentionQualityReport`: relative RMS and max error vs exact attention, mean/min attention-mass recall, attended keys. */
  AttentionQualityRow,
} from './attention/quality.js';
export type {
  /** What `attentionBlockForward` keeps for the backward (layer-norm statistics, self-attention cache, LSH buckets). */
  AttentionBlockCache,
  /** The weights of an LSH or a local attention block under their HF names relative to `…layers.<i>.attention.`. */
  AttentionBlockWeights,
  /** The weights of a local attention block (HF names: layer_norm, self_attention.query/key/value, output.dense). */
  LocalAttentionBlockWeights,
} from './attention/block.js';
export type {
  /** Cache of `localAttentionForward` (inputs, scaled keys, mask, per-row log-sum-exp, dropout seed) for the backward. */
  LocalAttentionCache,
  /** What local attention computes over projected vectors: batch, seqLen, heads, headSize, chunking, causality. */
  LocalAttentionSpec,
  /** Cache of the HF `LocalSelfAttention` module forward (input reference plus the attention cache). */
  LocalSelfAttentionCache,
  /** Per-call options of `localSelfAttentionForward`: batch, seqLen, attention mask, is_decoder override, attention dropout. */
  LocalSelfAttentionOptions,
} from './attention/local.js';
export type {
  /** Cache of the HF `LSHSelfAttention` module forward (input reference plus the LSH attention cache). */
  LshSelfAttentionCache,
} from './attention/lsh-module.js';
export type {
  /** Inputs of `hashBuckets`: shared query/key vectors, shapes, rotations, num_buckets and the padding mask. */
  HashParams,
} from './attention/hashing.js';
export type {
  /** Parameters of the exact local-attention oracle (`exactLocalAttention`). */
  LocalOracleParams,
  /** Parameters of the exact shared-QK oracle (`exactSharedQkAttention`): qk, v, shapes, causality, mask. */
  SharedQkOracleParams,
  /** Precision of the oracle's arithmetic: 'f64' (default) or 'f32'. */
  OraclePrecision,
  /** Output of an oracle: `out` [batch, seqLen, heads·headSize] and the per-row log-sum-exp. */
  OracleResult,
} from './attention/oracle.js';
export {
  /** HF `ReformerModel`: embeddings, reversible layers, final LayerNorm over concat[Y1, Y2]; `forward` / `backward`. */
  ReformerModel,
  /** Construction options of `ReformerModel`: options, HF name prefix, a shared parameter store. */
  type ReformerModelInit,
} from './model/reformer-model.js';
export {
  /** HF `ReformerModelWithLMHead`: `ReformerModel` plus the LM head; `logits`, `loss`, `lossAndGrad` (a `CausalLanguageModel`). */
  ReformerModelWithLMHead,
} from './model/lm-model.js';
export type {
  /** A causal language model the trainer, evaluation and generation run on: `logits`, `loss`, `lossAndGrad`, flat params/grads. */
  CausalLanguageModel,
  /** One tensor of a model's flat buffers (name, offset, size, shape), as optimizers see it (`CausalLanguageModel.paramTensors`). */
  ParamTensor,
} from './model/language-model.js';
export {
  /** The flat parameter and gradient buffers of a model, with views by HF `state_dict()` name. */
  Parameters,
  /** A named parameter: HF name, shape, initialisation, offset in the flat buffer. */
  type ParamEntry,
  /** Name, shape and initialisation of a parameter. */
  type ParamSpec,
} from './model/parameters.js';
export type {
  /** `'reversible' | 'store' | 'inference'`: how `reversibleForward` keeps (or recomputes) activations. */
  ReversibleMode,
} from './model/reversible.js';
export type {
  /** Options of reading a checkpoint (`lmFromCheckpoint`): strict name matching, backend options. */
  LoadOptions,
  /** Options of writing a checkpoint as bytes (metadata, which tensors). */
  SaveOptions,
} from './model/checkpoint.js';
export {
  /** AdamW (decoupled weight decay, torch semantics) with global-norm gradient clipping over flat buffers; state to/from bytes. */
  AdamW,
  /** Hyper-parameters of `AdamW`: betas, eps, weight decay, clipping norm (each optional). */
  type AdamWOptions,
  /** What the trainer needs of an optimizer (AdamW, Adafactor): name, update, state to/from bytes. */
  type Optimizer,
} from './train/optimizer.js';
export {
  /** Adafactor (Shazeer & Stern 2018; HF transformers' semantics): factored second moments over a model's tensors, update clipping, RMS-relative steps; state to/from bytes. */
  Adafactor,
  /** Hyper-parameters of `Adafactor` with HF's defaults: eps, clip_threshold, decay_rate, beta1, weight_decay, scale_parameter, relative_step, warmup_init. */
  type AdafactorOptions,
} from './train/adafactor.js';
export {
  /** A byte-bigram baseline language model (counts, no gradients), for tests of the training machinery. */
  BigramLanguageModel,
  /** Options of `BigramLanguageModel`: vocabulary size and smoothing. */
  type BigramOptions,
} from './train/bigram.js';
export {
  /** File names of a checkpoint folder: config.json, model.safetensors, trainer_state.json, optimizer.safetensors. */
  CHECKPOINT_FILES,
} from './train/checkpoint.js';
export {
  /** The training loop: sampler, loss and gradient, clipping, AdamW or Adafactor, schedule, validation, hooks, exact resume. */
  Trainer,
  /** Which optimizer a run uses: `{ name: 'adamw', ... }` (the default) or `{ name: 'adafactor', ... }` with its hyper-parameters. */
  type OptimizerOptions,
  /** Why a checkpoint hook was called: `'periodic'` or `'final'`. */
  type CheckpointReason,
  /** Why `Trainer.run` stopped: `'steps'`, `'time'` or `'stop-request'`. */
  type StopReason,
  /** The training options stored in a snapshot (without the clock), for an exact resume. */
  type StoredTrainOptions,
  /** Callbacks of `Trainer.run`: per step, per validation, checkpoints, stop requests. */
  type TrainHooks,
  /** Options of a training run: batch, seqLen, steps and/or minutes, lr and schedule, validation and checkpoint cadence, seed. */
  type TrainOptions,
  /** What `Trainer.run` returns: last step, stop reason, last step and validation info, final snapshot. */
  type TrainResult,
} from './train/trainer.js';
export type {
  /** Learning-rate schedule: peak, warm-up, kind, total steps, floor. */
  LrSchedule,
  /** `'cosine' | 'inverse-sqrt' | 'constant'`. */
  ScheduleKind,
} from './train/schedule.js';
export type {
  /** Options of `evaluate`: window length, batch, window cap, bytes per token, progress callback. */
  EvaluateOptions,
  /** Result of `evaluate`: loss in nats per token, bits per byte, targets scored, windows run. */
  EvaluateResult,
} from './train/evaluate.js';
export {
  /** Options of `generateTokens`: sampling options plus maxNewTokens, window, padding and stop rules (all optional for a `ReformerModelWithLMHead`). */
  type GenerateOptions,
  /** Sampling options: temperature (0 = greedy), top-k, top-p, seed. */
  type SamplingOptions,
  /** `generateTokens`' default number of new tokens (20). */
  DEFAULT_MAX_NEW_TOKENS,
  /** The longest input a model takes when it reports one (a `ReformerModelWithLMHead`), else null: `generateTokens`' default window. */
  modelMaxContext,
} from './train/generate.js';
export type {
  /** Options of the batch sampler: batch, seqLen, seed. */
  SamplerOptions,
  /** Options of `splitTokens`: validation fraction and window length. */
  SplitOptions,
} from './train/data.js';
export type {
  /** `'auto' | 'text' | 'fasta'`: how `prepareCorpus` reads bytes. */
  CorpusFormat,
  /** Options of `prepareCorpus`: format, FASTA handling. */
  PrepareCorpusOptions,
} from './train/corpus.js';
