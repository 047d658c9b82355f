/**
 * Passkey retrieval (src/apps/passkey.ts, passkey-models.ts): the generator's layout (key planted at the
 * requested depth, the question and the answer at the end, filler from the corpus), seeding, labels on
 * the answer digits only; scoring on hand cases (an oracle that reads the planted key scores 1, a wrong
 * digit breaks exact match but not the others); the configs and the repeated position table.
 */
import { describe, expect, it } from 'vitest';
import type { Float } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import {
  AXIAL_COARSE,
  copyWithTiledPositions,
  localReach,
  type PasskeyModelSpec,
  passkeyFillerRows,
  passkeyAttnLayers,
  passkeyConfig,
} from '../../src/apps/passkey-models.js';
import {
  DIGIT_ZERO,
  evaluatePasskey,
  PASSKEY_PLANTED_PREFIX,
  PASSKEY_QUESTION,
  passkeyBatch,
  passkeyFillerLength,
  passkeyLabels,
  scorePasskey,
  writePasskeySequence,
} from '../../src/apps/passkey.js';
import { passkeyTable } from '../../src/node/cli/apps/passkey-report.js';
import { probePasskey } from '../../src/apps/passkey-probe.js';
import { PASSKEY_PAD, PasskeyBatches, passkeyTrainingBatch } from '../../src/apps/passkey-train.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError } from '../../src/errors.js';
import type { CausalLanguageModel, TokenBatch } from '../../src/model/language-model.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { Rng } from '../../src/util/rng.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (ids: ArrayLike<number>): string => new TextDecoder().decode(Uint8Array.from(ids as ArrayLike<number>));
// lowercase letters only, so every byte of the filler is told apart from the planted text's digits
const corpus = enc('abcdefghijklmnopqrstuvwxyz'.repeat(40));
const spec = { seqLen: 200, digits: 5 };

