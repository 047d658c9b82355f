/**
 * Masked-language-model inputs, HF's recipe (`DataCollatorForLanguageModeling`, BERT Sec. 3.1): each
 * real token (attention mask 1, not a special id) is selected with probability `probability` (HF's
 * `mlm_probability`, default 0.15); a selected token's label is its original id, every other label is
 * −100; of the selected tokens 80% are replaced by the mask token, 10% by a random token, 10% are kept.
 *
 * The mask token. The byte vocabulary (HF `google/reformer-enwik8`: id = byte + 2, 0 = padding,
 * 1 = end of text) has no mask id, and HF's Reformer tokenizers define none. We use the PADDING id
 * (`pad_token_id`, 0) at a real position (attention mask 1) as the mask token:
 *  - the vocabulary stays 258 ids, so encoder weights move unchanged between causal-LM, masked-LM,
 *    classification and QA checkpoints, and HF's byte-level checkpoints fine-tune as they are;
 *  - padding never occurs at an attended position: padded positions are masked as keys (the attention
 *    mask is 0 there, and LSH sends them to their own bucket), and their outputs reach no loss, so the
 *    embedding row of id 0 is otherwise unused, and it is free to learn "masked";
 *  - the attention mask, not the id, tells padding (0) from a masked byte (1).
 * A vocab_size + 1 model would break that weight compatibility for no gain. Random replacements are
 * drawn uniformly from the ids that are not special (bytes: 2…257).
 */
import { ConfigError, ShapeError } from '../../errors.js';
import { IGNORE_INDEX } from '../../nn/lm-head.js';
import type { Rng } from '../../util/rng.js';

/** HF `DataCollatorForLanguageModeling`'s default `mlm_probability`. */
export const DEFAULT_MLM_PROBABILITY = 0.15;

/** How `maskTokens` selects and replaces tokens (HF `DataCollatorForLanguageModeling`'s settings). */
export interface MaskingOptions {
  /** Selection probability per real token, in (0, 1]. Default 0.15. */
  readonly probability?: number;
  /** The mask token's id (we use `pad_token_id`, see the file header). */
  readonly maskId: number;
  /** Ids never selected nor drawn as replacements (padding, end of text, unknown...). */
  readonly specialIds: readonly number[];
  /** Vocabulary size: replacements are drawn from [0, vocabSize) minus `specialIds`. */
  readonly vocabSize: number;
}

/** Masked inputs and labels ([n] each; labels −100 where nothing is predicted). */
export interface MaskedTokens {
  readonly inputIds: Int32Array;
  readonly labels: Int32Array;
  /** Selected positions. */
  readonly selected: number;
}

/**
 * Applies HF's 80/10/10 masking to `ids` ([n], with `attentionMask` [n] or null = all real), drawing
 * from `rng` (in position order: selection, then replacement kind, then the random id).
 * @throws ConfigError for a probability outside (0, 1] or a vocabulary with no ordinary id.
 */
export function maskTokens(ids: Int32Array, attentionMask: Int32Array | null, rng: Rng, options: MaskingOptions): MaskedTokens {
  const p = options.probability ?? DEFAULT_MLM_PROBABILITY;
  if (!(p > 0 && p <= 1)) throw new ConfigError('mlm_probability', `must be in (0, 1], got ${p}; HF's default is 0.15`);
  if (attentionMask && attentionMask.length !== ids.length) {
    throw new ShapeError(`maskTokens: attention mask has ${attentionMask.length} entries for ${ids.length} ids`);
  }
  const special = new Set(options.specialIds);
  const ordinary: number[] = [];
  for (let id = 0; id < options.vocabSize; id++) if (!special.has(id)) ordinary.push(id);
  if (ordinary.length === 0) throw new ConfigError('vocab_size', 'has no id besides the special ones to draw replacements from');
  const inputIds = Int32Array.from(ids);
  const labels = new Int32Array(ids.length).fill(IGNORE_INDEX);
  let selected = 0;
  for (let i = 0; i < ids.length; i++) {
    if ((attentionMask && attentionMask[i] === 0) || special.has(ids[i]!)) continue;
    if (rng.uniform() >= p) continue;
    selected++;
    labels[i] = ids[i]!;
    const u = rng.uniform();
    if (u < 0.8) inputIds[i] = options.maskId;
    else if (u < 0.9) inputIds[i] = ordinary[rng.int(ordinary.length)]!;
    // else: kept as it is
  }
  return { inputIds, labels, selected };
}
