/**
 * The training machinery on the real model: ReformerModelWithLMHead (tiny preset: local + LSH layers,
 * rotations drawn from the model's RNG every forward) trains, and resuming from checkpoint bytes gives
 * exactly the losses and parameters of an uninterrupted run.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { reformerEngine } from '../../src/node/reformer-engine.js';
import { decodeTrainerSnapshot, encodeTrainerSnapshot } from '../../src/train/checkpoint.js';
import { splitTokens } from '../../src/train/data.js';
import { Trainer, type TrainOptions } from '../../src/train/trainer.js';
import { corpusTokens } from './helpers.js';

const be = new ReferenceBackend();
const data = splitTokens(corpusTokens(30_000), { validationFraction: 0.1, seqLen: 128 });
const options: TrainOptions = {
  batch: 1,
  seqLen: 128,
  steps: 10,
  lr: 3e-3,
  warmupSteps: 2,
  seed: 9,
  evalEvery: 4,
  evalWindows: 2,
  checkpointEvery: 0,
};

describe('Trainer on ReformerModelWithLMHead', () => {
  it('resuming from checkpoint bytes (weights, optimizer, sampler, model RNG) reproduces an uninterrupted run exactly', async () => {
    const a = reformerEngine.create(be, { preset: 'tiny', seqLen: 128, seed: 3 });
    const lossesA: number[] = [];
    await new Trainer(a.model, data, options).run({ onStep: (s) => void lossesA.push(s.loss) });
    expect(lossesA[9]).toBeLessThan(lossesA[0]!);

    const b = reformerEngine.create(be, { preset: 'tiny', seqLen: 128, seed: 3 });
    const first: number[] = [];
    let saved: { files: Record<string, Uint8Array>; weights: Uint8Array; config: Record<string, unknown> } | null = null;
    await new Trainer(b.model, data, options).run({
      onStep: (s) => void first.push(s.loss),
      shouldStop: () => first.length === 5, // stop after step 5 (validation at 4 consumed rotations too)
      onCheckpoint: (snap) => {
        saved = { files: encodeTrainerSnapshot(snap), weights: b.weights(), config: JSON.parse(b.configJson()) };
      },
    });
    expect(first).toEqual(lossesA.slice(0, 5));

    const c = reformerEngine.load(be, saved!.config, saved!.weights);
    const t = new Trainer(c.model, data, options);
    t.restore(decodeTrainerSnapshot(saved!.files));
    const rest: number[] = [];
    await t.run({ onStep: (s) => void rest.push(s.loss) });
    expect(rest).toEqual(lossesA.slice(5));
    expect(Array.from(c.model.params)).toEqual(Array.from(a.model.params));
  });
});
