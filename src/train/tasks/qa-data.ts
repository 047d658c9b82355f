/**
 * Extractive question answering data: JSON Lines records
 *   {"context": "...", "question": "...", "answer_text": "...", "answer_start": 123}
 * `answer_start` is the character offset of the answer in `context` (SQuAD's convention: Unicode code
 * points, Python's string index); without it the first occurrence of `answer_text` is used. The
 * answer must be in its context: `context[answer_start : answer_start + len(answer_text)]` equals
 * `answer_text`, or the line is refused.
 *
 * Model input (byte-level models): question tokens, the separator (the end-of-text id, 1), then a
 * window of the context, padded to the model's length by the batcher:
 *   ids = question · [SEP] · context[w0 : w0 + budget]       budget = seqLen − |question| − 1
 * The answer span is given in tokens of that sequence, end inclusive (HF `start_positions` /
 * `end_positions`). A context longer than the budget is cut into windows (HF's "doc stride"): for
 * training, the window that holds the answer (centred on it); for evaluation and prediction, windows
 * every budget/2 tokens, and the best span over all windows wins (`bestSpan`).
 */
import { FormatError } from '../../errors.js';
import type { Tokenizer } from '../tokenizer.js';
import { type JsonlRecord, stringField } from './jsonl.js';

/** One validated QA record. */
export interface QaRecord {
  readonly line: number;
  readonly question: Uint8Array;
  readonly context: Uint8Array;
  /** The context as text (spans are cut from it). */
  readonly contextText: string;
  /** The answer's bytes [start, end) in `context`, or null (prediction data). */
  readonly answer: { readonly text: string; readonly byteStart: number; readonly byteEnd: number } | null;
}

/** One model input: question, separator, a window of the context. */
export interface QaWindow {
  /** Index of its record. */
  readonly record: number;
  readonly ids: Int32Array;
  /** Token index of the first context token (|question| + 1). */
  readonly contextStart: number;
  /** Byte offset in the context of the window's first context token. */
  readonly contextOffset: number;
  /** Context tokens in the window. */
  readonly contextTokens: number;
  /** Answer span in tokens (end inclusive), or null when the window does not hold the answer. */
  readonly span: { readonly start: number; readonly end: number } | null;
}

const utf8 = new TextEncoder();

/** Bytes of the first `n` code points of `s`. */
function byteOffset(codePoints: readonly string[], n: number): number {
  let b = 0;
  for (let i = 0; i < n; i++) b += utf8.encode(codePoints[i]!).length;
  return b;
}

/**
 * Validates and encodes QA records. `requireAnswers` false (prediction): `answer_text` may be absent.
 * @throws FormatError naming the line: a missing or empty field, an `answer_start` that is not a
 *   non-negative integer, an answer that is not in its context.
 */
export function qaRecords(records: readonly JsonlRecord[], where: string, requireAnswers: boolean): QaRecord[] {
  return records.map((r) => {
    const context = stringField(r, 'context', where, { nonEmpty: true });
    const question = stringField(r, 'question', where, { nonEmpty: true });
    const hasAnswer = r.value.answer_text !== undefined && r.value.answer_text !== null;
    if (!hasAnswer) {
      if (requireAnswers) throw new FormatError(`${where} line ${r.line}: missing field "answer_text"`);
      return { line: r.line, question: utf8.encode(question), context: utf8.encode(context), contextText: context, answer: null };
    }
    const text = stringField(r, 'answer_text', where, { nonEmpty: true });
    const cps = Array.from(context);
    const ans = Array.from(text);
    let start: number;
    const given = r.value.answer_start;
    if (given === undefined || given === null) {
      const at = context.indexOf(text);
      if (at < 0)
        throw new FormatError(`${where} line ${r.line}: answer_text ${JSON.stringify(text.slice(0, 40))} does not occur in its context`);
      start = Array.from(context.slice(0, at)).length;
    } else {
      if (typeof given !== 'number' || !Number.isSafeInteger(given) || given < 0) {
        throw new FormatError(
          `${where} line ${r.line}: "answer_start" must be a character offset (an integer ≥ 0), got ${JSON.stringify(given)}`,
        );
      }
      start = given;
      const found = cps.slice(start, start + ans.length).join('');
      if (found !== text) {
        throw new FormatError(
          `${where} line ${r.line}: the answer is not in its context: answer_text ${JSON.stringify(text.slice(0, 40))} but the context at answer_start ${start} reads ${JSON.stringify(found.slice(0, 40))}`,
        );
      }
    }
    const byteStart = byteOffset(cps, start);
    const byteEnd = byteStart + utf8.encode(text).length;
    return {
      line: r.line,
      question: utf8.encode(question),
      context: utf8.encode(context),
      contextText: context,
      answer: { text, byteStart, byteEnd },
    };
  });
}

