/**
 * SentencePiece's normalizer (sentencepiece `normalizer.cc`), on UTF-8 bytes:
 *
 * 1. `precompiled_charsmap` = uint32 LE size n, n bytes of a darts-clone double-array trie (uint32 LE
 *    units) whose keys are UTF-8 byte sequences, then a pool of NUL-terminated replacement strings (a
 *    key's value is the offset of its replacement). At each position the LONGEST key that matches is
 *    replaced; without a match one UTF-8 character is copied (a malformed byte becomes U+FFFD, 1 byte
 *    consumed). Pieces of type USER_DEFINED are matched first and never normalized.
 * 2. Whitespace (`remove_extra_whitespaces`): leading replacements that are exactly " " are skipped (all
 *    whitespace: empty result); `add_dummy_prefix` puts "▁" (U+2581) first (last with
 *    `treat_whitespace_as_suffix`); after a replacement that ended in a space the next one's leading
 *    spaces are dropped; every space becomes "▁" (`escape_whitespaces`); trailing "▁" are stripped.
 *
 * Darts-clone unit u: has_leaf = (u >> 8) & 1, value = u & 0x7fffffff, label = u & 0x800000ff,
 * offset = (u >> 10) << ((u & 0x200) >> 6). Common-prefix search from the root: node = offset(units[0]);
 * per byte c: node ^= c; u = units[node]; stop if label(u) ≠ c; node ^= offset(u); if has_leaf(u), the
 * bytes so far are a key with value value(units[node]).
 */
import { FormatError } from '../../errors.js';
import type { NormalizerSpec } from './model-proto.js';

/** "▁" (U+2581), SentencePiece's visible space, in UTF-8. */
export const SPACE_SYMBOL = new Uint8Array([0xe2, 0x96, 0x81]);
const REPLACEMENT = new Uint8Array([0xef, 0xbf, 0xbd]);
const SPACE = 0x20;

/**
 * Length of the valid UTF-8 character at `at` (1–4), or 0 if the bytes there are not one (overlong
 * forms, surrogates and values above U+10FFFF are invalid, as in sentencepiece's DecodeUTF8).
 */
export function utf8CharLength(b: Uint8Array, at: number): number {
  const c = b[at]!;
  if (c < 0x80) return 1;
  const cont = (i: number): boolean => at + i < b.length && (b[at + i]! & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const cp = ((c & 0x0f) << 12) | ((b[at + 1]! & 0x3f) << 6) | (b[at + 2]! & 0x3f);
    return cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const cp = ((c & 0x07) << 18) | ((b[at + 1]! & 0x3f) << 12) | ((b[at + 2]! & 0x3f) << 6) | (b[at + 3]! & 0x3f);
    return cp >= 0x10000 && cp <= 0x10ffff ? 4 : 0;
  }
  return 0;
}

