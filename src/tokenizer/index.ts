/**
 * The tokenizer of a checkpoint folder: `spiece.model` (HF's `google/reformer-crime-and-punishment`) →
 * SentencePiece; without one, the byte-level scheme of `google/reformer-enwik8` (id = byte + 2, 258 ids).
 */
import { ConfigError, FormatError } from '../errors.js';
import { ByteTokenizer, type Tokenizer } from '../train/tokenizer.js';
import { bytesArg, describeValue, intArg, optionsArg } from '../util/args.js';
import { SentencePieceTokenizer } from './sentencepiece/tokenizer.js';

export { SentencePieceTokenizer } from './sentencepiece/tokenizer.js';
export type { ModelProto, Piece } from './sentencepiece/model-proto.js';

/** File name of a SentencePiece model in an HF folder (HF's `ReformerTokenizer`). */
export const SPIECE_MODEL = 'spiece.model';

/** What `tokenizerForCheckpoint` chooses from. */
export interface TokenizerSource {
  /** `spiece.model` bytes, or null if the folder has none. */
  readonly spieceModel: Uint8Array | null;
  /** config.json's `vocab_size`: every id the tokenizer produces must be below it. */
  readonly vocabSize: number;
  /** The tokenizer a training run recorded (`trainer_state.json`), if any: `bytes` allows any vocab ≥ 258. */
  readonly recorded?: string | null;
  /** Folder name for messages. */
  readonly where: string;
}

/**
 * SentencePiece from `spiece.model` if there is one, else the byte tokenizer.
 * @throws FormatError: the SentencePiece vocabulary is larger than `vocab_size`; no spiece.model for a
 *   model whose vocabulary is not the byte tokenizer's 258 ids (and no recorded `bytes` tokenizer).
 *   ConfigError / ShapeError for a `source` without the fields above.
 */
export function tokenizerForCheckpoint(source: TokenizerSource): Tokenizer {
  optionsArg('tokenizerForCheckpoint', source, "{ spieceModel: null, vocabSize: 258, where: 'model folder' }", false);
  if (source.spieceModel != null) bytesArg('tokenizerForCheckpoint', 'source.spieceModel', source.spieceModel);
  intArg('tokenizerForCheckpoint', 'vocab_size', source.vocabSize, 1);
  if (typeof source.where !== 'string') {
    throw new ConfigError(
      'where',
      `tokenizerForCheckpoint: source.where must be the folder name for messages, got ${describeValue(source.where)}`,
    );
  }
  if (source.spieceModel) {
    const tok = SentencePieceTokenizer.fromModelBytes(source.spieceModel, `${source.where}/${SPIECE_MODEL}`);
    if (tok.vocabSize > source.vocabSize) {
      throw new FormatError(
        `${source.where}/${SPIECE_MODEL} has ${tok.vocabSize} pieces but config.json's vocab_size is ${source.vocabSize}; they belong to different models`,
      );
    }
    return tok;
  }
  const bytes = new ByteTokenizer();
  if (source.vocabSize < bytes.vocabSize || (source.vocabSize !== bytes.vocabSize && source.recorded !== 'bytes')) {
    throw new FormatError(
      `${source.where}: config.json has vocab_size ${source.vocabSize} but the folder has no ${SPIECE_MODEL}; byte-level models (google/reformer-enwik8) have 258 ids, ` +
        `others need their tokenizer: copy the model's ${SPIECE_MODEL} (google/reformer-crime-and-punishment ships one) next to config.json`,
    );
  }
  return bytes;
}