/** The context budget next to a question; @throws FormatError if the question takes more than half the length. */
function budgetOf(rec: QaRecord, seqLen: number, where: string): number {
  const q = rec.question.length;
  if (q + 1 > Math.floor(seqLen / 2)) {
    throw new FormatError(
      `${where} line ${rec.line}: the question has ${q} tokens, more than half of the model's length ${seqLen}; shorten it`,
    );
  }
  return seqLen - q - 1;
}

function windowOf(rec: QaRecord, index: number, tok: Tokenizer, sepId: number, w0: number, budget: number): QaWindow {
  const n = Math.min(budget, rec.context.length - w0);
  const q = tok.encode(rec.question);
  const c = tok.encode(rec.context.subarray(w0, w0 + n));
  const ids = new Int32Array(q.length + 1 + c.length);
  ids.set(q);
  ids[q.length] = sepId;
  ids.set(c, q.length + 1);
  let span: QaWindow['span'] = null;
  if (rec.answer && rec.answer.byteStart >= w0 && rec.answer.byteEnd <= w0 + n) {
    span = { start: q.length + 1 + rec.answer.byteStart - w0, end: q.length + rec.answer.byteEnd - w0 };
  }
  return { record: index, ids, contextStart: q.length + 1, contextOffset: w0, contextTokens: n, span };
}

/**
 * One training window per record: the context window that holds the answer (the start of the context
 * when it fits, else centred on the answer). Byte-level tokenizers only (`tok.bytesPerToken === 1`).
 * @throws FormatError naming the line: no answer, a question over half the length, an answer longer
 *   than the window.
 */
export function qaTrainingWindows(recs: readonly QaRecord[], tok: Tokenizer, seqLen: number, sepId: number, where: string): QaWindow[] {
  return recs.map((rec, i) => {
    if (!rec.answer) throw new FormatError(`${where} line ${rec.line}: missing field "answer_text"`);
    const budget = budgetOf(rec, seqLen, where);
    const len = rec.answer.byteEnd - rec.answer.byteStart;
    if (len > budget) {
      throw new FormatError(
        `${where} line ${rec.line}: the answer has ${len} tokens, more than the ${budget} that fit next to the question`,
      );
    }
    let w0 = 0;
    if (rec.answer.byteEnd > budget) {
      w0 = rec.answer.byteStart - Math.floor((budget - len) / 2);
      w0 = Math.max(0, Math.min(w0, rec.context.length - budget));
    }
    return windowOf(rec, i, tok, sepId, w0, budget);
  });
}

/** Every window of a record's context, `stride` = budget/2 apart (evaluation, prediction). */
export function qaWindows(rec: QaRecord, index: number, tok: Tokenizer, seqLen: number, sepId: number, where: string): QaWindow[] {
  const budget = budgetOf(rec, seqLen, where);
  const stride = Math.max(1, Math.floor(budget / 2));
  const out: QaWindow[] = [];
  for (let w0 = 0; ; w0 += stride) {
    out.push(windowOf(rec, index, tok, sepId, w0, budget));
    if (w0 + budget >= rec.context.length) break;
  }
  return out;
}

/** A predicted span: bytes [byteStart, byteEnd) of the context and its score (start + end logit). */
export interface SpanPrediction {
  readonly byteStart: number;
  readonly byteEnd: number;
  readonly score: number;
}

/**
 * The best span of one window: start ≤ end inside the context part, at most `maxTokens` long,
 * maximising start_logit + end_logit (HF's run_qa post-processing, without the n-best list).
 * `start`/`end` are the window's logits (row `row` of [B, L] buffers, row length L).
 */
export function bestSpan(
  w: QaWindow,
  start: ArrayLike<number>,
  end: ArrayLike<number>,
  rowOffset: number,
  maxTokens: number,
): SpanPrediction {
  let best: SpanPrediction = { byteStart: w.contextOffset, byteEnd: w.contextOffset, score: -Infinity };
  const c0 = w.contextStart;
  const c1 = w.contextStart + w.contextTokens; // exclusive
  for (let i = c0; i < c1; i++) {
    const si = start[rowOffset + i]!;
    for (let j = i; j < Math.min(c1, i + maxTokens); j++) {
      const s = si + end[rowOffset + j]!;
      if (s > best.score) best = { byteStart: w.contextOffset + i - c0, byteEnd: w.contextOffset + j - c0 + 1, score: s };
    }
  }
  return best;
}

/**
 * The text of context bytes [byteStart, byteEnd), widened to whole UTF-8 characters, with its
 * character (code point) offset in the context.
 */
export function spanText(rec: QaRecord, byteStart: number, byteEnd: number): { text: string; charStart: number } {
  const b = rec.context;
  let s = byteStart;
  let e = byteEnd;
  while (s > 0 && (b[s]! & 0xc0) === 0x80) s--; // continuation byte: back to the character's start
  while (e < b.length && (b[e]! & 0xc0) === 0x80) e++;
  const dec = new TextDecoder('utf-8');
  return { text: dec.decode(b.subarray(s, e)), charStart: Array.from(dec.decode(b.subarray(0, s))).length };
}
