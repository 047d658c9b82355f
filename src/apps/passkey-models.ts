/**
 * The models of the passkey experiment (apps/passkey.ts): the HF `ReformerConfig` of an LSH, a local and
 * a full-attention model, and the move of a model trained at one length to a longer evaluation length.
 *
 * - `lsh`: local layers first, then LSH and local alternating, the last layer LSH (2 layers: [local,
 *   lsh]; 3: [local, local, lsh]; 4: [local, lsh, local, lsh]), as HF's `attn_layers` of the Reformer
 *   checkpoints mix them. The local layers (chunks of `localChunk`) read the nearby text: which digit of
 *   a key a position holds, whether it sits after the question; the LSH layers can reach any earlier
 *   position whose shared query-key vector hashes alike (content matching).
 * - `full`: the `lsh` model with `lsh_attn_chunk_length` = the sequence length, so HF's short path
 *   (L ≤ chunk length) runs ordinary causal shared-QK attention over all positions (as the duplication
 *   task's `full`): the control that says whether the task is learnable at this size at all. Its cost
 *   grows as L², so it is evaluated only up to a cap (the command's `--full-max-length`).
 * - `local`: every layer local (HF `LocalSelfAttention`, one chunk back, chunks of `localModelChunk`):
 *   a query sees at most 2·chunk − 1 positions back per layer, so k layers reach k·(2·chunk − 1): the
 *   sliding-window baseline. Its chunk is set apart from the LSH model's so that the window can cover
 *   the whole training sequence (it can learn the task there) and still be far shorter than the
 *   evaluation lengths.
 *
 * Position embeddings: HF axial ones, shape [L / cols, cols]. HF requires Π axial_pos_shape = L in
 * training, so a model trains at one length. To evaluate it at a longer L' (a multiple of L), the
 * coarse table `weights.0` ([L/cols, 1, d₀]) is repeated and the fine table `weights.1` ([1, cols, d₁])
 * kept: with `repeat`, position t' gets the embedding of t' mod L (row i ← row i mod L/cols); with
 * `filler`, the last L positions get the trained table and the earlier ones repeat only the rows that
 * never held the question (`PasskeyEvalPositions`). Either way the answer sits at the phase it trained
 * at (L' ≡ L ≡ 0 mod L), and the local layers see the same offsets within a chunk. `num_buckets` stays `null`, so each length gets HF's rule 2·L/chunk (factorised when large);
 * the hash rotations are random, not weights, so this changes no parameter.
 */
import { ConfigError } from '../errors.js';
import { AXIAL_COARSE_TABLE, repeatAxialPositions } from '../model/extend-positions.js';
import type { ReformerConfigInput } from '../config/fields.js';
import type { ReformerModelWithLMHead } from '../model/lm-model.js';
import { PASSKEY_QUESTION, PASSKEY_VOCAB } from './passkey.js';

/** The attentions compared. */
export type PasskeyAttention = 'full' | 'lsh' | 'local';
export const PASSKEY_ATTENTIONS: readonly PasskeyAttention[] = ['full', 'lsh', 'local'];

/** Model shape and chunking. */
export interface PasskeyModelSpec {
  /** d_model (HF hidden_size). */
  readonly hidden: number;
  readonly heads: number;
  /** Layers (≥ 2 for `lsh` and `full`: a local one before each LSH one). */
  readonly layers: number;
  /** HF feed_forward_size. */
  readonly feedForward: number;
  /** lsh_attn_chunk_length of the `lsh` model (one chunk back). */
  readonly lshChunk: number;
  /** local_attn_chunk_length of the local layers of the `lsh` and `full` models (one chunk back). */
  readonly localChunk: number;
  /** local_attn_chunk_length of the `local` model (one chunk back). Default `localChunk`. */
  readonly localModelChunk?: number;
  /** Hash rounds in training (HF num_hashes). */
  readonly numHashes: number;
  /** Second axial axis (positions per coarse row); divides every sequence length. */
  readonly axialCols: number;
}

