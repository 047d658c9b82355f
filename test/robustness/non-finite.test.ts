/**
 * Robustness, non-finite values inside the model: a NaN or infinite weight (written into the model's
 * memory, as a diverged run or a bad conversion leaves it), hidden states that overflow float32 or
 * hold an injected NaN, and NaN rotations are a NumericalError at every public entry point, naming
 * what was not finite (the weight with its first bad index, else the layer and branch), on the
 * reference backend and on both WASM builds. Before, the WASM kernels dropped NaN and returned a
 * finite loss (3.897 for a NaN weight).
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { NumericalError } from '../../src/errors.js';
import type { TokenBatch } from '../../src/model/language-model.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { ReformerModel } from '../../src/model/reformer-model.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { evaluate } from '../../src/train/evaluate.js';
import { generateTokens } from '../../src/train/generate.js';
import { expectTyped, randomIds, SMALL } from './helpers.js';

const BACKENDS: Array<[string, () => Backend]> = [
  ['reference', () => new ReferenceBackend()],
  ['wasm simd', () => loadWasmBackendSync({ variant: 'simd', threads: 1 })],
  ['wasm relaxed-simd', () => loadWasmBackendSync({ variant: 'relaxed-simd', threads: 1 })],
];

const good: TokenBatch = { inputIds: randomIds(64, 20, 7), batch: 2, seqLen: 32 };
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `message` names parameter `name` and its element `at` = value, as the only bad element. */
function namesWeight(name: string, size: number, value: number, at = 3): RegExp {
  return new RegExp(`parameter "${esc(name)}" holds 1 NaN or infinite value\\(s\\) of ${size} \\(first at index ${at}: ${value}\\)`);
}

