/**
 * Reading a corpus file from disk: gzip (`.gz` or the 1f 8b magic number) is decompressed with zlib,
 * FASTA is recognised by extension (`.fa`, `.fasta`, `.fna`, also before `.gz`) or a leading `>`,
 * everything else is UTF-8 text. Validation is `prepareCorpus`'s (train/corpus.ts).
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FormatError, UsageError } from '../errors.js';
import { isGzip, prepareCorpus, type CorpusFormat, type FastaOptions, type PreparedCorpus } from '../train/corpus.js';
import { pathArg } from '../util/args.js';

const FASTA_EXTENSIONS = ['.fa', '.fasta', '.fna'];

/** The format a path's extension implies (`auto` if none: then the content decides). */
export function formatFromPath(path: string): CorpusFormat {
  pathArg('formatFromPath', 'path', path);
  const name = basename(path).toLowerCase().replace(/\.gz$/, '');
  return FASTA_EXTENSIONS.some((e) => name.endsWith(e)) ? 'fasta' : 'auto';
}

/**
 * Reads, decompresses and prepares a corpus file.
 * @param fasta how FASTA letters are written (soft-masking, ambiguity codes: `FastaOptions`); ignored for text.
 * @throws UsageError if the file does not exist, is a directory or cannot be read (names the flag);
 *   FormatError for corrupt gzip or content `prepareCorpus` rejects.
 */
export function readCorpusFile(
  path: string,
  flag = '--data',
  fasta: FastaOptions = {},
): PreparedCorpus & { path: string; fileBytes: number } {
  checkReadableFile(path, flag);
  let bytes = new Uint8Array(readFileSync(path));
  const fileBytes = bytes.byteLength;
  if (isGzip(bytes)) {
    try {
      bytes = new Uint8Array(gunzipSync(bytes));
    } catch (e) {
      throw new FormatError(`${path}: not valid gzip data (${(e as Error).message})`);
    }
  } else if (path.toLowerCase().endsWith('.gz')) {
    throw new FormatError(`${path}: named .gz but not gzip data (no 1f 8b magic number)`);
  }
  const prepared = prepareCorpus(bytes, { format: formatFromPath(path), name: path, fasta });
  return { ...prepared, path, fileBytes };
}

/** @throws UsageError naming the flag if `path` is not a readable regular file. */
export function checkReadableFile(path: string, flag: string): void {
  pathArg('checkReadableFile', 'path', path);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new UsageError(`${flag} ${path}: no such file`);
  }
  if (!st.isFile()) throw new UsageError(`${flag} ${path}: is not a regular file`);
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new UsageError(`${flag} ${path}: is not readable (permission denied)`);
  }
}
