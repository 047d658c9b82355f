/**
 * Tokenizers: text/bytes <-> token ids.
 *
 * `ByteTokenizer` is HuggingFace `google/reformer-enwik8`'s byte-level scheme (its model card's
 * `encode`/`decode`): every UTF-8 byte `b` becomes id `b + 2`; id 0 is padding (and id 1 is unused), so
 * the vocabulary has 258 ids. Decoding drops ids < 2 and maps the rest back to bytes, then decodes UTF-8
 * with U+FFFD replacing invalid sequences (a model may emit half a character). SentencePiece models
 * (`google/reformer-crime-and-punishment`'s `spiece.model`) implement the same interface in
 * `src/tokenizer/sentencepiece/`; `src/tokenizer/index.ts` picks a checkpoint's tokenizer.
 *
 * Browser-safe: TextEncoder / TextDecoder only.
 */
import { ConfigError, FormatError, ShapeError } from '../errors.js';
import { arrayLikeArg, describeValue, intArg } from '../util/args.js';

/** Turns text or bytes into token ids and back. */
export interface Tokenizer {
  /** Short identifier stored in checkpoints, e.g. `bytes`. */
  readonly name: string;
  /** Number of token ids, `[0, vocabSize)`. */
  readonly vocabSize: number;
  /** Id used for padding (never produced by `encode`). */
  readonly padId: number;
  /**
   * Bytes of text per token when that is fixed (1 for the byte tokenizer): turns bits per token into bits
   * per byte. Null when it depends on the text (SentencePiece): use `bytesPerTokenOf`.
   */
  readonly bytesPerToken: number | null;
  /** Id after which generation stops (end of text), or null. */
  readonly eosId: number | null;
  /** Ids generation never samples (padding, unknown, begin of text). */
  readonly suppressIds: readonly number[];
  /** Ids of `text` (UTF-8 encoded first) or of raw bytes: `[tokens]`. */
  encode(text: string | Uint8Array): Int32Array;
  /** Bytes of `ids`; special ids (< 2 for bytes) are dropped. @throws ShapeError for an id outside the vocabulary. */
  decodeBytes(ids: ArrayLike<number>): Uint8Array;
  /** Text of `ids` (UTF-8 with U+FFFD for invalid sequences). @throws ShapeError for an id outside the vocabulary. */
  decode(ids: ArrayLike<number>): string;
  /**
   * An incremental decoder for streaming generation: multi-byte characters split across tokens come out
   * whole. `context`: ids already shown (the prompt), whose text is not returned again but which the
   * decoder must know (SentencePiece drops a leading space only at the start of the text).
   */
  streamDecoder(context?: ArrayLike<number>): StreamDecoder;
}

/** Incremental decoder: `push` returns the text completed so far, `flush` what is left at the end. */
export interface StreamDecoder {
  push(id: number): string;
  flush(): string;
}

/** HF `google/reformer-enwik8` byte-level tokenizer: id = byte + 2, 0 = padding, vocabulary 258. */
export class ByteTokenizer implements Tokenizer {
  /** Ids below this are special (0 = padding, 1 = unused) and decode to nothing. */
  static readonly OFFSET = 2;
  readonly name = 'bytes';
  readonly vocabSize = 258;
  readonly padId = 0;
  readonly bytesPerToken = 1;
  /** HF enwik8 configs: eos_token_id 1 ("end of text"). */
  readonly eosId = 1;
  readonly suppressIds: readonly number[] = [0];

  /** @throws ShapeError if `text` is neither a string nor a Uint8Array. */
  encode(text: string | Uint8Array): Int32Array {
    if (typeof text !== 'string' && !(text instanceof Uint8Array)) {
      const got =
        text === null
          ? 'null'
          : Array.isArray(text)
            ? 'an array'
            : typeof text === 'object'
              ? ((text as object).constructor?.name ?? 'an object')
              : typeof text;
      throw new ShapeError(`ByteTokenizer.encode: expected a string or a Uint8Array of bytes, got ${got}`);
    }
    const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
    const ids = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) ids[i] = bytes[i]! + ByteTokenizer.OFFSET;
    return ids;
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    arrayLikeArg('ByteTokenizer.decode', 'ids', ids, 'an array of token ids');
    const out = new Uint8Array(ids.length);
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      checkId(id, i, this.vocabSize);
      if (id >= ByteTokenizer.OFFSET) out[n++] = id - ByteTokenizer.OFFSET;
    }
    return out.slice(0, n);
  }

  decode(ids: ArrayLike<number>): string {
    return new TextDecoder('utf-8').decode(this.decodeBytes(ids));
  }

  streamDecoder(): StreamDecoder {
    const decoder = new TextDecoder('utf-8');
    const one = new Uint8Array(1);
    let position = 0;
    return {
      push: (id: number): string => {
        checkId(id, position++, this.vocabSize);
        if (id < ByteTokenizer.OFFSET) return '';
        one[0] = id - ByteTokenizer.OFFSET;
        return decoder.decode(one, { stream: true });
      },
      flush: (): string => decoder.decode(),
    };
  }
}

function checkId(id: number, index: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new ShapeError(
      `token id ${id} at index ${index} is outside the vocabulary [0, ${vocabSize}); the ids must come from this tokenizer`,
    );
  }
}

/**
 * A `Tokenizer` argument: an object with the members the caller reads (O(members)).
 * @throws ConfigError('tokenizer') naming how to make one.
 */
export function tokenizerArg(where: string, tokenizer: unknown, members: readonly (keyof Tokenizer)[]): asserts tokenizer is Tokenizer {
  const t = tokenizer as Record<string, unknown> | null | undefined;
  const missing = t === null || typeof t !== 'object' ? [] : members.filter((k) => !(k in t));
  if (t === null || typeof t !== 'object' || missing.length > 0) {
    throw new ConfigError(
      'tokenizer',
      `${where} needs a Tokenizer (e.g. new ByteTokenizer(), or the checkpoint's tokenizer), got ${describeValue(tokenizer)}${
        missing.length > 0 ? ` without ${missing.join(', ')}` : ''
      }`,
    );
  }
}

/**
 * Bytes of text per token of `ids`, the encoding of `bytes`: the tokenizer's fixed ratio, else measured.
 * @throws ConfigError without a tokenizer or for counts that are not integers ≥ 0.
 */
export function bytesPerTokenOf(tokenizer: Tokenizer, bytes: number, tokens: number): number {
  tokenizerArg('bytesPerTokenOf', tokenizer, ['bytesPerToken']);
  intArg('bytesPerTokenOf', 'bytes', bytes);
  intArg('bytesPerTokenOf', 'tokens', tokens);
  return tokenizer.bytesPerToken ?? (tokens > 0 ? bytes / tokens : 1);
}

/** The tokenizer named in a checkpoint. @throws FormatError for an unknown name. */
export function tokenizerByName(name: string): Tokenizer {
  if (name === 'bytes') return new ByteTokenizer();
  throw new FormatError(`unknown tokenizer ${typeof name === 'string' ? `"${name}"` : describeValue(name)} (known: bytes)`);
}
