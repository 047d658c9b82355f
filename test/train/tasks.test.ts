/**
 * Task data, masking, metrics and the task trainer: JSON Lines errors name the line; label schemes
 * from data; QA spans map back to the answer bytes (non-ASCII text included); HF's 80/10/10 masking
 * has the right proportions and never touches padding; macro-F1 and SQuAD scores on hand-computed
 * cases; the sampler and the trainer resume exactly; a tiny classifier learns.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { FormatError } from '../../src/errors.js';
import { ReformerForSequenceClassification } from '../../src/model/heads/sequence-classification.js';
import { withLabels } from '../../src/model/heads/task-config.js';
import { padBatch } from '../../src/train/tasks/batching.js';
import { classificationExamples, labelSchemeFromData } from '../../src/train/tasks/classification-data.js';
import { parseJsonLines } from '../../src/train/tasks/jsonl.js';
import { maskTokens } from '../../src/train/tasks/masking.js';
import { classificationMetrics, squadScores } from '../../src/train/tasks/metrics.js';
import { bestSpan, qaRecords, qaTrainingWindows, qaWindows, spanText } from '../../src/train/tasks/qa-data.js';
import { ExampleSampler, TaskTrainer } from '../../src/train/tasks/task-trainer.js';
import { ClassificationTask } from '../../src/train/tasks/tasks.js';
import { ByteTokenizer } from '../../src/train/tokenizer.js';
import { Rng } from '../../src/util/rng.js';

const W = 'data.jsonl';
const jl = (...objs: unknown[]): string => objs.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))).join('\n');
const tok = new ByteTokenizer();

describe('JSON Lines', () => {
  it('skips blank lines and names the line of a bad one', () => {
    expect(parseJsonLines(jl({ a: 1 }, '', { b: 2 }), W).map((r) => r.line)).toEqual([1, 3]);
    expect(() => parseJsonLines(jl({ a: 1 }, '{"text": ', { b: 2 }), W)).toThrow(/data.jsonl line 2: not valid JSON/);
    expect(() => parseJsonLines(jl({ a: 1 }, '[1, 2]'), W)).toThrow(/data.jsonl line 2: must be a JSON object/);
    expect(() => parseJsonLines('\n  \n', W)).toThrow(/data.jsonl: holds no JSON line \(the file is empty\)/);
  });
});

describe('classification data', () => {
  it('label schemes: names sorted, ids, regression, multi-label; mixed kinds and one class are refused', () => {
    const names = labelSchemeFromData(parseJsonLines(jl({ text: 'x', label: 'pos' }, { text: 'y', label: 'neg' }), W), W);
    expect(names).toMatchObject({ problemType: 'single_label_classification', names: ['neg', 'pos'] });
    expect(labelSchemeFromData(parseJsonLines(jl({ text: 'x', label: 2 }, { text: 'y', label: 0 }), W), W).names).toEqual([
      'LABEL_0',
      'LABEL_1',
      'LABEL_2',
    ]);
    expect(labelSchemeFromData(parseJsonLines(jl({ text: 'x', label: 2 }, { text: 'y', label: 0.5 }), W), W).problemType).toBe(
      'regression',
    );
    expect(labelSchemeFromData(parseJsonLines(jl({ text: 'x', label: 2 }, { text: 'y', label: 3 }), W), W, 'regression').problemType).toBe(
      'regression',
    );
    expect(labelSchemeFromData(parseJsonLines(jl({ text: 'x', label: ['a'] }, { text: 'y', label: ['b', 'c'] }), W), W)).toMatchObject({
      problemType: 'multi_label_classification',
      names: ['a', 'b', 'c'],
    });
    expect(() => labelSchemeFromData(parseJsonLines(jl({ text: 'x', label: 'a' }, { text: 'y', label: 1 }), W), W)).toThrow(
      /line 2: label 1 is a number, but line 1 has a name/,
    );
    expect(() => labelSchemeFromData(parseJsonLines(jl({ text: 'x', label: 'a' }, { text: 'y', label: 'a' }), W), W)).toThrow(
      /every label is "a": classification needs at least two classes/,
    );
    expect(() => labelSchemeFromData(parseJsonLines(jl({ text: 'x', label: 'a' }, { text: 'y' }), W), W)).toThrow(
      /data.jsonl line 2: missing field "label"/,
    );
  });

  it('examples: truncated to the length; a label outside num_labels, an unknown name, a missing text name the line', () => {
    const scheme = labelSchemeFromData(parseJsonLines(jl({ text: 'x', label: 'neg' }, { text: 'y', label: 'pos' }), W), W);
    const ex = classificationExamples(parseJsonLines(jl({ text: 'abcdefgh', label: 'pos' }, { text: 'ab', label: 0 }), W), tok, scheme, {
      seqLen: 4,
      where: W,
      requireLabels: true,
    });
    expect(ex.map((e) => [e.ids.length, e.length, e.label])).toEqual([
      [4, 8, 1],
      [2, 2, 0],
    ]);
    const run =
      (...objs: unknown[]) =>
      () =>
        classificationExamples(parseJsonLines(jl(...objs), W), tok, scheme, { seqLen: 4, where: W, requireLabels: true });
    expect(run({ text: 'a', label: 'neg' }, { text: 'b', label: 5 })).toThrow(
      /data.jsonl line 2: label 5 is outside num_labels 2 \(ids 0…1; 2 classes: 0=neg, 1=pos\)/,
    );
    expect(run({ text: 'a', label: 'maybe' })).toThrow(/line 1: label "maybe" is not a class of this model/);
    expect(run({ label: 'neg' })).toThrow(/line 1: missing field "text"/);
    expect(run({ text: '', label: 'neg' })).toThrow(/line 1: field "text" is empty/);
    expect(run({ text: 'a', label: 'neg' }, { text: 'b', label: 'pos' }, { text: 'c' })).toThrow(FormatError);
  });
});

describe('question-answering data', () => {
  const ctx = 'Ça commence à Saint-Pétersbourg: Raskolnikov quitte sa chambre.';
  const rec = { context: ctx, question: 'Qui?', answer_text: 'Raskolnikov', answer_start: Array.from(ctx).indexOf('R') };

  it('answer_start counts characters (code points); the span in tokens holds exactly the answer bytes', () => {
    const [r] = qaRecords(parseJsonLines(jl(rec), W), W, true);
    const [w] = qaTrainingWindows([r!], tok, 128, 1, W);
    expect(tok.decode(w!.ids.subarray(w!.span!.start, w!.span!.end + 1))).toBe('Raskolnikov');
    expect(w!.ids[w!.contextStart - 1]).toBe(1); // separator
    const { answer_start: _s, ...noStart } = rec;
    const [r2] = qaRecords(parseJsonLines(jl(noStart), W), W, true);
    expect(r2!.answer).toEqual(r!.answer);
    expect(spanText(r!, r!.answer!.byteStart, r!.answer!.byteEnd)).toEqual({ text: 'Raskolnikov', charStart: rec.answer_start });
    // a span cut inside "é" is widened to whole characters
    const e = new TextEncoder().encode('Ça commence à Saint-P').length;
    expect(spanText(r!, e + 1, e + 2).text).toBe('é');
  });

  it('an answer that is not in its context, a missing field or a bad offset names the line', () => {
    const run = (o: unknown) => () => qaRecords(parseJsonLines(jl(o), W), W, true);
    expect(run({ ...rec, answer_start: 3 })).toThrow(
      /line 1: the answer is not in its context: answer_text "Raskolnikov" but the context at answer_start 3 reads "commence/,
    );
    expect(run({ ...rec, answer_start: undefined, answer_text: 'Sonia' })).toThrow(
      /line 1: answer_text "Sonia" does not occur in its context/,
    );
    expect(run({ context: ctx, answer_text: 'x' })).toThrow(/line 1: missing field "question"/);
    expect(run({ ...rec, answer_start: -1 })).toThrow(/"answer_start" must be a character offset/);
  });

  it('long contexts: the training window holds the answer; evaluation windows cover the context; bestSpan finds a planted span', () => {
    const long = `${'x'.repeat(300)}the answer is here${'y'.repeat(300)}`;
    const [r] = qaRecords(parseJsonLines(jl({ context: long, question: 'q?', answer_text: 'answer' }), W), W, true);
    const [w] = qaTrainingWindows([r!], tok, 64, 1, W);
    expect(w!.ids.length).toBeLessThanOrEqual(64);
    expect(tok.decode(w!.ids.subarray(w!.span!.start, w!.span!.end + 1))).toBe('answer');
    const ws = qaWindows(r!, 0, tok, 64, 1, W);
    const covered = new Set<number>();
    for (const x of ws) for (let i = 0; i < x.contextTokens; i++) covered.add(x.contextOffset + i);
    expect(covered.size).toBe(long.length);
    const target = ws.find((x) => x.span)!;
    const start = new Float64Array(64).fill(-5);
    const end = new Float64Array(64).fill(-5);
    start[target.span!.start] = 3;
    end[target.span!.end] = 2;
    start[0] = 100; // the question part never counts
    const best = bestSpan(target, start, end, 0, 30);
    expect(spanText(r!, best.byteStart, best.byteEnd).text).toBe('answer');
    expect(() => qaTrainingWindows([r!], tok, 4, 1, W)).toThrow(/the question has 2 tokens, more than half of the model's length 4/);
  });
});

describe('masked-LM masking (HF 80/10/10)', () => {
  it('selects ~15% of the real tokens; of those ~80% mask, ~10% random, ~10% kept; padding and specials never', () => {
    const n = 200_000;
    const ids = Int32Array.from({ length: n }, (_, i) => (i % 50 === 0 ? 1 : 2 + (i % 256)));
    const mask = Int32Array.from({ length: n }, (_, i) => (i % 10 === 9 ? 0 : 1));
    const m = maskTokens(ids, mask, new Rng(3), { maskId: 0, specialIds: [0, 1], vocabSize: 258 });
    let sel = 0;
    let masked = 0;
    let kept = 0;
    let random = 0;
    let bad = 0; // an unselected position changed, padding or a special id selected, a wrong label, an id 1 drawn
    for (let i = 0; i < n; i++) {
      if (m.labels[i] === -100) {
        if (m.inputIds[i] !== ids[i]) bad++;
        continue;
      }
      if (mask[i] !== 1 || ids[i] === 1 || m.labels[i] !== ids[i] || m.inputIds[i] === 1) bad++;
      sel++;
      if (m.inputIds[i] === 0) masked++;
      else if (m.inputIds[i] === ids[i]) kept++;
      else random++;
    }
    expect(bad).toBe(0);
    const real = Array.from(ids).filter((x, i) => x !== 1 && mask[i] === 1).length;
    // binomial standard deviations: sqrt(n p (1-p)) ~ 150 for the selection; bounds at ~5 sd
    expect(Math.abs(sel / real - 0.15)).toBeLessThan(0.005);
    expect(Math.abs(masked / sel - 0.8)).toBeLessThan(0.015);
    expect(Math.abs(kept / sel - 0.1 - random / sel / 255)).toBeLessThan(0.012); // a random draw may hit the same id (1/256)
    expect(Math.abs(random / sel - 0.1)).toBeLessThan(0.012);
    expect(m.selected).toBe(sel);
  });
});

describe('metrics', () => {
  it('macro-F1 by hand: gold [0,0,1,1,2], pred [0,1,1,1,0]', () => {
    // class 0: TP1 FP1 FN1 → F1 = 2/4; class 1: TP2 FP1 FN0 → 4/5; class 2: TP0 FN1 → 0
    const m = classificationMetrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 0]);
    expect(m.accuracy).toBeCloseTo(3 / 5, 12);
    expect(m.macroF1).toBeCloseTo((0.5 + 0.8 + 0) / 3, 12);
  });

  it('SQuAD exact match and F1 after normalisation', () => {
    expect(squadScores('The Raskolnikov!', 'raskolnikov')).toEqual({ exact: 1, f1: 1 });
    // pred tokens [rodion, romanovich], gold [rodion, raskolnikov]: P = R = 1/2 → F1 = 1/2
    expect(squadScores('Rodion Romanovich', 'Rodion Raskolnikov')).toEqual({ exact: 0, f1: 0.5 });
    expect(squadScores('', 'a')).toEqual({ exact: 1, f1: 1 }); // both normalise to ''
  });
});

describe('task trainer', () => {
  const be = new ReferenceBackend();
  const L = 16;
  const config = withLabels(
    new ReformerConfig({
      vocab_size: 258,
      hidden_size: 16,
      num_attention_heads: 2,
      attention_head_size: 8,
      feed_forward_size: 32,
      attn_layers: ['local', 'lsh'],
      local_attn_chunk_length: 4,
      lsh_attn_chunk_length: 4,
      local_num_chunks_after: 1,
      lsh_num_chunks_after: 1,
      num_buckets: 4,
      num_hashes: 1,
      axial_pos_shape: [4, 4],
      axial_pos_embds_dim: [8, 8],
      max_position_embeddings: L,
      is_decoder: false,
      hidden_dropout_prob: 0,
      lsh_attention_probs_dropout_prob: 0,
      local_attention_probs_dropout_prob: 0,
      initializer_range: 0.1,
      pad_token_id: 0,
      eos_token_id: 1,
    }),
    ['a', 'b'],
  );
  const lines = Array.from({ length: 24 }, (_, i) =>
    i % 2 === 0 ? { text: `aaaa${'x'.repeat(i % 7)}`, label: 'a' } : { text: `bbbb${'y'.repeat(i % 5)}`, label: 'b' },
  );
  const scheme = labelSchemeFromData(parseJsonLines(jl(...lines), W), W);
  const examples = classificationExamples(parseJsonLines(jl(...lines), W), tok, scheme, { seqLen: L, where: W, requireLabels: true });
  const make = () => {
    const model = new ReformerForSequenceClassification(be, config, { seed: 1 });
    const task = new ClassificationTask(model, scheme, { seqLen: L, padId: 0 });
    return new TaskTrainer(task, examples, examples.slice(0, 8), { batch: 8, steps: 30, lr: 5e-3, warmupSteps: 3, seed: 5, evalEvery: 0 });
  };

  it('the sampler visits every example once per epoch and resumes by replay', () => {
    const a = new ExampleSampler(10, 3, 9);
    const first = [a.next(), a.next(), a.next(), a.next()].flat();
    expect(new Set(first.slice(0, 10)).size).toBe(10);
    const b = new ExampleSampler(10, 3, 9);
    b.next();
    b.next();
    const c = new ExampleSampler(10, 3, 1);
    c.restore(b.state());
    expect([c.next(), c.next()].flat()).toEqual(first.slice(6, 12));
  });

  it('a tiny classifier learns a separable task, and a resumed run gives the same losses', async () => {
    const t = make();
    const losses: number[] = [];
    const r = await t.run({ onStep: (s) => void losses.push(s.loss) });
    expect(r.step).toBe(30);
    expect(r.lastValidation!.metrics.accuracy).toBe(1);
    expect(losses.slice(-3).reduce((x, y) => x + y) / 3).toBeLessThan(losses.slice(0, 3).reduce((x, y) => x + y) / 3);
    // resume after step 5 from a snapshot + the parameters at that point
    const u = make();
    let snap: ReturnType<typeof u.snapshot> | null = null;
    let params: Float32Array | null = null;
    for (let s = 0; s < 5; s++) u.trainStep();
    snap = u.snapshot();
    params = Float32Array.from(u.task.model.params);
    const v = make();
    v.task.model.params.set(params);
    v.restore(snap);
    const rest: number[] = [];
    await v.run({ onStep: (s) => void rest.push(s.loss) });
    expect(rest).toEqual(losses.slice(5));
    expect(() => make().restore({ ...snap!, state: { ...snap!.state, extra: {} } })).toThrow(/not a classify run/);
  });

  it('padBatch pads on the right with a mask, and refuses a sequence that is too long', () => {
    const b = padBatch([Int32Array.of(5, 6), Int32Array.of(7, 8, 9)], 3, 0);
    expect(Array.from(b.inputIds)).toEqual([5, 6, 0, 7, 8, 9]);
    expect(Array.from(b.attentionMask!)).toEqual([1, 1, 0, 1, 1, 1]);
    expect(padBatch([Int32Array.of(1, 2)], 2, 0).attentionMask).toBeNull();
    expect(() => padBatch([Int32Array.of(1, 2, 3)], 2, 0)).toThrow(/more than the length 2/);
  });
});
