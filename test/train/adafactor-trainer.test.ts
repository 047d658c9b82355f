/**
 * The trainer with Adafactor: the tiny Reformer learns with it (factored over its HF tensors), resuming
 * from checkpoint bytes reproduces an uninterrupted run exactly, a run keeps its optimizer (resuming with
 * the other one is refused, naming both; an old stored config without a name is AdamW), and a model that
 * does not describe its tensors (the bigram baseline) gets one unfactored tensor.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ConfigError } from '../../src/errors.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { reformerEngine } from '../../src/node/reformer-engine.js';
import { BigramLanguageModel } from '../../src/train/bigram.js';
import { decodeTrainerSnapshot, encodeTrainerSnapshot } from '../../src/train/checkpoint.js';
import { splitTokens } from '../../src/train/data.js';
import { Adafactor } from '../../src/train/adafactor.js';
import { AdamW, type AdamWConfig } from '../../src/train/optimizer.js';
import { createOptimizer, optionsFromState, Trainer, type TrainerSnapshot, type TrainOptions } from '../../src/train/trainer.js';
import { corpusTokens } from './helpers.js';

const be = new ReferenceBackend();
const data = splitTokens(corpusTokens(30_000), { validationFraction: 0.1, seqLen: 128 });
const options: TrainOptions = {
  batch: 1,
  seqLen: 128,
  steps: 10,
  lr: 3e-2,
  warmupSteps: 2,
  seed: 9,
  evalEvery: 4,
  evalWindows: 2,
  checkpointEvery: 0,
  optimizer: { name: 'adafactor' },
};

describe('Trainer with Adafactor on ReformerModelWithLMHead', () => {
  it('lowers the loss; resuming from checkpoint bytes reproduces an uninterrupted run exactly', async () => {
    const a = reformerEngine.create(be, { preset: 'tiny', seqLen: 128, seed: 3 });
    const lossesA: number[] = [];
    const ta = new Trainer(a.model, data, options);
    expect(ta.optimizer).toBeInstanceOf(Adafactor);
    const r = await ta.run({ onStep: (s) => void lossesA.push(s.loss) });
    expect(lossesA[9]).toBeLessThan(lossesA[0]! - 0.5);
    // factored over the model's HF tensors: a [V, 2D] matrix has row and column statistics, a bias a full one
    const state = parseSafetensors(r.snapshot.optimizer);
    expect(state.entry('lm_head.decoder.weight.row').shape).toEqual([258]);
    expect(state.entry('lm_head.decoder.weight.col').shape).toEqual([128]);
    expect(state.entry('lm_head.bias.v').shape).toEqual([258]);
    expect(r.snapshot.state.options.optimizer).toMatchObject({ name: 'adafactor', decayRate: -0.8, clipThreshold: 1, beta1: null });

    const b = reformerEngine.create(be, { preset: 'tiny', seqLen: 128, seed: 3 });
    const first: number[] = [];
    let saved: { files: Record<string, Uint8Array>; weights: Uint8Array; config: Record<string, unknown> } | null = null;
    await new Trainer(b.model, data, options).run({
      onStep: (s) => void first.push(s.loss),
      shouldStop: () => first.length === 5,
      onCheckpoint: (snap) => {
        saved = { files: encodeTrainerSnapshot(snap), weights: b.weights(), config: JSON.parse(b.configJson()) };
      },
    });
    expect(first).toEqual(lossesA.slice(0, 5));

    // the stored options alone rebuild the trainer (as `reformer train --resume` does)
    const snap = decodeTrainerSnapshot(saved!.files);
    const c = reformerEngine.load(be, saved!.config, saved!.weights);
    const t = new Trainer(c.model, data, optionsFromState(snap.state));
    expect(t.optimizer).toBeInstanceOf(Adafactor);
    t.restore(snap);
    const rest: number[] = [];
    await t.run({ onStep: (s) => void rest.push(s.loss) });
    expect(rest).toEqual(lossesA.slice(5));
    expect(Array.from(c.model.params)).toEqual(Array.from(a.model.params));

    // the other optimizer is refused, naming both; nothing of the trainer changes
    const d = reformerEngine.load(be, saved!.config, saved!.weights);
    const adamw = new Trainer(d.model, data, { ...options, optimizer: {} });
    expect(() => adamw.restore(snap)).toThrow(ConfigError);
    expect(() => adamw.restore(snap)).toThrow(
      /^optimizer: the checkpoint was trained with Adafactor, this trainer uses AdamW; .*resume with Adafactor, or start a new run$/,
    );
    expect(adamw.step).toBe(0);
    expect(adamw.optimizer.step).toBe(0);
  });
});

describe('Trainer: which optimizer', () => {
  const bigramData = splitTokens(corpusTokens(20_000), { validationFraction: 0.1, seqLen: 32 });
  const small: TrainOptions = { batch: 4, seqLen: 32, steps: 6, lr: 0.1, seed: 2 };

  it('AdamW by default and for a stored config without a name (checkpoints from before Adafactor); the other way round is refused', async () => {
    const model = new BigramLanguageModel(be, { vocabSize: 258, seed: 1 });
    const t = new Trainer(model, bigramData, small);
    expect(t.optimizer).toBeInstanceOf(AdamW);
    const r = await t.run();
    expect(r.snapshot.state.options.optimizer).toMatchObject({ name: 'adamw', beta1: 0.9 });
    // an old snapshot: optimizer config without "name"
    const { name: _n, ...old } = r.snapshot.state.options.optimizer as AdamWConfig & { name: 'adamw' };
    const oldSnap: TrainerSnapshot = {
      ...r.snapshot,
      state: { ...r.snapshot.state, options: { ...r.snapshot.state.options, optimizer: old } },
    };
    const back = decodeTrainerSnapshot(encodeTrainerSnapshot(oldSnap));
    const resumed = new Trainer(new BigramLanguageModel(be, { vocabSize: 258, seed: 1 }), bigramData, {
      ...optionsFromState(back.state),
      steps: 8,
    });
    expect(resumed.optimizer).toBeInstanceOf(AdamW);
    resumed.restore(back);
    expect(resumed.step).toBe(6);
    const af = new Trainer(new BigramLanguageModel(be, { vocabSize: 258, seed: 1 }), bigramData, {
      ...small,
      optimizer: { name: 'adafactor' },
    });
    expect(() => af.restore(back)).toThrow(/^optimizer: the checkpoint was trained with AdamW, this trainer uses Adafactor; /);
  });

  it('a model without paramTensors (the bigram baseline) is one unfactored tensor, and learns with Adafactor', async () => {
    const model = new BigramLanguageModel(be, { vocabSize: 258, seed: 1 });
    const t = new Trainer(model, bigramData, {
      ...small,
      steps: 60,
      lr: 1,
      evalEvery: 20,
      evalWindows: 8,
      optimizer: { name: 'adafactor' },
    });
    const untrained = t.validate()!.bitsPerByte; // ≈ 8 bits (log2 258)
    const r = await t.run();
    expect(parseSafetensors(r.snapshot.optimizer).names()).toEqual(['params.v']);
    expect(r.lastValidation!.bitsPerByte).toBeLessThan(untrained - 3);
  });

  it('optimizer options are checked: unknown name, an option of the other optimizer, a value out of range (ConfigError naming the field)', () => {
    const model = new BigramLanguageModel(be, { vocabSize: 8, seed: 1 });
    expect(() => createOptimizer(model, { name: 'sgd' } as never)).toThrow(
      /^optimizer: name must be one of "adamw", "adafactor", got "sgd"$/,
    );
    expect(() => createOptimizer(model, { name: 'adafactor', beta2: 0.9 } as never)).toThrow(
      /^optimizer: "beta2" is not an option of Adafactor \(its options: eps, clipThreshold, /,
    );
    expect(() => createOptimizer(model, { clipThreshold: 2 } as never)).toThrow(/^optimizer: "clipThreshold" is not an option of AdamW/);
    expect(() => new Trainer(model, bigramData, { ...small, optimizer: { name: 'adafactor', decayRate: 1 } })).toThrow(
      /^decay_rate: must be ≤ 0/,
    );
    expect(() => new Trainer(model, bigramData, { ...small, optimizer: { name: 'adafactor', decayRate: 1 } })).toThrow(ConfigError);
  });

  it("optimizer: 'adafactor' / 'adamw' is shorthand for { name } (defaults); other non-object values are a ConfigError naming both forms", async () => {
    const model = new BigramLanguageModel(be, { vocabSize: 258, seed: 1 });
    const t = new Trainer(model, bigramData, { ...small, steps: 2, optimizer: 'adafactor' });
    expect(t.optimizer).toBeInstanceOf(Adafactor);
    expect(t.optimizer.config).toEqual(new Trainer(model, bigramData, { ...small, optimizer: { name: 'adafactor' } }).optimizer.config);
    const r = await t.run();
    expect(r.snapshot.state.options.optimizer).toMatchObject({ name: 'adafactor', decayRate: -0.8 });
    new Trainer(model, bigramData, { ...small, steps: 2, optimizer: { name: 'adafactor' } }).restore(r.snapshot); // the same run
    expect(() => new Trainer(model, bigramData, { ...small, steps: 2, optimizer: 'adamw' }).restore(r.snapshot)).toThrow(
      /trained with Adafactor, this trainer uses AdamW/,
    );
    expect(new Trainer(model, bigramData, { ...small, optimizer: 'adamw' }).optimizer).toBeInstanceOf(AdamW);
    expect(createOptimizer(model, 'adafactor')).toBeInstanceOf(Adafactor);
    expect(() => new Trainer(model, bigramData, { ...small, optimizer: 'adam' as never })).toThrow(
      /^optimizer: name must be one of "adamw", "adafactor", got "adam"$/,
    );
    for (const [bad, got] of [
      [5, 'number 5'],
      [true, 'boolean true'],
      [null, 'null'],
      [['adafactor'], 'an array'],
    ] as const) {
      let err: unknown;
      try {
        new Trainer(model, bigramData, { ...small, optimizer: bad as never });
      } catch (e) {
        err = e;
      }
      expect(err, got).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toBe(
        `optimizer: must be an optimizer name ("adamw" or "adafactor") or an object { name, ...hyper-parameters } such as { name: 'adafactor', beta1: 0.9 }, got ${got}`,
      );
    }
  });
});
