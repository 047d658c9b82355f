/**
 * The boundary of an encoder call: validation of the ids, mask and options, and HF's evaluation-time
 * padding to a multiple of the chunk lengths (`_pad_to_mult_of_chunk_length`; an error in training).
 */
import { checkPositionLength, type ReformerConfig } from '../config/reformer-config.js';
import { ConfigError, ShapeError } from '../errors.js';
import { checkTokenIds } from '../nn/embeddings.js';
import type { EncoderInput, PreparedInput } from './encoder-types.js';
import { chunkLengthRule } from './lengths.js';
import { validateRotations, validateTokenBatch } from './validate-inputs.js';

/**
 * Everything checked before a call allocates: the inputs, the eval padding (ids and mask padded to
 * the chunk-length multiple, allocated in JS, HF `_pad_to_mult_of_chunk_length`) and the sequence length
 * against the config. The caller checks the memory estimate next.
 */
export function prepareEncoderInput(cfg: ReformerConfig, input: EncoderInput): Omit<PreparedInput, 'hostStreams'> {
  validateTokenBatch(input, 'ReformerModel');
  validateRotations(input.rotations, 'ReformerModel');
  const { batch: B, seqLen: L, training } = input;
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(L) || L < 1) {
    throw new ShapeError(`ReformerModel: batch and seqLen must be positive integers, got batch ${B}, seqLen ${L}`);
  }
  if (input.inputIds.length !== B * L) {
    throw new ShapeError(`ReformerModel: input_ids must have batch·seqLen = ${B}·${L} = ${B * L} elements, got ${input.inputIds.length}`);
  }
  checkTokenIds(input.inputIds, B * L, cfg.vocab_size);
  const mask0 = input.attentionMask ?? null;
  if (mask0) {
    if (mask0.length !== B * L)
      throw new ShapeError(`ReformerModel: attention_mask must have ${B * L} elements ([batch, seqLen]), got ${mask0.length}`);
    for (let i = 0; i < mask0.length; i++) {
      if (mask0[i] !== 0 && mask0[i] !== 1)
        throw new ShapeError(`ReformerModel: attention_mask[${i}] = ${mask0[i]}; use 1 for real tokens and 0 for padding`);
    }
  }
  if (input.numHashes != null && (!Number.isInteger(input.numHashes) || input.numHashes < 1)) {
    throw new ShapeError(`ReformerModel: numHashes must be a positive integer, got ${input.numHashes}`);
  }

  // ---- automatic padding to a multiple of the chunk-length lcm (eval), error in training
  const { lcm, min } = chunkLengthRule(cfg);
  let Lp = L;
  let ids = input.inputIds;
  let mask = mask0;
  if (L % lcm !== 0 && L > min) {
    Lp = L + (lcm - (L % lcm));
    if (training) {
      // with axial position embeddings only one training length exists: say that one
      const axial = cfg.axial_pos_embds ? cfg.axial_pos_shape.reduce((a, b) => a * b, 1) : null;
      const fix =
        axial !== null
          ? `with axial position embeddings training takes exactly ${axial} tokens (the product of axial_pos_shape [${cfg.axial_pos_shape.join(', ')}]): ` +
            `use sequences of ${axial} tokens (attention_mask 0 on padding), or change axial_pos_shape`
          : `pad the input to ${Lp} (attention_mask 0 on the padding) or use ${Lp - lcm > 0 ? `${Lp - lcm} or ` : ''}${Lp}`;
      throw new ShapeError(
        `ReformerModel: in training the sequence length ${L} must be a multiple of ${lcm} (least common multiple of the chunk lengths ` +
          `in attn_layers); ${fix}`,
      );
    }
    if (cfg.pad_token_id === null) {
      throw new ConfigError(
        'pad_token_id',
        `is null, but a sequence of length ${L} must be padded to ${Lp}; set pad_token_id or pass a length that is a multiple of ${lcm}`,
      );
    }
    ids = new Int32Array(B * Lp).fill(cfg.pad_token_id);
    mask = new Int32Array(B * Lp); // zeros on the padding
    for (let b = 0; b < B; b++) {
      ids.set(input.inputIds.subarray(b * L, (b + 1) * L), b * Lp);
      if (mask0) mask.set(mask0.subarray(b * L, (b + 1) * L), b * Lp);
      else mask.fill(1, b * Lp, b * Lp + L);
    }
  }
  checkPositionLength(cfg, Lp, training, L);
  return { ids, mask, paddedLen: Lp };
}
