/**
 * Corpus preparation: bytes of a data file -> the byte stream a byte-level model trains on.
 *
 * Formats
 * - `text`: UTF-8 text, kept byte for byte (no normalisation). Must be valid UTF-8.
 * - `fasta`: one or more FASTA records. Header lines (`>`), comment lines (`;`) and all line breaks and
 *   blanks are removed; the sequence letters of all records are concatenated in file order (no
 *   separator), exactly as the bases appear (case kept). Allowed sequence characters: letters, `-`, `*`, `.`.
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
import { FormatError } from '../errors.js';

export type CorpusFormat = 'auto' | 'text' | 'fasta';

/** The prepared byte stream and what it was made from. */
export interface PreparedCorpus {
  /** The training bytes (for `text`, the input itself; for `fasta`, the concatenated sequence). */
  readonly bytes: Uint8Array;
  readonly format: 'text' | 'fasta';
  /** Number of FASTA records (0 for text). */
  readonly records: number;
  /** One line for logs, e.g. `fasta, 1 record, 48502 bases`. */
  readonly summary: string;
}

export interface PrepareCorpusOptions {
  /** Default `auto`. */
  format?: CorpusFormat;
  /** Name used in error messages (a file path). Default `data`. */
  name?: string;
}

/** True if the bytes start with the gzip magic number (1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decompresses gzip bytes with the standard `DecompressionStream('gzip')`.
 * @throws FormatError if the data is not valid gzip, or if this JavaScript engine has no DecompressionStream.
 */
export async function gunzip(bytes: Uint8Array, name = 'data'): Promise<Uint8Array> {
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
 * @throws FormatError for empty, compressed, binary or invalid-UTF-8 data, and for malformed FASTA.
 */
export function prepareCorpus(bytes: Uint8Array, options: PrepareCorpusOptions = {}): PreparedCorpus {
  const name = options.name ?? 'data';
  const format = options.format ?? 'auto';
  if (bytes.length === 0) throw new FormatError(`${name}: is empty (0 bytes); expected UTF-8 text or FASTA`);
  if (isGzip(bytes)) {
    throw new FormatError(
      `${name}: is gzip-compressed (starts with 1f 8b); decompress it first (the CLI does this for files ending in .gz)`,
    );
  }
  checkNotBinary(bytes, name);
  const resolved = format === 'auto' ? (looksLikeFasta(bytes) ? 'fasta' : 'text') : format;
  if (resolved === 'fasta') {
    const { sequence, records } = parseFasta(bytes, name);
    return {
      bytes: sequence,
      format: 'fasta',
      records,
      summary: `fasta, ${records.toLocaleString('en-US')} record${records === 1 ? '' : 's'}, ${sequence.length.toLocaleString('en-US')} bases`,
    };
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    throw new FormatError(
      `${name}: invalid UTF-8 at byte ${bad} (0x${hex(bytes[bad]!)}); expected UTF-8 text. Convert it first, e.g. \`iconv -f latin1 -t utf-8\``,
    );
  }
  return { bytes, format: 'text', records: 0, summary: `text, ${bytes.length.toLocaleString('en-US')} bytes` };
}

/** True if the first byte that is not whitespace is `>`. */
export function looksLikeFasta(bytes: Uint8Array): boolean {
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
    const isLetter = (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
    if (!isLetter && b !== 0x2d && b !== 0x2a && b !== 0x2e) {
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
