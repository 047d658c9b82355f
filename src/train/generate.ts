/**
 * Text generation: a streaming generator of token ids (sampling: sampling.ts; text, stop sequences and
 * abort: stream.ts).
 *
 * Two paths give the next token's logits:
 * - cached (`useCache`, the default for models with `createDecoder`, i.e. `ReformerModelWithLMHead`):
 *   one prompt pass fills the model's per-layer cache, then every new token is one cached step
 *   (model/decode.ts, HF `past_buckets_states`), O(window) work per token instead of a whole forward.
 *   The cache never holds more than `window` positions: when it is full, it is rebuilt by a prompt
 *   pass over the last `keepOnSlide` tokens (default ⌈window/2⌉; positions restart at 0), so a long
 *   generation costs one such pass per `window − keepOnSlide` tokens.
 * - uncached (`useCache: false`, `padToWindow`, or a model without a decoder): every new token re-runs
 *   `model.logits` on the last `window` tokens of the context (positions 0 … window−1).
 * Both sample with the same generator (one uniform number per token), so a seed gives the same text on
 * both paths wherever their logits agree: local-only Reformers within the window (up to rounding). LSH
 * layers differ by design (HF's cached rule re-sorts only the new query; README, "Cached decoding"), and
 * past the window the two paths slide differently.
 *
 * The window defaults to the longest input the model takes when it reports one (`modelMaxContext`: a
 * `ReformerModelWithLMHead` does, through its `ReformerConfig`); other models need `window`.
 */
import type { Float } from '../backend/backend.js';
import { ReformerConfig } from '../config/reformer-config.js';
import { ConfigError, NumericalError, ShapeError } from '../errors.js';
import type { CausalLanguageModel, LossResult, TokenBatch } from '../model/language-model.js';
import { maxContextLength } from '../model/lengths.js';
import { describeValue, modelArg } from '../util/args.js';
import { Rng } from '../util/rng.js';
import { applyRepetitionPenalty, sampleToken, validateSampling, type SamplingOptions } from './sampling.js';

export {
  applyRepetitionPenalty,
  drawFrom,
  sampleToken,
  samplingDistribution,
  validateSampling,
  type SamplingOptions,
} from './sampling.js';

/** `GenerateOptions.maxNewTokens` when it is not given. */
export const DEFAULT_MAX_NEW_TOKENS = 20;

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate (> 0). Default `DEFAULT_MAX_NEW_TOKENS` (20, HF `generate`'s default length). */
  maxNewTokens?: number;
  /** Seed of the sampler. Default 0. */
  seed?: number;
  /**
   * Context window in tokens: the model sees at most the last `window` tokens. Default: the longest
   * input the model takes (`modelMaxContext`), e.g. 1024 for the `tiny` preset (Π axial_pos_shape
   * [32, 32], max_position_embeddings 1024). Required for a model that does not report it (any
   * `CausalLanguageModel` other than `ReformerModelWithLMHead`): a ConfigError names `window` then.
   * A window longer than what the model takes is a ConfigError (not clamped), before any work.
   */
  window?: number;
  /**
   * Feed exactly `window` tokens every step: the context sits at the start and the rest is padding
   * (`padId`, attention mask 0), and the logits at the last real position are used. For models that
   * only accept their training length. Causal attention keeps the padding from influencing the result.
   * Default false (feed the context at its own length).
   */
  padToWindow?: boolean;
  /** Padding id for `padToWindow`. Default 0. */
  padId?: number;
  /** Ids never generated (e.g. the byte tokenizer's special ids 0 and 1); they may not cover the whole vocabulary. */
  suppressIds?: readonly number[];
  /** Stop early after yielding a token for which this returns true. */
  stopAfter?: (id: number) => boolean;
  /**
   * Hash rounds of every LSH layer for each forward instead of the config's `num_hashes` (HF's per-call
   * `num_hashes`); a `ReformerModelWithLMHead` with LSH layers only (else ConfigError('num_hashes')).
   */
  numHashes?: number;
  /**
   * Cached incremental decoding when the model has it (`createDecoder`), `padToWindow` is off and no
   * per-call `numHashes` is given (the cache hashes with the config's `num_hashes`). Default true; false
   * re-runs the model on the window for every token.
   */
  useCache?: boolean;
  /** Cached path: tokens the cache is rebuilt from when it holds `window` positions. Default ⌈window/2⌉. */
  keepOnSlide?: number;
}

