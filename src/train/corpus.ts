/**
 * Corpus preparation: bytes of a data file -> the byte stream a byte-level model trains on.
 *
 * Formats
 * - `text`: UTF-8 text, kept byte for byte (no normalisation). Must be valid UTF-8.
 * - `fasta`: one or more FASTA records. Header lines (`>`), comment lines (`;`) and all line breaks and
 *   blanks are removed; the sequence letters of all records are concatenated in file order (no
 *   separator), by default exactly as the bases appear. Allowed sequence characters: letters, `-`, `*`, `.`.
 *
 * Soft-masking and ambiguity codes (nucleotide FASTA). Genome assemblies often write repeats in
 * lowercase (soft-masked: `acgt` = `ACGT` in a repeat) and use the IUPAC ambiguity codes for unknown or
 * mixed bases (`N` any base, `R` = A/G, `Y` = C/T, `K`, `M`, `S`, `W`, `B`, `D`, `H`, `V`). A byte-level
 * model sees each of these as its own symbol: a model trained on uppercase `ACGT` only gives a lowercase
 * or an ambiguous letter almost no probability (one such letter can cost 15+ bits). `fasta.case:
 * 'upper'` folds lowercase to uppercase (the soft-masking is dropped, the bases are kept), and
 * `fasta.ambiguous: 'n'` writes every ambiguity code as `N` (or `n`), `'drop'` removes them. Every
 * letter other than A, C, G, T, U (either case) counts as an ambiguity code, so these two options are
 * for nucleotide files only (not proteins). `PreparedCorpus.letters` counts what the result holds.
 * - `auto`: `fasta` if the first non-blank byte is `>`, otherwise `text`.
 *
 * gzip: this module works on already-decompressed bytes. `gunzip()` decompresses with the standard
 * `DecompressionStream` (browsers, Node ≥ 18); the Node file reader uses zlib. Passing gzip bytes to
 * `prepareCorpus` is an error that says so.
 *
 * Everything that is not usable text is rejected with `FormatError` saying what was found: empty data,
 * gzip or other binary data (NUL bytes, or more than 1% control characters), invalid UTF-8 (with the
 * byte offset), FASTA without sequence or with characters that are not sequence letters (with the line).
 */
import { ConfigError, FormatError } from '../errors.js';
import { bytesArg, describeValue, optionsArg } from '../util/args.js';

export type CorpusFormat = 'auto' | 'text' | 'fasta';

/** How FASTA sequence letters are written into the stream (see the file header). */
export interface FastaOptions {
  /** `keep` (default): letters as they are; `upper`: lowercase (soft-masked) letters become uppercase. */
  case?: 'keep' | 'upper';
  /**
   * IUPAC ambiguity codes (every letter but A, C, G, T, U, either case): `keep` (default), `n` (each
   * becomes `N`, or `n` when lowercase and kept lowercase), `drop` (removed from the stream).
   */
  ambiguous?: 'keep' | 'n' | 'drop';
}

/** The values `FastaOptions.case` accepts. */
export const FASTA_CASE_MODES = ['keep', 'upper'] as const;
/** The values `FastaOptions.ambiguous` accepts. */
export const FASTA_AMBIGUOUS_MODES = ['keep', 'n', 'drop'] as const;

/** What the sequence letters of a prepared FASTA stream are (counts of the result, after `FastaOptions`). */
export interface LetterCounts {
  /** Bytes per letter (and `-`, `*`, `.`), e.g. `{ A: 120, C: 98, n: 4 }`, in byte order. */
  readonly byLetter: Readonly<Record<string, number>>;
  /** Lowercase letters (soft-masked bases). */
  readonly lowercase: number;
  /** IUPAC ambiguity codes and other letters than A, C, G, T, U (either case). */
  readonly ambiguous: number;
}

