/**
 * `reformer eval` on data shorter than the model's window: without --seq-len it scores the file as one
 * shorter window (with a note on stderr); an explicit --seq-len longer than the data, or a 1-byte file,
 * is a usage error naming the flag and what fits.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { bigramEngine } from '../../src/node/bigram-engine.js';
import { loadCheckpoint } from '../../src/node/checkpoint.js';
import { evaluate } from '../../src/train/evaluate.js';
import { ByteTokenizer } from '../../src/train/tokenizer.js';
import { cli, CORPUS } from './helpers.js';

const bigram = { engine: bigramEngine } as const;

describe('eval on data shorter than one window', () => {
  const dir = mkdtempSync(join(tmpdir(), 'reformer-short-'));
  const run = join(dir, 'run');
  const short = join(dir, 'short.txt');
  writeFileSync(short, readFileSync(CORPUS).subarray(5000, 5030)); // 30 bytes; the model's window is 64

  it('scores the whole file as one window, says so, and equals evaluating it directly', async () => {
    const t = await cli(['train', '--steps', '20', '--out', run, '--backend', 'reference', '--seq-len', '64', '--batch', '2'], bigram);
    expect(t.code).toBe(0);
    const r = await cli(['eval', '--checkpoint', run, '--data', short, '--backend', 'reference'], bigram);
    expect(r.code).toBe(0);
    expect(r.stderr.text).toMatch(/^note: .*short\.txt has 30 bytes, less than the model's window of 64: scoring it as one window of 30$/m);
    const ck = loadCheckpoint(run);
    const em = bigramEngine.load(new ReferenceBackend(), JSON.parse(new TextDecoder().decode(ck.config)), ck.weights);
    const want = evaluate(em.model, new ByteTokenizer().encode(new Uint8Array(readFileSync(short))), { seqLen: 30 }).bitsPerByte;
    expect(Number(r.stdout.lines().at(-1)!.split(' ')[1])).toBeCloseTo(want, 5);
  });

  it('an explicit --seq-len longer than the data, or a 1-byte file, exits 2 with one line', async () => {
    const long = await cli(['eval', '--checkpoint', run, '--data', short, '--seq-len', '64', '--backend', 'reference'], bigram);
    expect(long.code).toBe(2);
    expect(long.stderr.text).toMatch(
      /^reformer: --seq-len 64: .*short\.txt has only 30 bytes, less than one window; pass --seq-len 30 or less\n$/,
    );
    const one = join(dir, 'one.txt');
    writeFileSync(one, 'x');
    const tiny = await cli(['eval', '--checkpoint', run, '--data', one, '--backend', 'reference'], bigram);
    expect(tiny.code).toBe(2);
    expect(tiny.stderr.text).toMatch(/^reformer: --data .*one\.txt: 1 byte; scoring needs at least 2/);
  });
});
