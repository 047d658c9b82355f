/**
 * The duplication task (src/apps/duplication.ts, paper Sec. 5): the generator's `0 w 0 w` layout, symbol
 * range and seeding; labels and scoring that count only the second copy (an oracle that copies scores
 * 1, a uniform guesser ≈ 1/V); the evaluation's loss against the model's own loss on the same labels; the
 * trainer's batches (resumable); and the configs of the experiment (duplication-models.ts).
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import type { Float } from '../../src/backend/backend.js';
import {
  DuplicationBatches,
  duplicationBatch,
  duplicationLabels,
  duplicationSeqLen,
  evaluateDuplication,
  scoreDuplication,
  writeDuplicationSequence,
} from '../../src/apps/duplication.js';
import {
  DUPLICATION_EVAL_ATTENTIONS,
  DUPLICATION_TRAIN_ATTENTIONS,
  duplicationConfig,
  evaluable,
  type DuplicationModelSpec,
} from '../../src/apps/duplication-models.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError } from '../../src/errors.js';
import type { CausalLanguageModel, TokenBatch } from '../../src/model/language-model.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { Trainer } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';

const W = 9;
const V = 6;
const spec = { wordLength: W, vocabSize: V };
const L = 2 * (W + 1);

/** A model whose logits are one-hot (value 5) on `predict(ids, b, t)` at every position. */
function fakeModel(predict: (ids: Int32Array, row: number, t: number) => number, vocab = V): CausalLanguageModel {
  const backend = new ReferenceBackend();
  return {
    backend,
    vocabSize: vocab,
    params: new Float64Array(1),
    grads: new Float64Array(1),
    lossAndGrad: () => ({ loss: 0, tokens: 0 }),
    loss: () => ({ loss: 0, tokens: 0 }),
    logits(batch: TokenBatch): Float {
      const out = new Float64Array(batch.batch * batch.seqLen * vocab);
      for (let b = 0; b < batch.batch; b++) {
        for (let t = 0; t < batch.seqLen; t++) out[(b * batch.seqLen + t) * vocab + predict(batch.inputIds, b * batch.seqLen, t)] = 5;
      }
      return out;
    },
  };
}

describe('duplication sequences', () => {
  it('are 0 w 0 w with w in 1..V-1, of length 2(|w|+1)', () => {
    expect(duplicationSeqLen(W)).toBe(L);
    const rng = new Rng(3);
    const seen = new Set<number>();
    for (let n = 0; n < 50; n++) {
      const s = new Int32Array(L);
      writeDuplicationSequence(rng, spec, s);
      expect(s[0]).toBe(0);
      expect(s[W + 1]).toBe(0);
      for (let i = 1; i <= W; i++) {
        expect(s[i]).toBeGreaterThanOrEqual(1);
        expect(s[i]).toBeLessThanOrEqual(V - 1);
        expect(s[W + 1 + i]).toBe(s[i]);
        seen.add(s[i]!);
      }
    }
    expect([...seen].sort()).toEqual([1, 2, 3, 4, 5]); // every symbol occurs, 0 never inside w
  });

  it('are determined by the seed', () => {
    const a = duplicationBatch(new Rng(7), spec, 4).inputIds;
    expect(duplicationBatch(new Rng(7), spec, 4).inputIds).toEqual(a);
    expect(duplicationBatch(new Rng(8), spec, 4).inputIds).not.toEqual(a);
  });

  it('label only the second copy (−100 on the first copy and both separators)', () => {
    const batch = duplicationBatch(new Rng(1), spec, 3);
    const labels = duplicationLabels(batch.inputIds, 3, W);
    expect(batch.labels).toEqual(labels);
    for (let b = 0; b < 3; b++) {
      for (let p = 0; p < L; p++) expect(labels[b * L + p]).toBe(p >= W + 2 ? batch.inputIds[b * L + p] : -100);
    }
  });

  it('refuses a bad spec with the field named', () => {
    expect(() => duplicationBatch(new Rng(1), { wordLength: 0, vocabSize: V }, 1)).toThrow(/word_length/);
    expect(() => duplicationBatch(new Rng(1), { wordLength: W, vocabSize: 2 }, 1)).toThrow(/vocab_size.*≥ 3/);
  });
});

