/**
 * JSON Lines (one JSON object per line, https://jsonlines.org) for the task data files, with errors
 * that name the file and the line: `data.jsonl line 7: missing field "label"`. Blank lines are
 * skipped; a UTF-8 byte-order mark at the start is ignored. Browser-safe: takes the text.
 */
import { FormatError } from '../../errors.js';

/** One record and the 1-based line it came from. */
export interface JsonlRecord {
  readonly line: number;
  readonly value: Readonly<Record<string, unknown>>;
}

/**
 * Parses JSON Lines text; `where` names the source in messages (e.g. `--data train.jsonl`).
 * @throws FormatError for an empty file (no record), a line that is not JSON, or not an object.
 */
export function parseJsonLines(text: string, where: string): JsonlRecord[] {
  const records: JsonlRecord[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, i) => {
    const s = raw.trim();
    if (s === '') return;
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (e) {
      throw new FormatError(`${where} line ${i + 1}: not valid JSON (${(e as Error).message}); each line must be one JSON object`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new FormatError(
        `${where} line ${i + 1}: must be a JSON object such as {"text": "...", "label": "..."}, got ${JSON.stringify(v).slice(0, 60)}`,
      );
    }
    records.push({ line: i + 1, value: v as Record<string, unknown> });
  });
  if (records.length === 0) throw new FormatError(`${where}: holds no JSON line (the file is empty); give one JSON object per line`);
  return records;
}

/** Field `name` of a record as a string. @throws FormatError (missing, or not a string). */
export function stringField(r: JsonlRecord, name: string, where: string, opts: { nonEmpty?: boolean } = {}): string {
  const v = r.value[name];
  if (v === undefined || v === null) throw new FormatError(`${where} line ${r.line}: missing field "${name}"`);
  if (typeof v !== 'string')
    throw new FormatError(`${where} line ${r.line}: field "${name}" must be a string, got ${JSON.stringify(v).slice(0, 40)}`);
  if (opts.nonEmpty && v.length === 0) throw new FormatError(`${where} line ${r.line}: field "${name}" is empty`);
  return v;
}
