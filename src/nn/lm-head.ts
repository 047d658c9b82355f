/**
 * HF `ReformerOnlyLMHead` and the shifted language-modelling loss of `ReformerModelWithLMHead`.
 *
 *   logits[r, :] = h[r, :]·W_decᵀ + bias          h: [rows, 2D], W_dec: [V, 2D], bias: [V]
 *   loss = mean over counted targets of  −log softmax(logits[b, t])[labels[b, t + 1]],  t < L − 1,
 *          a target counts unless it is −100 (HF `CrossEntropyLoss` ignore_index)
 *
 * `chunk_size_lm_head` = c > 0 processes c rows at a time; `lmHeadLoss` fuses logits, loss and (if
 * asked) gradients per chunk, so it never holds more than [c, V] logits (paper Sec. 3: "the
 * computation of log-probabilities and the loss can also be chunked"). Logits are per-row, so they
 * are identical for every chunk size.
 */
import type { Backend, Float } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { chunkRanges } from './feed-forward.js';
import { linearBackward, linearForward } from './linear.js';

/** HF CrossEntropyLoss's `ignore_index`. */
export const IGNORE_INDEX = -100;

export interface LmHeadWeights {
  /** lm_head.decoder.weight [V, 2D] */ readonly weight: Float;
  /** lm_head.bias (= lm_head.decoder.bias) [V] */ readonly bias: Float;
}

/** logits[rows, V] = h[rows, width]·Wᵀ + bias, `chunkSize` rows at a time (0 = all). Overwrites logits. */
export function lmHeadForward(
  be: Backend,
  w: LmHeadWeights,
  h: Float,
  rows: number,
  width: number,
  vocab: number,
  chunkSize: number,
  logits: Float,
): void {
  for (const [r0, r1] of chunkRanges(rows, chunkSize)) {
    linearForward(be, h.subarray(r0 * width, r1 * width), r1 - r0, width, w.weight, vocab, w.bias, logits.subarray(r0 * vocab, r1 * vocab));
  }
}

/** Throws ShapeError unless every label is −100 or in [0, vocab). */
export function checkLabels(labels: Int32Array, n: number, vocab: number): void {
  if (labels.length < n) throw new ShapeError(`labels: expected ${n} values, got ${labels.length}`);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (y !== IGNORE_INDEX && (y < 0 || y >= vocab)) {
      throw new ShapeError(`labels[${i}] = ${y} must be in [0, ${vocab}) or ${IGNORE_INDEX} (ignored)`);
    }
  }
}

/**
 * Number of counted targets: labels[b, t] ≠ −100 for `shift` ≤ t < L. `shift` 1 (default): the causal
 * LM's shifted targets (labels[:, 0] is never predicted); 0: every position (HF `ReformerForMaskedLM`).
 */
export function countTargets(labels: Int32Array, batch: number, seqLen: number, shift: 0 | 1 = 1): number {
  let n = 0;
  for (let b = 0; b < batch; b++) for (let t = shift; t < seqLen; t++) if (labels[b * seqLen + t] !== IGNORE_INDEX) n++;
  return n;
}

/** Gradient outputs of `lmHeadLoss` (accumulated); null = loss only. */
export interface LmHeadGrads {
  readonly weight: Float;
  readonly bias: Float;
  /** dL/dh [rows, width] */
  readonly dh: Float;
}

/**
 * Mean shifted cross-entropy of the LM head over h: [B, L, width] and labels: [B, L] (raw, unshifted;
 * `shift` 0: no shift, the masked LM's loss).
 * With `grads`, also accumulates dW, dbias and dh for that loss. `tokens` = counted targets; when it
 * is 0 the loss is returned as 0 (HF would return NaN, a 0/0 mean) and no gradient flows.
 */
export function lmHeadLoss(
  be: Backend,
  w: LmHeadWeights,
  h: Float,
  batch: number,
  seqLen: number,
  width: number,
  vocab: number,
  labels: Int32Array,
  chunkSize: number,
  grads: LmHeadGrads | null,
  shift: 0 | 1 = 1,
): { loss: number; tokens: number } {
  const tokens = countTargets(labels, batch, seqLen, shift);
  if (tokens === 0) return { loss: 0, tokens: 0 };
  const sum = lmHeadLossRows(be, w, h, 0, batch * seqLen, seqLen, width, vocab, labels, tokens, chunkSize, grads, shift);
  return { loss: sum / tokens, tokens };
}

/**
 * The loss terms of one block of rows, for a head input that is produced (and consumed) block by
 * block: `h` [n, width] holds rows r0 … r0 + n − 1 of [B·L, width] (global numbering: row r is batch
 * ⌊r/L⌋, position r mod L). Returns Σ −log p(target) over the block's counted targets (float64;
 * the mean loss divides the sum over all blocks by `tokens`, the count over the whole batch).
 * With `grads`, dW and dbias accumulate the block's share of d(mean loss) and `grads.dh` — the
 * block's [n, width] rows — accumulates dL/dh. `chunkSize` rows at a time (0 = the whole block), so
 * at most [chunk, V] logits live at once. `shift` 1 (default): logits[b, t] predicts labels[b, t + 1]
 * (causal LM); 0: logits[b, t] predicts labels[b, t] (HF `ReformerForMaskedLM`, no shift); `tokens`
 * must then be `countTargets(labels, B, L, 0)`.
 */
export function lmHeadLossRows(
  be: Backend,
  w: LmHeadWeights,
  h: Float,
  r0: number,
  n: number,
  seqLen: number,
  width: number,
  vocab: number,
  labels: Int32Array,
  tokens: number,
  chunkSize: number,
  grads: LmHeadGrads | null,
  shift: 0 | 1 = 1,
): number {
  if (tokens === 0) return 0;
  let sum = 0; // Σ −log p(target), float64
  for (const [c0, c1] of chunkRanges(n, chunkSize)) {
    be.scope(() => {
      const nc = c1 - c0;
      const hc = h.subarray(c0 * width, c1 * width);
      const logits = be.floats(nc * vocab);
      linearForward(be, hc, nc, width, w.weight, vocab, w.bias, logits); // logits = h·Wᵀ + b
      const lse = be.floats(nc);
      const p = be.floats(nc * vocab);
      be.softmaxRows({ rows: nc, cols: vocab, s: logits, lds: vocab, p, ldp: vocab, lse }); // p = softmax(logits), lse = log Σ exp
      for (let i = 0; i < nc; i++) {
        const r = r0 + c0 + i; // global row
        const t = r % seqLen;
        // causal: logits[b, t] predicts labels[b, t + 1]; masked LM (shift 0): labels[b, t]
        const y = shift === 0 ? labels[r]! : t + 1 < seqLen ? labels[r + 1]! : IGNORE_INDEX;
        const o = i * vocab;
        if (y === IGNORE_INDEX) {
          if (grads) p.fill(0, o, o + vocab); // no target: no gradient from this row
          continue;
        }
        sum += lse[i]! - logits[o + y]!; // −log softmax(logits)_y = lse − logit_y
        if (grads) {
          // dlogits = (p − onehot(y)) / N   (overwrites p)
          for (let j = 0; j < vocab; j++) p[o + j] = p[o + j]! / tokens;
          p[o + y] = p[o + y]! - 1 / tokens;
        }
      }
      if (grads) linearBackward(be, hc, nc, width, w.weight, vocab, p, grads.dh.subarray(c0 * width, c1 * width), grads.weight, grads.bias);
    });
  }
  return sum;
}