describe('passkey sequences', () => {
  it('plant the key at the requested depth and end with the question and the answer', () => {
    const F = passkeyFillerLength(spec);
    for (const depth of [0, 0.25, 0.5, 1]) {
      const out = new Int32Array(spec.seqLen);
      const p = writePasskeySequence(new Rng(1), corpus, spec, out, 0, { depth, key: [4, 8, 2, 1, 3], fillerOffset: 3 });
      const text = dec(out);
      const cut = Math.floor(depth * F);
      expect(p.keyPosition).toBe(cut + PASSKEY_PLANTED_PREFIX.length);
      expect(text.slice(0, cut)).toBe(dec(corpus.subarray(3, 3 + cut)));
      expect(text.slice(cut)).toMatch(/^ The pass key is 48213\. Remember it\. 48213 is the pass key\. [a-z]*/);
      expect(text.endsWith(`${dec(PASSKEY_QUESTION)}48213`)).toBe(true);
      expect(p.distance).toBe(spec.seqLen - 5 - p.keyPosition);
      // the filler is the corpus run, cut once
      expect(
        text
          .replace(/ The pass key is 48213\. Remember it\. 48213 is the pass key\. /, '')
          .replace(/ What is the pass key\? The pass key is 48213$/, ''),
      ).toBe(dec(corpus.subarray(3, 3 + F)));
    }
  });

  it('draws depth uniformly, digits 0..9, and never splits a UTF-8 character', () => {
    const rng = new Rng(5);
    const multi = enc('é'.repeat(300)); // two bytes each
    const depths: number[] = [];
    const seen = new Set<number>();
    for (let n = 0; n < 200; n++) {
      const out = new Int32Array(spec.seqLen);
      const p = writePasskeySequence(rng, multi, spec, out, 0, n % 2 === 0 ? { fillerOffset: 0 } : { fillerOffset: 1 });
      depths.push(p.depth);
      for (const d of p.key) seen.add(d);
      expect((p.keyPosition - PASSKEY_PLANTED_PREFIX.length + (n % 2)) % 2).toBe(0); // cut at the first byte of an 'é'
      expect(out.subarray(spec.seqLen - 5).every((t, i) => t === DIGIT_ZERO + p.key[i]!)).toBe(true);
    }
    expect(Math.min(...depths)).toBeLessThan(0.05);
    expect(Math.max(...depths)).toBeGreaterThan(0.95);
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('are determined by the seed', () => {
    const a = passkeyBatch(new Rng(7), corpus, spec, 3);
    expect(passkeyBatch(new Rng(7), corpus, spec, 3).batch.inputIds).toEqual(a.batch.inputIds);
    expect(passkeyBatch(new Rng(8), corpus, spec, 3).batch.inputIds).not.toEqual(a.batch.inputIds);
  });

  it('label only the answer digits', () => {
    const { batch } = passkeyBatch(new Rng(2), corpus, spec, 2);
    const labels = passkeyLabels(batch.inputIds, 2, spec);
    expect(batch.labels).toEqual(labels);
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < spec.seqLen; t++) {
        const i = b * spec.seqLen + t;
        expect(labels[i]).toBe(t >= spec.seqLen - 5 ? batch.inputIds[i] : -100);
      }
    }
  });

  it('refuse bad specs, depths, keys and short corpora naming the field', () => {
    const out = new Int32Array(spec.seqLen);
    expect(() => writePasskeySequence(new Rng(1), corpus, { seqLen: 100, digits: 5 }, out)).toThrow(/seq_len.*> 104/);
    expect(() => writePasskeySequence(new Rng(1), corpus, { seqLen: 200, digits: 0 }, out)).toThrow(ConfigError);
    expect(() => writePasskeySequence(new Rng(1), corpus, spec, out, 0, { depth: 1.5 })).toThrow(/depth/);
    expect(() => writePasskeySequence(new Rng(1), corpus, spec, out, 0, { key: [1, 2] })).toThrow(/key.*5 digits/);
    expect(() => writePasskeySequence(new Rng(1), corpus.subarray(0, 10), spec, out)).toThrow(/corpus.*fewer than the 96/);
  });

  it('train on the answer digits by default, on every byte with lossOn all', () => {
    const a = new PasskeyBatches(corpus, spec, { batch: 2, seed: 3 }).next();
    expect(a.labels).toEqual(passkeyLabels(a.inputIds, 2, spec));
    const b = new PasskeyBatches(corpus, spec, { batch: 2, seed: 3, lossOn: 'all' }).next();
    expect(b.inputIds).toEqual(a.inputIds);
    expect(b.labels).toEqual(b.inputIds); // every byte (HF shifts them inside the loss)
    // rows of the full length are the evaluation's sequences: no length is drawn
    expect(a.inputIds).toEqual(passkeyBatch(new Rng(3), corpus, spec, 2).batch.inputIds);
    expect(() => new PasskeyBatches(corpus, spec, { batch: 2, seed: 3, lossOn: 'some' as 'all' })).toThrow(/loss_on.*answer, all/);
  });

  it('hold sequences of minLength … L tokens, padded, with the answer at the end of each', () => {
    const L = spec.seqLen;
    const minLength = 120;
    const { batch, placements } = passkeyTrainingBatch(new Rng(11), corpus, spec, 40, { minLength });
    const all = passkeyTrainingBatch(new Rng(11), corpus, spec, 40, { minLength, lossOn: 'all' });
    expect(all.batch.inputIds).toEqual(batch.inputIds);
    const lengths = placements.map((p) => p.length);
    expect(Math.min(...lengths)).toBeGreaterThanOrEqual(minLength);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(L);
    expect(new Set(lengths).size).toBeGreaterThan(10);
    for (const [b, p] of placements.entries()) {
      const row = batch.inputIds.subarray(b * L, (b + 1) * L);
      const text = dec(row.subarray(0, p.length));
      const key = p.key.join('');
      expect(text).toContain(` The pass key is ${key}. Remember it. ${key} is the pass key. `);
      expect(text.endsWith(`${dec(PASSKEY_QUESTION)}${key}`)).toBe(true);
      expect(p.distance).toBe(p.length - 5 - p.keyPosition);
      expect(row.subarray(p.length).every((t) => t === PASSKEY_PAD)).toBe(true);
      for (let t = 0; t < L; t++) {
        const i = b * L + t;
        expect(batch.labels![i]).toBe(t >= p.length - 5 && t < p.length ? row[t] : -100);
        expect(all.batch.labels![i]).toBe(t < p.length ? row[t] : -100);
      }
    }
    expect(() => passkeyTrainingBatch(new Rng(1), corpus, spec, 2, { minLength: 104 })).toThrow(/min_length.*105 … 200/);
    expect(() => new PasskeyBatches(corpus, spec, { batch: 2, seed: 3, minLength: 201 })).toThrow(/min_length/);
  });

  it('train on shorter keys during the curriculum, then on the task keys, resumably', () => {
    const labelled = (x: TokenBatch): number => x.labels!.filter((l) => l !== -100).length;
    const a = new PasskeyBatches(corpus, spec, { batch: 2, seed: 3, curriculum: { digits: 1, steps: 2 } });
    const first = a.next();
    expect(labelled(first)).toBe(2); // 1 answer digit per row
    const row = dec(first.inputIds.subarray(0, spec.seqLen));
    expect(row).toMatch(/ The pass key is \d\. Remember it\. \d is the pass key\. .* What is the pass key\? The pass key is \d$/);
    expect(labelled(a.next())).toBe(2);
    const s = a.state();
    const third = a.next();
    expect(labelled(third)).toBe(10); // the task's 5 digits from step 3 on
    const b = new PasskeyBatches(corpus, spec, { batch: 2, seed: 99, curriculum: { digits: 1, steps: 2 } });
    b.restore(s);
    expect(b.next().inputIds).toEqual(third.inputIds);
    // steps 0: no curriculum, the plain batches
    const plain = new PasskeyBatches(corpus, spec, { batch: 2, seed: 3, curriculum: { digits: 1, steps: 0 } });
    expect(plain.next().inputIds).toEqual(new PasskeyBatches(corpus, spec, { batch: 2, seed: 3 }).next().inputIds);
    expect(() => new PasskeyBatches(corpus, spec, { batch: 2, seed: 3, curriculum: { digits: 5, steps: 9 } })).toThrow(
      /curriculum\.digits.*1 … 4/,
    );
    expect(() => new PasskeyBatches(corpus, spec, { batch: 2, seed: 3, curriculum: { digits: 1, steps: -1 } })).toThrow(
      /curriculum\.steps/,
    );
  });

  it('resume from the batches state', () => {
    const a = new PasskeyBatches(corpus, spec, { batch: 2, seed: 3 });
    a.next();
    const s = a.state();
    const x = a.next().inputIds;
    const b = new PasskeyBatches(corpus, spec, { batch: 2, seed: 99 });
    b.restore(s);
    expect(b.next().inputIds).toEqual(x);
    // with lengths drawn too
    const c = new PasskeyBatches(corpus, spec, { batch: 2, seed: 3, minLength: 150 });
    c.next();
    const cs = c.state();
    const y = c.next().inputIds;
    const d = new PasskeyBatches(corpus, spec, { batch: 2, seed: 99, minLength: 150 });
    d.restore(cs);
    expect(d.next().inputIds).toEqual(y);
  });
});

