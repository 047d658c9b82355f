/**
 * The three supervised tasks the task trainer runs, each over a task head: how a list of examples
 * becomes a batch, the training loss and gradient, and the evaluation metrics (metrics.ts).
 *
 * - `MaskedLmTask` (`ReformerForMaskedLM`): examples are windows of a token stream; each training step
 *   masks its batch afresh (masking.ts, seeded by the step: a resumed run masks the same way), evaluation
 *   masks with one fixed seed (comparable across steps). Metric: bits per byte on the masked positions.
 * - `ClassificationTask` (`ReformerForSequenceClassification`): accuracy and macro-F1 (single label,
 *   multi-label at σ(logit) ≥ 0.5), or the mean squared error (regression).
 * - `QuestionAnsweringTask` (`ReformerForQuestionAnswering`): trains on the window that holds each
 *   answer; evaluates the span loss on those windows and SQuAD exact match / F1 of the best span over
 *   all windows of each context.
 */
import type { Float } from '../../backend/backend.js';
import type { LossResult } from '../../model/language-model.js';
import type { ClassificationLabels } from '../../model/heads/losses.js';
import type { ReformerForMaskedLM } from '../../model/heads/masked-lm.js';
import type { ReformerForQuestionAnswering } from '../../model/heads/question-answering.js';
import type { ReformerForSequenceClassification } from '../../model/heads/sequence-classification.js';
import type { ReformerTaskModel } from '../../model/heads/task-model.js';
import { Rng } from '../../util/rng.js';
import type { Tokenizer } from '../tokenizer.js';
import { chunksOf, padBatch } from './batching.js';
import type { ClassificationExample, LabelScheme } from './classification-data.js';
import { maskTokens, type MaskingOptions } from './masking.js';
import { classificationMetrics, meanSquaredError, squadScores } from './metrics.js';
import { bestSpan, type QaRecord, type QaWindow, qaTrainingWindows, qaWindows, spanText } from './qa-data.js';

export type TaskKind = 'mlm' | 'classify' | 'qa';

/** Result of a task evaluation. */
export interface TaskEvaluation {
  /** Mean loss, nats (per masked token, per example, or the span loss). */
  readonly loss: number;
  /** Metric name → value: `bits_per_byte`; `accuracy`, `macro_f1`; `mse`; `exact_match`, `f1` (percent). */
  readonly metrics: Readonly<Record<string, number>>;
  /** Items evaluated. */
  readonly examples: number;
}

/** What the task trainer needs of a task. `E`: training example, `V`: evaluation item. */
export interface TaskDefinition<E, V = E> {
  readonly kind: TaskKind;
  readonly model: ReformerTaskModel;
  /** Tokens per model input (the padded length). */
  readonly seqLen: number;
  /** Training-mode loss of a batch of examples; ACCUMULATES gradients. `step` seeds per-step randomness. */
  lossAndGrad(examples: readonly E[], step: number): LossResult;
  /** Evaluation over items, `batch` model inputs per forward. */
  evaluate(items: readonly V[], opts: { batch: number; onProgress?: (done: number, total: number) => void }): TaskEvaluation;
}

// ------------------------------------------------------------------ masked LM

/** Options of `MaskedLmTask`: masking (masking.ts), padding id, bytes per token, the seeds. */
export interface MaskedLmTaskOptions extends MaskingOptions {
  readonly seqLen: number;
  readonly padId: number;
  /** For bits per byte (1 for bytes). */
  readonly bytesPerToken: number;
  /** Seed of the training masks (per step) and of the fixed evaluation mask. */
  readonly seed: number;
}

/** Masked-LM training and evaluation over token windows. */
export class MaskedLmTask implements TaskDefinition<Int32Array> {
  readonly kind = 'mlm' as const;
  readonly model: ReformerForMaskedLM;
  readonly seqLen: number;
  private readonly opts: MaskedLmTaskOptions;

