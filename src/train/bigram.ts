/**
 * A bigram language model: the smallest honest `CausalLanguageModel`.
 *
 * logits[b, t, :] = W[inputIds[b, t], :] + bias     (W: [vocab, vocab], bias: [vocab])
 *
 * It predicts the next token from the current one only, with a real softmax cross-entropy and exact
 * gradients (checked against finite differences in test/train/bigram.test.ts). It serves as a baseline
 * (its validation bits per byte is what a model needs to beat to use more than one byte of context) and
 * as the test model of the training machinery while the Reformer is elsewhere. Not a Reformer.
 *
 * Loss convention (HF): logits[t] predicts labels[t + 1]; labels default to inputIds; label −100 is not
 * counted; the loss is the mean over counted targets (NaN with 0 tokens when none is counted, as torch).
 */
import type { Backend, Float } from '../backend/backend.js';
import { backendArg, optionsArg } from '../util/args.js';
import { ShapeError } from '../errors.js';
import { parseSafetensors, serializeSafetensors } from '../io/safetensors.js';
import type { CausalLanguageModel, LossResult, TokenBatch } from '../model/language-model.js';
import { Rng } from '../util/rng.js';

export interface BigramOptions {
  vocabSize: number;
  /** Seed of the N(0, initStd²) initialisation of W and bias. */
  seed: number;
  /** Default 0.02. */
  initStd?: number;
}

export class BigramLanguageModel implements CausalLanguageModel {
  readonly backend: Backend;
  readonly vocabSize: number;
  /** `[vocab·vocab + vocab]`: W row-major, then bias. */
  readonly params: Float;
  readonly grads: Float;

  constructor(backend: Backend, options: BigramOptions) {
    backendArg('BigramLanguageModel', backend);
    optionsArg('BigramLanguageModel', options, '{ vocabSize: 258, seed: 1 }', false);
    const v = options.vocabSize;
    if (!Number.isSafeInteger(v) || v < 2) throw new ShapeError(`bigram vocabSize must be an integer ≥ 2, got ${v}`);
    this.backend = backend;
    this.vocabSize = v;
    this.params = backend.floats(v * v + v);
    this.grads = backend.floats(v * v + v);
    new Rng(options.seed).fillNormal(this.params, 0, options.initStd ?? 0.02);
  }

  lossAndGrad(batch: TokenBatch): LossResult {
    return this.run(batch, true);
  }

  loss(batch: TokenBatch): LossResult {
    return this.run(batch, false);
  }

  logits(batch: TokenBatch): Float {
    this.check(batch);
    const v = this.vocabSize;
    const out = this.backend.floats(batch.batch * batch.seqLen * v);
    for (let r = 0; r < batch.batch * batch.seqLen; r++) this.row(batch.inputIds[r]!, out, r * v);
    return out;
  }

  /** Weights as safetensors: `bigram.weight: [vocab, vocab]`, `bigram.bias: [vocab]` (f32). */
  toSafetensors(): Uint8Array {
    const v = this.vocabSize;
    return serializeSafetensors(
      [
        { name: 'bigram.weight', shape: [v, v], data: Float32Array.from(this.params.subarray(0, v * v)) },
        { name: 'bigram.bias', shape: [v], data: Float32Array.from(this.params.subarray(v * v)) },
      ],
      { format: 'pt' },
    );
  }

  /** Loads `toSafetensors()` output. @throws FormatError / ShapeError if names or shapes differ. */
  loadSafetensors(bytes: Uint8Array): void {
    const v = this.vocabSize;
    const f = parseSafetensors(bytes);
    this.params.set(f.float32('bigram.weight', [v, v]), 0);
    this.params.set(f.float32('bigram.bias', [v]), v * v);
  }

  /** logits of one input token into out[o, o + vocab). */
  private row(id: number, out: Float, o: number): void {
    const v = this.vocabSize;
    const p = this.params;
    for (let j = 0; j < v; j++) out[o + j] = p[id * v + j]! + p[v * v + j]!;
  }

  private check(batch: TokenBatch): void {
    const { batch: b, seqLen: t, inputIds } = batch;
    if (!Number.isSafeInteger(b) || b <= 0 || !Number.isSafeInteger(t) || t <= 0 || inputIds.length !== b * t) {
      throw new ShapeError(`batch: inputIds has ${inputIds.length} ids, expected batch·seqLen = ${b}·${t}`);
    }
    if (batch.labels && batch.labels.length !== b * t)
      throw new ShapeError(`batch: labels has ${batch.labels.length} ids, expected ${b * t}`);
    for (let i = 0; i < inputIds.length; i++) {
      const id = inputIds[i]!;
      if (id < 0 || id >= this.vocabSize)
        throw new ShapeError(`batch: inputIds[${i}] = ${id} is outside the vocabulary [0, ${this.vocabSize})`);
    }
  }

  private run(batch: TokenBatch, withGrad: boolean): LossResult {
    this.check(batch);
    const v = this.vocabSize;
    const { batch: nb, seqLen: t, inputIds } = batch;
    const labels = batch.labels ?? inputIds;
    // count targets first: the gradient of the MEAN loss is (p − onehot)/count
    let count = 0;
    for (let b = 0; b < nb; b++) for (let i = 0; i + 1 < t; i++) if (labels[b * t + i + 1] !== -100) count++;
    if (count === 0) return { loss: NaN, tokens: 0 };
    const z = new Float64Array(v);
    let total = 0;
    for (let b = 0; b < nb; b++) {
      for (let i = 0; i + 1 < t; i++) {
        const y = labels[b * t + i + 1]!;
        if (y === -100) continue;
        if (y < 0 || y >= v) throw new ShapeError(`batch: label ${y} at [${b}, ${i + 1}] is outside the vocabulary [0, ${v})`);
        const x = inputIds[b * t + i]!;
        this.row(x, z, 0);
        let max = -Infinity;
        for (let j = 0; j < v; j++) max = Math.max(max, z[j]!);
        let sum = 0;
        for (let j = 0; j < v; j++) sum += Math.exp(z[j]! - max);
        const lse = max + Math.log(sum);
        total += lse - z[y]!;
        if (withGrad) {
          // d(mean loss)/d z_j = (softmax_j − [j = y]) / count; z_j = W[x, j] + bias[j]
          const g = this.grads;
          for (let j = 0; j < v; j++) {
            const d = (Math.exp(z[j]! - lse) - (j === y ? 1 : 0)) / count;
            g[x * v + j] = g[x * v + j]! + d;
            g[v * v + j] = g[v * v + j]! + d;
          }
        }
      }
    }
    return { loss: total / count, tokens: count };
  }
}