/** A model whose logits are one-hot (value 5) on `predict(ids, row, t)`. */
function fakeModel(predict: (ids: Int32Array, row: number, t: number) => number): CausalLanguageModel {
  return {
    backend: new ReferenceBackend(),
    vocabSize: 256,
    params: new Float64Array(1),
    grads: new Float64Array(1),
    lossAndGrad: () => ({ loss: 0, tokens: 0 }),
    loss: () => ({ loss: 0, tokens: 0 }),
    logits(batch: TokenBatch): Float {
      const out = new Float64Array(batch.batch * batch.seqLen * 256);
      for (let b = 0; b < batch.batch; b++) {
        for (let t = 0; t < batch.seqLen; t++) out[(b * batch.seqLen + t) * 256 + predict(batch.inputIds, b * batch.seqLen, t)] = 5;
      }
      return out;
    },
  };
}

/** Reads the planted key: the k-th digit after " The pass key is " (its first occurrence). */
function oracle(ids: Int32Array, row: number, t: number, L: number, wrongDigit = -1): number {
  const answerStart = L - 5;
  const k = t + 1 - answerStart;
  if (k < 0 || k >= 5) return 0;
  const seq = dec(ids.subarray(row, row + L));
  const at = seq.indexOf(dec(PASSKEY_PLANTED_PREFIX)) + PASSKEY_PLANTED_PREFIX.length;
  const d = ids[row + at + k]!;
  return k === wrongDigit ? DIGIT_ZERO + ((d - DIGIT_ZERO + 1) % 10) : d;
}

