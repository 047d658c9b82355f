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
 */
import type { Float } from '../backend/backend.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { CausalLanguageModel } from '../model/language-model.js';
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
  if (!(r.temperature >= 0 && Number.isFinite(r.temperature))) throw new ConfigError('temperature', `must be a finite number ≥ 0 (0 = greedy), got ${r.temperature}`);
  if (!Number.isSafeInteger(r.topK) || r.topK < 0) throw new ConfigError('top_k', `must be a non-negative integer (0 = off), got ${r.topK}`);
  if (!(r.topP > 0 && r.topP <= 1)) throw new ConfigError('top_p', `must be in (0, 1] (1 = off), got ${r.topP}`);
  return r;
}

/**
 * The distribution the sampler draws from: `[vocab]` probabilities after temperature, top-k and top-p
 * (zeros outside the kept set). Temperature 0 gives a one-hot argmax.
 * @param logits row of `vocab` logits starting at `offset`; −Infinity marks a forbidden token.
 * @throws ShapeError if the row does not fit or no token has a finite logit; ConfigError for bad options.
 */
export function samplingDistribution(logits: ArrayLike<number>, options: SamplingOptions = {}, offset = 0, vocab = logits.length - offset): Float64Array {
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
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, rng: Rng, offset = 0, vocab = logits.length - offset): number {
  return drawFrom(samplingDistribution(logits, options, offset, vocab), rng);
}

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate (> 0). */
  maxNewTokens: number;
  /** Seed of the sampler. Default 0. */
  seed?: number;
  /** Context window in tokens: the model sees at most the last `window` tokens. */
  window: number;
  /**
   * Feed exactly `window` tokens every step: the context sits at the start and the rest is padding
   * (`padId`, attention mask 0), and the logits at the last real position are used. For models that
   * only accept their training length. Causal attention keeps the padding from influencing the result.
   * Default false (feed the context at its own length).
   */
  padToWindow?: boolean;
  /** Padding id for `padToWindow`. Default 0. */
  padId?: number;
  /** Ids never generated (e.g. the byte tokenizer's special ids 0 and 1). */
  suppressIds?: readonly number[];
  /** Stop early after yielding a token for which this returns true. */
  stopAfter?: (id: number) => boolean;
}

/**
 * Streams `maxNewTokens` sampled token ids after `prompt` (`[promptTokens]`, at least one token).
 * Each step runs `model.logits` on the current context (see the file header: no cache).
 * @throws ConfigError for invalid options (a pad id outside the vocabulary) or an empty prompt; ShapeError for prompt ids
 *   outside the vocabulary or if the model returns logits of the wrong size.
 */
export function* generateTokens(model: CausalLanguageModel, prompt: ArrayLike<number>, options: GenerateOptions): Generator<number, void, void> {
  const sampling = validateSampling(options);
  const { maxNewTokens, window } = options;
  if (!Number.isSafeInteger(maxNewTokens) || maxNewTokens <= 0) throw new ConfigError('max_new_tokens', `must be a positive integer, got ${maxNewTokens}`);
  if (!Number.isSafeInteger(window) || window <= 0) throw new ConfigError('window', `must be a positive integer, got ${window}`);
  if (prompt.length === 0) throw new ConfigError('prompt', 'is empty; the model needs at least one token of context');
  const vocab = model.vocabSize;
  for (let i = 0; i < prompt.length; i++) {
    const t = prompt[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= vocab) {
      throw new ShapeError(`prompt[${i}] = ${t} is outside the vocabulary [0, ${vocab}); encode the prompt with the model's tokenizer`);
    }
  }
  if (options.padId !== undefined && (!Number.isInteger(options.padId) || options.padId < 0 || options.padId >= vocab)) {
    throw new ConfigError('pad_id', `is ${options.padId}, outside the vocabulary [0, ${vocab}); use the model's pad_token_id`);
  }
  const rng = new Rng(options.seed ?? 0);
  const context: number[] = Array.from(prompt);
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
      if (logits.length !== len * vocab) throw new ShapeError(`model.logits returned ${logits.length} values, expected seqLen·vocab = ${len}·${vocab}`);
      return Float64Array.from(logits.subarray((ctx.length - 1) * vocab, ctx.length * vocab));
    });
    for (const id of suppress) if (id >= 0 && id < vocab) row[id] = -Infinity;
    const id = sampleToken(row, sampling, rng);
    context.push(id);
    yield id;
    if (options.stopAfter?.(id)) return;
  }
}