/** HF `attn_layers` of a model: all local, or (lsh, full) local first and LSH last, alternating back from the end. */
export function passkeyAttnLayers(attention: PasskeyAttention, layers: number): ('lsh' | 'local')[] {
  return Array.from({ length: layers }, (_, i) => (attention !== 'local' && i > 0 && (layers - 1 - i) % 2 === 0 ? 'lsh' : 'local'));
}

/** local_attn_chunk_length of a model of `attention`. */
export function passkeyLocalChunk(s: Pick<PasskeyModelSpec, 'localChunk' | 'localModelChunk'>, attention: PasskeyAttention): number {
  return attention === 'local' ? (s.localModelChunk ?? s.localChunk) : s.localChunk;
}

/**
 * Positions back the local model's stack of `layers` local layers can carry information over:
 * layers·(2·chunk − 1), chunk = `localModelChunk` (default `localChunk`).
 */
export function localReach(spec: Pick<PasskeyModelSpec, 'layers' | 'localChunk' | 'localModelChunk'>): number {
  return spec.layers * (2 * passkeyLocalChunk(spec, 'local') - 1);
}

/**
 * @throws ConfigError naming the field: sizes not positive integers, hidden not a multiple of heads or
 *   even, fewer than 2 layers, or `seqLen` not a multiple of axialCols and of the chunk lengths the
 *   model of `attention` uses (all of them when `attention` is not given).
 */
