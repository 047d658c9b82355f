/**
 * Training data of the passkey experiment (apps/passkey.ts has the task, the scoring and the evaluation):
 * rows of a fixed length L holding passkey sequences of varying length, and the trainer's batch source.
 *
 * Browser-safe: takes the corpus as bytes; seeded by `Rng` (xoshiro128**).
 */
import { ConfigError } from '../errors.js';
import type { TokenBatch } from '../model/language-model.js';
import type { BatchSource, SamplerState } from '../train/data.js';
import { bytesArg, intArg, optionsArg } from '../util/args.js';
import { Rng } from '../util/rng.js';
import {
  checkPasskeySpec,
  type PasskeyPlacement,
  type PasskeySpec,
  passkeyFillerLength,
  passkeyFixedTokens,
  writePasskeySequence,
} from './passkey.js';

/**
 * What the training loss counts: `answer` (the default) only the n answer digits; `all` every next byte
 * of the passkey sequence (an ordinary byte-level LM loss), so the filler and the planted copies teach
 * the layers to read text too. Evaluation always scores the answer digits only.
 */
export type PasskeyLossOn = 'answer' | 'all';
export const PASSKEY_LOSS_ON: readonly PasskeyLossOn[] = ['answer', 'all'];

/** Token after a shorter training sequence (padding; never scored, and causal attention never lets the answer see it). */
export const PASSKEY_PAD = 0;

/**
 * `count` training rows of L = `spec.seqLen` tokens, each one passkey sequence of its own length ℓ
 * drawn uniformly from `minLength` … L (no draw when minLength = L), followed by L − ℓ pad tokens. Its
 * question and answer then end at position ℓ, not always at L: the answer's absolute position (its
 * phase in the position table) says nothing, and the model must find the question by its text, as it
 * must at an evaluation length it never trained at. The pad after ℓ changes no logit at or before ℓ
 * (causal attention). Labels per `lossOn`: the n answer digits, or every byte of the passkey sequence
 * (positions < ℓ); −100 elsewhere.
 * Draws, per row: ℓ (`rng.int(L − minLength + 1)`, if minLength < L), then `writePasskeySequence`'s draws.
 * @throws ConfigError for a bad spec or minLength (an integer from the shortest passkey sequence, n + the
 *   fixed text + 1, to L), or a corpus shorter than the filler.
 */
export function passkeyTrainingBatch(
  rng: Rng,
  corpus: Uint8Array,
  spec: PasskeySpec,
  count: number,
  options: { minLength?: number; lossOn?: PasskeyLossOn } = {},
): { batch: TokenBatch; placements: (PasskeyPlacement & { length: number })[] } {
  checkPasskeySpec(spec);
  intArg('passkeyTrainingBatch', 'count', count, 1);
  const L = spec.seqLen;
  const minLength = options.minLength ?? L;
  checkMinLength(minLength, spec);
  const lossOn = options.lossOn ?? 'answer';
  const inputIds = new Int32Array(count * L).fill(PASSKEY_PAD);
  const labels = new Int32Array(count * L).fill(-100);
  const placements: (PasskeyPlacement & { length: number })[] = [];
  for (let b = 0; b < count; b++) {
    const length = minLength < L ? minLength + rng.int(L - minLength + 1) : L;
    const p = writePasskeySequence(rng, corpus, { seqLen: length, digits: spec.digits }, inputIds, b * L);
    placements.push({ ...p, length });
    const from = lossOn === 'all' ? b * L : b * L + length - spec.digits;
    labels.set(inputIds.subarray(from, b * L + length), from);
  }
  return { batch: { inputIds, batch: count, seqLen: L, attentionMask: null, labels }, placements };
}

/** @throws ConfigError('min_length') unless an integer from the shortest passkey sequence to spec.seqLen. */
export function checkMinLength(minLength: number, spec: PasskeySpec): void {
  const shortest = passkeyFixedTokens(spec.digits) + 1;
  if (!Number.isSafeInteger(minLength) || minLength < shortest || minLength > spec.seqLen) {
    throw new ConfigError(
      'min_length',
      `must be an integer in ${shortest} … ${spec.seqLen} (one filler byte at least; at most the training length), got ${minLength}`,
    );
  }
}

/**
 * A curriculum of the key's length: the first `steps` batches hold keys of `digits` digits (fewer than
 * the task's), the later ones the task's keys. A model learns to retrieve a 1-digit key (every digit of
 * the sequence is the answer: "find a digit, copy it") long before it leaves the plateau of a 2- or
 * 5-digit key (docs/applications/passkey.md, "Measured"), and then refines that circuit to the
 * first digit after "is " and to the digits that follow.
 */
