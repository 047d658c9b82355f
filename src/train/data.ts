/**
 * Token streams for training: the train/validation split and the random-window batch sampler.
 *
 * Split: the validation part is held out from the END of the stream (the last
 * `ceil(validationFraction · tokens)` tokens), so it is text the model never trains on and
 * neighbouring windows do not leak across the boundary.
 *
 * Sampler: each batch is `batch` windows of `seqLen` consecutive tokens starting at independent uniform
 * offsets in `[0, tokens − seqLen]` drawn from a seeded `Rng`. Its state (RNG words + number of batches
 * drawn) is plain JSON and restores the exact continuation of the stream.
 */
import { ConfigError } from '../errors.js';
import type { TokenBatch } from '../model/language-model.js';
import { int32Arg, optionsArg } from '../util/args.js';
import { Rng, type RngState } from '../util/rng.js';

/** Training and validation token ids (views into the original stream). */
export interface DataSplit {
  /** `[trainTokens]` */
  readonly train: Int32Array;
  /** `[validationTokens]`, empty when `validationFraction` is 0. */
  readonly validation: Int32Array;
}

/** `SplitOptions.validationFraction` when it is not given (and `reformer train --val-fraction`'s default): the last 5%. */
export const DEFAULT_VALIDATION_FRACTION = 0.05;

export interface SplitOptions {
  /** Fraction of the stream held out for validation, in [0, 1). 0 = no validation split. Default `DEFAULT_VALIDATION_FRACTION` (0.05). */
  validationFraction?: number;
  /** Window length in tokens: each non-empty part must hold at least one full window. */
  seqLen: number;
}

/**
 * Tokens held out for validation from the end of a stream of `n` tokens: `ceil(validationFraction · n)`
 * (0 for a fraction of 0). The one rule behind `splitTokens` and `reformer eval --split`.
 * @throws ConfigError('validation_fraction') if the fraction is outside [0, 1).
 */
export function validationLength(n: number, validationFraction: number): number {
  const f = validationFraction;
  if (typeof f !== 'number' || !(f >= 0 && f < 1)) {
    throw new ConfigError('validation_fraction', `must be in [0, 1), got ${f}; e.g. 0.05 holds out the last 5% of the data`);
  }
  return f === 0 ? 0 : Math.ceil(f * n);
}

/**
 * Holds out the last `ceil(validationFraction · n)` tokens for validation.
 * @param options `{ seqLen, validationFraction? }`, e.g. `{ seqLen: lm.config.max_position_embeddings }`.
 * @throws ShapeError if `tokens` is not an Int32Array; ConfigError (`options`, `seq_len`,
 *   `validation_fraction`) if the options are missing, the fraction is outside [0, 1), or the training
 *   part or a non-empty validation part is shorter than one window of `seqLen` tokens.
 */
export function splitTokens(tokens: Int32Array, options: SplitOptions): DataSplit {
  int32Arg('splitTokens', 'tokens', tokens);
  const o = optionsArg<SplitOptions>('splitTokens', options, '{ seqLen: 1024, validationFraction: 0.05 }', false);
  const { validationFraction: f = DEFAULT_VALIDATION_FRACTION, seqLen } = o;
  if (seqLen === undefined) {
    throw new ConfigError(
      'seq_len',
      'splitTokens needs options.seqLen, the window length the model trains on (each part must hold one window), e.g. { seqLen: 1024 }',
    );
  }
  checkPositiveInt('seq_len', seqLen);
  const n = tokens.length;
  const nVal = validationLength(n, f);
  const nTrain = n - nVal;
  if (nVal > 0 && n < 2 * seqLen) {
    throw new ConfigError(
      'seq_len',
      `the data holds ${n} tokens, fewer than two windows of ${seqLen} (one to train on, one to validate); ` +
        `lower seq_len, use more data, or set the validation fraction to 0`,
    );
  }
  if (nVal > 0 && nVal < seqLen) {
    throw new ConfigError(
      'validation_fraction',
      `the validation split holds ${nVal} tokens (${f} of ${n}), fewer than one window of seq_len ${seqLen}; ` +
        `raise the fraction to at least ${ceilTo(seqLen / n, 4)}, lower seq_len, or use more data`,
    );
  }
  if (nTrain < seqLen) {
    throw new ConfigError(
      'seq_len',
      `the training split holds ${nTrain} tokens (of ${n}; ${nVal} held out for validation), fewer than one window of ${seqLen}; ` +
        `lower seq_len or the validation fraction, or use more data`,
    );
  }
  return { train: tokens.subarray(0, nTrain), validation: tokens.subarray(nTrain) };
}

