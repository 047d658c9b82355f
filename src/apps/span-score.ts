/**
 * The scoring loop the copy and retrieval tasks share (apps/duplication.ts, apps/passkey.ts): the
 * targets of one sequence from a position to its end, teacher-forced, under a causal LM's logits (HF's
 * shift: logits row p − 1 predicts token p). Browser-safe (arrays only).
 */

/** What `scoreSpan` adds up over one sequence's scored span. */
export interface SpanScore {
  /** `natsBefore` + Σ −log softmax(logits row)[target], nats, float64, added term by term in order. */
  readonly nats: number;
  /** Targets scored (the span's length). */
  readonly targets: number;
  /** Targets that are the row's argmax (ties to the lowest id). */
  readonly correct: number;
  /** Every target the argmax: teacher-forced exact match, which equals greedy decoding's exact match of the span. */
  readonly allRight: boolean;
}

/**
 * Scores targets `inputIds[b·L + p]`, p = `from` … L − 1, of sequence b of a `[batch, L]` batch under
 * `logits` (`[batch, L, vocab]`, row b·L + p − 1 predicts position p). The caller checks the sizes.
 * @param from the first scored position, 1 … L (L: an empty span, all right).
 * @param natsBefore a running total to add the terms to (one by one, so a total over many sequences is
 *   the same to the bit as adding every target's term to it directly).
 */
export function scoreSpan(
  logits: ArrayLike<number>,
  inputIds: Int32Array,
  b: number,
  L: number,
  from: number,
  vocab: number,
  natsBefore = 0,
): SpanScore {
  let nats = natsBefore;
  let correct = 0;
  let allRight = true;
  for (let p = from; p < L; p++) {
    const target = inputIds[b * L + p]!;
    const row = (b * L + p - 1) * vocab;
    let best = 0;
    let max = -Infinity;
    for (let j = 0; j < vocab; j++) {
      const x = logits[row + j]!;
      if (x > max) {
        max = x;
        best = j;
      }
    }
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(logits[row + j]! - max);
    nats += max + Math.log(sum) - logits[row + target]!;
    if (best === target) correct++;
    else allRight = false;
  }
  return { nats, targets: L - from, correct, allRight };
}