  constructor(model: ReformerForMaskedLM, opts: MaskedLmTaskOptions) {
    this.model = model;
    this.seqLen = opts.seqLen;
    this.opts = opts;
  }

  /** A masked batch; at least one position is predicted (a batch with none would have no loss). */
  masked(windows: readonly Int32Array[], rng: Rng): ReturnType<typeof padBatch> & { labels: Int32Array } {
    const batch = padBatch(windows, this.seqLen, this.opts.padId);
    const m = maskTokens(batch.inputIds, batch.attentionMask ?? null, rng, this.opts);
    if (m.selected === 0) {
      const i = rng.int(windows[0]!.length); // row 0's real tokens: force one selection
      m.labels[i] = batch.inputIds[i]!;
      m.inputIds[i] = this.opts.maskId;
    }
    return { ...batch, inputIds: m.inputIds, labels: m.labels };
  }

  lossAndGrad(examples: readonly Int32Array[], step: number): LossResult {
    return this.model.lossAndGrad(this.masked(examples, new Rng((this.opts.seed * 0x9e3779b1 + step) >>> 0)));
  }

  evaluate(items: readonly Int32Array[], opts: { batch: number; onProgress?: (done: number, total: number) => void }): TaskEvaluation {
    const rng = new Rng((this.opts.seed ^ 0x5eed1234) >>> 0); // the same masks at every evaluation
    let sum = 0;
    let tokens = 0;
    const groups = chunksOf(items, opts.batch);
    groups.forEach((g, i) => {
      const r = this.model.backend.scope(() => this.model.loss(this.masked(g, rng)));
      sum += r.loss * r.tokens;
      tokens += r.tokens;
      opts.onProgress?.(i + 1, groups.length);
    });
    const loss = tokens === 0 ? 0 : sum / tokens;
    return { loss, metrics: { bits_per_byte: loss / Math.LN2 / this.opts.bytesPerToken, masked_tokens: tokens }, examples: items.length };
  }
}

// ------------------------------------------------------------------ sequence classification

/** One prediction of the classifier. */
export interface ClassPrediction {
  /** single label: the class name; multi-label: the names at σ ≥ 0.5; regression: the value. */
  readonly label: string | readonly string[] | number;
  /** single label: softmax over the classes; multi-label: σ per class; regression: absent. */
  readonly probabilities?: Readonly<Record<string, number>>;
}

/** Classification training, evaluation and prediction. */
export class ClassificationTask implements TaskDefinition<ClassificationExample> {
  readonly kind = 'classify' as const;
  readonly model: ReformerForSequenceClassification;
  readonly seqLen: number;
  readonly scheme: LabelScheme;
  private readonly padId: number;

  constructor(model: ReformerForSequenceClassification, scheme: LabelScheme, opts: { seqLen: number; padId: number }) {
    this.model = model;
    this.scheme = scheme;
    this.seqLen = opts.seqLen;
    this.padId = opts.padId;
  }

  /** The labels of examples in the model's layout (see `ClassificationLabels`). */
  labels(examples: readonly ClassificationExample[]): ClassificationLabels {
    const pt = this.scheme.problemType;
    if (pt === 'single_label_classification') return Int32Array.from(examples, (e) => e.label as number);
    const n = this.scheme.names.length;
    const out = new Float64Array(examples.length * n);
    examples.forEach((e, b) => {
      if (pt === 'regression') out[b] = e.label as number;
      else out.set(e.label as Float64Array, b * n);
    });
    return out;
  }

  lossAndGrad(examples: readonly ClassificationExample[]): LossResult {
    return this.model.lossAndGrad(
      padBatch(
        examples.map((e) => e.ids),
        this.seqLen,
        this.padId,
      ),
      this.labels(examples),
    );
  }

