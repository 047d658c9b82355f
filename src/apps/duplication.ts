/**
 * The duplication task of the paper (Kitaev, Kaiser & Levskaya 2020, Sec. 5 "Synthetic task", Table 2):
 * long-range retrieval that a causal model can only solve by attending |w| + 1 positions back.
 *
 * Sequence (length 2·(|w| + 1)): `0 w 0 w`, where w is |w| symbols drawn uniformly from 1 … V − 1
 * (0 is the separator, never a symbol of w):
 *
 *   position   0   1 … |w|   |w|+1   |w|+2 … 2|w|+1
 *   token      0   w₁ … w_|w|  0      w₁ … w_|w|
 *
 * Scoring: only the second copy of w counts, the |w| targets at positions |w|+2 … 2|w|+1. As a causal
 * LM (HF's shift: logits[t] predicts token t + 1), target position p is predicted by logits[p − 1]; the
 * labels are −100 at every position ≤ |w| + 1 (the first copy and both separators are not predictable
 * or not scored). The answer to target p sits |w| + 1 positions back, at p − |w| − 1.
 *
 * Accuracy (the paper's metric): the fraction of scored targets whose argmax prediction is right;
 * `exactMatch`: the fraction of sequences with all |w| right. A model that copies gets 1, one that
 * guesses uniformly ≈ 1/(V − 1).
 *
 * Browser-safe: the generator and the scoring take numbers and arrays; seeded by `Rng` (xoshiro128**).
 */
import type { Float } from '../backend/backend.js';
import { ConfigError, NumericalError, ShapeError } from '../errors.js';
import type { CausalLanguageModel, TokenBatch } from '../model/language-model.js';
import type { BatchSource, SamplerState } from '../train/data.js';
import { callLogits, numHashesCall } from '../train/generate.js';
import { intArg, modelArg, optionsArg } from '../util/args.js';
import { Rng } from '../util/rng.js';
import { scoreSpan } from './span-score.js';

/** The task's size: |w| and the vocabulary (symbols 1 … vocabSize − 1, separator 0). */
export interface DuplicationSpec {
  /** |w|, symbols per copy (≥ 1). The paper: 511. */
  readonly wordLength: number;
  /** V: token ids 0 … V − 1 (≥ 3: the separator and at least two symbols). The paper: 128. */
  readonly vocabSize: number;
}

/** The separator token (the paper's 0). */
export const DUPLICATION_SEPARATOR = 0;

/** @throws ConfigError('word_length' / 'vocab_size') naming the bad field and the allowed values. */
export function checkDuplicationSpec(spec: DuplicationSpec): void {
  optionsArg('checkDuplicationSpec', spec, '{ wordLength: 63, vocabSize: 128 }', false);
  if (!Number.isSafeInteger(spec.wordLength) || spec.wordLength < 1) {
    throw new ConfigError('word_length', `|w| must be a positive integer (the paper uses 511), got ${spec.wordLength}`);
  }
  if (!Number.isSafeInteger(spec.vocabSize) || spec.vocabSize < 3) {
    throw new ConfigError(
      'vocab_size',
      `must be an integer ≥ 3 (separator 0 and symbols 1 … V−1; the paper uses 128), got ${spec.vocabSize}`,
    );
  }
}

/** Sequence length of the task, 2·(|w| + 1) tokens. */
export function duplicationSeqLen(wordLength: number): number {
  intArg('duplicationSeqLen', 'word_length', wordLength, 1);
  return 2 * (wordLength + 1);
}

/**
 * One sequence `0 w 0 w` into `out` at `offset` (`out` must hold 2·(|w| + 1) tokens from there),
 * w drawn from `rng`: |w| draws of `rng.int(V − 1) + 1`, in order.
 */
export function writeDuplicationSequence(rng: Rng, spec: DuplicationSpec, out: Int32Array, offset = 0): void {
  const w = spec.wordLength;
  out[offset] = DUPLICATION_SEPARATOR;
  out[offset + w + 1] = DUPLICATION_SEPARATOR;
  for (let i = 1; i <= w; i++) {
    const s = rng.int(spec.vocabSize - 1) + 1;
    out[offset + i] = s;
    out[offset + w + 1 + i] = s;
  }
}