export interface PasskeyCurriculum {
  readonly digits: number;
  readonly steps: number;
}

/**
 * The trainer's batches (`Trainer`'s `batches`): every step draws `batch` fresh rows from one seeded
 * generator over `corpus` (`passkeyTrainingBatch`: lengths from `minLength`, default L, to L; labels per
 * `lossOn`, default `answer`; with `curriculum`, its shorter keys for its first steps). Resumable: the
 * state is the generator's words and the batches drawn.
 */
export class PasskeyBatches implements BatchSource {
  readonly batch: number;
  readonly seqLen: number;
  readonly lossOn: PasskeyLossOn;
  readonly minLength: number;
  readonly curriculum: PasskeyCurriculum | null;
  private rng: Rng;
  private drawn = 0;

  /**
   * @throws ConfigError for a bad spec, batch, seed, minLength, lossOn, curriculum (digits 1 … the
   *   task's − 1, steps ≥ 0), or a corpus shorter than the filler.
   */
  constructor(
    readonly corpus: Uint8Array,
    readonly spec: PasskeySpec,
    options: { batch: number; seed: number; lossOn?: PasskeyLossOn; minLength?: number; curriculum?: PasskeyCurriculum },
  ) {
    checkPasskeySpec(spec);
    bytesArg('PasskeyBatches', 'corpus', corpus);
    if (corpus.length < passkeyFillerLength(spec)) {
      throw new ConfigError('corpus', `has ${corpus.length} bytes, fewer than the ${passkeyFillerLength(spec)} filler bytes per sequence`);
    }
    optionsArg('PasskeyBatches', options, '{ batch: 8, seed: 1 }', false);
    if (!Number.isSafeInteger(options.batch) || options.batch < 1)
      throw new ConfigError('batch', `must be a positive integer, got ${options.batch}`);
    if (!Number.isSafeInteger(options.seed)) throw new ConfigError('seed', `must be an integer, got ${options.seed}`);
    this.batch = options.batch;
    this.seqLen = spec.seqLen;
    if (options.lossOn !== undefined && !PASSKEY_LOSS_ON.includes(options.lossOn)) {
      throw new ConfigError('loss_on', `must be one of ${PASSKEY_LOSS_ON.join(', ')}, got ${String(options.lossOn)}`);
    }
    this.lossOn = options.lossOn ?? 'answer';
    this.minLength = options.minLength ?? spec.seqLen;
    checkMinLength(this.minLength, spec);
    const c = options.curriculum;
    if (c !== undefined) {
      optionsArg('PasskeyBatches', c, '{ digits: 1, steps: 1000 }', false);
      if (!Number.isSafeInteger(c.digits) || c.digits < 1 || c.digits >= spec.digits) {
        throw new ConfigError(
          'curriculum.digits',
          `must be an integer in 1 … ${spec.digits - 1} (fewer than the key's digits), got ${c.digits}`,
        );
      }
      if (!Number.isSafeInteger(c.steps) || c.steps < 0)
        throw new ConfigError('curriculum.steps', `must be an integer ≥ 0, got ${c.steps}`);
    }
    this.curriculum = c !== undefined && c.steps > 0 ? { digits: c.digits, steps: c.steps } : null;
    this.rng = new Rng(options.seed);
  }

  /** The task of the batch after `drawn` batches: the curriculum's shorter key during its steps, else `spec`. */
  specAt(drawn: number): PasskeySpec {
    return this.curriculum && drawn < this.curriculum.steps ? { seqLen: this.seqLen, digits: this.curriculum.digits } : this.spec;
  }

  next(): TokenBatch {
    const spec = this.specAt(this.drawn);
    this.drawn++;
    return passkeyTrainingBatch(this.rng, this.corpus, spec, this.batch, { minLength: this.minLength, lossOn: this.lossOn }).batch;
  }

  state(): SamplerState {
    return { rng: this.rng.state(), batchesDrawn: this.drawn };
  }

  restore(state: SamplerState): void {
    optionsArg('PasskeyBatches.restore', state, 'batches.state()', false);
    if (!Number.isSafeInteger(state.batchesDrawn) || state.batchesDrawn < 0) {
      throw new ConfigError('sampler', `batchesDrawn must be a non-negative integer, got ${state.batchesDrawn}`);
    }
    this.rng = Rng.fromState(state.rng);
    this.drawn = state.batchesDrawn;
  }
}