/** The prepared byte stream and what it was made from. */
export interface PreparedCorpus {
  /** The training bytes (for `text`, the input itself; for `fasta`, the concatenated sequence). */
  readonly bytes: Uint8Array;
  readonly format: 'text' | 'fasta';
  /** Number of FASTA records (0 for text). */
  readonly records: number;
  /** One line for logs, e.g. `fasta, 1 record, 48,502 bases`. */
  readonly summary: string;
  /** For FASTA: the letters of the result; null for text. */
  readonly letters: LetterCounts | null;
}

export interface PrepareCorpusOptions {
  /** Default `auto`. */
  format?: CorpusFormat;
  /** Name used in error messages (a file path). Default `data`. */
  name?: string;
  /** How FASTA letters are written (soft-masking, ambiguity codes); ignored for text. Default: as they are. */
  fasta?: FastaOptions;
}

/** True if the bytes start with the gzip magic number (1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  bytesArg('isGzip', 'bytes', bytes);
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decompresses gzip bytes with the standard `DecompressionStream('gzip')`.
 * @throws FormatError if the data is not valid gzip, or if this JavaScript engine has no DecompressionStream.
 */
export async function gunzip(bytes: Uint8Array, name = 'data'): Promise<Uint8Array> {
  bytesArg('gunzip', 'bytes', bytes);
  const DS = (globalThis as { DecompressionStream?: typeof DecompressionStream }).DecompressionStream;
  if (DS === undefined) {
    throw new FormatError(`${name}: gzip data, but this JavaScript engine has no DecompressionStream; decompress it first`);
  }
  try {
    const stream = new Blob([bytes.slice()]).stream().pipeThrough(new DS('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new FormatError(`${name}: not valid gzip data (${(e as Error).message})`);
  }
}

/**
 * Validates and prepares a corpus.
 * @returns the byte stream to tokenize.
 * @throws ShapeError if `bytes` is not a Uint8Array; ConfigError for an unknown format or FASTA option;
 *   FormatError for empty, compressed, binary or invalid-UTF-8 data, and for malformed FASTA.
 */
export function prepareCorpus(bytes: Uint8Array, options: PrepareCorpusOptions = {}): PreparedCorpus {
  bytesArg('prepareCorpus', 'bytes', bytes);
  optionsArg('prepareCorpus', options, "{ format: 'auto', name: 'data.txt' }");
  const name = options.name ?? 'data';
  const format = options.format ?? 'auto';
  if (!['auto', 'text', 'fasta'].includes(format)) {
    throw new ConfigError('format', `must be 'auto', 'text' or 'fasta', got ${describeValue(format)}`);
  }
  const fasta = fastaOptions(options.fasta);
  if (bytes.length === 0) throw new FormatError(`${name}: is empty (0 bytes); expected UTF-8 text or FASTA`);
  if (isGzip(bytes)) {
    throw new FormatError(
      `${name}: is gzip-compressed (starts with 1f 8b); decompress it first (the CLI does this for files ending in .gz)`,
    );
  }
  checkNotBinary(bytes, name);
  const resolved = format === 'auto' ? (looksLikeFasta(bytes) ? 'fasta' : 'text') : format;
  if (resolved === 'fasta') {
    const parsed = parseFasta(bytes, name);
    const { sequence, changed } = applyFastaOptions(parsed.sequence, fasta);
    const records = parsed.records;
    if (sequence.length === 0) {
      throw new FormatError(`${name}: no sequence letters are left after dropping the ambiguity codes (fasta.ambiguous 'drop')`);
    }
    const letters = countLetters(sequence);
    const en = (x: number): string => x.toLocaleString('en-US');
    const notes = [
      ...changed,
      ...(letters.lowercase > 0 ? [`${en(letters.lowercase)} lowercase`] : []),
      ...(letters.ambiguous > 0 ? [`${en(letters.ambiguous)} ambiguity code${letters.ambiguous === 1 ? '' : 's'}`] : []),
    ];
    return {
      bytes: sequence,
      format: 'fasta',
      records,
      summary: `fasta, ${en(records)} record${records === 1 ? '' : 's'}, ${en(sequence.length)} bases${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`,
      letters,
    };
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    throw new FormatError(
      `${name}: invalid UTF-8 at byte ${bad} (0x${hex(bytes[bad]!)}); expected UTF-8 text. Convert it first, e.g. \`iconv -f latin1 -t utf-8\``,
    );
  }
  return { bytes, format: 'text', records: 0, summary: `text, ${bytes.length.toLocaleString('en-US')} bytes`, letters: null };
}

/** @throws ConfigError('fasta') for an unknown option or value. */
function fastaOptions(o: FastaOptions | undefined): Required<FastaOptions> {
  const f = optionsArg('prepareCorpus: fasta', o, "{ case: 'upper', ambiguous: 'n' }");
  for (const k of Object.keys(f)) {
    if (k !== 'case' && k !== 'ambiguous') throw new ConfigError('fasta', `"${k}" is not a FASTA option (its options: case, ambiguous)`);
  }
  const r = { case: f.case ?? 'keep', ambiguous: f.ambiguous ?? 'keep' };
  if (!(FASTA_CASE_MODES as readonly string[]).includes(r.case)) {
    throw new ConfigError('fasta', `case must be one of ${FASTA_CASE_MODES.join(', ')}, got ${describeValue(r.case)}`);
  }
  if (!(FASTA_AMBIGUOUS_MODES as readonly string[]).includes(r.ambiguous)) {
    throw new ConfigError('fasta', `ambiguous must be one of ${FASTA_AMBIGUOUS_MODES.join(', ')}, got ${describeValue(r.ambiguous)}`);
  }
  return r;
}

const isLower = (b: number): boolean => b >= 0x61 && b <= 0x7a;
const isLetter = (b: number): boolean => (b >= 0x41 && b <= 0x5a) || isLower(b);
/** A letter other than A, C, G, T, U in either case (IUPAC ambiguity codes and anything else). */
const isAmbiguous = (b: number): boolean => isLetter(b) && !'ACGTU'.includes(String.fromCharCode(b & 0xdf));

/** The FASTA options applied to the sequence; `changed` says what they did, for the summary. */
function applyFastaOptions(seq: Uint8Array, o: Required<FastaOptions>): { sequence: Uint8Array; changed: string[] } {
  if (o.case === 'keep' && o.ambiguous === 'keep') return { sequence: seq, changed: [] };
  const out = new Uint8Array(seq.length);
  let n = 0;
  let folded = 0;
  let mapped = 0;
  let dropped = 0;
  for (let i = 0; i < seq.length; i++) {
    let b = seq[i]!;
    if (o.case === 'upper' && isLower(b)) {
      b -= 0x20;
      folded++;
    }
    if (o.ambiguous !== 'keep' && isAmbiguous(b)) {
      if (o.ambiguous === 'drop') {
        dropped++;
        continue;
      }
      const nb = isLower(b) ? 0x6e : 0x4e; // n / N
      if (nb !== b) mapped++;
      b = nb;
    }
    out[n++] = b;
  }
  const en = (x: number): string => x.toLocaleString('en-US');
  const changed = [
    ...(o.case === 'upper' ? [`${en(folded)} lowercase folded to uppercase`] : []),
    ...(o.ambiguous === 'n' ? [`${en(mapped)} ambiguity codes written as N`] : []),
    ...(o.ambiguous === 'drop' ? [`${en(dropped)} ambiguity codes dropped`] : []),
  ];
  return { sequence: out.slice(0, n), changed };
}

/** Counts of every letter (and gap symbol) of a FASTA sequence. */
function countLetters(seq: Uint8Array): LetterCounts {
  const counts = new Float64Array(256);
  for (let i = 0; i < seq.length; i++) counts[seq[i]!]!++;
  const byLetter: Record<string, number> = {};
  let lowercase = 0;
  let ambiguous = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b]!;
    if (c === 0) continue;
    byLetter[String.fromCharCode(b)] = c;
    if (isLower(b)) lowercase += c;
    if (isAmbiguous(b)) ambiguous += c;
  }
  return { byLetter, lowercase, ambiguous };
}