  /** Evaluation-mode logits [examples, num_labels] (a plain array). */
  logits(
    examples: readonly ClassificationExample[],
    opts: { batch: number; onProgress?: (done: number, total: number) => void },
  ): Float64Array {
    const n = this.scheme.names.length;
    const out = new Float64Array(examples.length * n);
    const groups = chunksOf(examples, opts.batch);
    let at = 0;
    groups.forEach((g, i) => {
      const l = this.model.backend.scope(() =>
        Float64Array.from(
          this.model.logits(
            padBatch(
              g.map((e) => e.ids),
              this.seqLen,
              this.padId,
            ),
          ),
        ),
      );
      out.set(l, at * n);
      at += g.length;
      opts.onProgress?.(i + 1, groups.length);
    });
    return out;
  }

  /** The prediction of row `b` of logits [*, num_labels]. */
  predict(logits: ArrayLike<number>, b: number): ClassPrediction {
    const { names, problemType } = this.scheme;
    const n = names.length;
    const row = Array.from({ length: n }, (_, j) => logits[b * n + j]!);
    if (problemType === 'regression') return { label: row[0]! };
    if (problemType === 'multi_label_classification') {
      const p = row.map((x) => 1 / (1 + Math.exp(-x)));
      return { label: names.filter((_, j) => p[j]! >= 0.5), probabilities: Object.fromEntries(names.map((nm, j) => [nm, p[j]!])) };
    }
    const max = Math.max(...row);
    const e = row.map((x) => Math.exp(x - max));
    const z = e.reduce((a, c) => a + c, 0);
    const best = row.indexOf(max);
    return { label: names[best]!, probabilities: Object.fromEntries(names.map((nm, j) => [nm, e[j]! / z])) };
  }

  evaluate(
    items: readonly ClassificationExample[],
    opts: { batch: number; onProgress?: (done: number, total: number) => void },
  ): TaskEvaluation {
    const logits = this.logits(items, opts);
    const { problemType, names } = this.scheme;
    const n = names.length;
    const labels = this.labels(items);
    if (problemType === 'regression') {
      const pred = items.map((_, b) => logits[b]!);
      const mse = meanSquaredError(Array.from(labels), pred);
      return { loss: mse, metrics: { mse }, examples: items.length };
    }
    if (problemType === 'multi_label_classification') {
      let loss = 0;
      const gold: number[] = [];
      const pred: number[] = [];
      const f1s: number[] = [];
      for (let j = 0; j < n; j++) {
        let tp = 0;
        let fp = 0;
        let fn = 0;
        items.forEach((_, b) => {
          const x = logits[b * n + j]!;
          const y = labels[b * n + j]!;
          loss += Math.max(x, 0) - x * y + Math.log1p(Math.exp(-Math.abs(x)));
          const on = x >= 0 ? 1 : 0; // σ(x) ≥ 0.5
          gold.push(y);
          pred.push(on);
          if (on && y) tp++;
          else if (on) fp++;
          else if (y) fn++;
        });
        if (tp + fp + fn > 0) f1s.push((2 * tp) / (2 * tp + fp + fn));
      }
      const accuracy = gold.filter((g, i) => g === pred[i]).length / Math.max(1, gold.length);
      const macro = f1s.length === 0 ? 0 : f1s.reduce((a, c) => a + c, 0) / f1s.length;
      return { loss: loss / Math.max(1, items.length * n), metrics: { accuracy, macro_f1: macro }, examples: items.length };
    }
    let loss = 0;
    const gold: number[] = [];
    const pred: number[] = [];
    items.forEach((_, b) => {
      const row = Array.from({ length: n }, (__, j) => logits[b * n + j]!);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      const y = labels[b]!;
      loss += lse - row[y]!;
      gold.push(y);
      pred.push(row.indexOf(max));
    });
    const m = classificationMetrics(gold, pred);
    return { loss: loss / Math.max(1, items.length), metrics: { accuracy: m.accuracy, macro_f1: m.macroF1 }, examples: items.length };
  }
}

