/**
 * The types of one encoder call (`ReformerModel`): its input, its output, the run the backward needs,
 * and the consumer of the streamed output rows.
 */
import type { Float } from '../backend/backend.js';
import type { ReversibleRecord } from './reversible.js';

/** One call of the encoder. */
export interface EncoderInput {
  /** [batch, seqLen] token ids in [0, vocab_size). */
  readonly inputIds: Int32Array;
  readonly batch: number;
  readonly seqLen: number;
  /** [batch, seqLen], 1 = real token, 0 = padding; null/undefined = all real. */
  readonly attentionMask?: Int32Array | null;
  /** Training mode: dropout on, axial length must equal Π axial_pos_shape, no auto padding, backward possible. */
  readonly training: boolean;
  /**
   * Injected LSH rotations per layer index (`[heads, head_size, num_hashes, rotation_size/2]`, as HF's
   * `cap:<phase>.layers.<i>.rotations`); missing entries are drawn (from `hash_seed` or the model's generator).
   */
  readonly rotations?: ReadonlyArray<Float | null | undefined> | null;
  /** Hash rounds of every LSH layer for this call instead of `num_hashes` (HF's per-call `num_hashes`; more rounds at eval help, paper Table 2). */
  readonly numHashes?: number | null;
  /**
   * Diagnostics: called with each layer's attention-block input X2 [batch, paddedLen, hidden_size] (the
   * input of HF `ReformerAttention`, before its LayerNorm), in layer order as the layers run; used by
   * `reformer verify` to compare each LSH layer with exact attention. The buffer is the model's: copy
   * what you keep, never modify it.
   */
  readonly onAttentionInput?: ((layer: number, hidden: Float) => void) | null;
  /**
   * Where this call's residual streams live, as a head already chose it with its own memory check
   * ('arena' | 'host'; backend/host-streams.ts); null/undefined = the model decides from
   * `options.hostStreams` and its estimate.
   */
  readonly streams?: 'arena' | 'host' | null;
}

/** Result of `ReformerModel.forward`; pass it to `backward` (training forwards only). */
export interface EncoderOutput {
  /** last_hidden_state [batch, seqLen, 2·hidden_size] (cut back to the original seqLen). */
  readonly output: Float;
  readonly batch: number;
  readonly seqLen: number;
  /** Length the layers ran on (> seqLen after eval padding). */
  readonly paddedLen: number;
  /** Embedding output [batch, paddedLen, hidden_size] (HF `embedding_output`). */
  readonly embedding: Float;
  /**
   * Per layer: the LSH offset buckets [batch, heads, num_hashes, paddedLen] of this forward (HF
   * `cap:buckets`), null for local layers and short sequences.
   */
  readonly buckets: ReadonlyArray<Int32Array | null>;
  /** Internal state for the backward (null in eval). */
  readonly tape: EncoderTape | null;
}

/**
 * One encoder run up to the last layer: its sizes, what the embedding backward needs and the layers'
 * record. The final LayerNorm is not stored: `outputRows` computes it block by block (and recomputes
 * it for the backward) from the last layer's outputs `record.y1`, `record.y2`.
 */
export interface EncoderRun {
  readonly batch: number;
  /** Length before eval padding. */
  readonly seqLen: number;
  /** Length the layers ran on. */
  readonly paddedLen: number;
  readonly training: boolean;
  /** [batch·paddedLen] token ids (a buffer of the backend) */
  readonly ids: Int32Array;
  /** [batch·paddedLen] positions t of each row */
  readonly positions: Int32Array;
  readonly seeds: { word: number | null; position: number | null; output: number | null };
  readonly record: ReversibleRecord;
  /** Copy of the embedding output [batch, paddedLen, hidden] if asked for (HF `embedding_output`), else null. */
  readonly embedding: Float | null;
}

/** An input checked by `prepare`: ids and mask padded to `paddedLen` in evaluation (else the input's own). */
export interface PreparedInput {
  readonly ids: Int32Array;
  readonly mask: Int32Array | null;
  readonly paddedLen: number;
  /** The residual streams live outside the backend's memory (plain JS arrays; backend/host-streams.ts). */
  readonly hostStreams: boolean;
}

export interface EncoderTape {
  readonly run: EncoderRun;
  /** Set by `backward`: the reversible backward overwrites the outputs, so a tape is used once. */
  consumed: boolean;
}

/**
 * Consumer of the encoder output one block of rows at a time (e.g. the LM head): `h` [n, 2·hidden]
 * holds rows r0 … r0 + n − 1 of last_hidden_state [batch·seqLen, 2·hidden] (padding cut off). In
 * training (`trainRows`) the sink writes d(loss)/dh for those rows into `dh` [n, 2·hidden] (zeroed).
 * `h` and `dh` are valid during the call only.
 */
export type OutputSink = (r0: number, n: number, h: Float, dh: Float | null) => void;
