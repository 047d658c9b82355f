/**
 * Token and position embeddings (HF `ReformerEmbeddings`, `AxialPositionEmbeddings`, `PositionEmbeddings`).
 *
 * Axes: rows = B·L (row r is batch b = ⌊r/L⌋, position t = r mod L), D = hidden_size.
 *
 *   word:   E[r, :] = W_word[ids[r], :]                                      W_word: [vocab, D]
 *   axial:  P[r, :] = concat_k W_k[digit_k(pos[r]), :]                         W_k: [n_k, d_k], Σ d_k = D
 *           digit_k(p) = ⌊p / Π_{j>k} n_j⌋ mod n_k   (row-major over axial_pos_shape [n_0, n_1, ...])
 *           HF stores W_k as `weights.k` with shape [1, .., n_k, .., 1, d_k] (n_k on axis k); same data.
 *   plain:  P[r, :] = W_pos[pos[r], :]                                       W_pos: [max_position_embeddings, D]
 *
 * Backward scatters (adds) the output gradient rows back into the tables (`scatterAddRows`).
 * Training-mode axial dropout (HF: `dropout2d` on the transposed broadcast table, p = hidden_dropout_prob)
 * drops the whole embedding of each (batch, axis-1 index) pair; see `axialDropoutKey`.
 */
import type { Backend, Float } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { dropoutKeepTable } from './dropout.js';

// ------------------------------------------------------------------ word embeddings

/** Throws ShapeError unless every id is an integer in [0, vocab). */
export function checkTokenIds(ids: Int32Array, rows: number, vocab: number, what = 'input_ids'): void {
  if (ids.length < rows) throw new ShapeError(`${what}: expected ${rows} ids, got ${ids.length}`);
  for (let i = 0; i < rows; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= vocab) {
      throw new ShapeError(`${what}[${i}] = ${id} is outside the vocabulary [0, ${vocab}); map tokens to ids below vocab_size`);
    }
  }
}

/** out[rows, D] = W_word[ids]  (overwrites). */
export function wordEmbeddingForward(be: Backend, table: Float, hidden: number, ids: Int32Array, rows: number, out: Float): void {
  be.gatherRows({ rows, cols: hidden, index: ids, src: table, ldSrc: hidden, dst: out, ldDst: hidden });
}

/** dW_word[ids[r]] += dOut[r]  (repeated ids add up). */
export function wordEmbeddingBackward(be: Backend, dTable: Float, hidden: number, ids: Int32Array, rows: number, dOut: Float): void {
  be.scatterAddRows({ rows, cols: hidden, index: ids, src: dOut, ldSrc: hidden, dst: dTable, ldDst: hidden });
}

// ------------------------------------------------------------------ axial position embeddings

/** Shape of the axial factorisation: `shape` = axial_pos_shape [n_k], `dims` = axial_pos_embds_dim [d_k]. */
export interface AxialSpec {
  readonly shape: readonly number[];
  readonly dims: readonly number[];
}

/** Dropout of the axial embeddings in training: probability and the site's seed. */
export interface AxialDropout {
  readonly p: number;
  readonly seed: number;
  readonly batch: number;
  readonly seqLen: number;
}

/** Throws ShapeError unless every position is an integer in [0, Π n_k). */
export function checkAxialPositions(spec: AxialSpec, positions: Int32Array, rows: number): void {
  const total = spec.shape.reduce((a, b) => a * b, 1);
  if (positions.length < rows) throw new ShapeError(`position_ids: expected ${rows} ids, got ${positions.length}`);
  for (let i = 0; i < rows; i++) {
    const p = positions[i]!;
    if (p < 0 || p >= total) {
      throw new ShapeError(
        `position_ids[${i}] = ${p} is outside the axial table [0, ${total}) (axial_pos_shape [${spec.shape.join(', ')}]); ` +
          'use shorter sequences or a larger axial_pos_shape',
      );
    }
  }
}

/** digit_k of every position: index[r] = ⌊pos[r] / stride_k⌋ mod n_k. */
function axialDigits(spec: AxialSpec, k: number, positions: Int32Array, rows: number, out: Int32Array): void {
  let stride = 1;
  for (let j = k + 1; j < spec.shape.length; j++) stride *= spec.shape[j]!;
  const n = spec.shape[k]!;
  for (let r = 0; r < rows; r++) out[r] = Math.floor(positions[r]! / stride) % n;
}

/**
 * Dropout key of element (row r, channel c): HF broadcasts the table to [B, n0, n1, ..., D], swaps
 * axes 1 and 2 and applies `dropout2d`, whose channels are then (batch, axis-1 index). With a single
 * axis the transposed table is [B, D, n0] and the channels are (batch, embedding column).
 * Returns the key count and a function of (row, position, channel).
 */
