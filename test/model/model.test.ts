/**
 * ReformerModel / ReformerModelWithLMHead examples: HF parameter names and initialisation, eval
 * auto-padding (and the training error), the CausalLanguageModel contract (gradients accumulate,
 * −100 targets, shapes), typed errors, dropout, loading HF-named weights, and a short training run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { preset } from '../../src/config/presets.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError, FormatError, ShapeError, UsageError } from '../../src/errors.js';
import { lmCheckpointToBytes, lmFromCheckpoint } from '../../src/model/checkpoint.js';
import type { CausalLanguageModel } from '../../src/model/language-model.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { reformerParamSpecs } from '../../src/model/param-specs.js';
import { ReformerModel } from '../../src/model/reformer-model.js';
import { Rng } from '../../src/util/rng.js';
import { scaledError } from '../../spec/helpers/close.js';
import { HF_FIXTURES_DIR, loadFixture } from '../../spec/helpers/fixtures.js';

const be = new ReferenceBackend();

/** A small causal LM: layers local/lsh, chunks 8/16 (lcm 16), axial [4, 8] = 32 positions. */
const small = new ReformerConfig({
  vocab_size: 20,
  hidden_size: 16,
  num_attention_heads: 2,
  attention_head_size: 8,
  feed_forward_size: 24,
  attn_layers: ['local', 'lsh'],
  local_attn_chunk_length: 8,
  lsh_attn_chunk_length: 16,
  num_hashes: 2,
  num_buckets: 4,
  is_decoder: true,
  axial_pos_shape: [4, 8],
  axial_pos_embds_dim: [8, 8],
  max_position_embeddings: 32,
  hidden_dropout_prob: 0,
  local_attention_probs_dropout_prob: 0,
  hash_seed: 1234,
  initializer_range: 0.3,
});

function ids(batch: number, seqLen: number, vocab: number, seed = 1): Int32Array {
  const r = new Rng(seed);
  return new Int32Array(batch * seqLen).map(() => 1 + r.int(vocab - 1));
}

describe('parameters', () => {
  it('HF state_dict names and shapes', () => {
    const m = new ReformerModelWithLMHead(be, small);
    const names = m.parameters.entries.map((e) => e.name);
    expect(names).toContain('reformer.embeddings.word_embeddings.weight');
    expect(m.parameters.entry('reformer.embeddings.position_embeddings.weights.0').shape).toEqual([4, 1, 8]);
    expect(m.parameters.entry('reformer.embeddings.position_embeddings.weights.1').shape).toEqual([1, 8, 8]);
    expect(names).toContain('reformer.encoder.layers.0.attention.self_attention.query.weight');
    expect(names).toContain('reformer.encoder.layers.0.attention.self_attention.key.weight');
    expect(names).toContain('reformer.encoder.layers.1.attention.self_attention.query_key.weight');
    expect(names).not.toContain('reformer.encoder.layers.1.attention.self_attention.query.weight');
    expect(m.parameters.entry('reformer.encoder.layers.1.attention.output.dense.weight').shape).toEqual([16, 16]);
    expect(m.parameters.entry('reformer.encoder.layers.0.feed_forward.dense.dense.weight').shape).toEqual([24, 16]);
    expect(m.parameters.entry('reformer.encoder.layers.0.feed_forward.output.dense.bias').shape).toEqual([16]);
    expect(m.parameters.entry('reformer.encoder.layer_norm.weight').shape).toEqual([32]);
    expect(m.parameters.entry('lm_head.decoder.weight').shape).toEqual([20, 32]);
    expect(m.parameters.entry('lm_head.bias').shape).toEqual([20]);
    expect(m.params.length).toBe(m.parameters.entries.reduce((a, e) => a + e.size, 0));
    expect(m.grads.length).toBe(m.params.length);
    const plain = reformerParamSpecs(small.with({ axial_pos_embds: false }));
    expect(plain.find((s) => s.name === 'embeddings.position_embeddings.embedding.weight')?.shape).toEqual([32, 16]);
  });

  it('HF initialisation: LayerNorm 1/0, biases 0, linears N(0, initializer_range²), axial N(0, axial_norm_std²)', () => {
    const cfg = preset('tiny').config;
    const m = new ReformerModelWithLMHead(be, cfg, { seed: 3 });
    const P = m.parameters;
    expect(P.param('reformer.encoder.layer_norm.weight').every((v) => v === 1)).toBe(true);
    expect(P.param('reformer.encoder.layers.0.feed_forward.dense.dense.bias').every((v) => v === 0)).toBe(true);
    expect(P.param('lm_head.bias').every((v) => v === 0)).toBe(true);
    const std = (x: ArrayLike<number>): number => Math.sqrt(Array.from(x).reduce((a, v) => a + v * v, 0) / x.length);
    expect(std(P.param('reformer.encoder.layers.0.feed_forward.dense.dense.weight'))).toBeCloseTo(cfg.initializer_range, 2);
    expect(std(P.param('reformer.embeddings.position_embeddings.weights.0'))).toBeGreaterThan(0.8 * cfg.axial_norm_std);
    expect(std(P.param('reformer.embeddings.position_embeddings.weights.0'))).toBeLessThan(1.2 * cfg.axial_norm_std);
    // same seed ⇒ same weights
    expect(Array.from(new ReformerModelWithLMHead(be, cfg, { seed: 3 }).params)).toEqual(Array.from(m.params));
  });
});

