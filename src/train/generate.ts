/**
 * Text generation: sampling the next token from logits, and a streaming generator.
 *
 * Sampling (HF `generate` order): logits / temperature -> top-k -> top-p (nucleus) -> softmax -> draw.
 * - temperature 0 is greedy: the argmax (ties go to the lowest id); top-k/top-p are then irrelevant.
 * - top-k keeps the k highest logits (ties broken towards lower ids); 0 = off.
 * - top-p keeps the smallest set of most probable tokens whose probability sums to ≥ p (at least one); 1 = off.
 * - the draw uses one `Rng.uniform()` per token, so a seed fixes the whole continuation.
 *
 * No cache: the Reformer has no incremental decoding here, so every new token re-runs the model on the
 * whole context window (the last `window` tokens). Cost per token is one forward pass over the window.
 * The window defaults to the longest input the model takes when it reports one (`modelMaxContext`: a
 * `ReformerModelWithLMHead` does, through its `ReformerConfig`); other models need `window`.
 */
import type { Float } from '../backend/backend.js';
import { ReformerConfig } from '../config/reformer-config.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { CausalLanguageModel } from '../model/language-model.js';
import { maxContextLength } from '../model/lengths.js';
import { Rng } from '../util/rng.js';

export interface SamplingOptions {
  /** ≥ 0; 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep only the k best tokens; 0 = off. Default 0. */
  topK?: number;
  /** Nucleus mass in (0, 1]; 1 = off. Default 1. */
  topP?: number;
}

/** @throws ConfigError naming the option, its value and the allowed range. */
export function validateSampling(o: SamplingOptions): Required<SamplingOptions> {
  const r = { temperature: o.temperature ?? 1, topK: o.topK ?? 0, topP: o.topP ?? 1 };
  if (!(r.temperature >= 0 && Number.isFinite(r.temperature)))
    throw new ConfigError('temperature', `must be a finite number ≥ 0 (0 = greedy), got ${r.temperature}`);
  if (!Number.isSafeInteger(r.topK) || r.topK < 0)
    throw new ConfigError('top_k', `must be a non-negative integer (0 = off), got ${r.topK}`);
  if (!(r.topP > 0 && r.topP <= 1)) throw new ConfigError('top_p', `must be in (0, 1] (1 = off), got ${r.topP}`);
  return r;
}

/**
 * The distribution the sampler draws from: `[vocab]` probabilities after temperature, top-k and top-p
 * (zeros outside the kept set). Temperature 0 gives a one-hot argmax.
 * @param logits row of `vocab` logits starting at `offset`; −Infinity marks a forbidden token.
 * @throws ShapeError if the row does not fit or no token has a finite logit; ConfigError for bad options.
 */
export function samplingDistribution(
  logits: ArrayLike<number>,
  options: SamplingOptions = {},
  offset = 0,
  vocab = logits.length - offset,
): Float64Array {
  const { temperature, topK, topP } = validateSampling(options);
  if (offset < 0 || vocab <= 0 || offset + vocab > logits.length) {
    throw new ShapeError(`logits row [${offset}, ${offset + vocab}) does not fit in ${logits.length} values`);
  }
  const probs = new Float64Array(vocab);
  let best = -1;
  for (let j = 0; j < vocab; j++) {
    const z = logits[offset + j]!;
    if (Number.isNaN(z)) throw new ShapeError(`logit ${j} is NaN; the model produced invalid output`);
    if (z > -Infinity && (best < 0 || z > logits[offset + best]!)) best = j;
  }
  if (best < 0) throw new ShapeError('every logit is −Infinity: no token can be sampled');
  if (temperature === 0) {
    probs[best] = 1;
    return probs;
  }
  // candidates sorted by logit, highest first, ties by id (stable)
  const order = Array.from({ length: vocab }, (_, j) => j).filter((j) => logits[offset + j]! > -Infinity);
  order.sort((a, b) => logits[offset + b]! - logits[offset + a]! || a - b);
  const kept = topK > 0 ? order.slice(0, topK) : order;
  const max = logits[offset + kept[0]!]! / temperature;
  let sum = 0;
  for (const j of kept) {
    probs[j] = Math.exp(logits[offset + j]! / temperature - max);
    sum += probs[j]!;
  }
  for (const j of kept) probs[j] = probs[j]! / sum;
  if (topP < 1) {
    let mass = 0;
    let cut = kept.length;
    for (let i = 0; i < kept.length; i++) {
      mass += probs[kept[i]!]!;
      if (mass >= topP) {
        cut = i + 1;
        break;
      }
    }
    let keptMass = 0;
    for (let i = 0; i < kept.length; i++) {
      if (i >= cut) probs[kept[i]!] = 0;
      else keptMass += probs[kept[i]!]!;
    }
    for (let i = 0; i < cut; i++) probs[kept[i]!] = probs[kept[i]!]! / keptMass;
  }
  return probs;
}

