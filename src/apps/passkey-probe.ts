/**
 * A probe of a passkey model during training: does its answer depend on its input at all? The last
 * round's failure mode (docs/applications/passkey.md) was a model whose distribution over the answer
 * digits was the same for every sequence (it differed by at most 2.6·10⁻⁴): it had settled on "the
 * answer is some digit" and never started to retrieve. The probe scores a fixed batch of held-out
 * sequences and measures the spread of the answer distribution across them; a run whose spread stays
 * near 0 is dead and can be stopped early.
 *
 * Browser-safe: takes a model and a batch; no I/O.
 */
import type { Float } from '../backend/backend.js';
import { ConfigError } from '../errors.js';
import type { CausalLanguageModel, TokenBatch } from '../model/language-model.js';
import { DIGIT_ZERO, type PasskeySpec, scorePasskey } from './passkey.js';

/** What `probePasskey` measured on the probe batch. */
export interface PasskeyProbe {
  /**
   * max over answer positions and digits d of (max − min over the batch's sequences of p(d)), p the
   * model's softmax over the whole vocabulary: 0 for a model whose answer ignores the input, up to 1.
   */
  readonly spread: number;
  /** Teacher-forced per-digit accuracy on the probe batch. */
  readonly digitAccuracy: number;
  /** Exact match (every answer digit the argmax) on the probe batch. */
  readonly exactMatch: number;
  /** Mean −log p over the answer digits, nats. */
  readonly loss: number;
}

/**
 * Scores `batch` (passkey sequences of `spec`, e.g. `passkeyBatch(...).batch`, at least 2) with
 * `model.logits` and measures the spread of the answer distribution (see `PasskeyProbe`).
 * @throws ConfigError('batch') for fewer than 2 sequences (no spread to measure); ShapeError from
 *   `scorePasskey` if the batch is not of `spec`.
 */
export function probePasskey(model: CausalLanguageModel, batch: TokenBatch, spec: PasskeySpec): PasskeyProbe {
  if (!(batch.batch >= 2)) throw new ConfigError('batch', `the probe needs at least 2 sequences to compare, got ${batch.batch}`);
  const L = spec.seqLen;
  const V = model.vocabSize;
  return model.backend.scope(() => {
    const logits: Float = model.logits(batch);
    const tally = scorePasskey(logits, batch.inputIds, batch.batch, spec, V);
    let spread = 0;
    for (let p = L - spec.digits; p < L; p++) {
      const lo = new Float64Array(10).fill(Infinity);
      const hi = new Float64Array(10).fill(-Infinity);
      for (let b = 0; b < batch.batch; b++) {
        const row = (b * L + p - 1) * V;
        let max = -Infinity;
        for (let j = 0; j < V; j++) max = Math.max(max, logits[row + j]!);
        let sum = 0;
        for (let j = 0; j < V; j++) sum += Math.exp(logits[row + j]! - max);
        for (let d = 0; d < 10; d++) {
          const q = Math.exp(logits[row + DIGIT_ZERO + d]! - max) / sum;
          lo[d] = Math.min(lo[d]!, q);
          hi[d] = Math.max(hi[d]!, q);
        }
      }
      for (let d = 0; d < 10; d++) spread = Math.max(spread, hi[d]! - lo[d]!);
    }
    return {
      spread,
      digitAccuracy: tally.digitsCorrect / tally.digits,
      exactMatch: tally.exact / tally.sequences,
      loss: tally.nats / tally.digits,
    };
  });
}
