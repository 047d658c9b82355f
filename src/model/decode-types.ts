/** The options of a `DecodeSession` and what it records for HF's fixtures (`capture: true`). */
import type { IncrementalDecoderOptions } from './language-model.js';

/** Options of `ReformerModelWithLMHead.createDecoder`. */
export interface DecodeOptions extends IncrementalDecoderOptions {
  /**
   * Rotations `[heads, head_size, num_hashes, rotation_size/2]` per layer index for every draw (the
   * prompt pass, a short prompt's first hashing, every step): HF fixtures' `cap:rotations`. Default:
   * drawn once per prompt (`hash_seed` or the model's generator).
   */
  readonly rotations?: ReadonlyArray<ArrayLike<number> | null | undefined> | null;
  /** Keep every intermediate HF's decode fixtures capture (`capture`); for tests. Default false. */
  readonly capture?: boolean;
  /** Bytes the cache may take (plain JS memory). Default 4 GiB (`DEFAULT_MAX_CACHE_BYTES`). */
  readonly maxCacheBytes?: number;
}

/** The prompt pass as HF's fixtures record it (`capture: true`). */
export interface DecodePromptCapture {
  /** Length the layers ran on (HF pads the prompt to the chunk-length multiple). */
  readonly paddedLen: number;
  /** `[paddedLen, hidden]` embedding output (HF `cap:prompt.embedding_output`). */
  readonly embedding: Float64Array;
  /** `[P, vocab]` logits of every prompt position (`out:prompt.logits`). */
  readonly logits: Float64Array;
  /** Per layer: `[heads, rounds, paddedLen]` buckets (LSH layers that hashed), else null. */
  readonly buckets: Array<Int32Array | null>;
  /** Per layer: `[P, hidden]` attention LayerNorm outputs (HF's cached `states`). */
  readonly states: Float64Array[];
}

/** One step as HF's fixtures record it (`capture: true`). */
export interface DecodeStepCapture {
  /** `[hidden]` embedding of the token at its position. */
  readonly embedding: Float64Array;
  /** Per layer: `[hidden]` attention LayerNorm output of the token (appended to HF's `states`). */
  readonly states: Float64Array[];
  /** Per layer: the query's offset buckets `[heads, rounds]` (LSH layers that have hashed), else null. */
  readonly buckets: Array<Int32Array | null>;
  /** Per layer: window positions `[heads, rounds, W]` (LSH layers that have hashed), else null. */
  readonly windows: Array<Int32Array | null>;
}

/** What a session with `capture: true` records: the last prompt pass and every step since. */
export interface DecodeCapture {
  prompt: DecodePromptCapture | null;
  readonly steps: DecodeStepCapture[];
}
