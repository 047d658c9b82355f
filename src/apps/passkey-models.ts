/**
 * The models of the passkey experiment (apps/passkey.ts): the HF `ReformerConfig` of an LSH and a local
 * model, and the move of a model trained at one length to a longer evaluation length.
 *
 * - `lsh`: layers alternating local, LSH, local, LSH, … (HF's `attn_layers` of the Reformer checkpoints,
 *   e.g. `google/reformer-crime-and-punishment`); the local layers read the nearby text, the LSH layers
 *   can reach any earlier position whose shared query-key vector hashes alike (content matching).
 * - `local`: every layer local (HF `LocalSelfAttention`, one chunk back): a query sees at most
 *   2·localChunk − 1 positions back per layer, so k layers reach k·(2·localChunk − 1): the window baseline.
 *
 * Position embeddings: HF axial ones, shape [L / cols, cols]. HF requires Π axial_pos_shape = L in
 * training, so a model trains at one length. To evaluate it at a longer L' (a multiple of L), the
 * coarse table `weights.0` ([L/cols, 1, d₀]) is repeated with period L/cols rows (row i ← row i mod L/cols)
 * and the fine table `weights.1` ([1, cols, d₁]) kept: position t' gets the embedding of t' mod L. The
 * answer sits at the same phase (L' ≡ L ≡ 0 mod L), and the local layers see the same offsets within a
 * chunk. `num_buckets` stays `null`, so each length gets HF's rule 2·L/chunk (factorised when large);
 * the hash rotations are random, not weights, so this changes no parameter.
 */
import { ConfigError } from '../errors.js';
import type { ReformerConfigInput } from '../config/fields.js';
import type { ReformerModelWithLMHead } from '../model/lm-model.js';
import { PASSKEY_VOCAB } from './passkey.js';

/** The two attentions compared. */
export type PasskeyAttention = 'lsh' | 'local';
export const PASSKEY_ATTENTIONS: readonly PasskeyAttention[] = ['lsh', 'local'];

/** Model shape and chunking. */
export interface PasskeyModelSpec {
  /** d_model (HF hidden_size). */
  readonly hidden: number;
  readonly heads: number;
  /** Layers (≥ 2 for `lsh`: a local one before each LSH one). */
  readonly layers: number;
  /** HF feed_forward_size. */
  readonly feedForward: number;
  /** lsh_attn_chunk_length (one chunk back). */
  readonly lshChunk: number;
  /** local_attn_chunk_length (one chunk back). */
  readonly localChunk: number;
  /** Hash rounds in training (HF num_hashes). */
  readonly numHashes: number;
  /** Second axial axis (positions per coarse row); divides every sequence length. */
  readonly axialCols: number;
}

/** HF `attn_layers` of a model: local/lsh alternating (local first), or all local. */
export function passkeyAttnLayers(attention: PasskeyAttention, layers: number): PasskeyAttention[] {
  return Array.from({ length: layers }, (_, i) => (attention === 'lsh' && i % 2 === 1 ? 'lsh' : 'local'));
}

/** Positions back a stack of `layers` local layers can carry information over: layers·(2·chunk − 1). */
export function localReach(spec: Pick<PasskeyModelSpec, 'layers' | 'localChunk'>): number {
  return spec.layers * (2 * spec.localChunk - 1);
}

/**
 * @throws ConfigError naming the field: sizes not positive integers, hidden not a multiple of heads or
 *   even, an `lsh` model with one layer, or `seqLen` not a multiple of axialCols, lshChunk and localChunk.
 */