/** Draws one id from `probs` (`[vocab]`, summing to 1) with one uniform number. */
export function drawFrom(probs: Float64Array, rng: Rng): number {
  const u = rng.uniform();
  let acc = 0;
  let last = -1;
  for (let j = 0; j < probs.length; j++) {
    if (probs[j]! <= 0) continue;
    acc += probs[j]!;
    last = j;
    if (u < acc) return j;
  }
  return last; // rounding: u ≥ the accumulated sum
}

/** Samples the next token id from one row of logits. */
export function sampleToken(
  logits: ArrayLike<number>,
  options: SamplingOptions,
  rng: Rng,
  offset = 0,
  vocab = logits.length - offset,
): number {
  return drawFrom(samplingDistribution(logits, options, offset, vocab), rng);
}

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
): { sampling: Required<SamplingOptions>; maxNewTokens: number; window: number } {
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
  return { sampling, maxNewTokens, window };
}

/**
 * Streams `maxNewTokens` sampled token ids after `prompt` (`[promptTokens]`, at least one token).
 * Each step runs `model.logits` on the current context (see the file header: no cache).
 * Everything is checked when `generateTokens` is called, before the first token is asked for.
 * @param options every field is optional for a `ReformerModelWithLMHead` (defaults: 20 new tokens,
 *   temperature 1, no top-k/top-p, seed 0, the model's longest window); other models need `window`.
 * @throws ConfigError for invalid options: an empty prompt (`prompt`), suppressIds covering the whole
 *   vocabulary (`suppress_ids`), a pad id outside the vocabulary, sampling values out of range, no
 *   `window` for a model that does not report its longest input, or a window longer than it
 *   (`window`); ShapeError for a prompt that is not an array of ids or holds ids outside the
 *   vocabulary, or if the model returns logits of the wrong size.
 */
export function generateTokens(
  model: CausalLanguageModel,
  prompt: ArrayLike<number>,
  options: GenerateOptions = {},
): Generator<number, void, void> {
  const { sampling, maxNewTokens, window } = resolveGenerate(model, prompt, options);
  return sampleTokens(model, Array.from(prompt), options, sampling, maxNewTokens, window);
}

function* sampleTokens(
  model: CausalLanguageModel,
  context: number[],
  options: GenerateOptions,
  sampling: Required<SamplingOptions>,
  maxNewTokens: number,
  window: number,
): Generator<number, void, void> {
  const vocab = model.vocabSize;
  const rng = new Rng(options.seed ?? 0);
  const suppress = options.suppressIds ?? [];
  for (let step = 0; step < maxNewTokens; step++) {
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
    const row = model.backend.scope(() => {
      const logits: Float = model.logits({ inputIds, batch: 1, seqLen: len, attentionMask, labels: null });
      if (logits.length !== len * vocab)
        throw new ShapeError(`model.logits returned ${logits.length} values, expected seqLen·vocab = ${len}·${vocab}`);
      return Float64Array.from(logits.subarray((ctx.length - 1) * vocab, ctx.length * vocab));
    });
    for (const id of suppress) if (id >= 0 && id < vocab) row[id] = -Infinity;
    const id = sampleToken(row, sampling, rng);
    context.push(id);
    yield id;
    if (options.stopAfter?.(id)) return;
  }
}
