/**
 * A SentencePiece tokenizer (unigram models) that gives the ids, pieces and decodes of the
 * `sentencepiece` library (`SentencePieceProcessor.encode` / `decode`) for a `.model` file, e.g. the
 * `spiece.model` of HF's `google/reformer-crime-and-punishment`.
 *
 * encode: normalize (normalizer.ts) → Viterbi (unigram.ts) → consecutive unknowns merged into one
 * `<unk>` whose piece is the text it covers → with `byte_fallback`, unknown text as `<0xXX>` byte pieces.
 * No `<s>`/`</s>` are added.
 * decode: control ids → "", the unknown id → `unk_surface` (" ⁇ "), runs of byte pieces → their bytes as
 * UTF-8 (U+FFFD per invalid byte), any other piece with "▁" → " "; while nothing has been produced yet,
 * a piece's leading "▁" is dropped (trailing, with `treat_whitespace_as_suffix`, at the end).
 *
 * Browser-safe: bytes in (`fromModelBytes`), no file system.
 */
import { FormatError, ShapeError } from '../../errors.js';
import type { StreamDecoder, Tokenizer } from '../../train/tokenizer.js';
import { describeValue } from '../../util/args.js';
import { MODEL_TYPES, type ModelProto, parseModelProto, PieceType } from './model-proto.js';
import { Normalizer, utf8CharLength } from './normalizer.js';
import { PieceTrie, UnigramModel } from './unigram.js';

const REPLACEMENT_CHAR = '\ufffd';
const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;

/**
 * SentencePiece (unigram) tokenizer of a `.model` file: `SentencePieceTokenizer.fromModelBytes(bytes)`;
 * `encode` / `encodeWithPieces` / `decode` / `streamDecoder` as the sentencepiece library.
 */
export class SentencePieceTokenizer implements Tokenizer {
  readonly name = 'sentencepiece';
  readonly vocabSize: number;
  /** `pad_id` of the model, or its unknown id when it has none (sentencepiece's default pad_id is −1). */
  readonly padId: number;
  /** Depends on the text: measure bytes / tokens of the data instead. */
  readonly bytesPerToken = null;
  readonly eosId: number | null;
  /** Never generated: unknown, `<s>`, padding (decode them to " ⁇ " or nothing). */
  readonly suppressIds: readonly number[];
  readonly unkId: number;
  readonly proto: ModelProto;
  private readonly normalizer: Normalizer;
  private readonly unigram: UnigramModel;
  private readonly pieceText: string[];
  private readonly byteOf: Int16Array;
  private readonly byteIds = new Int32Array(256).fill(-1);

  private constructor(proto: ModelProto, where: string) {
    if (typeof (proto as Partial<ModelProto> | null)?.trainerSpec !== 'object' || !Array.isArray(proto.pieces)) {
      throw new ShapeError(
        `SentencePieceTokenizer: make one with SentencePieceTokenizer.fromModelBytes(spiece.model bytes), got ${describeValue(proto)}`,
      );
    }
    const t = proto.trainerSpec;
    if (t.modelType !== 1) {
      throw new FormatError(
        `${where}: model_type ${MODEL_TYPES[t.modelType] ?? t.modelType} is not supported (this tokenizer implements UNIGRAM models)`,
      );
    }
    this.proto = proto;
    const pieces = proto.pieces;
    this.vocabSize = pieces.length;
    this.unkId = pieces.findIndex((p) => p.type === PieceType.UNKNOWN);
    const control = (id: number): boolean => id >= 0 && id < pieces.length && pieces[id]!.type === PieceType.CONTROL;
    this.eosId = control(t.eosId) ? t.eosId : null;
    this.padId = t.padId >= 0 && t.padId < pieces.length ? t.padId : this.unkId;
    this.suppressIds = [...new Set([this.unkId, ...(control(t.bosId) ? [t.bosId] : []), this.padId])];
    this.unigram = new UnigramModel(pieces, this.unkId, (piece) => {
      throw new FormatError(`${where}: piece ${JSON.stringify(piece)} is defined twice`);
    });
    // user-defined pieces are matched before normalization and kept verbatim
    const user = new PieceTrie();
    for (const p of pieces) if (p.type === PieceType.USER_DEFINED) user.insert(new TextEncoder().encode(p.piece), 0);
    const hasUser = pieces.some((p) => p.type === PieceType.USER_DEFINED);
    this.normalizer = new Normalizer(proto.normalizerSpec, hasUser ? user : null, t.treatWhitespaceAsSuffix, where);
    this.pieceText = pieces.map((p) => p.piece.replaceAll('\u2581', ' '));
    this.byteOf = new Int16Array(pieces.length).fill(-1);
    pieces.forEach((p, id) => {
      const m = p.type === PieceType.BYTE ? BYTE_PIECE.exec(p.piece) : null;
      if (p.type === PieceType.BYTE && !m)
        throw new FormatError(`${where}: byte piece ${JSON.stringify(p.piece)} is not of the form <0xXX>`);
      if (m) {
        const b = Number.parseInt(m[1]!, 16);
        this.byteOf[id] = b;
        this.byteIds[b] = id;
      }
    });
    if (t.byteFallback && this.byteIds.some((id) => id < 0)) {
      throw new FormatError(`${where}: byte_fallback is on but the model lacks some of the 256 <0xXX> byte pieces`);
    }
  }

