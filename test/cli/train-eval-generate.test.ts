/**
 * The CLI's machinery end to end on the bigram engine (seconds): train writes a loadable checkpoint,
 * metrics and an SVG; eval prints bits per byte last; generate streams; a run interrupted again and
 * again by its time budget and resumed each time trains exactly like an uninterrupted one.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { bigramEngine } from '../../src/node/bigram-engine.js';
import { loadCheckpoint } from '../../src/node/checkpoint.js';
import { evaluate } from '../../src/train/evaluate.js';
import { ByteTokenizer } from '../../src/train/tokenizer.js';
import { cli, CORPUS, writeRandomFasta } from './helpers.js';

const bigram = { engine: bigramEngine } as const;
const tmp = (): string => mkdtempSync(join(tmpdir(), 'reformer-e2e-'));
const trainLosses = (runDir: string): [number, number][] =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; step: number; loss: number })
    .filter((r) => r.kind === 'train')
    .map((r) => [r.step, r.loss]);

describe('train -> eval -> generate (bigram engine)', () => {
  const run = join(tmp(), 'run');
  const common = ['--backend', 'reference', '--seq-len', '64', '--batch', '4', '--lr', '0.1'];

  it('the plan line says "at the end only" for --eval-every 0 and --checkpoint-every 0 (not "every 0 / 0 steps")', async () => {
    const r = await cli(
      ['train', '--steps', '2', '--eval-every', '0', '--checkpoint-every', '0', '--out', join(tmp(), 'run0'), ...common],
      bigram,
    );
    expect(r.code).toBe(0);
    expect(r.stdout.text).toMatch(/validation at the end only, checkpoint at the end only -> /);
  });

  it('train writes a complete checkpoint, metrics.jsonl and training.svg, and learns', async () => {
    const r = await cli(['train', '--steps', '120', '--eval-every', '40', '--out', run, ...common], bigram);
    expect(r.stderr.text).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout.text;
    expect(out).toMatch(/^model: bigram baseline/m);
    expect(out).toMatch(/^step 1\/120 \| loss \d+\.\d{4} \| bpb \d+\.\d{4} \| [\d,]+ tok\/s/m);
    expect(out).toMatch(/^validation at step 40: \d+\.\d{4} bits per byte/m);
    expect(out).toMatch(/validation every 40 steps, checkpoint every \d+ steps -> /);
    expect(out).toMatch(/^step budget reached at step 120$/m);
    const ck = loadCheckpoint(run);
    expect(ck.snapshot!.state.step).toBe(120);
    expect(ck.snapshot!.state.extra).toMatchObject({ tokenizer: 'bytes', model_seed: 1 });
    const svg = readFileSync(join(run, 'training.svg'), 'utf8');
    expect(svg).toMatch(/^<svg[\s\S]*bits per byte[\s\S]*validation[\s\S]*<\/svg>$/);
    const vals = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"validation"'))
      .map((l) => JSON.parse(l).bits_per_byte);
    expect(vals.length).toBe(3);
    expect(vals[2]).toBeLessThan(vals[0]);
  });

  it('eval prints bits_per_byte last, equal to evaluating the loaded model directly', async () => {
    const data = join(tmp(), 'tail.txt');
    writeFileSync(data, readFileSync(CORPUS).subarray(-100_000)); // the held-out end of the corpus
    const r = await cli(['eval', '--checkpoint', run, '--data', data, '--batch', '8', '--backend', 'reference'], bigram);
    expect(r.code).toBe(0);
    const last = r.stdout.lines().at(-1)!;
    expect(last).toMatch(/^bits_per_byte: \d+\.\d{6}$/);
    expect(r.stdout.text).toMatch(/scored 99,999 bytes/);
    const ck = loadCheckpoint(run);
    const em = bigramEngine.load(new ReferenceBackend(), JSON.parse(new TextDecoder().decode(ck.config)), ck.weights);
    const want = evaluate(em.model, new ByteTokenizer().encode(new Uint8Array(readFileSync(data))), { seqLen: 64 }).bitsPerByte;
    expect(Number(last.split(' ')[1])).toBeCloseTo(want, 5);
  });

  it('generate streams a seeded sample: same seed, same text; greedy is deterministic', async () => {
    const g = (seed: string, extra: string[] = []): Promise<{ code: number; stdout: { text: string } }> =>
      cli(
        ['generate', '--checkpoint', run, '--prompt', 'The ', '--max-new-tokens', '40', '--seed', seed, '--backend', 'reference', ...extra],
        bigram,
      );
    const a = await g('3');
    const b = await g('3');
    const c = await g('4');
    expect(a.code).toBe(0);
    expect([...a.stdout.text].length).toBeLessThanOrEqual(40); // one character (or U+FFFD) per byte at most
    expect(a.stdout.text.length).toBeGreaterThan(0);
    expect(b.stdout.text).toBe(a.stdout.text);
    expect(c.stdout.text).not.toBe(a.stdout.text);
    const greedy1 = await g('1', ['--temperature', '0']);
    const greedy2 = await g('2', ['--temperature', '0']);
    expect(greedy2.stdout.text).toBe(greedy1.stdout.text);
  });

  it('refuses to overwrite another run (exit 2), and trains on a gzipped FASTA genome', async () => {
    const again = await cli(['train', '--steps', '5', '--out', run, ...common], bigram);
    expect(again.code).toBe(2);
    expect(again.stderr.text).toMatch(/already holds a checkpoint; continue it with --resume/);
    const dna = join(tmp(), 'dna');
    const genome = join(tmp(), 'genome.fna.gz');
    writeRandomFasta(genome, 3, 20_000);
    const r = await cli(['train', '--data', genome, '--steps', '30', '--out', dna, ...common], bigram);
    expect(r.code).toBe(0);
    expect(r.stdout.text).toMatch(/fasta, 3 records, 60,000 bases/);
    // four equally likely bases: a bigram model quickly gets close to the optimum of 2 bits per base
    expect(loadCheckpoint(dna).snapshot!.state.lastValidation!.bitsPerByte).toBeLessThan(2.3);
  });
});

describe('resume', () => {
  it('a run cut by its time budget and resumed until done trains exactly like an uninterrupted run', async () => {
    const args = ['--backend', 'reference', '--seq-len', '64', '--batch', '8', '--steps', '600', '--eval-every', '50', '--lr', '0.05'];
    const whole = join(tmp(), 'whole');
    expect((await cli(['train', '--out', whole, ...args], bigram)).code).toBe(0);

    const cut = join(tmp(), 'cut');
    const first = await cli(['train', '--out', cut, ...args, '--minutes', '0.003'], bigram);
    expect(first.code).toBe(0);
    expect(first.stdout.text).toMatch(/time budget reached at step \d+/); // really interrupted
    let rounds = 0;
    while (!existsSync(join(cut, 'done'))) {
      const r = await cli(['train', '--resume', cut], bigram);
      expect(r.code).toBe(0);
      expect(r.stdout.text).toMatch(/training from step \d+ until step 600/);
      if (/step budget reached at step 600/.test(r.stdout.text)) break;
      if (++rounds > 200) throw new Error('resumed run never finished');
    }
    const got = trainLosses(cut);
    const want = trainLosses(whole);
    const firstDiff = got.findIndex((x, i) => x[0] !== want[i]?.[0] || x[1] !== want[i]?.[1]);
    expect(firstDiff, `first difference at ${JSON.stringify(got[firstDiff])} vs ${JSON.stringify(want[firstDiff])}`).toBe(-1);
    expect(got.length).toBe(want.length);
    expect(readFileSync(join(cut, 'checkpoint', 'model.safetensors'))).toEqual(
      readFileSync(join(whole, 'checkpoint', 'model.safetensors')),
    );
  });

  it('a NaN loss exits 1 with one line naming the step, and leaves the checkpoint intact', async () => {
    const run = join(tmp(), 'nan');
    expect(
      (await cli(['train', '--out', run, '--backend', 'reference', '--seq-len', '32', '--steps', '4', '--warmup', '1'], bigram)).code,
    ).toBe(0);
    // poison the weights of the saved model (through the engine, so the checkpoint stays well-formed)
    const ck = loadCheckpoint(run);
    const em = bigramEngine.load(new ReferenceBackend(), { vocab_size: 258 }, ck.weights);
    em.model.params.fill(NaN, 258 * 258);
    const { saveCheckpoint } = await import('../../src/node/checkpoint.js');
    saveCheckpoint(ck.dir, { config: new TextDecoder().decode(ck.config), weights: em.weights(), snapshot: ck.snapshot });
    const before = readFileSync(join(run, 'checkpoint', 'model.safetensors'));
    const r = await cli(['train', '--resume', run, '--steps', '8'], bigram);
    expect(r.code).toBe(1);
    expect(r.stderr.lines()).toEqual([
      'reformer: NumericalError: step 5: the loss is NaN over 3968 target tokens; the parameters were not updated. The last checkpoint (step 4) is intact: resume from it with a lower learning rate or stronger gradient clipping.',
    ]);
    expect(readFileSync(join(run, 'checkpoint', 'model.safetensors'))).toEqual(before);
  });

  it('resuming an inference-only or damaged checkpoint is a clear input error', async () => {
    const run = join(tmp(), 'r');
    expect((await cli(['train', '--out', run, '--backend', 'reference', '--seq-len', '32', '--steps', '3'], bigram)).code).toBe(0);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(run, 'checkpoint', 'optimizer.safetensors'), 'garbage');
    const r = await cli(['train', '--resume', run], bigram);
    expect(r.code).toBe(2);
    expect(r.stderr.text).toMatch(
      /^reformer: FormatError: .*optimizer\.safetensors has 7 bytes, the manifest says \d+; if you changed it on purpose, .*\n$/,
    );
  });
});