/** True if the first byte that is not whitespace is `>`. */
export function looksLikeFasta(bytes: Uint8Array): boolean {
  bytesArg('looksLikeFasta', 'bytes', bytes);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x3e; // '>'
  }
  return false;
}

/**
 * FASTA -> concatenated sequence bytes. Header (`>`) and comment (`;`) lines are skipped; spaces, tabs,
 * CR and LF are removed; every other byte must be a letter, `-`, `*` or `.`.
 * @throws FormatError if there is no sequence, sequence data comes before the first header, or a line holds
 *   another character (message names the line and the character).
 */
export function parseFasta(bytes: Uint8Array, name = 'data'): { sequence: Uint8Array; records: number } {
  bytesArg('parseFasta', 'bytes', bytes);
  const out = new Uint8Array(bytes.length);
  let n = 0;
  let records = 0;
  let line = 1;
  let atLineStart = true;
  let skipLine = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x0a) {
      line++;
      atLineStart = true;
      skipLine = false;
      continue;
    }
    if (skipLine) continue;
    if (atLineStart && (b === 0x3e || b === 0x3b)) {
      // '>' header or ';' comment: skip to the end of the line
      if (b === 0x3e) records++;
      skipLine = true;
      atLineStart = false;
      continue;
    }
    atLineStart = false;
    if (b === 0x20 || b === 0x09 || b === 0x0d) continue;
    if (!isLetter(b) && b !== 0x2d && b !== 0x2a && b !== 0x2e) {
      throw new FormatError(
        `${name}: FASTA line ${line} holds ${describeByte(b)}, which is not a sequence letter (allowed: A-Z, a-z, '-', '*', '.')`,
      );
    }
    if (records === 0) {
      throw new FormatError(`${name}: FASTA sequence data on line ${line} comes before the first '>' header line`);
    }
    out[n++] = b;
  }
  if (n === 0) {
    throw new FormatError(`${name}: FASTA has ${records} header line${records === 1 ? '' : 's'} but no sequence letters`);
  }
  return { sequence: out.slice(0, n), records };
}