/** sentencepiece's OneCharLen: the length a lead byte announces (1 for continuation bytes). */
export function oneCharLen(lead: number): number {
  return lead < 0xc0 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

/** A growable byte buffer. */
export class ByteBuilder {
  private buf = new Uint8Array(64);
  length = 0;
  push(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + bytes.length));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Longest-prefix matcher over the user-defined pieces (matched before normalization, kept verbatim). */
export interface PrefixMatcher {
  /** Length of the longest key that starts at `at`, or 0. */
  longest(b: Uint8Array, at: number): number;
}

export class Normalizer {
  private readonly units: Uint32Array;
  private readonly pool: Uint8Array;
  private readonly replacements = new Map<number, Uint8Array>();
  private readonly where: string;

  /** @throws FormatError if the charsmap's trie size disagrees with its length. */
  constructor(
    readonly spec: NormalizerSpec,
    private readonly userDefined: PrefixMatcher | null,
    private readonly treatWhitespaceAsSuffix = false,
    where = 'spiece.model',
  ) {
    this.where = where;
    const map = spec.precompiledCharsmap;
    if (map.length === 0) {
      this.units = new Uint32Array(0);
      this.pool = map;
      return;
    }
    if (map.length < 4) throw new FormatError(`${where}: precompiled_charsmap of ${map.length} bytes is too short`);
    const dv = new DataView(map.buffer, map.byteOffset, map.byteLength);
    const size = dv.getUint32(0, true);
    if (size % 4 !== 0 || 4 + size > map.length || size === 0) {
      throw new FormatError(`${where}: precompiled_charsmap says its trie has ${size} bytes, but it holds ${map.length - 4}`);
    }
    this.units = new Uint32Array(size / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = dv.getUint32(4 + 4 * i, true);
    this.pool = map.subarray(4 + size);
  }

  /** [replacement bytes, input bytes consumed] for the input at `at` (sentencepiece NormalizePrefix). */
  private normalizePrefix(b: Uint8Array, at: number): [Uint8Array, number] {
    if (this.userDefined) {
      const n = this.userDefined.longest(b, at);
      if (n > 0) return [b.subarray(at, at + n), n];
    }
    let longest = 0;
    let value = 0;
    const units = this.units;
    if (units.length > 0) {
      let node = offsetOf(units[0]!);
      for (let i = at; i < b.length; i++) {
        const c = b[i]!;
        node ^= c;
        if (node >= units.length) break;
        const u = units[node]!;
        if ((u & 0x800000ff) >>> 0 !== c) break;
        node ^= offsetOf(u);
        if ((u >>> 8) & 1) {
          if (node >= units.length) throw new FormatError(`${this.where}: the normalization trie points outside itself (corrupted file)`);
          longest = i + 1 - at;
          value = units[node]! & 0x7fffffff;
        }
      }
    }
    if (longest > 0) return [this.replacement(value), longest];
    const n = utf8CharLength(b, at);
    return n === 0 ? [REPLACEMENT, 1] : [b.subarray(at, at + n), n];
  }

  private replacement(offset: number): Uint8Array {
    let r = this.replacements.get(offset);
    if (!r) {
      if (offset >= this.pool.length)
        throw new FormatError(`${this.where}: a normalization rule points outside its string pool (corrupted file)`);
      let end = offset;
      while (end < this.pool.length && this.pool[end] !== 0) end++;
      r = this.pool.subarray(offset, end);
      this.replacements.set(offset, r);
    }
    return r;
  }

  /** The normalized UTF-8 bytes of `input` (UTF-8). */
  normalize(input: Uint8Array): Uint8Array {
    const spec = this.spec;
    const out = new ByteBuilder();
    let pos = 0;
    if (spec.removeExtraWhitespaces) {
      while (pos < input.length) {
        const [r, n] = this.normalizePrefix(input, pos);
        if (!(r.length === 1 && r[0] === SPACE)) break;
        pos += n;
      }
    }
    if (pos >= input.length) return new Uint8Array(0);
    const space = spec.escapeWhitespaces ? SPACE_SYMBOL : new Uint8Array([SPACE]);
    if (!this.treatWhitespaceAsSuffix && spec.addDummyPrefix) out.push(space);
    let prevSpace = spec.removeExtraWhitespaces;
    while (pos < input.length) {
      const [r, n] = this.normalizePrefix(input, pos);
      let s = 0;
      if (prevSpace) while (s < r.length && r[s] === SPACE) s++;
      if (s < r.length) {
        let from = s;
        for (let i = s; i < r.length; i++) {
          if (spec.escapeWhitespaces && r[i] === SPACE) {
            out.push(r.subarray(from, i));
            out.push(SPACE_SYMBOL);
            from = i + 1;
          }
        }
        out.push(r.subarray(from));
        prevSpace = r[r.length - 1] === SPACE;
      }
      pos += n;
      if (!spec.removeExtraWhitespaces) prevSpace = false;
    }
    let bytes = out.bytes();
    if (spec.removeExtraWhitespaces) {
      let end = bytes.length;
      const ends = (e: number): boolean => e >= space.length && space.every((x, i) => bytes[e - space.length + i] === x);
      while (ends(end)) end -= space.length;
      bytes = bytes.subarray(0, end);
    }
    if (this.treatWhitespaceAsSuffix && spec.addDummyPrefix) {
      const withSuffix = new Uint8Array(bytes.length + space.length);
      withSuffix.set(bytes);
      withSuffix.set(space, bytes.length);
      bytes = withSuffix;
    }
    return bytes;
  }
}

function offsetOf(u: number): number {
  return (u >>> 10) << ((u & 0x200) >>> 6);
}
