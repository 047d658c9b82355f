/**
 * The task-head fields of a config.json, read with HF's rules (`PretrainedConfig` and the three head
 * classes of `modeling_reformer.py`). `ReformerConfig` keeps them verbatim in `extra` (they are generic
 * HF keys, not Reformer fields); this file gives them meaning and validates them:
 *
 * - `num_labels`: `len(id2label)` when `id2label` is given (a `num_labels` that disagrees is an error,
 *   as in HF), else `num_labels`, else 2 (HF's default).
 * - `id2label` (`{"0": "negative", ...}`, keys 0…n−1) / `label2id` (`{"negative": 0, ...}`): the class
 *   names; HF's default names are `LABEL_<i>`.
 * - `problem_type`: null (chosen at the first call with labels, then written back: see
 *   `resolveProblemType`), `regression`, `single_label_classification` or `multi_label_classification`.
 * - `classifier_dropout` (a Reformer field): the classification head's dropout; null = `hidden_dropout_prob`.
 * - `is_decoder`: `ReformerForMaskedLM` asserts it is false (`checkMaskedLM`); the classifier only warns
 *   (causal attention makes position 0, the pooled one, see nothing but itself).
 */
import type { ReformerConfig } from '../../config/reformer-config.js';
import { ConfigError } from '../../errors.js';
import { describeValue, isArrayValue } from '../../util/args.js';
import { requireReformerConfig } from '../validate-inputs.js';

/** HF `PretrainedConfig.problem_type` values. */
export type ProblemType = 'regression' | 'single_label_classification' | 'multi_label_classification';

/** The allowed `problem_type` values (besides null). */
export const PROBLEM_TYPES: readonly ProblemType[] = Object.freeze([
  'regression',
  'single_label_classification',
  'multi_label_classification',
]);

/** The label fields of a config, resolved. */
export interface LabelInfo {
  /** Output width of the classifier / QA head. */
  readonly numLabels: number;
  /** Class name of each id (HF `id2label`; `LABEL_<i>` when absent). */
  readonly names: readonly string[];
  /** Class id of each name (HF `label2id`; the inverse of `names` when absent). */
  readonly ids: Readonly<Record<string, number>>;
  /** As configured (null: decided by the first labelled call). */
  readonly problemType: ProblemType | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * `num_labels`, `id2label`, `label2id` and `problem_type` of a config (HF's rules, see the file header).
 * @throws ConfigError naming the field: a `num_labels` that is not a positive integer or disagrees with
 *   `id2label`, `id2label` keys that are not 0…n−1 or names that are not strings, a `label2id` id outside
 *   [0, num_labels), an unknown `problem_type`; field `config` unless `config` is a `ReformerConfig`.
 */
export function labelInfo(config: ReformerConfig): LabelInfo {
  requireReformerConfig(config, 'labelInfo');
  const x = config.extra;
  let numLabels: number | null = null;
  if (x.num_labels !== undefined && x.num_labels !== null) {
    const n = x.num_labels;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
      throw new ConfigError('num_labels', `must be a positive integer (the number of classes), got ${JSON.stringify(n)}`);
    }
    numLabels = n;
  }
  let names: string[] | null = null;
  if (x.id2label !== undefined && x.id2label !== null) {
    if (!isObject(x.id2label)) {
      throw new ConfigError('id2label', `must be an object {"0": "name", "1": "name", ...}, got ${JSON.stringify(x.id2label)}`);
    }
    const entries = Object.entries(x.id2label);
    const out = new Array<string>(entries.length);
    for (const [k, v] of entries) {
      const id = /^\d+$/.test(k) ? Number(k) : NaN;
      if (!(id < entries.length)) {
        throw new ConfigError('id2label', `keys must be the ids 0…${entries.length - 1}, got key ${JSON.stringify(k)}`);
      }
      if (typeof v !== 'string') throw new ConfigError('id2label', `name of id ${k} must be a string, got ${JSON.stringify(v)}`);
      if (out[id] !== undefined) throw new ConfigError('id2label', `names id ${id} twice (key ${JSON.stringify(k)})`);
      out[id] = v;
    }
    if (numLabels !== null && numLabels !== out.length) {
      throw new ConfigError(
        'num_labels',
        `is ${numLabels}, but id2label names ${out.length} classes; HF derives num_labels from id2label: drop num_labels or make them agree`,
      );
    }
    names = out;
  }
  const n = names?.length ?? numLabels ?? 2;
  if (n < 1) throw new ConfigError('id2label', 'names no class; give at least one');
  const finalNames = names ?? Array.from({ length: n }, (_, i) => `LABEL_${i}`);
  let ids: Record<string, number>;
  if (x.label2id !== undefined && x.label2id !== null) {
    if (!isObject(x.label2id)) {
      throw new ConfigError('label2id', `must be an object {"name": id, ...}, got ${JSON.stringify(x.label2id)}`);
    }
    ids = Object.create(null) as Record<string, number>;
    for (const [k, v] of Object.entries(x.label2id)) {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v >= n) {
        throw new ConfigError('label2id', `id of ${JSON.stringify(k)} must be an integer in [0, ${n}), got ${JSON.stringify(v)}`);
      }
      ids[k] = v;
    }
  } else {
    ids = Object.create(null) as Record<string, number>;
    finalNames.forEach((name, i) => {
      ids[name] = i;
    });
  }
  const pt = x.problem_type;
  if (pt !== undefined && pt !== null && !PROBLEM_TYPES.includes(pt as ProblemType)) {
    throw new ConfigError('problem_type', `must be null or one of ${PROBLEM_TYPES.join(', ')}, got ${JSON.stringify(pt)}`);
  }
  return { numLabels: n, names: finalNames, ids, problemType: (pt ?? null) as ProblemType | null };
}

