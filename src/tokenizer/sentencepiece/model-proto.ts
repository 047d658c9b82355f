/**
 * The SentencePiece `.model` file: a protobuf `ModelProto` (proto2; sentencepiece's
 * `src/sentencepiece_model.proto`). Only the fields that encoding and decoding use are read; absent
 * fields take the proto2 defaults of that schema (a `.model` file omits many of them).
 *
 *   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec,
 *                   4 self_test_data, 5 denormalizer_spec (not used)
 *   SentencePiece   1 piece (string), 2 score (float), 3 type (NORMAL 1 default, UNKNOWN 2, CONTROL 3,
 *                   USER_DEFINED 4, UNUSED 5, BYTE 6)
 *   TrainerSpec     3 model_type (UNIGRAM 1, BPE 2, WORD 3, CHAR 4), 4 vocab_size, 24
 *                   treat_whitespace_as_suffix, 35 byte_fallback, 40–43 unk/bos/eos/pad id, 44 unk_surface,
 *                   45–48 unk/bos/eos/pad piece
 *   NormalizerSpec  1 name, 2 precompiled_charsmap (bytes), 3 add_dummy_prefix, 4 remove_extra_whitespaces,
 *                   5 escape_whitespaces
 *
 * The wire format (varints, tags, 32-bit floats, skipping unknown fields) is decoded by `pbf` (Mapbox's
 * small protobuf reader); this file checks that every length stays inside its message before slicing
 * (zero-copy views), that known fields have their wire type, and turns anything else into FormatError.
 */
import { PbfReader } from 'pbf';
import { FormatError } from '../../errors.js';

/** `SentencePiece.Type` of sentencepiece_model.proto. */
export const PieceType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;
export type PieceTypeId = (typeof PieceType)[keyof typeof PieceType];
export const MODEL_TYPES: Readonly<Record<number, string>> = { 1: 'UNIGRAM', 2: 'BPE', 3: 'WORD', 4: 'CHAR' };

/** One vocabulary entry (its id is its index in `ModelProto.pieces`). */
export interface Piece {
  readonly piece: string;
  readonly score: number;
  readonly type: PieceTypeId;
}

export interface TrainerSpec {
  readonly modelType: number;
  readonly vocabSize: number;
  readonly treatWhitespaceAsSuffix: boolean;
  readonly byteFallback: boolean;
  readonly unkId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkSurface: string;
  readonly unkPiece: string;
  readonly bosPiece: string;
  readonly eosPiece: string;
  readonly padPiece: string;
}

export interface NormalizerSpec {
  readonly name: string;
  /** uint32 LE trie size, darts-clone double array, NUL-terminated replacement strings; empty: identity. */
  readonly precompiledCharsmap: Uint8Array;
  readonly addDummyPrefix: boolean;
  readonly removeExtraWhitespaces: boolean;
  readonly escapeWhitespaces: boolean;
}

/** The parts of a `.model` file that encoding and decoding use. */
export interface ModelProto {
  readonly pieces: readonly Piece[];
  readonly trainerSpec: TrainerSpec;
  readonly normalizerSpec: NormalizerSpec;
}

const VARINT = 0;
const FIXED32 = 5;
const BYTES = 2;

/** The proto2 defaults of `TrainerSpec` (sentencepiece_model.proto). */
const TRAINER_DEFAULTS: TrainerSpec = {
  modelType: 1,
  vocabSize: 8000,
  treatWhitespaceAsSuffix: false,
  byteFallback: false,
  unkId: 0,
  bosId: 1,
  eosId: 2,
  padId: -1,
  unkSurface: ' \u2047 ',
  unkPiece: '<unk>',
  bosPiece: '<s>',
  eosPiece: '</s>',
  padPiece: '<pad>',
};

const NORMALIZER_DEFAULTS: NormalizerSpec = {
  name: '',
  precompiledCharsmap: new Uint8Array(0),
  addDummyPrefix: true,
  removeExtraWhitespaces: true,
  escapeWhitespaces: true,
};

type Field = (field: number, r: FieldReader) => void;