export function checkPasskeyModelSpec(s: PasskeyModelSpec, seqLen: number): void {
  for (const [field, v] of [
    ['hidden_size', s.hidden],
    ['num_attention_heads', s.heads],
    ['num_layers', s.layers],
    ['feed_forward_size', s.feedForward],
    ['lsh_attn_chunk_length', s.lshChunk],
    ['local_attn_chunk_length', s.localChunk],
    ['num_hashes', s.numHashes],
    ['axial_pos_shape', s.axialCols],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${v}`);
  }
  if (s.hidden % s.heads !== 0) throw new ConfigError('hidden_size', `${s.hidden} is not a multiple of num_attention_heads ${s.heads}`);
  if (s.hidden % 2 !== 0)
    throw new ConfigError('hidden_size', `must be even (axial_pos_embds_dim splits it in two halves), got ${s.hidden}`);
  if (s.layers < 2)
    throw new ConfigError('num_layers', `must be ≥ 2 (the LSH model puts a local layer before each LSH layer), got ${s.layers}`);
  for (const [field, c] of [
    ['axial_pos_shape', s.axialCols],
    ['lsh_attn_chunk_length', s.lshChunk],
    ['local_attn_chunk_length', s.localChunk],
  ] as const) {
    if (seqLen % c !== 0) throw new ConfigError(field, `${c} does not divide the sequence length ${seqLen}`);
  }
}

/**
 * The HF config of a model at sequence length `seqLen`: byte vocabulary (256), axial positions
 * [seqLen / cols, cols] with dims [d/2, d/2], `num_buckets` null (HF's rule at the first LSH forward),
 * no dropout, causal.
 * @throws ConfigError for a spec `checkPasskeyModelSpec` refuses.
 */
export function passkeyConfig(s: PasskeyModelSpec, attention: PasskeyAttention, seqLen: number): ReformerConfigInput {
  checkPasskeyModelSpec(s, seqLen);
  return {
    vocab_size: PASSKEY_VOCAB,
    pad_token_id: 0,
    eos_token_id: null,
    is_decoder: true,
    hidden_size: s.hidden,
    num_attention_heads: s.heads,
    attention_head_size: s.hidden / s.heads,
    feed_forward_size: s.feedForward,
    hidden_act: 'gelu_new',
    attn_layers: passkeyAttnLayers(attention, s.layers),
    lsh_attn_chunk_length: s.lshChunk,
    local_attn_chunk_length: s.localChunk,
    lsh_num_chunks_before: 1,
    lsh_num_chunks_after: 0,
    local_num_chunks_before: 1,
    local_num_chunks_after: 0,
    num_hashes: s.numHashes,
    num_buckets: null,
    axial_pos_embds: true,
    axial_pos_shape: [seqLen / s.axialCols, s.axialCols],
    axial_pos_embds_dim: [s.hidden / 2, s.hidden / 2],
    max_position_embeddings: seqLen,
    hidden_dropout_prob: 0,
    lsh_attention_probs_dropout_prob: 0,
    local_attention_probs_dropout_prob: 0,
    tie_word_embeddings: false,
  };
}

/** The coarse axial table (HF `weights.0`, shape [n₀, 1, d₀]). */
export const AXIAL_COARSE = 'reformer.embeddings.position_embeddings.weights.0';

/**
 * Copies every parameter of `trained` into `target` (same names and shapes), except the coarse axial
 * table, which is repeated: target row i ← trained row i mod n₀ (see the file header).
 * @throws ConfigError if a parameter is missing or its shape differs, or the target's coarse rows are
 *   not a multiple of the trained ones.
 */
export function copyWithTiledPositions(trained: ReformerModelWithLMHead, target: ReformerModelWithLMHead): void {
  const from = trained.parameters;
  const to = target.parameters;
  for (const e of to.entries) {
    if (!from.has(e.name)) throw new ConfigError('weights', `the trained model has no parameter ${e.name}`);
    const src = from.entry(e.name);
    const dst = to.param(e.name);
    if (e.name === AXIAL_COARSE) {
      const [n0, one, d0] = src.shape as [number, number, number];
      const [m0, one2, e0] = e.shape as [number, number, number];
      if (one !== 1 || one2 !== 1 || d0 !== e0 || m0 % n0 !== 0) {
        throw new ConfigError(
          'axial_pos_shape',
          `cannot repeat the coarse axial table [${src.shape.join(', ')}] into [${e.shape.join(', ')}]: the rows must be a multiple of ${n0}, the width ${d0}`,
        );
      }
      const rows = from.param(e.name);
      for (let i = 0; i < m0; i++) dst.set(rows.subarray((i % n0) * d0, ((i % n0) + 1) * d0), i * d0);
      continue;
    }
    if (src.shape.length !== e.shape.length || src.shape.some((d, i) => d !== e.shape[i])) {
      throw new ConfigError('weights', `${e.name} has shape [${src.shape.join(', ')}] in the trained model, [${e.shape.join(', ')}] here`);
    }
    dst.set(from.param(e.name));
  }
}
