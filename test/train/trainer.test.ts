/** The training loop: learning, exact resume, NaN handling, stopping, option checks. */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ConfigError, NumericalError } from '../../src/errors.js';
import { BigramLanguageModel } from '../../src/train/bigram.js';
import { decodeTrainerSnapshot, encodeTrainerSnapshot } from '../../src/train/checkpoint.js';
import { splitTokens } from '../../src/train/data.js';
import { Trainer, train, type StepInfo, type TrainerSnapshot, type TrainOptions } from '../../src/train/trainer.js';
import { corpusTokens, TargetDropoutBigram } from './helpers.js';

const be = new ReferenceBackend();
const data = splitTokens(corpusTokens(40_000), { validationFraction: 0.1, seqLen: 64 });
const base: TrainOptions = {
  batch: 4,
  seqLen: 64,
  steps: 30,
  lr: 0.05,
  warmupSteps: 5,
  seed: 17,
  evalEvery: 10,
  evalWindows: 8,
  checkpointEvery: 10,
};

/** Round trip through the on-disk encoding, as the CLI does. */
const throughBytes = (s: TrainerSnapshot): TrainerSnapshot => decodeTrainerSnapshot(encodeTrainerSnapshot(s));

describe('Trainer', () => {
  it('learns: validation bits per byte drops well below the 8 bits of a uniform byte model', async () => {
    const model = new BigramLanguageModel(be, { vocabSize: 258, seed: 1 });
    const vals: number[] = [];
    const r = await train(
      model,
      data,
      { ...base, steps: 150, lr: 0.1, evalEvery: 50 },
      { onValidation: (v) => void vals.push(v.bitsPerByte) },
    );
    expect(r.stoppedBy).toBe('steps');
    expect(r.step).toBe(150);
    expect(vals[0]).toBeGreaterThan(vals[vals.length - 1]!);
    expect(vals[vals.length - 1]!).toBeLessThan(4.5);
    expect(r.lastStep!.bitsPerByte).toBeCloseTo(r.lastStep!.loss / Math.LN2, 12);
  });

  for (const [name, make] of [
    ['a deterministic model', (seed: number) => new BigramLanguageModel(be, { vocabSize: 258, seed })],
    ['a model with its own RNG (RandomStateful)', (seed: number) => new TargetDropoutBigram(be, seed)],
  ] as const) {
    it(`resuming from a snapshot gives exactly the losses of an uninterrupted run (${name})`, async () => {
      // uninterrupted
      const a = make(5);
      const lossesA: StepInfo[] = [];
      const valsA: number[] = [];
      let at20: { snap: TrainerSnapshot; params: Float32Array } | null = null;
      await train(a, data, base, {
        onStep: (s) => void lossesA.push(s),
        onValidation: (v) => void valsA.push(v.bitsPerByte),
        onCheckpoint: (snap) => {
          if (snap.state.step === 20) at20 = { snap: throughBytes(snap), params: Float32Array.from(a.params) };
        },
      });
      expect(at20).not.toBeNull();
      // resumed: a fresh model with another init, loaded with the step-20 parameters
      const b = make(99);
      b.params.set(at20!.params);
      const lossesB: StepInfo[] = [];
      const valsB: number[] = [];
      const r = await train(
        b,
        data,
        base,
        { onStep: (s) => void lossesB.push(s), onValidation: (v) => void valsB.push(v.bitsPerByte) },
        at20!.snap,
      );
      expect(lossesB.map((s) => s.step)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
      expect(lossesB.map((s) => s.loss)).toEqual(lossesA.slice(20).map((s) => s.loss));
      expect(lossesB.map((s) => s.lr)).toEqual(lossesA.slice(20).map((s) => s.lr));
      expect(valsB).toEqual(valsA.slice(2));
      expect(Array.from(b.params)).toEqual(Array.from(a.params));
      expect(r.snapshot.state.tokensSeen).toBe(30 * 4 * 64);
    });
  }

  it('a stop request ends the run after the current step with a final checkpoint (after a validation that consumed model randomness), and resuming from it continues exactly', async () => {
    const ref = new TargetDropoutBigram(be, 5);
    const refLosses: number[] = [];
    await train(ref, data, base, { onStep: (s) => void refLosses.push(s.loss) });

    const a = new TargetDropoutBigram(be, 5);
    let stop = false;
    let final: { snap: TrainerSnapshot; params: Float32Array } | null = null;
    const r = await train(a, data, base, {
      onStep: (s) => {
        if (s.step === 13) stop = true; // e.g. SIGINT arrived during step 13
      },
      shouldStop: () => stop,
      onCheckpoint: (snap, reason) => {
        if (reason === 'final') final = { snap: throughBytes(snap), params: Float32Array.from(a.params) };
      },
    });
    expect(r.stoppedBy).toBe('stop-request');
    expect(r.step).toBe(13);
    expect(final!.snap.state.step).toBe(13);
    expect(final!.snap.state.lastValidation?.step).toBe(13); // an extra validation the reference run did not do
    const b = new TargetDropoutBigram(be, 0);
    b.params.set(final!.params);
    const rest: number[] = [];
    await train(b, data, base, { onStep: (s) => void rest.push(s.loss) }, final!.snap);
    expect(rest).toEqual(refLosses.slice(13));
  });

  it('a NaN loss stops with NumericalError, leaves the parameters untouched and writes no final checkpoint', async () => {
    const model = new BigramLanguageModel(be, { vocabSize: 258, seed: 2 });
    const reasons: string[] = [];
    let before: Float32Array | null = null;
    const t = new Trainer(model, data, { ...base, checkpointEvery: 4 });
    const run = t.run({
      onStep: (s) => {
        if (s.step === 6) {
          // poison the bias of every next token: the next loss is NaN
          model.params.fill(NaN, 258 * 258);
          before = Float32Array.from(model.params);
        }
      },
      onCheckpoint: (_s, reason) => void reasons.push(reason),
    });
    await expect(run).rejects.toThrow(NumericalError);
    await expect(run).rejects.toThrow(
      /step 7: the loss is NaN over 252 target tokens; the parameters were not updated\. The last checkpoint \(step 4\) is intact/,
    );
    expect(reasons).toEqual(['periodic']);
    expect(t.step).toBe(6);
    expect(Array.from(model.params)).toEqual(Array.from(before!));
  });

  it('an infinite gradient with a finite loss is a NumericalError too', async () => {
    const model = new BigramLanguageModel(be, { vocabSize: 258, seed: 2 });
    const t = new Trainer(model, data, { ...base, checkpointEvery: 0 });
    const orig = model.lossAndGrad.bind(model);
    model.lossAndGrad = (b) => {
      const r = orig(b);
      model.grads[0] = Infinity;
      return r;
    };
    await expect(t.run()).rejects.toThrow(/step 1: gradient norm is Infinity.*No checkpoint was written yet/);
  });

  it('stops on the time budget (injected clock) and validates at the end', async () => {
    let now = 0;
    const model = new BigramLanguageModel(be, { vocabSize: 258, seed: 2 });
    const opts: TrainOptions = { ...base, steps: undefined, minutes: 0.5, clock: () => (now += 1000) };
    const r = await train(model, data, opts);
    expect(r.stoppedBy).toBe('time');
    expect(r.step).toBeGreaterThan(3);
    expect(r.step).toBeLessThan(30);
    expect(r.lastValidation?.step).toBe(r.step);
    expect(r.snapshot.state.options.schedule).toBeUndefined(); // defaulted: inverse-sqrt without steps
  });

  it('rejects options that cannot work, naming the field', () => {
    const model = new BigramLanguageModel(be, { vocabSize: 258, seed: 2 });
    expect(() => new Trainer(model, data, { ...base, steps: undefined })).toThrow(ConfigError);
    expect(() => new Trainer(model, data, { ...base, steps: undefined })).toThrow(/steps: give a number of steps or a time budget/);
    expect(() => new Trainer(model, data, { ...base, batch: 0 })).toThrow(/batch: must be a positive integer, got 0/);
    expect(() => new Trainer(model, data, { ...base, seqLen: 1 })).toThrow(/seq_len/);
    expect(() => new Trainer(model, data, { ...base, warmupSteps: 40 })).toThrow(/warmup/);
    expect(() => new Trainer(model, data, { ...base, seqLen: 100_000 })).toThrow(/seq_len: 100000 is longer than the 36000-token stream/);
  });
});