export function checkPasskeyModelSpec(s: PasskeyModelSpec, seqLen: number, attention?: PasskeyAttention): void {
  for (const [field, v] of [
    ['hidden_size', s.hidden],
    ['num_attention_heads', s.heads],
    ['num_layers', s.layers],
    ['feed_forward_size', s.feedForward],
    ['lsh_attn_chunk_length', s.lshChunk],
    ['local_attn_chunk_length', s.localChunk],
    ['local_attn_chunk_length (local model)', s.localModelChunk ?? s.localChunk],
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
  const chunks: [string, number][] = [['axial_pos_shape', s.axialCols]];
  if (attention === undefined || attention === 'lsh') chunks.push(['lsh_attn_chunk_length', s.lshChunk]);
  if (attention !== 'local') chunks.push(['local_attn_chunk_length', s.localChunk]);
  if (attention === undefined || attention === 'local')
    chunks.push(['local_attn_chunk_length (local model)', passkeyLocalChunk(s, 'local')]);
  for (const [field, c] of chunks) {
    if (seqLen % c !== 0) throw new ConfigError(field, `${c} does not divide the sequence length ${seqLen}`);
  }
}

/**
 * The HF config of a model at sequence length `seqLen`: byte vocabulary (256), axial positions
 * [seqLen / cols, cols] with dims [d/2, d/2], `num_buckets` null (HF's rule at the first LSH forward),
 * no dropout, causal; `full`: lsh_attn_chunk_length = seqLen (HF's short path: full attention).
 * @throws ConfigError for a spec `checkPasskeyModelSpec` refuses.
 */
export function passkeyConfig(s: PasskeyModelSpec, attention: PasskeyAttention, seqLen: number): ReformerConfigInput {
  checkPasskeyModelSpec(s, seqLen, attention);
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
    lsh_attn_chunk_length: attention === 'full' ? seqLen : s.lshChunk,
    local_attn_chunk_length: passkeyLocalChunk(s, attention),
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
export const AXIAL_COARSE = AXIAL_COARSE_TABLE;

/**
 * How a longer evaluation model's positions map onto the trained table (`copyWithTiledPositions`):
 * - `repeat`: position t' gets the embedding of t' mod L everywhere (every coarse row repeated).
 * - `filler`: the last L positions get the trained table as it is (the question and the answer at the
 *   phases they trained at); every earlier position repeats only the first `passkeyFillerRows` coarse
 *   rows, those that in training never held the question or the answer (only filler and the planted
 *   line). With `repeat`, every L-th stretch of a long filler carries the question's position signal,
 *   which the model never saw outside the question; `filler` keeps that signal at the end alone.
 */
export type PasskeyEvalPositions = 'repeat' | 'filler';
export const PASSKEY_EVAL_POSITIONS: readonly PasskeyEvalPositions[] = ['filler', 'repeat'];

/**
 * Leading coarse rows (of `axialCols` positions) that never hold the question or the answer in training,
 * when the training sequences are `minLength` … L tokens long: ⌊(minLength − |question| − n) / cols⌋.
 * @throws ConfigError('axial_pos_shape') if that is 0 (the shortest sequence is too short for one row).
 */
export function passkeyFillerRows(minLength: number, digits: number, axialCols: number): number {
  const rows = Math.floor((minLength - PASSKEY_QUESTION.length - digits) / axialCols);
  if (!(rows >= 1)) {
    throw new ConfigError(
      'axial_pos_shape',
      `no coarse row of ${axialCols} positions lies before the question of a ${minLength}-token sequence; use smaller axial columns or the repeat position mapping`,
    );
  }
  return rows;
}

/**
 * Copies every parameter of `trained` into `target` (same names and shapes), except the coarse axial
 * table (trained n₀ rows, target m₀): target row i ← trained row i − (m₀ − n₀) for the last n₀ rows,
 * row i mod `period` before them (see `PasskeyEvalPositions`). `period` = n₀ (the default) is plain
 * repetition, row i ← i mod n₀: the library's `repeatAxialPositions` (model/extend-positions.ts) builds
 * that table, and this copies it (the target keeps its own config: the `full` model's chunk is its length).
 * @throws ConfigError if a parameter is missing or its shape differs, the target's coarse rows are
 *   not a multiple of the trained ones, or period is not an integer in 1 … n₀.
 */
export function copyWithTiledPositions(trained: ReformerModelWithLMHead, target: ReformerModelWithLMHead, period?: number): void {
  if (!trained.parameters.has(AXIAL_COARSE)) throw new ConfigError('weights', `the trained model has no parameter ${AXIAL_COARSE}`);
  const src = trained.parameters.entry(AXIAL_COARSE);
  const [n0, one, d0] = src.shape as [number, number, number];
  const [m0, one2, e0] = (target.parameters.has(AXIAL_COARSE) ? target.parameters.entry(AXIAL_COARSE).shape : []) as [
    number,
    number,
    number,
  ];
  if (one !== 1 || one2 !== 1 || d0 !== e0 || m0 % n0 !== 0) {
    throw new ConfigError(
      'axial_pos_shape',
      `cannot repeat the coarse axial table [${src.shape.join(', ')}] into [${m0 === undefined ? 'none' : `${m0}, ${one2}, ${e0}`}]: the rows must be a multiple of ${n0}, the width ${d0}`,
    );
  }
  const p = period ?? n0;
  if (!Number.isSafeInteger(p) || p < 1 || p > n0) {
    throw new ConfigError('axial_pos_shape', `the repeat period must be an integer in 1 … ${n0} coarse rows, got ${p}`);
  }
  if (p === n0) {
    const cols = trained.config.axial_pos_shape[1]!;
    copyParameters(repeatAxialPositions(trained, m0 * cols), target);
    return;
  }
  copyParameters(trained, target, AXIAL_COARSE);
  const rows = trained.parameters.param(AXIAL_COARSE);
  const dst = target.parameters.param(AXIAL_COARSE);
  for (let i = 0; i < m0; i++) {
    const r = i >= m0 - n0 ? i - (m0 - n0) : i % p;
    dst.set(rows.subarray(r * d0, (r + 1) * d0), i * d0);
  }
}

/** Copies every parameter of `to` from `from` (same names and shapes), but `skip`. @throws ConfigError naming a missing or mis-shaped one. */
function copyParameters(from: ReformerModelWithLMHead, to: ReformerModelWithLMHead, skip?: string): void {
  for (const e of to.parameters.entries) {
    if (e.name === skip) continue;
    if (!from.parameters.has(e.name)) throw new ConfigError('weights', `the trained model has no parameter ${e.name}`);
    const src = from.parameters.entry(e.name);
    if (src.shape.length !== e.shape.length || src.shape.some((d, i) => d !== e.shape[i])) {
      throw new ConfigError('weights', `${e.name} has shape [${src.shape.join(', ')}] in the trained model, [${e.shape.join(', ')}] here`);
    }
    to.parameters.param(e.name).set(from.parameters.param(e.name));
  }
}
