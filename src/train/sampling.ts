/**
 * Next-token sampling (HF `generate`'s logits processors and warpers, in HF's order):
 *   repetition penalty (on the ids already in the sequence) -> logits / temperature -> top-k -> top-p
 *   (nucleus) -> softmax -> draw.
 * - repetition penalty p (HF `RepetitionPenaltyLogitsProcessor`, Keskar et al. 2019): every id already
 *   in the sequence (prompt and generated) has its logit divided by p if positive, multiplied by p if
 *   negative; each id once however often it occurred; 1 = off.
 * - temperature 0 is greedy: the argmax (ties go to the lowest id); top-k/top-p are then irrelevant.
 * - top-k keeps the k highest logits (ties broken towards lower ids); 0 = off.
 * - top-p keeps the smallest set of most probable tokens whose probability sums to ≥ p (at least one); 1 = off.
 * - the draw uses one `Rng.uniform()` per token, so a seed fixes the whole continuation.
 */
import { ConfigError, NumericalError, ShapeError } from '../errors.js';
import { arrayLikeArg, describeValue, optionsArg } from '../util/args.js';
import { Rng } from '../util/rng.js';

export interface SamplingOptions {
  /** ≥ 0; 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep only the k best tokens; 0 = off. Default 0. */
  topK?: number;
  /** Nucleus mass in (0, 1]; 1 = off. Default 1. */
  topP?: number;
  /** > 0; 1 = off (HF `repetition_penalty`; 1.2 is CTRL's value). Applied by the generators. Default 1. */
  repetitionPenalty?: number;
}

/** @throws ConfigError naming the option, its value and the allowed range. */
export function validateSampling(o: SamplingOptions = {}): Required<SamplingOptions> {
  optionsArg('validateSampling', o, '{ temperature: 0.8, topK: 40 }');
  const r = { temperature: o.temperature ?? 1, topK: o.topK ?? 0, topP: o.topP ?? 1, repetitionPenalty: o.repetitionPenalty ?? 1 };
  if (!(r.repetitionPenalty > 0 && Number.isFinite(r.repetitionPenalty)))
    throw new ConfigError('repetition_penalty', `must be a finite number > 0 (1 = off), got ${r.repetitionPenalty}`);
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
 * @throws ShapeError if the row does not fit or no token has a finite logit; NumericalError for a NaN or
 *   +Infinity logit; ConfigError for bad options.
 */
export function samplingDistribution(
  logits: ArrayLike<number>,
  options: SamplingOptions = {},
  offset = 0,
  vocab = (logits?.length ?? 0) - offset,
): Float64Array {
  arrayLikeArg('samplingDistribution', 'logits', logits, 'an array or Float32Array of logits');
  const { temperature, topK, topP } = validateSampling(options);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(vocab) || offset < 0 || vocab <= 0 || offset + vocab > logits.length) {
    throw new ShapeError(`logits row [${offset}, ${offset + vocab}) does not fit in ${logits.length} values`);
  }
  const probs = new Float64Array(vocab);
  let best = -1;
  for (let j = 0; j < vocab; j++) {
    const z = logits[offset + j]!;
    if (Number.isNaN(z) || z === Infinity) throw new NumericalError(`logit ${j} is ${z}; the model produced invalid output`);
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
  arrayLikeArg('drawFrom', 'probs', probs, 'a Float64Array of probabilities (samplingDistribution)');
  if (!(rng instanceof Rng)) throw new ConfigError('rng', `drawFrom needs an Rng (new Rng(seed)), got ${describeValue(rng)}`);
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
  vocab = (logits?.length ?? 0) - offset,
): number {
  return drawFrom(samplingDistribution(logits, options, offset, vocab), rng);
}

/**
 * HF `RepetitionPenaltyLogitsProcessor`: for every distinct id of `previous` (the sequence so far),
 * `row[id] = row[id] > 0 ? row[id] / penalty : row[id] · penalty`, in place. Ids outside the row are
 * ignored; −Infinity (a suppressed id) stays −Infinity.
 * @throws ConfigError for a penalty that is not a finite number > 0.
 */
export function applyRepetitionPenalty(row: Float64Array, previous: ArrayLike<number>, penalty: number): void {
  if (!(penalty > 0 && Number.isFinite(penalty)))
    throw new ConfigError('repetition_penalty', `must be a finite number > 0 (1 = off), got ${penalty}`);
  if (penalty === 1) return;
  const done = new Uint8Array(row.length);
  for (let i = 0; i < previous.length; i++) {
    const id = previous[i]!;
    if (!(id >= 0 && id < row.length) || done[id]) continue;
    done[id] = 1;
    const z = row[id]!;
    row[id] = z > 0 ? z / penalty : z * penalty;
  }
}