/** Rejects data that is not text: any NUL byte, or more than 1% C0 control bytes other than tab, LF, VT, FF, CR, ESC (and DEL). */
function checkNotBinary(bytes: Uint8Array, name: string): void {
  let nul = 0;
  let control = 0;
  let first = -1;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0) {
      nul++;
      if (first < 0) first = i;
    } else if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0b && b !== 0x0c && b !== 0x0d && b !== 0x1b) || b === 0x7f) {
      control++;
      if (first < 0) first = i;
    }
  }
  if (nul > 0 || control > bytes.length / 100) {
    throw new FormatError(
      `${name}: looks like binary data, not text: ${nul} NUL byte${nul === 1 ? '' : 's'} and ${control} other control ` +
        `byte${control === 1 ? '' : 's'} in ${bytes.length} bytes (first at byte ${first}: 0x${hex(bytes[first]!)}); ` +
        `expected UTF-8 text or FASTA`,
    );
  }
}

/** Offset of the first byte of an invalid UTF-8 sequence, or −1 if the bytes are valid UTF-8 (RFC 3629). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  bytesArg('firstInvalidUtf8', 'bytes', bytes);
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // no overlong
      if (b === 0xed) hi = 0x9f; // no surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f; // <= U+10FFFF
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      const min = k === 1 ? lo : 0x80;
      const max = k === 1 ? hi : 0xbf;
      if (c < min || c > max) return i;
    }
    i += need + 1;
  }
  return -1;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

function describeByte(b: number): string {
  return b >= 0x21 && b <= 0x7e ? `'${String.fromCharCode(b)}' (0x${hex(b)})` : `byte 0x${hex(b)}`;
}