// ------------------------------------------------------------------ question answering

/** A predicted answer: its text and character offset in the context, and its score. */
export interface AnswerPrediction {
  readonly text: string;
  readonly start: number;
  readonly score: number;
}

/** Question-answering training (windows holding the answer), evaluation and prediction. */
export class QuestionAnsweringTask implements TaskDefinition<QaWindow, QaRecord> {
  readonly kind = 'qa' as const;
  readonly model: ReformerForQuestionAnswering;
  readonly seqLen: number;
  private readonly opts: { seqLen: number; padId: number; sepId: number; tokenizer: Tokenizer; maxAnswerTokens: number; where: string };

  constructor(
    model: ReformerForQuestionAnswering,
    opts: { seqLen: number; padId: number; sepId: number; tokenizer: Tokenizer; maxAnswerTokens: number; where: string },
  ) {
    this.model = model;
    this.seqLen = opts.seqLen;
    this.opts = opts;
  }

  /** The training windows of records (qa-data.ts). */
  windows(records: readonly QaRecord[]): QaWindow[] {
    return qaTrainingWindows(records, this.opts.tokenizer, this.seqLen, this.opts.sepId, this.opts.where);
  }

  lossAndGrad(windows: readonly QaWindow[]): LossResult {
    const batch = padBatch(
      windows.map((w) => w.ids),
      this.seqLen,
      this.opts.padId,
    );
    return this.model.lossAndGrad(batch, { start: windows.map((w) => w.span!.start), end: windows.map((w) => w.span!.end) });
  }

  /** The best answer of each record over all windows of its context. */
  predict(records: readonly QaRecord[], opts: { batch: number; onProgress?: (done: number, total: number) => void }): AnswerPrediction[] {
    const all = records.flatMap((r, i) => qaWindows(r, i, this.opts.tokenizer, this.seqLen, this.opts.sepId, this.opts.where));
    const best: Array<{ byteStart: number; byteEnd: number; score: number } | null> = records.map(() => null);
    const groups = chunksOf(all, opts.batch);
    groups.forEach((g, i) => {
      this.model.backend.scope(() => {
        const { start, end } = this.model.logits(
          padBatch(
            g.map((w) => w.ids),
            this.seqLen,
            this.opts.padId,
          ),
        );
        g.forEach((w, b) => {
          const s = bestSpan(w, start as Float, end as Float, b * this.seqLen, this.opts.maxAnswerTokens);
          if (!best[w.record] || s.score > best[w.record]!.score) best[w.record] = s;
        });
      });
      opts.onProgress?.(i + 1, groups.length);
    });
    return records.map((r, i) => {
      const s = best[i]!;
      const t = spanText(r, s.byteStart, s.byteEnd);
      return { text: t.text, start: t.charStart, score: s.score };
    });
  }

  evaluate(items: readonly QaRecord[], opts: { batch: number; onProgress?: (done: number, total: number) => void }): TaskEvaluation {
    let sum = 0;
    let n = 0;
    for (const g of chunksOf(this.windows(items), opts.batch)) {
      const batch = padBatch(
        g.map((w) => w.ids),
        this.seqLen,
        this.opts.padId,
      );
      const r = this.model.backend.scope(() =>
        this.model.evaluate(batch, { start: g.map((w) => w.span!.start), end: g.map((w) => w.span!.end) }),
      );
      sum += r.loss!.loss * g.length;
      n += g.length;
    }
    const preds = this.predict(items, opts);
    let em = 0;
    let f1 = 0;
    preds.forEach((p, i) => {
      const s = squadScores(p.text, items[i]!.answer!.text);
      em += s.exact;
      f1 += s.f1;
    });
    const k = Math.max(1, items.length);
    return { loss: sum / Math.max(1, n), metrics: { exact_match: (100 * em) / k, f1: (100 * f1) / k }, examples: items.length };
  }
}