describe('passkey probe', () => {
  it('measures 0 spread for an answer that ignores the input and a large one for a reader of the key', () => {
    const { batch } = passkeyBatch(new Rng(5), corpus, spec, 4);
    const constant = probePasskey(
      fakeModel(() => DIGIT_ZERO + 3),
      batch,
      spec,
    );
    expect(constant.spread).toBe(0);
    const reader = probePasskey(
      fakeModel((ids, row, t) => oracle(ids, row, t, spec.seqLen)),
      batch,
      spec,
    );
    expect([reader.digitAccuracy, reader.exactMatch]).toEqual([1, 1]);
    // one-hot logits of 5 over 256 ids: p = e⁵/(e⁵ + 255) on the argmax, 1/(e⁵ + 255) elsewhere
    const top = Math.exp(5) / (Math.exp(5) + 255);
    const low = 1 / (Math.exp(5) + 255);
    expect(reader.spread).toBeCloseTo(top - low, 12); // the 4 keys differ in some digit
    expect(reader.loss).toBeCloseTo(-Math.log(top), 12);
    expect(() =>
      probePasskey(
        fakeModel(() => 0),
        passkeyBatch(new Rng(5), corpus, spec, 1).batch,
        spec,
      ),
    ).toThrow(/batch.*at least 2/);
  });
});

describe('passkey scoring', () => {
  it('scores a reader of the planted key 1 and a constant guess at its hand-counted rate', () => {
    const L = spec.seqLen;
    const perfect = evaluatePasskey(
      fakeModel((ids, row, t) => oracle(ids, row, t, L)),
      corpus,
      spec,
      { sequences: 20, batch: 3 },
    );
    expect(perfect.exactMatch).toBe(1);
    expect(perfect.digitAccuracy).toBe(1);
    expect(perfect.chance).toBeCloseTo(1e-5, 12);
    expect(perfect.loss).toBeCloseTo(Math.log(255 + Math.exp(5)) - 5, 10); // one-hot 5 over 256 ids
    // one wrong digit: exact 0, 4/5 digits right
    const oneOff = evaluatePasskey(
      fakeModel((ids, row, t) => oracle(ids, row, t, L, 2)),
      corpus,
      spec,
      { sequences: 20 },
    );
    expect(oneOff.exactMatch).toBe(0);
    expect(oneOff.digitAccuracy).toBeCloseTo(0.8, 12);
    // always '7': right exactly where the key digit is 7
    const sevens = fakeModel(() => DIGIT_ZERO + 7);
    const { batch } = passkeyBatch(new Rng(4), corpus, spec, 10);
    const tally = scorePasskey(sevens.logits(batch) as Float64Array, batch.inputIds, 10, spec, 256);
    let sevensInKeys = 0;
    let allSevens = 0;
    for (let b = 0; b < 10; b++) {
      const key = batch.inputIds.subarray((b + 1) * L - 5, (b + 1) * L);
      sevensInKeys += key.filter((x) => x === DIGIT_ZERO + 7).length;
      if (key.every((x) => x === DIGIT_ZERO + 7)) allSevens++;
    }
    expect(tally.digitsCorrect).toBe(sevensInKeys);
    expect(tally.exact).toBe(allSevens);
    expect(tally.digits).toBe(50);
  });

  it('counts the keys within reach apart', () => {
    const L = spec.seqLen;
    const { batch, placements } = passkeyBatch(new Rng(9), corpus, spec, 6);
    const m = fakeModel((ids, row, t) => oracle(ids, row, t, L));
    const within = 60;
    const tally = scorePasskey(m.logits(batch) as Float64Array, batch.inputIds, 6, spec, 256, undefined, {
      distances: placements.map((p) => p.distance),
      within,
    });
    const near = placements.filter((p) => p.distance <= within).length;
    expect(tally.nearSequences).toBe(near);
    expect(tally.nearExact).toBe(near);
  });

  it('refuses mismatched sizes', () => {
    expect(() => scorePasskey(new Float64Array(3), new Int32Array(200), 1, spec, 256)).toThrow(/200×256 logits/);
  });
});

