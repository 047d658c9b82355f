/**
 * `reformer eval` scores what it says it scores: on the run's own data file the held-out split by
 * default (`--split val`), the whole file on other data or an HF folder, `--split train|all` on request,
 * with a `split:` line naming it; `--num-hashes` needs LSH layers; a FASTA file gets a per-letter report
 * and notes for soft-masked and ambiguous letters, and the run's `--fasta-case`/`--fasta-ambiguous`
 * carry over to eval. Bigram engine (seconds).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { bigramEngine } from '../../src/node/bigram-engine.js';
import { loadCheckpoint } from '../../src/node/checkpoint.js';
import { readCorpusFile } from '../../src/node/corpus-file.js';
import { evaluate } from '../../src/train/evaluate.js';
import { ByteTokenizer } from '../../src/train/tokenizer.js';
import { Rng } from '../../src/util/rng.js';
import { cli, CORPUS } from './helpers.js';

const bigram = { engine: bigramEngine } as const;
const tmp = (): string => mkdtempSync(join(tmpdir(), 'reformer-split-'));
const common = ['--backend', 'reference', '--seq-len', '64', '--batch', '4', '--lr', '0.1'];
const bpbOf = (stdout: string): number => Number(/^bits_per_byte: (\S+)$/m.exec(stdout)![1]);

/** Bits per byte of the run's model on `tokens`, computed directly. */
function direct(run: string, tokens: Int32Array): number {
  const ck = loadCheckpoint(run);
  const em = bigramEngine.load(new ReferenceBackend(), JSON.parse(new TextDecoder().decode(ck.config)), ck.weights);
  return evaluate(em.model, tokens, { seqLen: Math.min(64, tokens.length) }).bitsPerByte;
}

