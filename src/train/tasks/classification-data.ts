/**
 * Sequence-classification data: JSON Lines records `{"text": "...", "label": ...}` → token ids and labels.
 *
 * The `label` field decides the loss (HF `problem_type`), unless it is given explicitly:
 *   a string ("spam") or an integer id (2)      single_label_classification; names map through label2id
 *   a non-integer number (0.73)                 regression (num_labels 1)
 *   a list of names or ids (["a", "c"])         multi_label_classification: those classes are on (multi-hot)
 * With `problem_type` regression, integer labels are targets too. A new model takes its classes from
 * the training data (names sorted, or ids 0…max); a trained model's `id2label`/`label2id` decide for
 * evaluation data, and a label it does not know is an error naming the line and the known labels.
 *
 * Texts longer than the model's length are truncated to their first `seqLen` tokens (HF's default
 * truncation; the pooled token is the first one); shorter ones are padded by the batcher.
 */
import { FormatError } from '../../errors.js';
import type { ProblemType } from '../../model/heads/task-config.js';
import type { Tokenizer } from '../tokenizer.js';
import { type JsonlRecord, stringField } from './jsonl.js';

/** Classes and loss of a classification task. */
export interface LabelScheme {
  readonly problemType: ProblemType;
  /** Class name of each id (`id2label`); one entry (`LABEL_0`) for regression. */
  readonly names: readonly string[];
  /** Class id of each name (`label2id`). */
  readonly ids: Readonly<Record<string, number>>;
}

/** One encoded record. */
export interface ClassificationExample {
  /** 1-based line in the data file. */
  readonly line: number;
  /** Token ids, at most `seqLen` (the first ones). */
  readonly ids: Int32Array;
  /** Tokens of the whole text (> ids.length when truncated). */
  readonly length: number;
  /** single label: class id; regression: target; multi-label: multi-hot [num_labels]; null when unlabelled. */
  readonly label: number | Float64Array | null;
}

type Kind = 'name' | 'int' | 'float' | 'list';

function kindOf(v: unknown): Kind | null {
  if (typeof v === 'string') return 'name';
  if (typeof v === 'number' && Number.isFinite(v)) return Number.isInteger(v) ? 'int' : 'float';
  if (Array.isArray(v)) return 'list';
  return null;
}

function labelError(r: JsonlRecord, where: string, what: string): FormatError {
  return new FormatError(`${where} line ${r.line}: ${what}`);
}

/**
 * The classes of a new model, from the labels of its training data (see the file header).
 * @throws FormatError naming the line: a missing or malformed label, kinds mixed in one file, a single
 *   class, string labels with problem_type regression.
 */
export function labelSchemeFromData(records: readonly JsonlRecord[], where: string, problemType: ProblemType | null = null): LabelScheme {
  // numbers (ids or targets), names and lists are the three families; one file uses one
  let family: 'number' | 'name' | 'list' | null = null;
  let first: JsonlRecord | null = null;
  let sawFloat = false;
  const names = new Set<string>();
  let maxId = -1;
  for (const r of records) {
    const v = r.value.label;
    if (v === undefined || v === null) throw labelError(r, where, 'missing field "label"');
    const k = kindOf(v);
    if (k === null)
      throw labelError(r, where, `"label" must be a class name, an integer id, a number or a list of classes, got ${JSON.stringify(v)}`);
    const f = k === 'int' || k === 'float' ? 'number' : k;
    if (family === null) {
      family = f;
      first = r;
    } else if (f !== family) {
      throw labelError(
        r,
        where,
        `label ${JSON.stringify(v)} is a ${f}, but line ${first!.line} has a ${family}; use one kind of label in a file`,
      );
    }
    if (k === 'float') sawFloat = true;
    for (const x of k === 'list' ? (v as unknown[]) : [v]) {
      if (typeof x === 'string') names.add(x);
      else if (typeof x === 'number' && Number.isInteger(x) && x >= 0) maxId = Math.max(maxId, x);
      else if (k !== 'float') throw labelError(r, where, `class ${JSON.stringify(x)} must be a name or a non-negative integer id`);
    }
  }
  if (family === 'number' && (sawFloat || problemType === 'regression')) {
    if (problemType !== null && problemType !== 'regression') {
      throw labelError(first!, where, `non-integer labels are regression targets, but problem_type ${problemType} was asked for`);
    }
    return { problemType: 'regression', names: ['LABEL_0'], ids: { LABEL_0: 0 } };
  }
  if (names.size > 0 && maxId >= 0) throw labelError(first!, where, 'labels mix class names and integer ids; use one of them');
  const list = names.size > 0 ? [...names].sort() : Array.from({ length: maxId + 1 }, (_, i) => `LABEL_${i}`);
  const pt: ProblemType = family === 'list' ? 'multi_label_classification' : 'single_label_classification';
  if (problemType !== null && problemType !== pt) {
    throw labelError(
      first!,
      where,
      `the labels are ${family === 'list' ? 'lists of classes' : 'single classes'} (${pt}), but problem_type ${problemType} was asked for`,
    );
  }
  if (pt === 'single_label_classification' && list.length < 2) {
    throw labelError(first!, where, `every label is ${JSON.stringify(list[0])}: classification needs at least two classes`);
  }
  const ids: Record<string, number> = Object.create(null);
  list.forEach((n, i) => {
    ids[n] = i;
  });
  return { problemType: pt, names: list, ids };
}