/**
 * `[batch, 2·(|w|+1)]` labels of duplication inputs: the input ids at the second copy's positions
 * (|w| + 2 … 2|w| + 1), −100 elsewhere (not scored). HF shifts them inside the loss.
 * @throws ShapeError if `inputIds` is not `batch` whole sequences.
 */
export function duplicationLabels(inputIds: Int32Array, batch: number, wordLength: number): Int32Array {
  const L = duplicationSeqLen(wordLength);
  if (!(inputIds instanceof Int32Array) || inputIds.length !== batch * L) {
    throw new ShapeError(`duplicationLabels: inputIds must be an Int32Array of ${batch}×${L} ids, got ${inputIds?.length} ids`);
  }
  const labels = new Int32Array(inputIds.length).fill(-100);
  for (let b = 0; b < batch; b++) {
    const row = b * L;
    labels.set(inputIds.subarray(row + wordLength + 2, row + L), row + wordLength + 2);
  }
  return labels;
}

/** `count` fresh sequences from `rng` as a batch, with `duplicationLabels`. */
export function duplicationBatch(rng: Rng, spec: DuplicationSpec, count: number): TokenBatch {
  checkDuplicationSpec(spec);
  intArg('duplicationBatch', 'count', count, 1);
  const L = duplicationSeqLen(spec.wordLength);
  const inputIds = new Int32Array(count * L);
  for (let b = 0; b < count; b++) writeDuplicationSequence(rng, spec, inputIds, b * L);
  return { inputIds, batch: count, seqLen: L, attentionMask: null, labels: duplicationLabels(inputIds, count, spec.wordLength) };
}

/**
 * The trainer's batches for the duplication task (`Trainer`'s `batches`): every step draws `batch` fresh
 * sequences from one seeded generator (the paper trains on freshly generated data). Resumable: the state
 * is the generator's words and the number of batches drawn.
 */
export class DuplicationBatches implements BatchSource {
  readonly batch: number;
  readonly seqLen: number;
  readonly spec: DuplicationSpec;
  private rng: Rng;
  private drawn = 0;

  /** @throws ConfigError for a bad spec, batch or seed. */
  constructor(spec: DuplicationSpec, options: { batch: number; seed: number }) {
    checkDuplicationSpec(spec);
    optionsArg('DuplicationBatches', options, '{ batch: 16, seed: 1 }', false);
    if (!Number.isSafeInteger(options.batch) || options.batch < 1)
      throw new ConfigError('batch', `must be a positive integer, got ${options.batch}`);
    if (!Number.isSafeInteger(options.seed)) throw new ConfigError('seed', `must be an integer, got ${options.seed}`);
    this.spec = spec;
    this.batch = options.batch;
    this.seqLen = duplicationSeqLen(spec.wordLength);
    this.rng = new Rng(options.seed);
  }

  next(): TokenBatch {
    this.drawn++;
    return duplicationBatch(this.rng, this.spec, this.batch);
  }

  state(): SamplerState {
    return { rng: this.rng.state(), batchesDrawn: this.drawn };
  }

  restore(state: SamplerState): void {
    optionsArg('DuplicationBatches.restore', state, 'batches.state()', false);
    if (!Number.isSafeInteger(state.batchesDrawn) || state.batchesDrawn < 0) {
      throw new ConfigError('sampler', `batchesDrawn must be a non-negative integer, got ${state.batchesDrawn}`);
    }
    this.rng = Rng.fromState(state.rng);
    this.drawn = state.batchesDrawn;
  }
}

/** Counts of a scored batch (sums, so batches add up). */
export interface DuplicationTally {
  /** Scored targets (|w| per sequence). */
  targets: number;
  /** Targets whose argmax prediction is the token. */
  correct: number;
  /** Sequences with every target right. */
  exact: number;
  sequences: number;
  /** Σ −log p(target), nats (float64 log-softmax of the logits). */
  nats: number;
}

/** An empty tally. */
export function emptyTally(): DuplicationTally {
  return { targets: 0, correct: 0, exact: 0, sequences: 0, nats: 0 };
}

