/** Shared helpers of the training tests: a corpus slice and a bigram model with its own randomness. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../../src/backend/backend.js';
import type { LossResult, TokenBatch } from '../../src/model/language-model.js';
import { BigramLanguageModel } from '../../src/train/bigram.js';
import { ByteTokenizer } from '../../src/train/tokenizer.js';
import type { RandomStateful } from '../../src/train/trainer.js';
import { Rng, type RngState } from '../../src/util/rng.js';

export const REPO = join(import.meta.dirname, '..', '..');

/** The first `bytes` bytes of the embedded corpus as byte-tokenizer ids. */
export function corpusTokens(bytes: number): Int32Array {
  const text = readFileSync(join(REPO, 'data', 'crime-and-punishment.txt')).subarray(0, bytes);
  return new ByteTokenizer().encode(new Uint8Array(text));
}

/**
 * A bigram model that, like dropout, randomly drops targets from the loss with its own RNG, in training
 * and (like fresh LSH rotations) in evaluation: its losses depend on the RNG state, so an exact resume
 * must restore it (RandomStateful), and validation must not disturb it.
 */
export class TargetDropoutBigram extends BigramLanguageModel implements RandomStateful {
  private rng: Rng;
  constructor(
    backend: Backend,
    seed: number,
    private readonly dropRate = 0.3,
  ) {
    super(backend, { vocabSize: 258, seed });
    this.rng = new Rng(seed + 1);
  }
  override lossAndGrad(batch: TokenBatch): LossResult {
    return super.lossAndGrad(this.drop(batch));
  }
  /** Like the Reformer's eval forward (fresh LSH rotations), evaluation draws from the RNG too. */
  override loss(batch: TokenBatch): LossResult {
    return super.loss(this.drop(batch));
  }
  private drop(batch: TokenBatch): TokenBatch {
    const labels = (batch.labels ?? batch.inputIds).slice();
    for (let i = 0; i < labels.length; i++) if (this.rng.uniform() < this.dropRate) labels[i] = -100;
    labels[1] = batch.inputIds[1]!; // keep at least one target
    return { ...batch, labels };
  }
  getRandomState(): RngState {
    return this.rng.state();
  }
  setRandomState(state: RngState): void {
    this.rng = Rng.fromState(state);
  }
}