describe('duplication scoring', () => {
  // logits[t] predicts token t + 1; the copy of token t + 1 sits |w| + 1 back, at t − |w|
  const copier = fakeModel((ids, row, t) => (t - W >= 0 ? ids[row + t - W]! : 0));

  it('gives an oracle that copies accuracy 1 and a uniform guesser about 1/V', () => {
    const oracle = evaluateDuplication(copier, spec, { sequences: 40, batch: 8 });
    expect(oracle.accuracy).toBe(1);
    expect(oracle.exactMatch).toBe(1);
    expect(oracle.targets).toBe(40 * W);
    const rng = new Rng(99);
    const guesser = fakeModel(() => rng.int(V));
    const r = evaluateDuplication(guesser, spec, { sequences: 800, batch: 50 });
    expect(r.targets).toBe(800 * W);
    expect(Math.abs(r.accuracy - 1 / V)).toBeLessThan(0.02); // sd ≈ 0.004
    expect(r.exactMatch).toBeLessThan(0.01);
  });

  it('counts only the second copy: wrong everywhere in the first half still scores 1', () => {
    const firstHalfWrong = fakeModel((ids, row, t) => (t >= W + 1 ? ids[row + t - W]! : (ids[row + t + 1]! + 1) % V));
    expect(evaluateDuplication(firstHalfWrong, spec, { sequences: 10 }).accuracy).toBe(1);
    // one wrong prediction per sequence in the second copy: (|w| − 1)/|w|, and no exact match
    const oneWrong = fakeModel((ids, row, t) => (t === L - 2 ? (ids[row + t + 1]! % (V - 1)) + 1 : t - W >= 0 ? ids[row + t - W]! : 0));
    const r = evaluateDuplication(oneWrong, spec, { sequences: 10 });
    expect(r.accuracy).toBeCloseTo((W - 1) / W, 12);
    expect(r.exactMatch).toBe(0);
  });

  it('adds −log softmax of the target (float64) and checks its sizes', () => {
    const batch = duplicationBatch(new Rng(2), spec, 1);
    const logits = new Float64Array(L * V); // uniform: −log(1/V) per target
    const t = scoreDuplication(logits, batch.inputIds, 1, W, V);
    expect(t.targets).toBe(W);
    expect(t.nats / t.targets).toBeCloseTo(Math.log(V), 12);
    expect(() => scoreDuplication(logits, batch.inputIds, 2, W, V)).toThrow(/expected 2×20 ids/);
  });

  it("agrees with the model's own loss on the same second-copy labels", () => {
    const s: DuplicationModelSpec = { ...spec, hidden: 16, heads: 2, layers: 1, feedForward: 16, lshChunk: 5, localChunk: 5 };
    const lm = new ReformerModelWithLMHead(new ReferenceBackend(), new ReformerConfig({ ...duplicationConfig(s, 'local'), hash_seed: 1 }), {
      seed: 3,
    });
    const r = evaluateDuplication(lm, spec, { sequences: 6, batch: 3, seed: 5 });
    const rng = new Rng(5);
    let nats = 0;
    let tokens = 0;
    for (let i = 0; i < 2; i++) {
      const own = lm.loss(duplicationBatch(rng, spec, 3));
      nats += own.loss * own.tokens;
      tokens += own.tokens;
    }
    expect(tokens).toBe(6 * W);
    expect(r.loss).toBeCloseTo(nats / tokens, 5);
    expect(r.accuracy).toBeGreaterThanOrEqual(0);
    expect(r.accuracy).toBeLessThanOrEqual(1);
  });

  it('refuses a model with fewer ids than V', () => {
    expect(() =>
      evaluateDuplication(
        fakeModel(() => 0, 4),
        spec,
      ),
    ).toThrow(ConfigError);
  });
});