describe('eval --split', () => {
  const dir = tmp();
  const data = join(dir, 'novel.txt');
  writeFileSync(data, readFileSync(CORPUS).subarray(0, 40_000)); // 38,000 training and 2,000 held-out bytes
  const run = join(dir, 'run');

  it("on the run's own file: the held-out last 5% by default, equal to scoring those bytes directly", async () => {
    expect((await cli(['train', '--steps', '30', '--data', data, '--out', run, ...common], bigram)).code).toBe(0);
    const r = await cli(['eval', '--checkpoint', run, '--data', data, '--backend', 'reference'], bigram);
    expect(r.code).toBe(0);
    expect(r.stdout.text).toMatch(/^split: val: the held-out last 5% of the run's data, 2,000 bytes$/m);
    expect(r.stdout.text).toMatch(/^windows: 32 windows of 64 tokens; scored 1,999 bytes$/m);
    const tokens = new ByteTokenizer().encode(new Uint8Array(readFileSync(data)));
    expect(bpbOf(r.stdout.text)).toBeCloseTo(direct(run, tokens.subarray(38_000)), 5);
  });

  it('--split all and --split train name what they include and score those bytes', async () => {
    const all = await cli(['eval', '--checkpoint', run, '--data', data, '--split', 'all', '--backend', 'reference'], bigram);
    expect(all.stdout.text).toMatch(/^split: all: the whole file, including the 38,000 bytes the run trained on$/m);
    expect(all.stdout.text).toMatch(/scored 39,999 bytes$/m);
    const train = await cli(['eval', '--checkpoint', run, '--data', data, '--split', 'train', '--backend', 'reference'], bigram);
    expect(train.stdout.text).toMatch(/^split: train: the first 95% \(training part\) of the run's data, 38,000 bytes$/m);
    const tokens = new ByteTokenizer().encode(new Uint8Array(readFileSync(data)));
    expect(bpbOf(train.stdout.text)).toBeCloseTo(direct(run, tokens.subarray(0, 38_000)), 5);
    expect(bpbOf(all.stdout.text)).toBeCloseTo(direct(run, tokens), 5);
  });

  it('other data: the whole file by default; --split val splits it as training would, with a note', async () => {
    const other = join(dir, 'other.txt');
    writeFileSync(other, readFileSync(CORPUS).subarray(500_000, 510_000));
    const r = await cli(['eval', '--checkpoint', run, '--data', other, '--backend', 'reference'], bigram);
    expect(r.stdout.text).toMatch(/^split: all: the whole file \(not this run's training data, .*novel\.txt\)$/m);
    const v = await cli(['eval', '--checkpoint', run, '--data', other, '--split', 'val', '--backend', 'reference'], bigram);
    expect(v.code).toBe(0);
    expect(v.stderr.text).toMatch(
      /^note: --split val: .*other\.txt is not this run's training data; splitting it as training would \(the last 5% is "val"\)$/m,
    );
    expect(v.stdout.text).toMatch(/^split: val: the held-out last 5% of the file, 500 bytes$/m);
  });

  it('an HF folder (no trainer state): the whole file', async () => {
    const hf = join(dir, 'hf');
    mkdirSync(hf);
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(run, 'checkpoint', f), join(hf, f));
    const r = await cli(['eval', '--checkpoint', hf, '--data', data, '--backend', 'reference'], bigram);
    expect(r.stdout.text).toMatch(/^split: all: the whole file \(the checkpoint records no training data\)$/m);
  });

  it('a bad --split value, and --num-hashes on a model without LSH layers, are usage errors (exit 2)', async () => {
    const bad = await cli(['eval', '--checkpoint', run, '--data', data, '--split', 'test'], bigram);
    expect(bad.code).toBe(2);
    expect(bad.stderr.text).toBe('reformer: --split "test": must be one of val, train, all\n');
    const nh = await cli(['eval', '--checkpoint', run, '--data', data, '--num-hashes', '4', '--backend', 'reference'], bigram);
    expect(nh.code).toBe(2);
    expect(nh.stderr.text).toBe(
      'reformer: --num-hashes 4: this model has no LSH attention (only a ReformerModelWithLMHead takes a per-call num_hashes)\n',
    );
  });

  it('one window is "1 window"', async () => {
    const short = join(dir, 'short.txt');
    writeFileSync(short, readFileSync(CORPUS).subarray(9000, 9040));
    const r = await cli(['eval', '--checkpoint', run, '--data', short, '--backend', 'reference'], bigram);
    expect(r.stdout.text).toMatch(/^windows: 1 window of 40 tokens; scored 39 bytes$/m);
  });
});

/** A FASTA file of uniformly random bases from `alphabet`, 60 per line. */
function fasta(path: string, bases: number, alphabet: string, seed: number): void {
  const rng = new Rng(seed);
  let text = '>synthetic\n';
  for (let i = 0; i < bases; i += 60) {
    let line = '';
    for (let j = i; j < Math.min(i + 60, bases); j++) line += alphabet[rng.int(alphabet.length)];
    text += `${line}\n`;
  }
  writeFileSync(path, text);
}

describe('eval on FASTA: per-letter report, soft-masking and ambiguity codes', () => {
  const dir = tmp();
  const genome = join(dir, 'genome.fa');
  fasta(genome, 20_000, 'ACGT', 1);
  const masked = join(dir, 'masked.fa');
  fasta(masked, 4000, 'ACGTACGTACGTacgtN', 2); // lowercase repeats and N, as assemblies write them
  const run = join(dir, 'run');

  it('letters the model never saw cost many bits each: the report shows it and the notes name the flags', async () => {
    expect((await cli(['train', '--steps', '40', '--data', genome, '--out', run, ...common], bigram)).code).toBe(0);
    const r = await cli(['eval', '--checkpoint', run, '--data', masked, '--backend', 'reference'], bigram);
    expect(r.code).toBe(0);
    const lines = r.stdout.lines();
    const at = lines.indexOf('letter      count   share  bits per letter');
    expect(at).toBeGreaterThan(0);
    const rows = new Map(
      lines.slice(at + 1, at + 10).flatMap((l) => {
        const m = /^(\S)\s+([\d,]+)\s+([\d.]+)%\s+([\d.]+)$/.exec(l);
        return m ? [[m[1]!, { count: Number(m[2]!.replace(/,/g, '')), bits: Number(m[4]) }] as const] : [];
      }),
    );
    expect([...rows.keys()].sort().join('')).toBe('ACGNTacgt');
    const counted = readCorpusFile(masked).letters!.byLetter; // the file's own letter counts (the first base is no target)
    for (const [letter, row] of rows) expect(Math.abs(row.count - counted[letter]!)).toBeLessThanOrEqual(1);
    expect(rows.get('A')!.bits).toBeLessThan(3); // seen in training: about 2 bits
    expect(rows.get('a')!.bits).toBeGreaterThan(6); // never seen: far more than the 2 bits of a base
    expect(rows.get('N')!.bits).toBeGreaterThan(6);
    expect(r.stderr.text).toMatch(
      /^note: [\d,]+ scored bases are lowercase \(soft-masked repeats\), [\d.]+ bits each: .*--fasta-case upper folds them/m,
    );
    expect(r.stderr.text).toMatch(
      /^note: [\d,]+ scored bases are IUPAC ambiguity codes \(N, R, Y, \.\.\.\), [\d.]+ bits each; --fasta-ambiguous n .*--fasta-ambiguous drop removes them/m,
    );

    // folding and dropping: only A, C, G, T are left, and the bits per byte fall
    const folded = await cli(
      ['eval', '--checkpoint', run, '--data', masked, '--fasta-case', 'upper', '--fasta-ambiguous', 'drop', '--backend', 'reference'],
      bigram,
    );
    expect(folded.stdout.text).toMatch(
      /^data: .*masked\.fa \(fasta, 1 record, [\d,]+ bases \([\d,]+ lowercase folded to uppercase; [\d,]+ ambiguity codes dropped\)\)$/m,
    );
    expect(folded.stderr.text).not.toMatch(/^note: /m);
    expect(bpbOf(folded.stdout.text)).toBeLessThan(bpbOf(r.stdout.text) - 1);
  });

  it('a run trained with --fasta-case upper evaluates with it too (and its own file defaults to val)', async () => {
    const run2 = join(dir, 'run-upper');
    const t = await cli(['train', '--steps', '5', '--data', masked, '--fasta-case', 'upper', '--out', run2, ...common], bigram);
    expect(t.code).toBe(0);
    expect((loadCheckpoint(run2).snapshot!.state.extra as { fasta?: unknown }).fasta).toEqual({ case: 'upper', ambiguous: 'keep' });
    const r = await cli(['eval', '--checkpoint', run2, '--data', masked, '--backend', 'reference'], bigram);
    expect(r.stdout.text).toMatch(/lowercase folded to uppercase/);
    expect(r.stdout.text).toMatch(/^split: val: /m); // the same tokens as in training: the run's own data
    expect(r.stdout.text).not.toMatch(/^[acgt] /m);
  });
});