/**
 * Adds the scores of the second copies of `inputIds` under `logits` to `tally` (only positions
 * |w| + 2 … 2|w| + 1 count; target p is predicted by logits row p − 1; ties of the argmax go to the
 * lowest id).
 * @param logits `[batch, 2·(|w|+1), vocab]`
 * @param inputIds `[batch, 2·(|w|+1)]` duplication sequences
 * @throws ShapeError if the sizes disagree.
 */
export function scoreDuplication(
  logits: ArrayLike<number>,
  inputIds: Int32Array,
  batch: number,
  wordLength: number,
  vocab: number,
  tally: DuplicationTally = emptyTally(),
): DuplicationTally {
  const L = duplicationSeqLen(wordLength);
  if (inputIds.length !== batch * L || logits.length !== batch * L * vocab) {
    throw new ShapeError(
      `scoreDuplication: expected ${batch}×${L} ids and ${batch}×${L}×${vocab} logits, got ${inputIds.length} ids and ${logits.length} logits`,
    );
  }
  for (let b = 0; b < batch; b++) {
    const { nats, targets, correct, allRight } = scoreSpan(logits, inputIds, b, L, wordLength + 2, vocab, tally.nats);
    tally.nats = nats;
    tally.targets += targets;
    tally.correct += correct;
    tally.sequences++;
    if (allRight) tally.exact++;
  }
  return tally;
}

/** Options of `evaluateDuplication`. */
export interface DuplicationEvalOptions {
  /** Sequences to score. Default 256. */
  readonly sequences?: number;
  /** Sequences per forward. Default 16. */
  readonly batch?: number;
  /** Seed of the evaluation sequences (the same set for every model and attention). Default 12345. */
  readonly seed?: number;
  /** Hash rounds of every LSH layer for this evaluation (HF's per-call `num_hashes`, paper Table 2). */
  readonly numHashes?: number;
  /** Called after each forward with sequences done and total. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Result of `evaluateDuplication`. */
export interface DuplicationResult {
  /** Fraction of second-copy targets predicted right (argmax), in [0, 1]. */
  readonly accuracy: number;
  /** Fraction of sequences with the whole second copy right. */
  readonly exactMatch: number;
  /** Mean −log p over the scored targets, nats. */
  readonly loss: number;
  readonly targets: number;
  readonly sequences: number;
}

/**
 * Accuracy and loss of `model` on fresh duplication sequences (evaluation mode: `model.logits`, no
 * dropout), scored on the second copy only (see the file header).
 * @throws ConfigError for bad options or spec, a model whose vocabulary is smaller than V or whose
 *   numHashes does not fit (`numHashesCall`); NumericalError if the loss is not finite.
 */
export function evaluateDuplication(
  model: CausalLanguageModel,
  spec: DuplicationSpec,
  options: DuplicationEvalOptions = {},
): DuplicationResult {
  modelArg('evaluateDuplication', model, ['logits']);
  checkDuplicationSpec(spec);
  const o = optionsArg<DuplicationEvalOptions>('evaluateDuplication', options, '{ sequences: 256, batch: 16 }');
  const total = o.sequences ?? 256;
  const per = o.batch ?? 16;
  intArg('evaluateDuplication', 'sequences', total, 1);
  intArg('evaluateDuplication', 'batch', per, 1);
  if (model.vocabSize < spec.vocabSize) {
    throw new ConfigError('vocab_size', `the model has ${model.vocabSize} token ids, fewer than the task's V = ${spec.vocabSize}`);
  }
  const call = numHashesCall(model, o.numHashes, 'evaluateDuplication: numHashes');
  const rng = new Rng(o.seed ?? 12345);
  const tally = emptyTally();
  for (let done = 0; done < total; ) {
    const n = Math.min(per, total - done);
    const batch = duplicationBatch(rng, spec, n);
    model.backend.scope(() => {
      const logits: Float = callLogits(model, batch, call);
      scoreDuplication(logits, batch.inputIds, n, spec.wordLength, model.vocabSize, tally);
    });
    done += n;
    o.onProgress?.(done, total);
  }
  const loss = tally.nats / tally.targets;
  if (!Number.isFinite(loss)) throw new NumericalError(`evaluateDuplication: the loss is ${loss} over ${tally.targets} targets`);
  return {
    accuracy: tally.correct / tally.targets,
    exactMatch: tally.exact / tally.sequences,
    loss,
    targets: tally.targets,
    sequences: tally.sequences,
  };
}