describe('duplication training batches', () => {
  it('drive the Trainer (loss on the second copy) and resume exactly', async () => {
    const s: DuplicationModelSpec = { ...spec, hidden: 16, heads: 2, layers: 1, feedForward: 16, lshChunk: 5, localChunk: 5 };
    const run = async (stopAt: number | null): Promise<number[]> => {
      const make = (): { lm: ReformerModelWithLMHead; trainer: Trainer } => {
        const lm = new ReformerModelWithLMHead(new ReferenceBackend(), new ReformerConfig(duplicationConfig(s, 'lsh-2')), { seed: 1 });
        const options = { batch: 2, seqLen: L, steps: 4, lr: 1e-3, seed: 4 };
        return {
          lm,
          trainer: new Trainer(
            lm,
            { train: new Int32Array(0), validation: new Int32Array(0) },
            options,
            new DuplicationBatches(spec, options),
          ),
        };
      };
      const losses: number[] = [];
      const a = make();
      if (stopAt === null) {
        await a.trainer.run({ onStep: (i) => void losses.push(i.loss) });
        return losses;
      }
      for (let i = 0; i < stopAt; i++) losses.push(a.trainer.trainStep().loss);
      const snap = a.trainer.snapshot();
      const b = make();
      b.lm.params.set(a.lm.params);
      b.lm.reformer.rng = Rng.fromState(a.lm.reformer.rng.state()); // the hash rotations continue (the CLI's ReformerLM snapshots this)
      b.trainer.restore(snap);
      await b.trainer.run({ onStep: (i) => void losses.push(i.loss) });
      return losses;
    };
    const whole = await run(null);
    expect(whole).toHaveLength(4);
    expect(whole.every(Number.isFinite)).toBe(true);
    expect(await run(2)).toEqual(whole);
  });

  it('must match the trainer options', () => {
    const s: DuplicationModelSpec = { ...spec, hidden: 16, heads: 2, layers: 1, feedForward: 16, lshChunk: 5, localChunk: 5 };
    const lm = new ReformerModelWithLMHead(new ReferenceBackend(), new ReformerConfig(duplicationConfig(s, 'local')), { seed: 1 });
    const data = { train: new Int32Array(0), validation: new Int32Array(0) };
    expect(
      () =>
        new Trainer(lm, data, { batch: 2, seqLen: L, steps: 1, lr: 1e-3, seed: 1 }, new DuplicationBatches(spec, { batch: 3, seed: 1 })),
    ).toThrow(/batches.*3×20.*batch 2/);
  });
});

describe('duplication models', () => {
  const s: DuplicationModelSpec = {
    wordLength: 63,
    vocabSize: 128,
    hidden: 64,
    heads: 4,
    layers: 1,
    feedForward: 128,
    lshChunk: 16,
    localChunk: 16,
  };

  it('full attention covers the sequence in one chunk; LSH and local keep their chunks', () => {
    expect(duplicationConfig(s, 'full').lsh_attn_chunk_length).toBe(128);
    expect(duplicationConfig(s, 'lsh-4', 'full').lsh_attn_chunk_length).toBe(128);
    expect(duplicationConfig(s, 'full', 'lsh-8').lsh_attn_chunk_length).toBe(16);
    expect(duplicationConfig(s, 'lsh-4')).toMatchObject({ lsh_attn_chunk_length: 16, num_hashes: 4, attn_layers: ['lsh'] });
    expect(duplicationConfig(s, 'local')).toMatchObject({
      local_attn_chunk_length: 16,
      local_num_chunks_before: 1,
      attn_layers: ['local'],
    });
    expect(duplicationConfig(s, 'local', 'full').local_attn_chunk_length).toBe(128);
  });

  it('evaluates only the attentions a model has weights for', () => {
    const cells = DUPLICATION_TRAIN_ATTENTIONS.map((t) => DUPLICATION_EVAL_ATTENTIONS.filter((e) => evaluable(t, e)).join(','));
    expect(cells).toEqual([
      'full,lsh-8,lsh-4,lsh-2,lsh-1',
      'full,lsh-8,lsh-4,lsh-2,lsh-1',
      'full,lsh-8,lsh-4,lsh-2,lsh-1',
      'full,lsh-8,lsh-4,lsh-2,lsh-1',
      'full,local',
    ]);
    expect(() => duplicationConfig(s, 'local', 'lsh-4')).toThrow(/no weights for lsh-4/);
  });

  it('refuses a chunk that does not divide the sequence', () => {
    expect(() => duplicationConfig({ ...s, lshChunk: 24 }, 'lsh-1')).toThrow(/lsh_attn_chunk_length: 24 does not divide .* 128/);
    expect(() => duplicationConfig({ ...s, localChunk: 0 }, 'local')).toThrow(/local_attn_chunk_length/);
  });
});