/** A class id from a name or an id, or an error naming the line and the known classes. */
function classId(x: unknown, scheme: LabelScheme, r: JsonlRecord, where: string): number {
  const n = scheme.names.length;
  const known = `${n} classes: ${scheme.names
    .slice(0, 8)
    .map((s, i) => `${i}=${s}`)
    .join(', ')}${n > 8 ? ', ...' : ''}`;
  if (typeof x === 'string') {
    const id = scheme.ids[x];
    if (id === undefined) throw labelError(r, where, `label ${JSON.stringify(x)} is not a class of this model (${known})`);
    return id;
  }
  if (typeof x === 'number' && Number.isInteger(x)) {
    if (x < 0 || x >= n) throw labelError(r, where, `label ${x} is outside num_labels ${n} (ids 0…${n - 1}; ${known})`);
    return x;
  }
  throw labelError(r, where, `class ${JSON.stringify(x)} must be a name or an integer id`);
}

/**
 * Encodes records into examples: `text` tokenized and truncated to `seqLen`, `label` resolved by
 * `scheme`. `requireLabels` false (prediction): records without a label get `label: null`.
 * @throws FormatError naming the line: missing or empty `text`, missing label (when required), a label
 *   outside the model's classes or of the wrong kind for its problem type.
 */
export function classificationExamples(
  records: readonly JsonlRecord[],
  tokenizer: Tokenizer,
  scheme: LabelScheme,
  opts: { seqLen: number; where: string; requireLabels: boolean },
): ClassificationExample[] {
  const { where } = opts;
  return records.map((r) => {
    const text = stringField(r, 'text', where, { nonEmpty: true });
    const all = tokenizer.encode(text);
    if (all.length === 0) throw labelError(r, where, 'field "text" gives no token');
    const ids = all.length > opts.seqLen ? all.slice(0, opts.seqLen) : all;
    const v = r.value.label;
    let label: ClassificationExample['label'] = null;
    if (v === undefined || v === null) {
      if (opts.requireLabels) throw labelError(r, where, 'missing field "label"');
    } else if (scheme.problemType === 'regression') {
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw labelError(r, where, `regression label must be a number, got ${JSON.stringify(v)}`);
      label = v;
    } else if (scheme.problemType === 'multi_label_classification') {
      if (!Array.isArray(v)) throw labelError(r, where, `multi-label "label" must be a list of classes, got ${JSON.stringify(v)}`);
      const hot = new Float64Array(scheme.names.length);
      for (const x of v) hot[classId(x, scheme, r, where)] = 1;
      label = hot;
    } else {
      if (Array.isArray(v)) throw labelError(r, where, `"label" is a list, but this is single-label classification; give one class`);
      label = classId(v, scheme, r, where);
    }
    return { line: r.line, ids, length: all.length, label };
  });
}