describe('passkey models', () => {
  const mspec: PasskeyModelSpec = {
    hidden: 8,
    heads: 2,
    layers: 2,
    feedForward: 8,
    lshChunk: 8,
    localChunk: 8,
    numHashes: 1,
    axialCols: 16,
  };

  it('put local layers first and an LSH layer last, or use local ones only', () => {
    expect(passkeyAttnLayers('lsh', 2)).toEqual(['local', 'lsh']);
    expect(passkeyAttnLayers('lsh', 3)).toEqual(['local', 'local', 'lsh']);
    expect(passkeyAttnLayers('lsh', 4)).toEqual(['local', 'lsh', 'local', 'lsh']);
    expect(passkeyAttnLayers('full', 3)).toEqual(['local', 'local', 'lsh']);
    expect(passkeyAttnLayers('local', 2)).toEqual(['local', 'local']);
    expect(localReach(mspec)).toBe(30);
    expect(localReach({ ...mspec, localModelChunk: 16 })).toBe(62);
    const c = passkeyConfig(mspec, 'lsh', 128);
    expect(c.axial_pos_shape).toEqual([8, 16]);
    expect(c.max_position_embeddings).toBe(128);
    expect(c.lsh_attn_chunk_length).toBe(8);
    // full: one LSH chunk over the whole sequence (HF's short path); local: the local model's own chunk
    expect(passkeyConfig(mspec, 'full', 128).lsh_attn_chunk_length).toBe(128);
    expect(passkeyConfig(mspec, 'full', 128).local_attn_chunk_length).toBe(8);
    expect(passkeyConfig({ ...mspec, localModelChunk: 32 }, 'local', 128).local_attn_chunk_length).toBe(32);
    expect(passkeyConfig({ ...mspec, localModelChunk: 32 }, 'lsh', 128).local_attn_chunk_length).toBe(8);
    expect(() => passkeyConfig({ ...mspec, localModelChunk: 48 }, 'local', 128)).toThrow(/local model.*48 does not divide/);
    expect(() => passkeyConfig({ ...mspec, lshChunk: 48 }, 'full', 128)).not.toThrow(); // full ignores the LSH chunk
    expect(() => passkeyConfig(mspec, 'lsh', 100)).toThrow(/axial_pos_shape.*16 does not divide the sequence length 100/);
    expect(() => passkeyConfig({ ...mspec, layers: 1 }, 'lsh', 128)).toThrow(/num_layers/);
  });

  it('repeat the coarse position table at a longer length: position t gets the embedding of t mod L', () => {
    const be = new ReferenceBackend();
    const short = new ReformerModelWithLMHead(be, new ReformerConfig(passkeyConfig(mspec, 'lsh', 64)), { seed: 1 });
    const long = new ReformerModelWithLMHead(be, new ReformerConfig(passkeyConfig(mspec, 'lsh', 256)), { seed: 2 });
    copyWithTiledPositions(short, long);
    const a = short.parameters.param(AXIAL_COARSE);
    const b = long.parameters.param(AXIAL_COARSE);
    expect(b.length).toBe(4 * a.length);
    for (let i = 0; i < b.length; i++) expect(b[i]).toBe(a[i % a.length]);
    for (const e of short.parameters.entries) {
      if (e.name !== AXIAL_COARSE) expect(long.parameters.param(e.name)).toEqual(short.parameters.param(e.name));
    }
    // the same final-position logits: the last 64 tokens see the same positions and (local layers) the same keys
    const ids = Int32Array.from({ length: 256 }, (_, i) => (i * 7) % 256);
    const localShort = new ReformerModelWithLMHead(be, new ReformerConfig(passkeyConfig(mspec, 'local', 64)), { seed: 1 });
    const localLong = new ReformerModelWithLMHead(be, new ReformerConfig(passkeyConfig(mspec, 'local', 256)), { seed: 3 });
    copyWithTiledPositions(localShort, localLong);
    const tail = ids.subarray(192);
    const ls = localShort.logits({ inputIds: Int32Array.from(tail), batch: 1, seqLen: 64 });
    const ll = localLong.logits({ inputIds: ids, batch: 1, seqLen: 256 });
    // positions ≥ 2 local reaches (30) into the tail see only tail tokens at the same phases
    for (let t = 40; t < 64; t++) {
      for (let j = 0; j < 256; j++) expect(ll[(192 + t) * 256 + j]).toBeCloseTo(ls[t * 256 + j]!, 9);
    }
    expect(() => copyWithTiledPositions(long, short)).toThrow(/axial_pos_shape/);
  });

  it('keep the trained table at the end and repeat only the rows before the question earlier (filler positions)', () => {
    // rows of 16 positions; sequences of ≥ 100 tokens, question + 5 digits = 44: the first ⌊56/16⌋ = 3 rows never hold the question
    expect(passkeyFillerRows(100, 5, 16)).toBe(3);
    expect(passkeyFillerRows(256, 5, 64)).toBe(3);
    expect(() => passkeyFillerRows(100, 5, 64)).toThrow(/axial_pos_shape.*no coarse row of 64 positions/);
    const be = new ReferenceBackend();
    const short = new ReformerModelWithLMHead(be, new ReformerConfig(passkeyConfig(mspec, 'lsh', 128)), { seed: 1 }); // 8 rows
    const long = new ReformerModelWithLMHead(be, new ReformerConfig(passkeyConfig(mspec, 'lsh', 512)), { seed: 2 }); // 32 rows
    copyWithTiledPositions(short, long, 3);
    const a = short.parameters.param(AXIAL_COARSE);
    const b = long.parameters.param(AXIAL_COARSE);
    const d0 = a.length / 8;
    const rowOf = (i: number): number => (i >= 24 ? i - 24 : i % 3);
    for (let i = 0; i < 32; i++) {
      for (let k = 0; k < d0; k++) expect(b[i * d0 + k]).toBe(a[rowOf(i) * d0 + k]);
    }
    // period = the trained rows is plain repetition
    const plain = new ReformerModelWithLMHead(be, new ReformerConfig(passkeyConfig(mspec, 'lsh', 512)), { seed: 3 });
    copyWithTiledPositions(short, plain, 8);
    const c = plain.parameters.param(AXIAL_COARSE);
    for (let i = 0; i < c.length; i++) expect(c[i]).toBe(a[i % a.length]);
    expect(() => copyWithTiledPositions(short, long, 9)).toThrow(/period must be an integer in 1 … 8/);
  });
});

