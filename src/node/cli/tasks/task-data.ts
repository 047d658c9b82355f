/**
 * Reading the data files of the task commands (`train --task`, `eval`, `predict` of a task checkpoint):
 * JSON Lines (UTF-8, optionally gzip) for classification and question answering, a text or FASTA file
 * (as `reformer train`) for the masked LM; the records become examples in src/train/tasks/.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { FormatError } from '../../../errors.js';
import { isGzip } from '../../../train/corpus.js';
import { parseJsonLines, type JsonlRecord } from '../../../train/tasks/jsonl.js';
import { checkReadableFile } from '../../corpus-file.js';

/**
 * The records of a JSON Lines file (`flag` names it in messages, e.g. `--data`).
 * @throws UsageError (missing or unreadable file), FormatError (corrupt gzip, not UTF-8, an empty file,
 *   a line that is not a JSON object: the line is named).
 */
export function readJsonLinesFile(path: string, flag: string): JsonlRecord[] {
  checkReadableFile(path, flag);
  let bytes = new Uint8Array(readFileSync(path));
  if (isGzip(bytes)) {
    try {
      bytes = new Uint8Array(gunzipSync(bytes));
    } catch (e) {
      throw new FormatError(`${flag} ${path}: corrupt gzip data (${(e as Error).message})`);
    }
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError(`${flag} ${path}: is not UTF-8 text; JSON Lines files are UTF-8`);
  }
  return parseJsonLines(text, `${flag} ${path}`);
}

/**
 * The last `ceil(fraction · n)` items are held out for validation (the LM's rule, on records), unless
 * that leaves no training item; fraction 0 = none.
 */
export function holdOut<T>(items: readonly T[], fraction: number): { train: T[]; validation: T[] } {
  const nVal = fraction === 0 ? 0 : Math.min(items.length - 1, Math.ceil(fraction * items.length));
  return { train: items.slice(0, items.length - nVal), validation: items.slice(items.length - nVal) };
}
