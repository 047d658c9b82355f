/**
 * Task metrics, plainly computed:
 * - classification: accuracy, and macro-F1 = the mean over classes of F1_c = 2·P_c·R_c / (P_c + R_c)
 *   (0 when a class is never predicted nor present correctly), over the classes that occur in the gold
 *   labels or the predictions (scikit-learn's `f1_score(average="macro")` default);
 * - multi-label: accuracy per (example, class) decision at threshold 0.5 on σ(logit), macro-F1 over classes;
 * - regression: mean squared error;
 * - question answering: SQuAD's exact match and token F1 after its answer normalisation (lower case,
 *   no punctuation, no articles a/an/the, single spaces), in percent.
 */

/** Accuracy and macro-F1 of predicted vs gold class ids. */
export function classificationMetrics(gold: readonly number[], pred: readonly number[]): { accuracy: number; macroF1: number } {
  if (gold.length !== pred.length) throw new Error('classificationMetrics: gold and predictions differ in length');
  let correct = 0;
  const classes = new Set<number>([...gold, ...pred]);
  const tp = new Map<number, number>();
  const fp = new Map<number, number>();
  const fn = new Map<number, number>();
  const inc = (m: Map<number, number>, k: number): void => void m.set(k, (m.get(k) ?? 0) + 1);
  for (let i = 0; i < gold.length; i++) {
    if (gold[i] === pred[i]) {
      correct++;
      inc(tp, gold[i]!);
    } else {
      inc(fp, pred[i]!);
      inc(fn, gold[i]!);
    }
  }
  let f1 = 0;
  for (const c of classes) {
    const t = tp.get(c) ?? 0;
    const denom = 2 * t + (fp.get(c) ?? 0) + (fn.get(c) ?? 0);
    f1 += denom === 0 ? 0 : (2 * t) / denom; // 2PR/(P+R) = 2TP / (2TP + FP + FN)
  }
  return { accuracy: gold.length === 0 ? 0 : correct / gold.length, macroF1: classes.size === 0 ? 0 : f1 / classes.size };
}

/** Mean squared error. */
export function meanSquaredError(gold: readonly number[], pred: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < gold.length; i++) s += (gold[i]! - pred[i]!) ** 2;
  return gold.length === 0 ? 0 : s / gold.length;
}

/** SQuAD's answer normalisation. */
export function normalizeAnswer(s: string): string {
  return s
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, '')
    .replace(/\b(a|an|the)\b/g, ' ')
    .split(/\s+/)
    .filter((w) => w !== '')
    .join(' ');
}

/** SQuAD exact match (0/1) and token F1 of one prediction. */
export function squadScores(prediction: string, gold: string): { exact: number; f1: number } {
  const p = normalizeAnswer(prediction);
  const g = normalizeAnswer(gold);
  const exact = p === g ? 1 : 0;
  const pt = p === '' ? [] : p.split(' ');
  const gt = g === '' ? [] : g.split(' ');
  if (pt.length === 0 || gt.length === 0) return { exact, f1: pt.length === gt.length ? 1 : 0 };
  const counts = new Map<string, number>();
  for (const w of gt) counts.set(w, (counts.get(w) ?? 0) + 1);
  let common = 0;
  for (const w of pt) {
    const c = counts.get(w) ?? 0;
    if (c > 0) {
      common++;
      counts.set(w, c - 1);
    }
  }
  if (common === 0) return { exact, f1: 0 };
  const precision = common / pt.length;
  const recall = common / gt.length;
  return { exact, f1: (2 * precision * recall) / (precision + recall) };
}