/**
 * The config with the classes named `names` (ids 0…n−1): `id2label`, `label2id` as HF writes them,
 * `num_labels` kept in agreement when the config has one, and `problem_type` if given.
 * @throws ConfigError for an empty or repeated name list, names that are not an array of strings, or
 *   (field `config`) a `config` that is not a `ReformerConfig`.
 */
export function withLabels(config: ReformerConfig, names: readonly string[], problemType?: ProblemType | null): ReformerConfig {
  requireReformerConfig(config, 'withLabels');
  if (!isArrayValue(names) || !names.every((n) => typeof n === 'string')) {
    throw new ConfigError(
      'id2label',
      `withLabels needs the class names as an array of strings such as ['negative', 'positive'], got ${describeValue(names)}`,
    );
  }
  if (names.length === 0) throw new ConfigError('id2label', 'needs at least one class name');
  if (new Set(names).size !== names.length) throw new ConfigError('id2label', `class names must be distinct, got ${JSON.stringify(names)}`);
  const id2label: Record<string, string> = {};
  const label2id: Record<string, number> = {};
  names.forEach((name, i) => {
    id2label[String(i)] = name;
    label2id[name] = i;
  });
  return config.with({
    id2label,
    label2id,
    ...(config.extra.num_labels !== undefined ? { num_labels: names.length } : {}),
    ...(problemType !== undefined ? { problem_type: problemType } : {}),
  });
}

/** The classification head's dropout: `classifier_dropout`, or `hidden_dropout_prob` when it is null (HF). */
export function classifierDropout(config: ReformerConfig): number {
  return config.classifier_dropout ?? config.hidden_dropout_prob;
}

/**
 * HF `ReformerForMaskedLM.__init__` asserts `not config.is_decoder` (bidirectional attention).
 * @throws ConfigError naming `is_decoder`.
 */
export function checkMaskedLM(config: ReformerConfig): void {
  if (config.is_decoder) {
    throw new ConfigError(
      'is_decoder',
      'is true, but a masked language model (ReformerForMaskedLM) attends in both directions: set is_decoder: false',
    );
  }
}

/**
 * HF `ReformerForQuestionAnswering` splits `qa_outputs` into start and end logits and unpacks exactly
 * two channels, so it only works with `num_labels = 2`.
 * @throws ConfigError naming `num_labels`.
 */
export function checkQuestionAnswering(info: LabelInfo): void {
  if (info.numLabels !== 2) {
    throw new ConfigError(
      'num_labels',
      `is ${info.numLabels}, but question answering has exactly two outputs per position (start and end logits): use num_labels 2 (drop id2label)`,
    );
  }
}

/**
 * HF's choice of the loss when `problem_type` is null, at the first call with labels: `regression` if
 * `num_labels == 1`, else `single_label_classification` for integer labels (Int32Array here, torch
 * long/int there), else `multi_label_classification`.
 */
export function resolveProblemType(numLabels: number, integerLabels: boolean): ProblemType {
  if (numLabels === 1) return 'regression';
  return integerLabels ? 'single_label_classification' : 'multi_label_classification';
}