describe('passkey table', () => {
  const r = (exact: number, digit: number, near: { within: number; sequences: number; exactMatch: number | null } | null = null) => ({
    exactMatch: exact,
    digitAccuracy: digit,
    loss: 1,
    sequences: 10,
    chance: 1e-5,
    near,
  });

  it('prints exact and per-digit percent per length and model, "-" where a model was not evaluated', () => {
    const lines = passkeyTable(
      [
        { attention: 'full', eval: { '128': r(1, 1) } },
        { attention: 'local', eval: { '128': r(0.5, 0.75, { within: 381, sequences: 4, exactMatch: 0.25 }), '1024': r(0, 0.1) } },
      ],
      [128, 1024],
      5,
      381,
    );
    expect(lines[0]).toMatch(
      /^\| tokens \| chance \(exact \/ digit\) \| full exact \| full per digit \| local exact \| local per digit \| keys ≤ 381 back/,
    );
    expect(lines[2]).toMatch(/^\| 128 +\| 0\.0010% \/ 10% +\| 100\.0% +\| 100\.0% +\| 50\.0% +\| 75\.0% +\| 40\.0%, 25\.0% +\|$/);
    expect(lines[3]).toMatch(/^\| 1024 +\| 0\.0010% \/ 10% +\| - +\| - +\| 0\.0% +\| 10\.0% +\| - +\|$/);
  });
});