/** What a generation did (filled in while it runs; see `generateTokens`' `stats`). */
export interface GenerationStats {
  /** The cached path ran. */
  cached: boolean;
  /** Tokens of the prompt the model saw (at most `window`). */
  promptTokens: number;
  /** Tokens generated so far. */
  newTokens: number;
  /** Milliseconds until the first token was sampled (the prompt pass, or the first forward). */
  firstTokenMs: number;
  /** Milliseconds of model work so far (prompt passes, steps, forwards). */
  modelMs: number;
  /** Cached path: prompt passes after the first (the cache was full and slid). */
  slides: number;
}

/**
 * The longest input `model.logits` takes, when the model reports it: for a model with a
 * `ReformerConfig` (`ReformerModelWithLMHead`), min(max_position_embeddings, Π axial_pos_shape with
 * axial position embeddings), lowered to a multiple of the chunk lengths' lcm where longer inputs would
 * be padded past it (HF's eval padding). null for other models (the caller must know).
 */
export function modelMaxContext(model: CausalLanguageModel): number | null {
  modelArg('modelMaxContext', model, []);
  const config = reformerConfigOf(model);
  return config === null ? null : maxContextLength(config);
}

/** The `ReformerConfig` of a model that has one (`ReformerModelWithLMHead`, the CLI's `ReformerLM`), else null. */
function reformerConfigOf(model: CausalLanguageModel): ReformerConfig | null {
  const config = (model as { readonly config?: unknown } | null | undefined)?.config;
  return config instanceof ReformerConfig ? config : null;
}

/** Per-call model options (`ReformerModelWithLMHead.loss/logits(batch, call)`). */
export interface ModelCallOptions {
  /** Hash rounds of every LSH layer for this call instead of the config's `num_hashes`. */
  readonly numHashes?: number;
}

/**
 * The per-call options for `numHashes` (HF's per-call `num_hashes`: more rounds at evaluation recover
 * more of full attention, paper Table 2), checked against the model; `{}` when `numHashes` is absent.
 * @param where the caller and option, for messages, e.g. `evaluate: numHashes`.
 * @throws ConfigError('num_hashes') for a value that is not a positive integer, a model without a
 *   `ReformerConfig` (it takes no per-call options), or one without LSH layers (nothing to change).
 */
export function numHashesCall(model: CausalLanguageModel, numHashes: number | undefined, where: string): ModelCallOptions {
  if (numHashes === undefined) return {};
  if (typeof numHashes !== 'number' || !Number.isSafeInteger(numHashes) || numHashes < 1) {
    throw new ConfigError('num_hashes', `${where} must be a positive integer (hash rounds), got ${describeValue(numHashes)}`);
  }
  const config = reformerConfigOf(model);
  if (config === null) {
    throw new ConfigError(
      'num_hashes',
      `${where}: this model has no LSH attention (only a ReformerModelWithLMHead takes a per-call num_hashes)`,
    );
  }
  if (!config.attn_layers.includes('lsh')) {
    throw new ConfigError(
      'num_hashes',
      `${where}: the model has no LSH layers (attn_layers ${JSON.stringify(config.attn_layers)}), so the number of hash rounds changes nothing; leave it out`,
    );
  }
  return { numHashes };
}

/** `model.loss(batch, call)`: the per-call options reach models that take them (`ReformerModelWithLMHead`); `{}` is a plain call. */
export function callLoss(model: CausalLanguageModel, batch: TokenBatch, call: ModelCallOptions): LossResult {
  return call.numHashes === undefined
    ? model.loss(batch)
    : (model.loss as (b: TokenBatch, c: ModelCallOptions) => LossResult).call(model, batch, call);
}

/** `model.logits(batch, call)`, as `callLoss`. */
export function callLogits(model: CausalLanguageModel, batch: TokenBatch, call: ModelCallOptions): Float {
  return call.numHashes === undefined
    ? model.logits(batch)
    : (model.logits as (b: TokenBatch, c: ModelCallOptions) => Float).call(model, batch, call);
}

