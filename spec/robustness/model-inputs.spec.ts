/**
 * Fuzzing the model's public entry points with random and malformed `TokenBatch`es (small config, the
 * WASM backend with freed memory poisoned, and the reference backend): the outcome is success with
 * finite outputs, or a ShapeError / ConfigError — never a WASM trap (RuntimeError: out of bounds), a
 * TypeError, a RangeError, NaN output or another crash. Seeded by spec/setup.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import type { Backend } from '../../src/backend/backend.js';
import { ConfigError, ShapeError } from '../../src/errors.js';
import type { TokenBatch } from '../../src/model/language-model.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { SMALL } from '../../test/robustness/helpers.js';
import { runs } from '../helpers/runs.js';

const VOCAB = SMALL.vocab_size;

const arbLen = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(1, 2, 7, 8, 16, 21, 32) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 33, 48, 1.5, Number.NaN) },
);
const arbBatch = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(1, 2) },
  { weight: 1, arbitrary: fc.constantFrom(0, -2, 0.5, Number.POSITIVE_INFINITY) },
);

/**
 * A batch whose arrays usually match batch·seqLen and hold valid values; sometimes one value is out of
 * range (an id, mask value or label), an array has the wrong length, or the ids have the wrong type.
 */
const arbTokenBatch = fc
  .record({
    batch: arbBatch,
    seqLen: arbLen,
    lengthDelta: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) }),
    ids: fc.array(fc.integer({ min: 0, max: VOCAB - 1 }), { minLength: 64, maxLength: 64 }),
    idsKind: fc.oneof(
      { weight: 8, arbitrary: fc.constant('int32') },
      { weight: 1, arbitrary: fc.constantFrom('float32', 'array', 'undefined', 'string') },
    ),
    mask: fc.option(
      fc.array(fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(0) }), {
        minLength: 64,
        maxLength: 64,
      }),
    ),
    labels: fc.option(
      fc.array(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: VOCAB - 1 }) }, { weight: 1, arbitrary: fc.constant(-100) }), {
        minLength: 64,
        maxLength: 64,
      }),
    ),
    poison: fc.option(
      fc.record({
        where: fc.constantFrom('ids', 'mask', 'labels') as fc.Arbitrary<'ids' | 'mask' | 'labels'>,
        at: fc.nat({ max: 63 }),
        value: fc.constantFrom(-1, VOCAB, -100, 2, 2 ** 31 - 1, -(2 ** 31)),
      }),
      { freq: 3 },
    ),
  })
  .map((r): unknown => {
    const n =
      Number.isSafeInteger(r.batch * r.seqLen) && r.batch * r.seqLen > 0
        ? Math.min(64, Math.max(0, r.batch * r.seqLen + r.lengthDelta))
        : 4;
    const ids = r.ids.slice(0, n);
    const mask = r.mask?.slice(0, n) ?? null;
    const labels = r.labels?.slice(0, n) ?? null;
    if (r.poison) {
      const target = r.poison.where === 'ids' ? ids : r.poison.where === 'mask' ? mask : labels;
      if (target && target.length > 0) target[r.poison.at % target.length] = r.poison.value;
    }
    const inputIds =
      r.idsKind === 'int32'
        ? Int32Array.from(ids)
        : r.idsKind === 'float32'
          ? Float32Array.from(ids)
          : r.idsKind === 'array'
            ? ids
            : r.idsKind === 'string'
              ? ids.join(',')
              : undefined;
    return {
      batch: r.batch,
      seqLen: r.seqLen,
      inputIds,
      ...(mask ? { attentionMask: Int32Array.from(mask) } : {}),
      ...(labels ? { labels: Int32Array.from(labels) } : {}),
    };
  });

const arbCall = fc.constantFrom('loss', 'logits', 'lossAndGrad', 'evaluate') as fc.Arbitrary<
  'loss' | 'logits' | 'lossAndGrad' | 'evaluate'
>;

function fuzz(be: Backend, name: string, numRuns: number): void {
  it(`${name}: success with finite outputs, or ShapeError / ConfigError`, () => {
    const model = new ReformerModelWithLMHead(be, SMALL, { seed: 4 });
    let ok = 0;
    fc.assert(
      fc.property(arbTokenBatch, arbCall, (batch, call) => {
        be.scope(() => {
          let out: { loss?: number; logits?: ArrayLike<number> };
          try {
            const b = batch as TokenBatch;
            if (call === 'logits') out = { logits: model.logits(b) };
            else if (call === 'evaluate') out = model.evaluate(b);
            else out = model[call](b);
          } catch (e) {
            expect(
              e instanceof ShapeError || e instanceof ConfigError,
              `${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack}`,
            ).toBe(true);
            return;
          }
          ok++;
          if (out.loss !== undefined) expect(Number.isFinite(out.loss), `loss ${out.loss}`).toBe(true);
          if (out.logits)
            for (let i = 0; i < out.logits.length; i++) if (!Number.isFinite(out.logits[i]!)) expect.fail(`logit ${i} is ${out.logits[i]}`);
        });
        model.grads.fill(0);
      }),
      { numRuns },
    );
    expect(ok).toBeGreaterThan(numRuns / 10); // the property also exercised the success path
    expect(model.params.every(Number.isFinite)).toBe(true);
  });
}

describe('edge batches that are valid', () => {
  it('every position masked, a single token, and the largest id give finite outputs on both backends', () => {
    for (const be of [loadWasmBackendSync({ variant: 'simd', poisonFreed: true, threads: 1 }), new ReferenceBackend()] as Backend[]) {
      const model = new ReformerModelWithLMHead(be, SMALL, { seed: 4 });
      be.scope(() => {
        const ids = new Int32Array(32).fill(VOCAB - 1);
        for (const batch of [
          { inputIds: ids, batch: 1, seqLen: 32, attentionMask: new Int32Array(32) },
          { inputIds: Int32Array.of(VOCAB - 1), batch: 1, seqLen: 1 },
          { inputIds: ids, batch: 1, seqLen: 32, labels: new Int32Array(32).fill(-100) },
        ]) {
          expect(model.logits(batch).every(Number.isFinite)).toBe(true);
          expect(Number.isFinite(model.loss(batch).loss)).toBe(true);
        }
        expect(Number.isFinite(model.lossAndGrad({ inputIds: ids, batch: 1, seqLen: 32, attentionMask: new Int32Array(32) }).loss)).toBe(
          true,
        );
        expect(model.grads.every(Number.isFinite)).toBe(true);
      });
    }
  });
});

describe('random and malformed TokenBatch inputs into ReformerModelWithLMHead', () => {
  fuzz(loadWasmBackendSync({ variant: 'simd', poisonFreed: true, threads: 1 }), 'WASM backend (freed memory poisoned with NaN)', runs(300));
  fuzz(new ReferenceBackend(), 'reference backend', runs(150));
});
