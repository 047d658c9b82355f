/**
 * The models of the duplication experiment (paper Table 2): which attention a model trains with, which
 * attention an evaluation uses, the HF `ReformerConfig` of each, and the paper's numbers to print beside ours.
 *
 * Attention settings (one layer type for the whole model, as in the paper's 1-layer models):
 * - `full`: an LSH layer whose `lsh_attn_chunk_length` covers the whole sequence, so HF's short path
 *   (`L ≤ chunk length`) runs ordinary causal attention over all positions with the shared query-key
 *   projection (the paper's "full attention" of Table 2 is shared-QK too).
 * - `lsh-n`: LSH layers with chunks of `lshChunk` (one chunk back), n hash rounds (training: the config's
 *   `num_hashes`; evaluation: the per-call value, HF's `num_hashes` argument).
 * - `local`: HF local attention with chunks of `localChunk` and one chunk back: every query sees at most
 *   2·localChunk − 1 positions back, fewer than the |w| + 1 the task needs (the Longformer-style baseline).
 *   `full` for a local model is the same layer with a chunk covering the sequence.
 *
 * An LSH layer has one `query_key` projection, a local layer `query` and `key`: a model trained with one
 * family has no weights for the other, so those cells are not evaluated (`evaluable` says which are).
 */
import { ConfigError } from '../errors.js';
import type { ReformerConfigInput } from '../config/fields.js';
import { type DuplicationSpec, duplicationSeqLen } from './duplication.js';
import { smallModelConfig } from './small-model.js';

/** What a model trains with. */
export type DuplicationTrainAttention = 'full' | 'lsh-1' | 'lsh-2' | 'lsh-4' | 'local';
/** What an evaluation uses. */
export type DuplicationEvalAttention = 'full' | 'lsh-8' | 'lsh-4' | 'lsh-2' | 'lsh-1' | 'local';

/** The training attentions of the experiment, in the order they train. */
export const DUPLICATION_TRAIN_ATTENTIONS: readonly DuplicationTrainAttention[] = ['full', 'lsh-1', 'lsh-2', 'lsh-4', 'local'];
/** In the paper's column order (Full, LSH-8, -4, -2, -1), then local. */
export const DUPLICATION_EVAL_ATTENTIONS: readonly DuplicationEvalAttention[] = ['full', 'lsh-8', 'lsh-4', 'lsh-2', 'lsh-1', 'local'];

/**
 * The paper's Table 2 (accuracy, percent), rows by training attention, columns by evaluation attention
 * (|w| = 511, V = 128, 1 layer, d_model 256, 4 heads): the rows of the full- and LSH-4-trained models
 * (the paper has no local-attention row or column).
 */
export const PAPER_TABLE2: Readonly<
  Partial<Record<DuplicationTrainAttention, Readonly<Partial<Record<DuplicationEvalAttention, number>>>>>
> = {
  full: { full: 100, 'lsh-8': 94.8, 'lsh-4': 92.5, 'lsh-2': 76.9, 'lsh-1': 52.5 },
  'lsh-4': { full: 0.8, 'lsh-8': 100, 'lsh-4': 99.9, 'lsh-2': 99.4, 'lsh-1': 91.9 },
};

/** The model shape and chunking of the experiment (the task itself is `DuplicationSpec`). */
export interface DuplicationModelSpec extends DuplicationSpec {
  /** d_model (HF hidden_size). */
  readonly hidden: number;
  readonly heads: number;
  /** Layers (each of the training attention's type). */
  readonly layers: number;
  /** HF feed_forward_size. */
  readonly feedForward: number;
  /** lsh_attn_chunk_length of the LSH settings (must divide the sequence length). */
  readonly lshChunk: number;
  /** local_attn_chunk_length of `local` (must divide the sequence length; 2·localChunk − 1 < |w| + 1 to be a real baseline). */
  readonly localChunk: number;
}

function family(a: DuplicationTrainAttention): 'lsh' | 'local' {
  return a === 'local' ? 'local' : 'lsh';
}

/** Hash rounds of an `lsh-n` setting (1 for the others). */
export function hashesOf(a: DuplicationTrainAttention | DuplicationEvalAttention): number {
  return a.startsWith('lsh-') ? Number(a.slice(4)) : 1;
}

/** Whether a model trained with `train` has the weights `evaluation` needs (see the file header). */
export function evaluable(train: DuplicationTrainAttention, evaluation: DuplicationEvalAttention): boolean {
  if (evaluation === 'full') return true;
  return evaluation === 'local' ? family(train) === 'local' : family(train) === 'lsh';
}

/**
 * @throws ConfigError naming the field when a chunk length does not divide the sequence length or a
 *   size is not a positive integer.
 */
export function checkDuplicationModelSpec(s: DuplicationModelSpec): void {
  const L = duplicationSeqLen(s.wordLength);
  for (const [field, v] of [
    ['hidden_size', s.hidden],
    ['num_attention_heads', s.heads],
    ['num_layers', s.layers],
    ['feed_forward_size', s.feedForward],
    ['lsh_attn_chunk_length', s.lshChunk],
    ['local_attn_chunk_length', s.localChunk],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${v}`);
  }
  if (s.hidden % s.heads !== 0) throw new ConfigError('hidden_size', `${s.hidden} is not a multiple of num_attention_heads ${s.heads}`);
  for (const [field, c] of [
    ['lsh_attn_chunk_length', s.lshChunk],
    ['local_attn_chunk_length', s.localChunk],
  ] as const) {
    if (c < L && L % c !== 0) {
      throw new ConfigError(field, `${c} does not divide the sequence length 2·(|w|+1) = ${L}; pick a divisor of ${L}`);
    }
  }
}

/**
 * The HF config of a model trained with `train` and evaluated with `evaluation` (default: as trained).
 * Plain position embeddings (max_position_embeddings = 2·(|w|+1)), no dropout, causal (is_decoder).
 * @throws ConfigError for a spec `checkDuplicationModelSpec` refuses, or a cell that is not `evaluable`.
 */
export function duplicationConfig(
  s: DuplicationModelSpec,
  train: DuplicationTrainAttention,
  evaluation?: DuplicationEvalAttention,
): ReformerConfigInput {
  checkDuplicationModelSpec(s);
  if (evaluation !== undefined && !evaluable(train, evaluation)) {
    throw new ConfigError(
      'attention',
      `a ${train}-trained model has no weights for ${evaluation} attention (LSH layers share query and key, local ones do not)`,
    );
  }
  const L = duplicationSeqLen(s.wordLength);
  const kind = family(train);
  const full = (evaluation ?? train) === 'full';
  return smallModelConfig({
    vocabSize: s.vocabSize,
    padTokenId: 0,
    hidden: s.hidden,
    heads: s.heads,
    feedForward: s.feedForward,
    attnLayers: Array.from({ length: s.layers }, () => kind),
    localChunk: full ? L : s.localChunk,
    lshChunk: full ? L : s.lshChunk,
    numHashes: hashesOf(train),
    numBuckets: null,
    maxPositions: L,
    axialShape: null,
  });
}