/** The checks of `generateTokens`, in the order a caller should hear about problems; returns the resolved settings. */
function resolveGenerate(
  model: CausalLanguageModel,
  prompt: ArrayLike<number>,
  options: GenerateOptions,
): { sampling: Required<SamplingOptions>; maxNewTokens: number; window: number; keepOnSlide: number; call: ModelCallOptions } {
  modelArg('generateTokens', model, ['logits']);
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(
      'options',
      `must be an object such as { maxNewTokens: 40, temperature: 0.8 } (or left out), got ${describeValue(options)}`,
    );
  }
  // the prompt and the vocabulary first: these are wrong whatever the window
  if (prompt === null || typeof prompt !== 'object' || typeof (prompt as { length?: unknown }).length !== 'number') {
    throw new ShapeError(`prompt must be an array of token ids (e.g. ByteTokenizer.encode(text)), got ${describeValue(prompt)}`);
  }
  if (prompt.length === 0) throw new ConfigError('prompt', 'is empty; the model needs at least one token of context');
  const vocab = model.vocabSize;
  for (let i = 0; i < prompt.length; i++) {
    const t = prompt[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= vocab) {
      throw new ShapeError(`prompt[${i}] = ${t} is outside the vocabulary [0, ${vocab}); encode the prompt with the model's tokenizer`);
    }
  }
  const suppress = options.suppressIds ?? [];
  if (suppress.length >= vocab) {
    const suppressed = new Set(suppress.filter((id) => Number.isInteger(id) && id >= 0 && id < vocab));
    if (suppressed.size === vocab) {
      throw new ConfigError(
        'suppress_ids',
        `suppresses all ${vocab} ids of the vocabulary, so no token could be generated; leave at least one id out`,
      );
    }
  }
  if (options.padId !== undefined && (!Number.isInteger(options.padId) || options.padId < 0 || options.padId >= vocab)) {
    throw new ConfigError('pad_id', `is ${options.padId}, outside the vocabulary [0, ${vocab}); use the model's pad_token_id`);
  }
  const sampling = validateSampling(options);
  const maxNewTokens = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  if (!Number.isSafeInteger(maxNewTokens) || maxNewTokens <= 0)
    throw new ConfigError('max_new_tokens', `must be a positive integer, got ${maxNewTokens}`);
  // then the window: the model's longest input unless given, never longer
  const max = modelMaxContext(model);
  const window = options.window ?? max;
  if (window === null) {
    throw new ConfigError(
      'window',
      'is required for this model: it does not report the longest input it takes (only a ReformerModelWithLMHead does); pass window, e.g. the sequence length it was trained on',
    );
  }
  if (!Number.isSafeInteger(window) || window <= 0) throw new ConfigError('window', `must be a positive integer, got ${window}`);
  if (max !== null && window > max) {
    throw new ConfigError(
      'window',
      `${window} is longer than the ${max} tokens this model takes (max_position_embeddings, Π axial_pos_shape and the chunk lengths of its config); pass at most ${max}, or leave window out to use ${max}`,
    );
  }
  const keepOnSlide = options.keepOnSlide ?? Math.ceil(window / 2);
  if (!Number.isSafeInteger(keepOnSlide) || keepOnSlide < 1 || keepOnSlide >= window) {
    throw new ConfigError('keep_on_slide', `must be an integer in [1, window − 1] = [1, ${window - 1}], got ${keepOnSlide}`);
  }
  const call = numHashesCall(model, options.numHashes, 'generateTokens: numHashes');
  return { sampling, maxNewTokens, window, keepOnSlide, call };
}

/**
 * Streams `maxNewTokens` sampled token ids after `prompt` (`[promptTokens]`, at least one token), by
 * the cached or the uncached path (see the file header). Everything is checked when `generateTokens` is
 * called, before the first token is asked for.
 * @param options every field is optional for a `ReformerModelWithLMHead` (defaults: 20 new tokens,
 *   temperature 1, no top-k/top-p/repetition penalty, seed 0, the model's longest window, the cache);
 *   other models need `window`.
 * @param stats filled in as tokens are produced (which path, timings, slides).
 * @throws ConfigError for invalid options: an empty prompt (`prompt`), suppressIds covering the whole
 *   vocabulary (`suppress_ids`), a pad id outside the vocabulary, sampling values out of range, no
 *   `window` for a model that does not report its longest input, or a window longer than it
 *   (`window`), a bad `keepOnSlide`; ShapeError for a prompt that is not an array of ids or holds ids
 *   outside the vocabulary, or if the model returns logits of the wrong size; ConfigError('model') for
 *   something that is not a model, ConfigError('num_hashes') for a `numHashes` the model cannot take;
 *   ResourceError (while running) if the cache or a prompt pass cannot fit; NumericalError (while
 *   iterating) if the model's logits are not finite (its message names what was not finite, e.g. a
 *   damaged weight).
 */