describe('eval auto-padding (HF _pad_to_mult_of_chunk_length) and the training error', () => {
  it('L = 21 is padded to 32 in eval; the result equals explicit padding with mask 0', () => {
    const m = new ReformerModel(be, small);
    const x = ids(2, 21, 20);
    const auto = m.forward({ inputIds: x, batch: 2, seqLen: 21, training: false });
    expect(auto.paddedLen).toBe(32);
    expect(auto.output.length).toBe(2 * 21 * 32);
    const padded = new Int32Array(2 * 32); // pad_token_id 0
    const mask = new Int32Array(2 * 32);
    for (let b = 0; b < 2; b++) {
      padded.set(x.subarray(b * 21, (b + 1) * 21), b * 32);
      mask.fill(1, b * 32, b * 32 + 21);
    }
    const manual = m.forward({ inputIds: padded, batch: 2, seqLen: 32, attentionMask: mask, training: false });
    for (let b = 0; b < 2; b++) {
      const a = auto.output.subarray(b * 21 * 32, (b + 1) * 21 * 32);
      const want = manual.output.subarray(b * 32 * 32, (b * 32 + 21) * 32);
      expect(Array.from(a)).toEqual(Array.from(want));
    }
  });

  it('no padding when L ≤ the smallest chunk length (short path)', () => {
    const m = new ReformerModel(be, small);
    expect(m.forward({ inputIds: ids(1, 7, 20), batch: 1, seqLen: 7, training: false }).paddedLen).toBe(7);
  });

  it('training with L not a multiple of the chunk lcm is a ShapeError naming the valid length', () => {
    const m = new ReformerModelWithLMHead(be, small);
    expect(() => m.lossAndGrad({ inputIds: ids(1, 24, 20), batch: 1, seqLen: 24 })).toThrow(ShapeError);
    expect(() => m.lossAndGrad({ inputIds: ids(1, 24, 20), batch: 1, seqLen: 24 })).toThrow(
      /multiple of 16.*training takes exactly 32 tokens \(the product of axial_pos_shape/,
    );
  });

  it('training with L ≠ Π axial_pos_shape is a ConfigError(axial_pos_shape)', () => {
    const m = new ReformerModelWithLMHead(be, small);
    try {
      m.lossAndGrad({ inputIds: ids(1, 16, 20), batch: 1, seqLen: 16 });
      expect.fail('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).field).toBe('axial_pos_shape');
    }
  });

  it('eval longer than max_position_embeddings is a ConfigError', () => {
    const m = new ReformerModelWithLMHead(be, small);
    expect(() => m.logits({ inputIds: ids(1, 48, 20), batch: 1, seqLen: 48 })).toThrow(ConfigError);
  });
});

describe('CausalLanguageModel contract', () => {
  const model: CausalLanguageModel = new ReformerModelWithLMHead(be, small, { seed: 5 });
  const batch = { inputIds: ids(2, 32, 20, 9), batch: 2, seqLen: 32 };

  it('logits are [batch, seqLen, vocab]; loss counts batch·(seqLen − 1) targets', () => {
    expect(model.logits(batch).length).toBe(2 * 32 * 20);
    const r = model.loss(batch);
    expect(r.tokens).toBe(2 * 31);
    expect(r.loss).toBeGreaterThan(0);
    expect(Math.abs(r.loss - Math.log(20))).toBeLessThan(2);
  });

  it('lossAndGrad accumulates: two calls give twice the gradient', () => {
    const m = model as ReformerModelWithLMHead;
    m.grads.fill(0);
    const state = m.reformer.rng.state();
    const a = m.lossAndGrad(batch);
    const once = Float64Array.from(m.grads);
    m.reformer.rng = Rng.fromState(state);
    const b = m.lossAndGrad(batch);
    expect(b.loss).toBe(a.loss);
    expect(
      scaledError(
        m.grads,
        once.map((v) => 2 * v),
        0,
      ),
    ).toBeLessThan(1e-6);
  });

  it('targets of −100 are skipped; all ignored gives tokens 0, loss 0 and no gradient', () => {
    const m = model as ReformerModelWithLMHead;
    const labels = Int32Array.from(batch.inputIds);
    labels.fill(-100, 0, 10);
    expect(m.loss({ ...batch, labels }).tokens).toBe(2 * 31 - 9);
    m.grads.fill(0);
    const r = m.lossAndGrad({ ...batch, labels: new Int32Array(64).fill(-100) });
    expect(r).toEqual({ loss: 0, tokens: 0 });
    expect(m.grads.every((v) => v === 0)).toBe(true);
  });

  it('bad ids, labels and masks are ShapeErrors', () => {
    expect(() => model.loss({ ...batch, inputIds: new Int32Array(64).fill(20) })).toThrow(/outside the vocabulary/);
    expect(() => model.loss({ ...batch, labels: new Int32Array(64).fill(-1) })).toThrow(/labels\[0\] = -1/);
    expect(() => model.loss({ ...batch, attentionMask: new Int32Array(64).fill(2) })).toThrow(ShapeError);
    expect(() => model.loss({ ...batch, seqLen: 31 })).toThrow(ShapeError);
  });
});

describe('errors of use', () => {
  it('the LM head needs a causal config', () => {
    expect(() => new ReformerModelWithLMHead(be, small.with({ is_decoder: false }))).toThrow(ConfigError);
  });

  it('backward needs an un-consumed training forward', () => {
    const m = new ReformerModel(be, small);
    const input = { inputIds: ids(1, 32, 20), batch: 1, seqLen: 32 };
    const ev = m.forward({ ...input, training: false });
    expect(() => m.backward(ev, be.floats(ev.output.length))).toThrow(UsageError);
    const tr = m.forward({ ...input, training: true });
    m.backward(tr, be.floats(tr.output.length));
    expect(() => m.backward(tr, be.floats(tr.output.length))).toThrow(/already back-propagated/);
  });

  it('attention-probability dropout (local and LSH) is active in training only, and its gradients replay the mask', () => {
    for (const field of ['local_attention_probs_dropout_prob', 'lsh_attention_probs_dropout_prob'] as const) {
      const batch = { inputIds: ids(1, 32, 20), batch: 1, seqLen: 32 };
      const m = new ReformerModelWithLMHead(be, small.with({ [field]: 0.3 }), { seed: 1 });
      const plain = new ReformerModelWithLMHead(be, small, { seed: 1 });
      const t1 = m.lossAndGrad(batch).loss;
      const t2 = m.lossAndGrad(batch).loss;
      expect(t1, field).not.toBe(t2); // a new mask per step
      expect(t1, field).not.toBe(plain.lossAndGrad(batch).loss);
      expect(m.loss(batch).loss, field).toBe(plain.loss(batch).loss); // no dropout in evaluation
    }
  });
});

describe('dropout', () => {
  it('training losses depend on the dropout draw; evaluation does not', () => {
    const cfg = small.with({ hidden_dropout_prob: 0.3 });
    const batch = { inputIds: ids(1, 32, 20), batch: 1, seqLen: 32 };
    const m = new ReformerModelWithLMHead(be, cfg, { seed: 1 });
    const t1 = m.lossAndGrad(batch).loss;
    const t2 = m.lossAndGrad(batch).loss;
    expect(t1).not.toBe(t2);
    expect(m.loss(batch).loss).toBe(m.loss(batch).loss); // hash_seed fixes rotations; no dropout in eval
  });
});

describe('num_buckets: null', () => {
  it('is resolved at the first LSH forward (HF _set_num_buckets) and written to config.json', () => {
    const cfg = small.with({ num_buckets: null });
    const m = new ReformerModelWithLMHead(be, cfg);
    expect(m.resolvedConfig().num_buckets).toBeNull();
    m.loss({ inputIds: ids(1, 32, 20), batch: 1, seqLen: 32 });
    expect(m.resolvedConfig().num_buckets).toBe(4); // 2·(32 // 16) = 4
    const json = JSON.parse(new TextDecoder().decode(lmCheckpointToBytes(m).config));
    expect(json.num_buckets).toBe(4);
    expect(json.architectures).toEqual(['ReformerModelWithLMHead']);
  });
});

describe('per-call num_hashes (HF num_hashes argument)', () => {
  it('overrides the hash rounds of the LSH layers for one call', () => {
    const m = new ReformerModelWithLMHead(be, small);
    const batch = { inputIds: ids(1, 32, 20), batch: 1, seqLen: 32 };
    expect(m.loss(batch, { numHashes: 2 }).loss).toBe(m.loss(batch).loss); // = num_hashes, same rotations (hash_seed)
    const four = m.loss(batch, { numHashes: 4 }).loss;
    expect(Number.isFinite(four)).toBe(true);
    expect(four).not.toBe(m.loss(batch).loss);
    expect(() => m.loss(batch, { numHashes: 0 })).toThrow(ShapeError);
  });
});

describe('HF-named weights', () => {
  it('a fixture safetensors (HF state_dict names) loads with strict: false and reproduces HF eval logits', () => {
    const fx = loadFixture('model_lm_local_lsh_train');
    const m = lmFromCheckpoint(
      be,
      {
        safetensors: new Uint8Array(readFileSync(join(HF_FIXTURES_DIR, 'model_lm_local_lsh_train.safetensors'))),
        config: JSON.stringify(fx.json.config),
      },
      { strict: false },
    );
    const rotations = m.config.attn_layers.map((_, i) =>
      fx.tensors.has(`cap:eval.layers.${i}.rotations`) ? fx.tensors.float32(`cap:eval.layers.${i}.rotations`) : null,
    );
    const logits = m.logits({ inputIds: fx.tensors.int32('in:input_ids'), batch: 2, seqLen: 64 }, { rotations });
    expect(scaledError(logits, fx.tensors.float32('out:eval.logits'))).toBeLessThan(2e-5);
  });

  it('strict loading rejects foreign tensors, missing tensors and wrong shapes with FormatError', () => {
    const fx = loadFixture('model_lm_local_lsh_train');
    const files = {
      safetensors: new Uint8Array(readFileSync(join(HF_FIXTURES_DIR, 'model_lm_local_lsh_train.safetensors'))),
      config: JSON.stringify(fx.json.config),
    };
    expect(() => lmFromCheckpoint(be, files)).toThrow(/tensor\(s\) the model does not have/);
    const good = lmCheckpointToBytes(lmFromCheckpoint(be, files, { strict: false }));
    const wider = new ReformerConfig({ ...fx.json.config, feed_forward_size: 65 });
    expect(() => lmFromCheckpoint(be, { safetensors: good.safetensors, config: wider.toJSONString() })).toThrow(FormatError);
    const encoderOnly = new ReformerConfig({
      ...fx.json.config,
      attn_layers: ['local', 'lsh', 'local', 'lsh', 'lsh'],
      num_hidden_layers: 5,
    });
    expect(() => lmFromCheckpoint(be, { safetensors: good.safetensors, config: encoderOnly.toJSONString() })).toThrow(
      /layers\.4.*is missing/,
    );
  });
});

describe('training', () => {
  it('a few AdamW steps on one repeated sequence lower the loss (reversible backward)', () => {
    const m = new ReformerModelWithLMHead(be, small.with({ initializer_range: 0.05 }), { seed: 2 });
    const batch = { inputIds: ids(2, 32, 20, 4), batch: 2, seqLen: 32 };
    const mState = be.floats(m.params.length);
    const vState = be.floats(m.params.length);
    const first = m.loss(batch).loss;
    for (let step = 1; step <= 25; step++) {
      m.grads.fill(0);
      m.lossAndGrad(batch);
      be.adamw({
        n: m.params.length,
        param: m.params,
        grad: m.grads,
        m: mState,
        v: vState,
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0,
        step,
      });
    }
    const last = m.loss(batch).loss;
    expect(last).toBeLessThan(first * 0.7);
  });
});