export function axialDropoutKey(
  spec: AxialSpec,
  batch: number,
  seqLen: number,
): { count: number; key: (row: number, pos: number, channel: number) => number } {
  const hidden = spec.dims.reduce((a, b) => a + b, 0);
  if (spec.shape.length === 1) {
    return { count: batch * hidden, key: (row, _pos, c) => Math.floor(row / seqLen) * hidden + c };
  }
  let stride1 = 1;
  for (let j = 2; j < spec.shape.length; j++) stride1 *= spec.shape[j]!;
  const n1 = spec.shape[1]!;
  return { count: batch * n1, key: (row, pos) => Math.floor(row / seqLen) * n1 + (Math.floor(pos / stride1) % n1) };
}

function applyAxialDropout(spec: AxialSpec, drop: AxialDropout, positions: Int32Array, rows: number, x: Float): void {
  if (drop.p === 0) return;
  const hidden = spec.dims.reduce((a, b) => a + b, 0);
  const { count, key } = axialDropoutKey(spec, drop.batch, drop.seqLen);
  const keep = dropoutKeepTable(count, drop.p, drop.seed);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < hidden; c++) x[r * hidden + c] = x[r * hidden + c]! * keep[key(r, positions[r]!, c)]!;
  }
}

/**
 * out[rows, D] = axial position embeddings of `positions` (overwrites); then, if `dropout` is given,
 * HF's training-mode dropout2d. Tables: `tables[k]` is W_k [n_k, d_k].
 * Positions are not checked here (see `checkAxialPositions`).
 */
export function axialPositionForward(
  be: Backend,
  spec: AxialSpec,
  tables: readonly Float[],
  positions: Int32Array,
  rows: number,
  out: Float,
  dropout: AxialDropout | null = null,
): void {
  const hidden = spec.dims.reduce((a, b) => a + b, 0);
  be.scope(() => {
    const index = be.ints(rows);
    let offset = 0;
    for (let k = 0; k < spec.shape.length; k++) {
      axialDigits(spec, k, positions, rows, index);
      // out[r, off_k : off_k + d_k] = W_k[digit_k(pos[r])]
      be.gatherRows({
        rows,
        cols: spec.dims[k]!,
        index,
        src: tables[k]!,
        ldSrc: spec.dims[k]!,
        dst: out,
        dstOffset: offset,
        ldDst: hidden,
      });
      offset += spec.dims[k]!;
    }
  });
  if (dropout) applyAxialDropout(spec, dropout, positions, rows, out);
}

/** dW_k[digit_k(pos[r])] += (dropout mask ⊙ dOut)[r, off_k : off_k + d_k]. dOut is not modified. */
export function axialPositionBackward(
  be: Backend,
  spec: AxialSpec,
  dTables: readonly Float[],
  positions: Int32Array,
  rows: number,
  dOut: Float,
  dropout: AxialDropout | null = null,
): void {
  const hidden = spec.dims.reduce((a, b) => a + b, 0);
  be.scope(() => {
    let g = dOut;
    if (dropout && dropout.p > 0) {
      g = be.floats(rows * hidden);
      g.set(dOut.subarray(0, rows * hidden));
      applyAxialDropout(spec, dropout, positions, rows, g);
    }
    const index = be.ints(rows);
    let offset = 0;
    for (let k = 0; k < spec.shape.length; k++) {
      axialDigits(spec, k, positions, rows, index);
      be.scatterAddRows({
        rows,
        cols: spec.dims[k]!,
        index,
        src: g,
        srcOffset: offset,
        ldSrc: hidden,
        dst: dTables[k]!,
        ldDst: spec.dims[k]!,
      });
      offset += spec.dims[k]!;
    }
  });
}

// ------------------------------------------------------------------ plain position embeddings

/** Throws ShapeError unless every position is an integer in [0, maxPositions). */
export function checkPlainPositions(positions: Int32Array, rows: number, maxPositions: number): void {
  if (positions.length < rows) throw new ShapeError(`position_ids: expected ${rows} ids, got ${positions.length}`);
  for (let i = 0; i < rows; i++) {
    const p = positions[i]!;
    if (p < 0 || p >= maxPositions) {
      throw new ShapeError(`position_ids[${i}] = ${p} is outside [0, ${maxPositions}) (max_position_embeddings); use shorter sequences`);
    }
  }
}

/** out[rows, D] = W_pos[positions] (overwrites). */
export function plainPositionForward(be: Backend, table: Float, hidden: number, positions: Int32Array, rows: number, out: Float): void {
  be.gatherRows({ rows, cols: hidden, index: positions, src: table, ldSrc: hidden, dst: out, ldDst: hidden });
}

/** dW_pos[positions[r]] += dOut[r]. */
export function plainPositionBackward(be: Backend, dTable: Float, hidden: number, positions: Int32Array, rows: number, dOut: Float): void {
  be.scatterAddRows({ rows, cols: hidden, index: positions, src: dOut, ldSrc: hidden, dst: dTable, ldDst: hidden });
}