/** JSON-serialisable sampler state: restores the exact continuation of the batch stream. */
export interface SamplerState {
  readonly rng: RngState;
  /** Batches drawn so far. */
  readonly batchesDrawn: number;
}

export interface SamplerOptions {
  /** Windows per batch. */
  batch: number;
  /** Tokens per window. */
  seqLen: number;
  /** Seed of the offsets' generator. */
  seed: number;
}

/**
 * Where the trainer's batches come from: `next()` gives the batch of the next step, `state()` /
 * `restore()` make the stream resumable (plain JSON). `BatchSampler` is the default; a task with its own
 * examples (e.g. the duplication task, apps/duplication.ts) passes another to `Trainer`.
 */
export interface BatchSource {
  /** Windows per batch. */
  readonly batch: number;
  /** Tokens per window. */
  readonly seqLen: number;
  /** The next batch, `inputIds: [batch, seqLen]` (with `labels` when only some targets count); advances the state. */
  next(): TokenBatch;
  state(): SamplerState;
  /** Continues exactly where `state` was taken. @throws ConfigError for a malformed state. */
  restore(state: SamplerState): void;
}

/** Random windows of a token stream: `next()` returns `inputIds: [batch, seqLen]` (labels = inputs). */
export class BatchSampler implements BatchSource {
  readonly batch: number;
  readonly seqLen: number;
  private readonly tokens: Int32Array;
  private rng: Rng;
  private drawn = 0;

  /** @throws ConfigError if batch or seqLen is not a positive integer, or the stream is shorter than one window. */
  constructor(tokens: Int32Array, options: SamplerOptions) {
    int32Arg('BatchSampler', 'tokens', tokens);
    optionsArg('BatchSampler', options, '{ batch: 1, seqLen: 1024, seed: 1 }', false);
    if (!Number.isSafeInteger(options.seed)) throw new ConfigError('seed', `must be an integer, got ${options.seed}`);
    checkPositiveInt('batch', options.batch);
    checkPositiveInt('seq_len', options.seqLen);
    if (tokens.length < options.seqLen) {
      throw new ConfigError(
        'seq_len',
        `${options.seqLen} is longer than the ${tokens.length}-token stream to sample from; lower it or use more data`,
      );
    }
    this.tokens = tokens;
    this.batch = options.batch;
    this.seqLen = options.seqLen;
    this.rng = new Rng(options.seed);
  }

  /** Start offsets of the next batch, `[batch]`, each in `[0, tokens − seqLen]`; advances the state. */
  nextOffsets(): number[] {
    const span = this.tokens.length - this.seqLen + 1;
    const offsets: number[] = [];
    for (let b = 0; b < this.batch; b++) offsets.push(this.rng.int(span));
    this.drawn++;
    return offsets;
  }

  /** The next batch of windows: `inputIds: [batch, seqLen]`, row b = tokens[offset_b, offset_b + seqLen). */
  next(): TokenBatch {
    const inputIds = new Int32Array(this.batch * this.seqLen);
    this.nextOffsets().forEach((o, b) => {
      inputIds.set(this.tokens.subarray(o, o + this.seqLen), b * this.seqLen);
    });
    return { inputIds, batch: this.batch, seqLen: this.seqLen, attentionMask: null, labels: null };
  }

  state(): SamplerState {
    return { rng: this.rng.state(), batchesDrawn: this.drawn };
  }

  /** Continues exactly where `state` was taken. @throws ConfigError for a malformed state. */
  restore(state: SamplerState): void {
    optionsArg('BatchSampler.restore', state, 'sampler.state()', false);
    if (!Array.isArray(state.rng) || state.rng.length !== 4 || state.rng.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new ConfigError('sampler', `rng state must be four unsigned 32-bit integers, got ${JSON.stringify(state.rng)}`);
    }
    if (!Number.isSafeInteger(state.batchesDrawn) || state.batchesDrawn < 0) {
      throw new ConfigError('sampler', `batchesDrawn must be a non-negative integer, got ${state.batchesDrawn}`);
    }
    this.rng = Rng.fromState(state.rng);
    this.drawn = state.batchesDrawn;
  }
}

function checkPositiveInt(field: string, x: number): void {
  if (!Number.isSafeInteger(x) || x <= 0) throw new ConfigError(field, `must be a positive integer, got ${x}`);
}

function ceilTo(x: number, digits: number): number {
  const s = 10 ** digits;
  return Math.ceil(x * s) / s;
}
