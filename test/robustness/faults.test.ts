/**
 * Robustness, faults, on the real model (ReformerModelWithLMHead, tiny preset, checkpoints on disk as
 * the CLI writes them): a NaN or infinite loss stops training with a NumericalError naming the step and
 * the last checkpoint, the parameters are not updated, and the last good checkpoint loads and resumes.
 * (The CLI side — exit 1, one line, checkpoint bytes unchanged — is test/cli/train-eval-generate.test.ts;
 * signals: test/cli/signals.test.ts; SIGKILL during a save: test/cli/crash.test.ts.)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { NumericalError } from '../../src/errors.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/node/checkpoint.js';
import { parseConfigJson } from '../../src/node/engine.js';
import { reformerEngine } from '../../src/node/reformer-engine.js';
import { splitTokens } from '../../src/train/data.js';
import { Trainer, type TrainOptions } from '../../src/train/trainer.js';
import { randomIds } from './helpers.js';

const be = new ReferenceBackend();
const data = splitTokens(
  randomIds(20_000, 256, 5).map((x) => x + 2),
  { validationFraction: 0.1, seqLen: 64 },
);
const options: TrainOptions = {
  batch: 1,
  seqLen: 64,
  steps: 20,
  lr: 3e-3,
  warmupSteps: 2,
  seed: 9,
  evalEvery: 0,
  evalWindows: 1,
  checkpointEvery: 2,
};

describe('a NaN or infinite loss during training', () => {
  for (const poison of [Number.NaN, Infinity] as const) {
    it(`${poison} loss: NumericalError naming the step and the last checkpoint; that checkpoint loads, is finite and resumes`, async () => {
      const dir = join(mkdtempSync(join(tmpdir(), 'reformer-fault-')), 'checkpoint');
      const em = reformerEngine.create(be, { preset: 'tiny', seqLen: 64, seed: 3 });
      const trainer = new Trainer(em.model, data, options);
      let savedParams: Float32Array | null = null;
      let poisonedParams: Float32Array | null = null;
      const run = trainer.run({
        onCheckpoint: (snapshot) => {
          saveCheckpoint(dir, { config: em.configJson(), weights: em.weights(), snapshot });
          savedParams = Float32Array.from(em.model.params);
        },
        onStep: (s) => {
          if (s.step === 5) {
            // the LM head's bias: every logit of the next forward becomes NaN/Inf, so the loss does
            const lm = (em.model as unknown as { lm: { parameters: { param(n: string): Float32Array } } }).lm;
            lm.parameters.param('lm_head.bias').fill(poison);
            poisonedParams = Float32Array.from(em.model.params);
          }
        },
      });
      await expect(run).rejects.toThrow(NumericalError);
      await expect(run).rejects.toThrow(
        /^step 6: the training loss \((NaN|Infinity)\) is not finite because parameter "lm_head\.bias" holds 258 NaN or infinite value\(s\) of 258 \(first at index 0: (NaN|Infinity)\); .*; the parameters were not updated\. The last checkpoint \(step 4\) is intact: resume from it/,
      );
      expect(trainer.step).toBe(5);
      expect(Array.from(em.model.params)).toEqual(Array.from(poisonedParams!)); // not updated by the failed step

      const ck = loadCheckpoint(dir);
      expect(ck.snapshot!.state.step).toBe(4);
      const back = reformerEngine.load(be, parseConfigJson(ck.config, 'config.json'), ck.weights);
      expect(Array.from(back.model.params)).toEqual(Array.from(savedParams!));
      expect(back.model.params.every(Number.isFinite)).toBe(true);
      const resumed = new Trainer(back.model, data, { ...options, steps: 6 });
      resumed.restore(ck.snapshot!);
      const r = await resumed.run();
      expect(r.step).toBe(6);
      expect(back.model.params.every(Number.isFinite)).toBe(true);
    });
  }
});
