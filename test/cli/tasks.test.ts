/**
 * `reformer train --task mlm|classify|qa`, `eval` and `predict` on task checkpoints, in-process: the
 * checkpoint is an HF folder of the right class (architectures, id2label/label2id, problem_type, HF's
 * state_dict names and shapes, compared with the state_dict in the HF fixture of the same class), the
 * metrics.jsonl records, the metric lines of eval, predict's JSON lines, an exact resume, and one clear
 * line for bad input (a label outside num_labels, a missing field on line N, an empty file, a QA answer
 * that is not in its context, a task flag on another task).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { Rng } from '../../src/util/rng.js';
import { loadFixture } from '../../spec/helpers/fixtures.js';
import { tinyClassifierConfig } from '../helpers/tiny-classifier.js';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'reformer-tasks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string): string => join(dir, name);

const CONFIG = tinyClassifierConfig();
writeFileSync(p('config.json'), JSON.stringify(CONFIG));

const rng = new Rng(4);
const words = { pos: ['good', 'fine', 'happy'], neg: ['bad', 'poor', 'sad'] } as const;
const clfLine = (label: 'pos' | 'neg'): string =>
  JSON.stringify({ text: Array.from({ length: 5 }, () => words[label][rng.int(3)]).join(' '), label });
writeFileSync(p('train.jsonl'), `${Array.from({ length: 24 }, (_, i) => clfLine(i % 2 ? 'pos' : 'neg')).join('\n')}\n`);
writeFileSync(p('val.jsonl'), `${Array.from({ length: 6 }, (_, i) => clfLine(i % 2 ? 'pos' : 'neg')).join('\n')}\n`);
const base = ['--config', p('config.json'), '--batch', '4', '--eval-every', '2', '--backend', 'reference', '--lr', '3e-3'];

describe('reformer train --task classify / eval / predict', () => {
  it('trains a classifier whose checkpoint is an HF ReformerForSequenceClassification folder', async () => {
    const r = await cli([
      'train',
      '--task',
      'classify',
      '--data',
      p('train.jsonl'),
      '--validation',
      p('val.jsonl'),
      '--steps',
      '4',
      '--out',
      p('clf'),
      ...base,
    ]);
    expect(r.code, r.stderr.text).toBe(0);
    expect(r.stdout.text).toMatch(
      /data: .*train.jsonl: 24 training and 6 validation examples, 2 classes \(neg, pos\), single_label_classification/,
    );
    expect(r.stdout.text).toMatch(/validation at step 4: accuracy [\d.]+, macro-F1 [\d.]+, loss [\d.]+ \(6 examples\)/);
    const config = JSON.parse(readFileSync(p('clf/checkpoint/config.json'), 'utf8'));
    expect(config).toMatchObject({
      architectures: ['ReformerForSequenceClassification'],
      id2label: { 0: 'neg', 1: 'pos' },
      label2id: { neg: 0, pos: 1 },
      problem_type: 'single_label_classification',
      is_decoder: false,
      model_type: 'reformer',
      tie_word_embeddings: false,
    });
    // HF's state_dict of this class (the fixture's parameters, written by transformers): same names; same
    // shapes except the vocabulary (48 there, 258 bytes here)
    const ours = parseSafetensors(new Uint8Array(readFileSync(p('clf/checkpoint/model.safetensors'))));
    const hf = loadFixture('head_seqcls_3labels_pad').tensors;
    const hfNames = hf.names().filter((n) => !n.includes(':'));
    expect(ours.names().sort()).toEqual(hfNames.sort());
    for (const n of hfNames) {
      const want = [...hf.entry(n).shape];
      if (n === 'reformer.embeddings.word_embeddings.weight') want[0] = 258;
      if (n.startsWith('classifier.out_proj')) want[0] = 2; // num_labels 2 here, 3 in the fixture
      expect([...ours.entry(n).shape], n).toEqual(want);
      expect(ours.entry(n).dtype).toBe('F32');
    }
    expect(ours.metadata.format).toBe('pt');
    const records = readFileSync(p('clf/metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records.filter((x) => x.kind === 'train').map((x) => x.step)).toEqual([1, 2, 3, 4]);
    expect(records.filter((x) => x.kind === 'validation')[0]).toMatchObject({ task: 'classify', step: 2, examples: 6 });
    expect(typeof records.find((x) => x.kind === 'validation').accuracy).toBe('number');
  });

  it('eval prints accuracy and macro-F1; predict writes one JSON line per input', async () => {
    const e = await cli(['eval', '--checkpoint', p('clf'), '--data', p('val.jsonl'), '--backend', 'reference']);
    expect(e.code, e.stderr.text).toBe(0);
    const lines = e.stdout.lines();
    expect(lines.at(-2)).toMatch(/^accuracy: [01]\.\d{6}$/);
    expect(lines.at(-1)).toMatch(/^macro_f1: [01]\.\d{6}$/);
    writeFileSync(p('texts.jsonl'), '{"text": "good fine"}\n\n{"text": "bad sad", "id": 7}\n');
    const pr = await cli(['predict', '--checkpoint', p('clf'), '--data', p('texts.jsonl'), '--backend', 'reference']);
    expect(pr.code, pr.stderr.text).toBe(0);
    const out = pr.stdout.lines().map((l) => JSON.parse(l));
    expect(out.map((o) => o.line)).toEqual([1, 3]);
    for (const o of out) {
      expect(['neg', 'pos']).toContain(o.label);
      expect(o.probabilities.neg + o.probabilities.pos).toBeCloseTo(1, 12);
      expect(o.label).toBe(o.probabilities.pos >= o.probabilities.neg ? 'pos' : 'neg');
    }
    const f = await cli([
      'predict',
      '--checkpoint',
      p('clf'),
      '--data',
      p('texts.jsonl'),
      '--out',
      p('pred.jsonl'),
      '--backend',
      'reference',
    ]);
    expect(f.code).toBe(0);
    expect(readFileSync(p('pred.jsonl'), 'utf8')).toBe(pr.stdout.text);
  });

  it('a resumed run gives the losses of an uninterrupted one', async () => {
    const args = ['train', '--task', 'classify', '--data', p('train.jsonl'), '--validation', p('val.jsonl'), ...base, '--steps', '6'];
    expect((await cli([...args, '--out', p('full')])).code).toBe(0);
    // the same run stopped by its time budget after the first step(s), then resumed to step 6
    const first = await cli([...args, '--minutes', '0.0001', '--out', p('part')]);
    expect(first.stdout.text).toMatch(/time budget reached at step [1-5]\b/);
    const r = await cli(['train', '--task', 'classify', '--resume', p('part'), '--steps', '6', '--backend', 'reference']);
    expect(r.code, r.stderr.text).toBe(0);
    const losses = (run: string) =>
      readFileSync(p(`${run}/metrics.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((x) => x.kind === 'train')
        .map((x) => [x.step, x.loss]);
    expect(losses('part')).toEqual(losses('full'));
    const wrong = await cli(['train', '--task', 'qa', '--resume', p('part'), '--steps', '8']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.text).toMatch(/that run is --task classify; resume it with its own --task/);
  });

  it('bad input: one line naming the file and line', async () => {
    const run = async (args: string[]) => {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr.lines()).toHaveLength(1);
      return r.stderr.text;
    };
    writeFileSync(p('bad-label.jsonl'), '{"text": "good", "label": "neg"}\n{"text": "bad", "label": 5}\n');
    expect(await run(['eval', '--checkpoint', p('clf'), '--data', p('bad-label.jsonl')])).toMatch(
      /--data .*bad-label.jsonl line 2: label 5 is outside num_labels 2 \(ids 0…1; 2 classes: 0=neg, 1=pos\)/,
    );
    writeFileSync(p('no-text.jsonl'), '{"text": "good", "label": "neg"}\n{"txt": "bad", "label": "pos"}\n');
    expect(await run(['train', '--task', 'classify', '--data', p('no-text.jsonl'), '--out', p('x1'), ...base, '--steps', '1'])).toMatch(
      /line 2: missing field "text"/,
    );
    writeFileSync(p('empty.jsonl'), '');
    expect(await run(['train', '--task', 'classify', '--data', p('empty.jsonl'), '--out', p('x2'), '--steps', '1'])).toMatch(
      /empty.jsonl: holds no JSON line \(the file is empty\)/,
    );
    writeFileSync(p('qa-bad.jsonl'), '{"context": "Sonia reads.", "question": "Who?", "answer_text": "Dounia", "answer_start": 0}\n');
    expect(await run(['train', '--task', 'qa', '--data', p('qa-bad.jsonl'), '--out', p('x3'), '--steps', '1'])).toMatch(
      /qa-bad.jsonl line 1: the answer is not in its context: answer_text "Dounia" but the context at answer_start 0 reads "Sonia "/,
    );
    expect(await run(['train', '--task', 'classify', '--data', p('train.jsonl'), '--mlm-probability', '0.2', '--out', p('x4')])).toMatch(
      /--mlm-probability applies to --task mlm only/,
    );
    expect(await run(['train', '--task', 'sentiment', '--data', p('train.jsonl')])).toMatch(
      /--task "sentiment": must be one of lm, mlm, classify, qa/,
    );
  });
});

describe('reformer train --task qa / mlm', () => {
  it('question answering: trains, eval reports exact match and F1, predict gives spans of the context', async () => {
    const ctxText = (k: number) => `Raskolnikov went out. The number is ${1000 + k}. He walked.`;
    const lines = Array.from({ length: 10 }, (_, k) => {
      const c = ctxText(k);
      return JSON.stringify({ context: c, question: 'Number?', answer_text: String(1000 + k), answer_start: c.indexOf(String(1000 + k)) });
    });
    writeFileSync(p('qa.jsonl'), `${lines.join('\n')}\n`);
    const cfg = { ...CONFIG, axial_pos_shape: [8, 8], max_position_embeddings: 64 };
    writeFileSync(p('config64.json'), JSON.stringify(cfg));
    const args = ['--config', p('config64.json'), '--batch', '4', '--backend', 'reference', '--eval-every', '0'];
    const r = await cli([
      'train',
      '--task',
      'qa',
      '--data',
      p('qa.jsonl'),
      '--val-fraction',
      '0.2',
      '--steps',
      '2',
      '--out',
      p('qa'),
      ...args,
    ]);
    expect(r.code, r.stderr.text).toBe(0);
    expect(JSON.parse(readFileSync(p('qa/checkpoint/config.json'), 'utf8')).architectures).toEqual(['ReformerForQuestionAnswering']);
    const e = await cli(['eval', '--checkpoint', p('qa'), '--data', p('qa.jsonl'), '--backend', 'reference']);
    expect(e.code, e.stderr.text).toBe(0);
    expect(e.stdout.lines().at(-2)).toMatch(/^exact_match: \d+\.\d{6}$/);
    expect(e.stdout.lines().at(-1)).toMatch(/^f1: \d+\.\d{6}$/);
    const pr = await cli(['predict', '--checkpoint', p('qa'), '--data', p('qa.jsonl'), '--backend', 'reference']);
    expect(pr.code).toBe(0);
    pr.stdout.lines().forEach((l, k) => {
      const o = JSON.parse(l);
      expect(Array.from(ctxText(k)).slice(o.start, o.end).join('')).toBe(o.answer); // a span of its own context
    });
  });

  it('masked LM: trains on a text file and eval reports bits per masked byte', async () => {
    writeFileSync(p('text.txt'), 'Raskolnikov walked along the bridge and thought of the old woman. '.repeat(12));
    const r = await cli([
      'train',
      '--task',
      'mlm',
      '--data',
      p('text.txt'),
      '--steps',
      '2',
      '--mlm-probability',
      '0.3',
      '--out',
      p('mlm'),
      ...base,
    ]);
    expect(r.code, r.stderr.text).toBe(0);
    expect(r.stdout.text).toMatch(/windows of 32 tokens, masking 0.3/);
    expect(JSON.parse(readFileSync(p('mlm/checkpoint/config.json'), 'utf8')).architectures).toEqual(['ReformerForMaskedLM']);
    const e = await cli(['eval', '--checkpoint', p('mlm'), '--data', p('text.txt'), '--backend', 'reference']);
    expect(e.code, e.stderr.text).toBe(0);
    const bpb = Number(e.stdout.lines().at(-1)!.replace('bits_per_byte: ', ''));
    expect(bpb).toBeGreaterThan(1);
    expect(bpb).toBeLessThan(12);
  });
});
