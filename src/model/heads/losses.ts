/**
 * The losses of the task heads, row by row, in float64, with their gradients (HF uses torch.nn's
 * `CrossEntropyLoss`, `MSELoss` and `BCEWithLogitsLoss`, all with the default `reduction="mean"`).
 *
 * A head's output may be produced block by block (the encoder streams its output), so each loss is
 * split into per-row terms and a divisor known before the first row: the mean is Σ terms / divisor,
 * and each row's gradient is d(term)/d(logits) / divisor. Gradients ACCUMULATE into `d`.
 *
 *   cross-entropy   term = logsumexp(x) − x_y                 dx = (softmax(x) − onehot(y)) / N
 *   squared error   term = Σ_j (x_j − y_j)²                   dx = 2 (x − y) / N
 *   BCE with logits term = Σ_j max(x_j, 0) − x_j·y_j + log(1 + e^{−|x_j|})   (softplus(x) − y·x, stable)
 *                                                             dx = (σ(x) − y) / N
 */
import type { Float } from '../../backend/backend.js';
import { ShapeError } from '../../errors.js';
import { IGNORE_INDEX } from '../../nn/lm-head.js';
import type { ProblemType } from './task-config.js';

/** −log softmax(x[o … o+n−1])[y]; with `d`, d[do + j] += scale·(softmax_j − [j = y]). */
export function crossEntropyTerm(x: ArrayLike<number>, o: number, n: number, y: number, scale: number, d: Float | null, dOff = o): number {
  let max = -Infinity;
  for (let j = 0; j < n; j++) max = Math.max(max, x[o + j]!);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(x[o + j]! - max);
  const lse = max + Math.log(sum);
  if (d) {
    for (let j = 0; j < n; j++) d[dOff + j] = d[dOff + j]! + scale * Math.exp(x[o + j]! - lse);
    d[dOff + y] = d[dOff + y]! - scale;
  }
  return lse - x[o + y]!;
}

/** Σ_j (x_j − y_j)² over one row; with `d`, d += scale·2(x − y). */
export function squaredErrorTerm(
  x: ArrayLike<number>,
  o: number,
  y: ArrayLike<number>,
  yo: number,
  n: number,
  scale: number,
  d: Float | null,
  dOff = o,
): number {
  let s = 0;
  for (let j = 0; j < n; j++) {
    const e = x[o + j]! - y[yo + j]!;
    s += e * e;
    if (d) d[dOff + j] = d[dOff + j]! + 2 * scale * e;
  }
  return s;
}

/** Σ_j BCE-with-logits(x_j, y_j) over one row (the stable form); with `d`, d += scale·(σ(x) − y). */
export function bceWithLogitsTerm(
  x: ArrayLike<number>,
  o: number,
  y: ArrayLike<number>,
  yo: number,
  n: number,
  scale: number,
  d: Float | null,
  dOff = o,
): number {
  let s = 0;
  for (let j = 0; j < n; j++) {
    const v = x[o + j]!;
    const t = y[yo + j]!;
    s += Math.max(v, 0) - v * t + Math.log1p(Math.exp(-Math.abs(v)));
    if (d) {
      const sig = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
      d[dOff + j] = d[dOff + j]! + scale * (sig - t);
    }
  }
  return s;
}

/** Labels of `ReformerForSequenceClassification`: class ids (−100 = ignored) or float targets. */
export type ClassificationLabels = Int32Array | Float32Array | Float64Array;

/** How a batch's classification loss is formed: the problem type, the labels as numbers, the divisor. */
export interface ClassificationLossPlan {
  readonly problemType: ProblemType;
  readonly numLabels: number;
  /** single label: [B] ids; regression / multi-label: [B, num_labels] targets (as floats). */
  readonly labels: ArrayLike<number>;
  /** The mean's divisor: counted rows (single label), B·num_labels (regression, multi-label). */
  readonly divisor: number;
}

/**
 * Checks a batch's labels against the problem type and returns how to form its loss (HF
 * `ReformerForSequenceClassification.forward`):
 * - single_label_classification: Int32Array [B] of ids in [0, num_labels) or −100 (ignored); mean over
 *   the counted rows (none counted: the loss is NaN, as HF's 0/0);
 * - regression: [B·num_labels] numbers (an Int32Array is read as numbers), mean over all entries;
 * - multi_label_classification: float [B·num_labels] targets (0/1, or probabilities), mean over all entries.
 * @throws ShapeError naming `labels`: wrong length or type, an id out of range, a NaN/infinite target.
 */
