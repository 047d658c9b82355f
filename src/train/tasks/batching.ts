/**
 * Batches of variable-length token sequences for the task heads: every sequence padded on the right
 * with the padding id to the model's length (training needs exactly Π axial_pos_shape tokens; using
 * the same length in evaluation keeps the LSH chunking of training, which depends on the amount of
 * padding through HF's padding bucket), with an attention mask (1 = token, 0 = padding) when any
 * sequence is shorter.
 */
import { ShapeError } from '../../errors.js';
import type { TokenBatch } from '../../model/language-model.js';

/**
 * `[seqs.length, seqLen]` ids and mask. @throws ShapeError if a sequence is longer than `seqLen` or
 * empty (a row without a real token would attend to nothing).
 */
export function padBatch(seqs: readonly Int32Array[], seqLen: number, padId: number): TokenBatch {
  const B = seqs.length;
  const inputIds = new Int32Array(B * seqLen).fill(padId);
  const mask = new Int32Array(B * seqLen);
  let padded = false;
  seqs.forEach((s, b) => {
    if (s.length > seqLen)
      throw new ShapeError(`padBatch: sequence ${b} has ${s.length} tokens, more than the length ${seqLen}; truncate it first`);
    if (s.length === 0) throw new ShapeError(`padBatch: sequence ${b} is empty`);
    inputIds.set(s, b * seqLen);
    mask.fill(1, b * seqLen, b * seqLen + s.length);
    if (s.length < seqLen) padded = true;
  });
  return { inputIds, batch: B, seqLen, attentionMask: padded ? mask : null };
}

/** `items` in consecutive groups of at most `size`. */
export function chunksOf<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