  /**
   * Reads a `.model` file (e.g. `spiece.model`).
   * @throws FormatError naming `where` for a malformed file or a model type other than unigram.
   */
  static fromModelBytes(bytes: Uint8Array, where = 'spiece.model'): SentencePieceTokenizer {
    return new SentencePieceTokenizer(parseModelProto(bytes, where), where);
  }

  /** The normalized text (UTF-8) that segmentation sees, "▁" for spaces. */
  normalize(text: string | Uint8Array): Uint8Array {
    return this.normalizer.normalize(typeof text === 'string' ? new TextEncoder().encode(text) : checkInput(text));
  }

  /** Ids and piece strings of `text`, as sentencepiece's `encode(text, out_type=int/str)`. */
  encodeWithPieces(text: string | Uint8Array): { ids: Int32Array; pieces: string[] } {
    const norm = this.normalize(text);
    const spans = this.unigram.encode(norm);
    const utf8 = new TextDecoder('utf-8');
    const ids: number[] = [];
    const pieces: string[] = [];
    const fallback = this.proto.trainerSpec.byteFallback;
    for (let i = 0; i < spans.length; i++) {
      const { start, id } = spans[i]!;
      let end = spans[i]!.end;
      if (id === this.unkId) {
        while (i + 1 < spans.length && spans[i + 1]!.id === this.unkId) end = spans[++i]!.end; // merge unknowns
        if (fallback) {
          for (let k = start; k < end; k++) {
            ids.push(this.byteIds[norm[k]!]!);
            pieces.push(this.proto.pieces[this.byteIds[norm[k]!]!]!.piece);
          }
          continue;
        }
        pieces.push(utf8.decode(norm.subarray(start, end)));
      } else {
        pieces.push(this.proto.pieces[id]!.piece);
      }
      ids.push(id);
    }
    return { ids: Int32Array.from(ids), pieces };
  }

  encode(text: string | Uint8Array): Int32Array {
    return this.encodeWithPieces(text).ids;
  }

  /** The piece string of an id. @throws ShapeError outside the vocabulary. */
  idToPiece(id: number): string {
    checkId(id, 0, this.vocabSize);
    return this.proto.pieces[id]!.piece;
  }

  decode(ids: ArrayLike<number>): string {
    const d = this.streamDecoder();
    let out = '';
    for (let i = 0; i < ids.length; i++) out += d.push(ids[i]!);
    return out + d.flush();
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    return new TextEncoder().encode(this.decode(ids));
  }

  /**
   * Incremental decode. `context`: ids already shown (a prompt) — their text is not returned, but a
   * continuation after visible text keeps its leading space.
   */
  streamDecoder(context: ArrayLike<number> = []): StreamDecoder {
    const pieces = this.proto.pieces;
    const suffix = this.proto.trainerSpec.treatWhitespaceAsSuffix;
    let empty = true;
    let index = 0;
    let pendingBytes: number[] = [];
    let pendingSpace = false; // suffix mode: a trailing "▁" held back until we know it is not the last piece
    const emit = (s: string): string => {
      if (s.length > 0) empty = false;
      return s;
    };
    const flushBytes = (): string => {
      if (pendingBytes.length === 0) return '';
      const b = Uint8Array.from(pendingBytes);
      pendingBytes = [];
      let s = '';
      for (let at = 0; at < b.length; ) {
        const n = utf8CharLength(b, at);
        s += n === 0 ? REPLACEMENT_CHAR : new TextDecoder().decode(b.subarray(at, at + n));
        at += n === 0 ? 1 : n;
      }
      return emit(s);
    };
    const push = (id: number): string => {
      checkId(id, index++, this.vocabSize);
      if (this.byteOf[id]! >= 0) {
        pendingBytes.push(this.byteOf[id]!);
        return '';
      }
      let out = flushBytes();
      if (pendingSpace) {
        out += emit(' ');
        pendingSpace = false;
      }
      const type = pieces[id]!.type;
      if (type === PieceType.CONTROL) return out;
      if (type === PieceType.UNKNOWN) return out + emit(this.proto.trainerSpec.unkSurface);
      let text = this.pieceText[id]!;
      if (empty && !suffix && pieces[id]!.piece.startsWith('\u2581')) text = text.slice(1);
      if (suffix && text.endsWith(' ')) {
        text = text.slice(0, -1);
        pendingSpace = true;
      }
      return out + emit(text);
    };
    for (let i = 0; i < context.length; i++) push(context[i]!);
    pendingBytes = [];
    index = 0;
    return { push, flush: () => flushBytes() };
  }
}

/** Turns an `encode` input that is neither a string nor bytes into a ShapeError. */
function checkInput(text: unknown): Uint8Array {
  if (!(text instanceof Uint8Array))
    throw new ShapeError('SentencePieceTokenizer.encode: expected a string or a Uint8Array of UTF-8 bytes');
  return text;
}

function checkId(id: number, index: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new ShapeError(
      `token id ${id} at index ${index} is outside the vocabulary [0, ${vocabSize}); the ids must come from this tokenizer`,
    );
  }
}