for (const [backendName, make] of BACKENDS) {
  describe(`${backendName}: non-finite values are a NumericalError`, () => {
    const be = make();

    /** A model whose parameter `name` has element `at` set to `value`. */
    function poisoned(name: string, value: number, at = 3): { lm: ReformerModelWithLMHead; size: number } {
      const lm = new ReformerModelWithLMHead(be, SMALL, { seed: 3 });
      const w = lm.parameters.param(name);
      w[at] = value;
      return { lm, size: w.length };
    }

    const encoderWeights: Array<[string, number, RegExp]> = [
      // before, WASM returned a finite loss here (4.003; the query's NaN scores were dropped by the softmax)
      ['reformer.encoder.layers.0.attention.self_attention.query.weight', Number.NaN, /^layer 0 \(local\): the attention branch output/],
      ['reformer.encoder.layers.0.attention.self_attention.value.weight', Number.NaN, /^layer 0 \(local\): the attention branch output/],
      ['reformer.encoder.layers.1.attention.self_attention.query_key.weight', Infinity, /^layer 1 \(lsh\): the attention branch output/],
      ['reformer.encoder.layers.1.feed_forward.dense.dense.weight', -Infinity, /^layer 1 \(lsh\): the feed-forward branch output/],
      ['reformer.embeddings.word_embeddings.weight', Number.NaN, /^layer 0 \(local\): the attention branch output/],
      ['reformer.encoder.layer_norm.weight', Number.NaN, /^the encoder output/],
    ];
    for (const [name, value, where] of encoderWeights) {
      it(`${value} in ${name}: every LM and encoder entry point names it`, () => {
        // the word embedding: channel 3 of the first input token's row
        const at = name.includes('word_embeddings') ? good.inputIds[0]! * SMALL.hidden_size + 3 : 3;
        const { lm, size } = poisoned(name, value, at);
        const names = namesWeight(name, size, value, at);
        const entries: Array<[string, () => unknown]> = [
          ['loss', () => be.scope(() => lm.loss(good))],
          ['logits', () => be.scope(() => lm.logits(good))],
          ['evaluate', () => be.scope(() => lm.evaluate(good))],
          ['lossAndGrad', () => be.scope(() => lm.lossAndGrad(good))],
          ['forwardBackward', () => be.scope(() => lm.forwardBackward(good, { returnLogits: true }))],
          ['reformer.forward (eval)', () => be.scope(() => lm.reformer.forward({ ...good, training: false }))],
          ['reformer.forward (training)', () => be.scope(() => lm.reformer.forward({ ...good, training: true }))],
          ['reformer.forwardRows', () => lm.reformer.forwardRows({ ...good, training: false }, () => undefined)],
          ['reformer.trainRows', () => be.scope(() => lm.reformer.trainRows({ ...good, training: true }, () => undefined))],
        ];
        for (const [entry, call] of entries) {
          const e = expectTyped(call, NumericalError, names, /load an earlier checkpoint/);
          expect(e.message, entry).toMatch(where);
        }
      });
    }

    it('NaN in the LM head: loss, logits, evaluate and the training step name lm_head.decoder.weight', () => {
      const name = 'lm_head.decoder.weight';
      const { lm, size } = poisoned(name, Number.NaN);
      const names = namesWeight(name, size, Number.NaN);
      expectTyped(() => be.scope(() => lm.loss(good)), NumericalError, /^the loss \(NaN\) is not finite/, names);
      expectTyped(() => be.scope(() => lm.logits(good)), NumericalError, /^the logits \(\d+ NaN or infinite value\(s\) of 1280\)/, names);
      expectTyped(() => be.scope(() => lm.evaluate(good)), NumericalError, /^the logits/, names);
      expectTyped(() => be.scope(() => lm.lossAndGrad(good)), NumericalError, /^the training loss \(NaN\)/, names);
      // the encoder alone does not use the head: its forward is finite
      const out = be.scope(() => Float32Array.from(lm.reformer.forward({ ...good, training: false }).output));
      expect(out.every(Number.isFinite)).toBe(true);
    });

    it('hidden states that overflow float32 (every weight finite) name the layer and branch and say so', () => {
      const lm = new ReformerModelWithLMHead(be, SMALL, { seed: 3 });
      lm.parameters.param('reformer.encoder.layers.0.feed_forward.output.dense.weight').fill(3e38);
      for (const call of [(): unknown => lm.loss(good), (): unknown => lm.logits(good), (): unknown => lm.lossAndGrad(good)]) {
        expectTyped(
          () => be.scope(call),
          NumericalError,
          /^layer 0 \(local\): the feed-forward branch output \(\d+ NaN or infinite value\(s\) of 1024\) is not finite although every parameter is finite: the activations overflowed float32/,
        );
      }
    });

    it('a NaN written into a hidden state (onAttentionInput) is reported at that layer, not returned', () => {
      const enc = new ReformerModel(be, SMALL.with({ is_decoder: false }), { options: { seed: 5 } });
      const input = { ...good, training: false };
      const clean = be.scope(() => Float32Array.from(enc.forward(input).output));
      expect(clean.every(Number.isFinite)).toBe(true);
      const inject = (layer: number, x: Float32Array | Float64Array): void => {
        if (layer === 1) x[5] = Number.NaN;
      };
      expectTyped(
        () => be.scope(() => enc.forward({ ...input, onAttentionInput: inject })),
        NumericalError,
        /^layer 1 \(lsh\): the attention branch output \(\d+ NaN or infinite value\(s\) of 1024\) is not finite although every parameter is finite/,
      );
      expectTyped(() => enc.forwardRows({ ...input, onAttentionInput: inject }, () => undefined), NumericalError, /^layer 1 \(lsh\)/);
    });

    it('NaN or infinite injected rotations name rotations[layer] and the element', () => {
      const lm = new ReformerModelWithLMHead(be, SMALL, { seed: 3 });
      const rot = new Float32Array(2 * 8 * 2 * 2).fill(0.5); // [heads, head_size, num_hashes, num_buckets/2]
      expect(Number.isFinite(be.scope(() => lm.loss(good, { rotations: [null, rot] }).loss))).toBe(true);
      for (const v of [Number.NaN, Infinity, -Infinity]) {
        const bad = Float32Array.from(rot);
        bad[9] = v;
        for (const call of [
          (): unknown => lm.loss(good, { rotations: [null, bad] }),
          (): unknown => lm.logits(good, { rotations: [null, bad] }),
        ]) {
          expectTyped(
            () => be.scope(call),
            NumericalError,
            new RegExp(`rotations\\[1\\]\\[9\\] = ${v} \\(1 of 64 values are NaN or infinite\\)`),
          );
        }
      }
    });

    it("the library's evaluate() and generateTokens() name the weight, the windows and the token", () => {
      const name = 'reformer.encoder.layers.0.attention.self_attention.value.weight';
      const { lm, size } = poisoned(name, Number.NaN);
      const tokens = randomIds(100, 20, 9);
      expectTyped(
        () => evaluate(lm, tokens, { seqLen: 32 }),
        NumericalError,
        /^evaluation, windows 1…1 of 4 \(tokens 0…31\): layer 0 \(local\): the attention branch output/,
        namesWeight(name, size, Number.NaN),
      );
      const gen = generateTokens(lm, [2, 3, 4], { maxNewTokens: 3 });
      expectTyped(() => gen.next(), NumericalError, /^generation, new token 1: layer 0 \(local\)/, namesWeight(name, size, Number.NaN));
    });
  });
}
