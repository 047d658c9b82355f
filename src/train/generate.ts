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
import { ConfigError, ShapeError } from '../errors.js';
import type { CausalLanguageModel } from '../model/language-model.js';
import { maxContextLength } from '../model/lengths.js';
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
   * Cached incremental decoding when the model has it (`createDecoder`) and `padToWindow` is off.
   * Default true; false re-runs the model on the window for every token.
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
  const config = (model as { readonly config?: unknown }).config;
  return config instanceof ReformerConfig ? maxContextLength(config) : null;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `string ${JSON.stringify(v)}` : `${typeof v} ${String(v)}`;
}

/** The checks of `generateTokens`, in the order a caller should hear about problems; returns the resolved settings. */
function resolveGenerate(
  model: CausalLanguageModel,
  prompt: ArrayLike<number>,
  options: GenerateOptions,
): { sampling: Required<SamplingOptions>; maxNewTokens: number; window: number; keepOnSlide: number } {
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
  return { sampling, maxNewTokens, window, keepOnSlide };
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
 *   outside the vocabulary, or if the model returns logits of the wrong size; ResourceError (while
 *   running) if the cache or a prompt pass cannot fit.
 */
export function generateTokens(
  model: CausalLanguageModel,
  prompt: ArrayLike<number>,
  options: GenerateOptions = {},
  stats: GenerationStats = newStats(),
): Generator<number, void, void> {
  const { sampling, maxNewTokens, window, keepOnSlide } = resolveGenerate(model, prompt, options);
  const cached = options.useCache !== false && !options.padToWindow && typeof model.createDecoder === 'function';
  Object.assign(stats, newStats(), { cached, promptTokens: Math.min(prompt.length, window) });
  const context = Array.from(prompt);
  const source = cached
    ? cachedSource(model, window, keepOnSlide, Math.min(window, prompt.length + maxNewTokens), stats)
    : uncachedSource(model, window, options);
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
function uncachedSource(model: CausalLanguageModel, window: number, options: GenerateOptions): LogitsSource {
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
      const logits: Float = model.logits({ inputIds, batch: 1, seqLen: len, attentionMask, labels: null });
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
    const row = source(context, step === 0);
    if (row.length !== vocab) throw new ShapeError(`the model returned ${row.length} logits for one position, expected vocab = ${vocab}`);
    stats.modelMs += now() - t0;
    for (const id of suppress) if (id >= 0 && id < vocab) row[id] = -Infinity;
    applyRepetitionPenalty(row, context, sampling.repetitionPenalty);
    const id = sampleToken(row, sampling, rng);
    if (step === 0) stats.firstTokenMs = now() - t0;
    context.push(id);
    stats.newTokens++;
    yield id;
    if (options.stopAfter?.(id)) return;
  }
}