/** Reads one message's fields with bound checks; `where` prefixes errors. */
class FieldReader {
  private readonly pbf: PbfReader;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  field = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly where: string,
  ) {
    this.pbf = new PbfReader(bytes);
  }

  fail(msg: string): never {
    throw new FormatError(`${this.where}: ${msg}`);
  }

  run(onField: Field): void {
    const p = this.pbf;
    for (;;) {
      let f: number;
      try {
        f = p.nextField();
      } catch (e) {
        this.fail(`malformed field (${(e as Error).message}; truncated or not a SentencePiece model?)`);
      }
      if (p.pos > this.bytes.length) this.fail('a field runs past the end of its message (truncated file?)');
      if (f === 0) {
        if (p.pos < this.bytes.length) this.fail(`field number 0 at byte ${p.pos} (not a SentencePiece model?)`);
        return;
      }
      this.field = f;
      if (p.type !== VARINT && p.type !== BYTES && p.type !== FIXED32 && p.type !== 1) this.fail(`field ${f} has wire type ${p.type}`);
      onField(f, this);
      if (p.pos > this.bytes.length) this.fail(`field ${f} runs past the end of its message (truncated file?)`);
    }
  }

  private expect(type: number, what: string): void {
    if (this.pbf.type !== type) this.fail(`field ${this.field} (${what}) has wire type ${this.pbf.type}, expected ${type}`);
  }

  /** An int32/enum/bool field (negative int32 values are 10-byte varints). */
  int(what: string): number {
    this.expect(VARINT, what);
    return this.varint(what);
  }

  private varint(what: string): number {
    try {
      const v = this.pbf.readVarint(true);
      if (!Number.isSafeInteger(v)) this.fail(`${what} is ${v}, not an integer`);
      return v;
    } catch (e) {
      if (e instanceof FormatError) throw e;
      return this.fail(`${what} is not a valid varint (${(e as Error).message})`);
    }
  }

  bool(what: string): boolean {
    return this.int(what) !== 0;
  }

  float(what: string): number {
    this.expect(FIXED32, what);
    if (this.pbf.pos + 4 > this.bytes.length) this.fail(`${what} runs past the end (truncated file?)`);
    return this.pbf.readFloat();
  }

  bytesField(what: string): Uint8Array {
    this.expect(BYTES, what);
    const len = this.varint(`${what} length`);
    const at = this.pbf.pos;
    if (len < 0 || at + len > this.bytes.length) this.fail(`${what} of ${len} bytes runs past the end of its message (truncated file?)`);
    this.pbf.pos = at + len;
    return this.bytes.subarray(at, at + len);
  }

  string(what: string): string {
    const b = this.bytesField(what);
    try {
      return this.utf8.decode(b);
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }

  skip(): void {
    try {
      this.pbf.skip(this.pbf.type);
    } catch (e) {
      this.fail(`field ${this.field} cannot be skipped (${(e as Error).message})`);
    }
  }
}

/**
 * Parses a SentencePiece `.model` file.
 * @throws FormatError naming the file (`where`) for malformed protobuf, a truncated field, an unknown
 *   piece type, no pieces, or no UNKNOWN piece.
 */
export function parseModelProto(bytes: Uint8Array, where = 'spiece.model'): ModelProto {
  if (!(bytes instanceof Uint8Array)) throw new FormatError(`${where}: expected the file's bytes (a Uint8Array)`);
  const pieces: Piece[] = [];
  let trainer = TRAINER_DEFAULTS;
  let normalizer = NORMALIZER_DEFAULTS;
  new FieldReader(bytes, where).run((f, r) => {
    if (f === 1) pieces.push(readPiece(new FieldReader(r.bytesField('pieces'), `${where}: piece ${pieces.length}`)));
    else if (f === 2) trainer = readTrainer(new FieldReader(r.bytesField('trainer_spec'), `${where}: trainer_spec`));
    else if (f === 3) normalizer = readNormalizer(new FieldReader(r.bytesField('normalizer_spec'), `${where}: normalizer_spec`));
    else r.skip();
  });
  if (pieces.length === 0) throw new FormatError(`${where}: no pieces (not a SentencePiece model?)`);
  if (!pieces.some((p) => p.type === PieceType.UNKNOWN))
    throw new FormatError(`${where}: no piece of type UNKNOWN (the model has no <unk>)`);
  return { pieces, trainerSpec: trainer, normalizerSpec: normalizer };
}

function readPiece(r: FieldReader): Piece {
  let piece: string | null = null;
  let score = 0;
  let type: number = PieceType.NORMAL;
  r.run((f) => {
    if (f === 1) piece = r.string('piece');
    else if (f === 2) score = r.float('score');
    else if (f === 3) type = r.int('type');
    else r.skip();
  });
  if (piece === null) r.fail('has no piece string');
  if (type < 1 || type > 6) r.fail(`type ${type} is not a SentencePiece type (1..6)`);
  return { piece: piece!, score, type: type as PieceTypeId };
}

function readTrainer(r: FieldReader): TrainerSpec {
  const t: { -readonly [K in keyof TrainerSpec]: TrainerSpec[K] } = { ...TRAINER_DEFAULTS };
  r.run((f) => {
    switch (f) {
      case 3:
        t.modelType = r.int('model_type');
        break;
      case 4:
        t.vocabSize = r.int('vocab_size');
        break;
      case 24:
        t.treatWhitespaceAsSuffix = r.bool('treat_whitespace_as_suffix');
        break;
      case 35:
        t.byteFallback = r.bool('byte_fallback');
        break;
      case 40:
        t.unkId = r.int('unk_id');
        break;
      case 41:
        t.bosId = r.int('bos_id');
        break;
      case 42:
        t.eosId = r.int('eos_id');
        break;
      case 43:
        t.padId = r.int('pad_id');
        break;
      case 44:
        t.unkSurface = r.string('unk_surface');
        break;
      case 45:
        t.unkPiece = r.string('unk_piece');
        break;
      case 46:
        t.bosPiece = r.string('bos_piece');
        break;
      case 47:
        t.eosPiece = r.string('eos_piece');
        break;
      case 48:
        t.padPiece = r.string('pad_piece');
        break;
      default:
        r.skip();
    }
  });
  return t;
}

function readNormalizer(r: FieldReader): NormalizerSpec {
  const n: { -readonly [K in keyof NormalizerSpec]: NormalizerSpec[K] } = { ...NORMALIZER_DEFAULTS };
  r.run((f) => {
    if (f === 1) n.name = r.string('name');
    else if (f === 2) n.precompiledCharsmap = r.bytesField('precompiled_charsmap');
    else if (f === 3) n.addDummyPrefix = r.bool('add_dummy_prefix');
    else if (f === 4) n.removeExtraWhitespaces = r.bool('remove_extra_whitespaces');
    else if (f === 5) n.escapeWhitespaces = r.bool('escape_whitespaces');
    else r.skip();
  });
  return n;
}