export function generateTokens(
  model: CausalLanguageModel,
  prompt: ArrayLike<number>,
  options: GenerateOptions = {},
  stats: GenerationStats = newStats(),
): Generator<number, void, void> {
  const { sampling, maxNewTokens, window, keepOnSlide, call } = resolveGenerate(model, prompt, options);
  // the cached path takes the config's num_hashes only: a per-call numHashes runs the uncached path
  const cached =
    options.useCache !== false && !options.padToWindow && call.numHashes === undefined && typeof model.createDecoder === 'function';
  Object.assign(stats, newStats(), { cached, promptTokens: Math.min(prompt.length, window) });
  const context = Array.from(prompt);
  const source = cached
    ? cachedSource(model, window, keepOnSlide, Math.min(window, prompt.length + maxNewTokens), stats)
    : uncachedSource(model, window, options, call);
  return sampleTokens(model.vocabSize, context, source, options, sampling, maxNewTokens, stats);
}

/** A fresh `GenerationStats`. */
export function newStats(): GenerationStats {
  return { cached: false, promptTokens: 0, newTokens: 0, firstTokenMs: 0, modelMs: 0, slides: 0 };
}

/** Next-token logits `[vocab]` for the context so far (which already ends with the last id). */
type LogitsSource = (context: readonly number[], first: boolean) => Float64Array;

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/** The cached path: one prompt pass, then one step per token; a full cache slides to the last `keep` tokens. */
function cachedSource(model: CausalLanguageModel, window: number, keep: number, capacity: number, stats: GenerationStats): LogitsSource {
  const session = model.createDecoder!({ maxLength: window, capacity });
  return (context, first) => {
    if (first) return session.prompt(context.slice(-window));
    if (session.length >= window) {
      stats.slides++;
      return session.prompt(context.slice(-keep));
    }
    return session.step(context[context.length - 1]!);
  };
}

/** The uncached path: `model.logits` on the last `window` tokens (padded to `window` with `padToWindow`). */
function uncachedSource(model: CausalLanguageModel, window: number, options: GenerateOptions, call: ModelCallOptions): LogitsSource {
  const vocab = model.vocabSize;
  return (context) => {
    const ctx = context.slice(-window);
    const len = options.padToWindow ? window : ctx.length;
    const inputIds = new Int32Array(len).fill(options.padId ?? 0);
    inputIds.set(ctx);
    let attentionMask: Int32Array | null = null;
    if (len > ctx.length) {
      attentionMask = new Int32Array(len);
      attentionMask.fill(1, 0, ctx.length);
    }
    // copy the one row we need out of the scope: the model's buffers are freed when it ends
    return model.backend.scope(() => {
      const logits: Float = callLogits(model, { inputIds, batch: 1, seqLen: len, attentionMask, labels: null }, call);
      if (logits.length !== len * vocab)
        throw new ShapeError(`model.logits returned ${logits.length} values, expected seqLen·vocab = ${len}·${vocab}`);
      return Float64Array.from(logits.subarray((ctx.length - 1) * vocab, ctx.length * vocab));
    });
  };
}

function* sampleTokens(
  vocab: number,
  context: number[],
  source: LogitsSource,
  options: GenerateOptions,
  sampling: Required<SamplingOptions>,
  maxNewTokens: number,
  stats: GenerationStats,
): Generator<number, void, void> {
  const rng = new Rng(options.seed ?? 0);
  const suppress = options.suppressIds ?? [];
  for (let step = 0; step < maxNewTokens; step++) {
    const t0 = now();
    let id: number;
    try {
      const row = source(context, step === 0);
      if (row.length !== vocab) throw new ShapeError(`the model returned ${row.length} logits for one position, expected vocab = ${vocab}`);
      stats.modelMs += now() - t0;
      for (const id of suppress) if (id >= 0 && id < vocab) row[id] = -Infinity;
      applyRepetitionPenalty(row, context, sampling.repetitionPenalty);
      id = sampleToken(row, sampling, rng);
    } catch (e) {
      if (e instanceof NumericalError) throw new NumericalError(`generation, new token ${step + 1}: ${e.message}`);
      throw e;
    }
    if (step === 0) stats.firstTokenMs = now() - t0;
    context.push(id);
    stats.newTokens++;
    yield id;
    if (options.stopAfter?.(id)) return;
  }
}