export function classificationLossPlan(
  problemType: ProblemType,
  labels: ClassificationLabels,
  batch: number,
  numLabels: number,
): ClassificationLossPlan {
  if (problemType === 'single_label_classification') {
    if (!(labels instanceof Int32Array)) {
      throw new ShapeError(
        `labels: single_label_classification takes class ids as an Int32Array [batch] = ${batch}, got a ${labels.constructor.name}; ` +
          'float labels mean regression (num_labels 1) or multi_label_classification',
      );
    }
    if (labels.length !== batch) throw new ShapeError(`labels: expected [batch] = ${batch} class ids, got ${labels.length}`);
    let count = 0;
    for (let b = 0; b < batch; b++) {
      const y = labels[b]!;
      if (y === IGNORE_INDEX) continue;
      if (y < 0 || y >= numLabels) {
        throw new ShapeError(`labels[${b}] = ${y} is outside [0, num_labels ${numLabels}); use a class id or ${IGNORE_INDEX} (ignored)`);
      }
      count++;
    }
    return { problemType, numLabels, labels, divisor: count };
  }
  const n = batch * numLabels;
  if (labels.length !== n) {
    throw new ShapeError(
      `labels: ${problemType} takes [batch, num_labels] = [${batch}, ${numLabels}] = ${n} numbers, got ${labels.length}`,
    );
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(labels[i]!)) throw new ShapeError(`labels[${i}] = ${labels[i]}: targets must be finite numbers`);
  }
  return { problemType, numLabels, labels, divisor: n };
}

/**
 * The loss term of batch row `b` (its logits at x[o … o+n−1]); with `d` (at `dOff`), accumulates the
 * row's gradient of the mean loss (already divided by `plan.divisor`).
 */
export function classificationRowTerm(
  plan: ClassificationLossPlan,
  b: number,
  x: ArrayLike<number>,
  o: number,
  d: Float | null,
  dOff = o,
): number {
  const n = plan.numLabels;
  const scale = plan.divisor > 0 ? 1 / plan.divisor : 0;
  switch (plan.problemType) {
    case 'single_label_classification': {
      const y = plan.labels[b]!;
      return y === IGNORE_INDEX ? 0 : crossEntropyTerm(x, o, n, y, scale, d, dOff);
    }
    case 'regression':
      return squaredErrorTerm(x, o, plan.labels, b * n, n, scale, d, dOff);
    case 'multi_label_classification':
      return bceWithLogitsTerm(x, o, plan.labels, b * n, n, scale, d, dOff);
  }
}

/**
 * HF's `positions.clamp(0, L)`: L is the ignore index, so a position ≥ L will not count, a negative one
 * becomes 0.
 * @throws ShapeError (`name`) unless `pos` holds `batch` integers.
 */
export function clampPositions(pos: ArrayLike<number>, batch: number, seqLen: number, name: string): number[] {
  if (pos.length !== batch) throw new ShapeError(`${name}: expected [batch] = ${batch} positions, got ${pos.length}`);
  const clamped: number[] = [];
  for (let b = 0; b < batch; b++) {
    const p = pos[b]!;
    if (!Number.isSafeInteger(p)) throw new ShapeError(`${name}[${b}] = ${p}: positions must be integers`);
    clamped.push(Math.min(Math.max(p, 0), seqLen));
  }
  return clamped;
}

/** Result of `spanLoss`. */
export interface SpanLoss {
  /** (start_loss + end_loss) / 2; NaN when one side counts no row (HF's 0/0 mean). */
  readonly loss: number;
  readonly startLoss: number;
  readonly endLoss: number;
  /** Rows whose (clamped) position is < L, per side. */
  readonly startCount: number;
  readonly endCount: number;
}

/**
 * HF `ReformerForQuestionAnswering`'s loss over start/end logits [B, L]: both position vectors are
 * clamped to [0, L]; L is the ignore index, so a position ≥ L does not count and a negative one becomes
 * 0 and counts; a cross-entropy over the positions of each row, mean over the counted rows per side;
 * loss = (start + end) / 2. With `dStart`/`dEnd` [B, L], accumulates d(loss)/d(logits) (a side that
 * counts no row gets no gradient).
 * @throws ShapeError if a position vector does not hold `batch` integers.
 */
export function spanLoss(
  start: ArrayLike<number>,
  end: ArrayLike<number>,
  batch: number,
  seqLen: number,
  startPositions: ArrayLike<number>,
  endPositions: ArrayLike<number>,
  dStart: Float | null,
  dEnd: Float | null,
): SpanLoss {
  const side = (x: ArrayLike<number>, pos: ArrayLike<number>, name: string, d: Float | null): [number, number] => {
    const clamped = clampPositions(pos, batch, seqLen, name);
    const count = clamped.filter((p) => p < seqLen).length;
    if (count === 0) return [Number.NaN, 0];
    let sum = 0;
    for (let b = 0; b < batch; b++) {
      if (clamped[b]! === seqLen) continue; // ignore_index = L
      sum += crossEntropyTerm(x, b * seqLen, seqLen, clamped[b]!, 0.5 / count, d);
    }
    return [sum / count, count];
  };
  const [startLoss, startCount] = side(start, startPositions, 'start_positions', dStart);
  const [endLoss, endCount] = side(end, endPositions, 'end_positions', dEnd);
  return { loss: (startLoss + endLoss) / 2, startLoss, endLoss, startCount, endCount };
}
