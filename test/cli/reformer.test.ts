/**
 * The CLI with its real engine: a tiny Reformer trains, evaluates and samples from its checkpoint, and
 * from the same weights as a plain HuggingFace folder (config.json + model.safetensors, no manifest).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/node/checkpoint.js';
import { cli, writeRandomFasta } from './helpers.js';

describe('reformer train / eval / generate with ReformerModelWithLMHead', () => {
  it('tiny preset on a FASTA genome: HF checkpoint files, bits per byte, a sample of bases', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reformer-real-'));
    const run = join(dir, 'run');
    const data = join(dir, 'genome.fa');
    writeRandomFasta(data, 2, 4000);
    const t = await cli([
      'train',
      '--preset',
      'tiny',
      '--seq-len',
      '128',
      '--batch',
      '2',
      '--steps',
      '8',
      '--eval-every',
      '4',
      '--eval-windows',
      '2',
      '--lr',
      '0.003',
      '--data',
      data,
      '--out',
      run,
    ]);
    expect(t.stderr.text).toBe('');
    expect(t.code).toBe(0);
    expect(t.stdout.text).toMatch(/^model: reformer tiny: 2 layers \(local\/lsh\), hidden 64, .* sequence 128/m);
    const ck = loadCheckpoint(run);
    const config = JSON.parse(new TextDecoder().decode(ck.config));
    expect(config).toMatchObject({ model_type: 'reformer', axial_pos_shape: [8, 16], max_position_embeddings: 128, is_decoder: true });
    expect(ck.snapshot!.state.step).toBe(8);
    expect(ck.snapshot!.state.modelRandom).toHaveLength(4); // the model's RNG travels with the checkpoint

    const e = await cli(['eval', '--checkpoint', run, '--data', data, '--batch', '16', '--split', 'all']);
    expect(e.code).toBe(0);
    const bpb = Number(/^bits_per_byte: (\d+\.\d+)$/.exec(e.stdout.lines().at(-1)!)![1]);
    expect(bpb).toBeGreaterThan(1);
    expect(bpb).toBeLessThan(8.1); // 8 steps: far from the 2 bits of four bases, but a number
    // the run's own file: by default only its held-out last 5% (400 of the 8000 bases) is scored
    const val = await cli(['eval', '--checkpoint', run, '--data', data, '--batch', '16']);
    expect(val.stdout.text).toMatch(/^split: val: the held-out last 5% of the run's data, 400 bytes$/m);
    expect(val.stdout.text).toMatch(/^windows: 4 windows of 128 tokens; scored 399 bytes$/m);

    const tooLong = await cli(['eval', '--checkpoint', run, '--data', data, '--seq-len', '4096']);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr.text).toBe(
      'reformer: --seq-len 4096: this model takes at most 128 tokens per window; --extend-positions repeat evaluates longer windows with the axial position table repeated (period 128)\n',
    );

    const g = await cli(['generate', '--checkpoint', run, '--prompt', 'GATTACA', '--max-new-tokens', '12', '--seed', '5']);
    expect(g.code).toBe(0);
    expect([...g.stdout.text].length).toBeLessThanOrEqual(12);
    const again = await cli(['generate', '--checkpoint', run, '--prompt', 'GATTACA', '--max-new-tokens', '12', '--seed', '5']);
    expect(again.stdout.text).toBe(g.stdout.text);
    // the cache by default, --no-cache re-runs the model; both end with tokens/s on stderr
    expect(g.stderr.lines().at(-1)).toMatch(
      /^generated 12 tokens in \d+\.\d\d s: \d+\.\d tokens\/s \(first token after \d+\.\d\d s; cache on\)$/,
    );
    const plain = await cli([
      'generate',
      '--checkpoint',
      run,
      '--prompt',
      'GATTACA',
      '--max-new-tokens',
      '12',
      '--seed',
      '5',
      '--no-cache',
    ]);
    expect(plain.code).toBe(0);
    expect(plain.stderr.lines().at(-1)).toMatch(/^generated 12 tokens in .* tokens\/s \(first token after .*; no cache\)$/);
    expect([...plain.stdout.text].length).toBeLessThanOrEqual(12);
    expect(readFileSync(join(run, 'training.svg'), 'utf8')).toContain('<svg');

    // the same weights as a plain HuggingFace folder (save_pretrained layout, no manifest): read as it is
    const hf = join(dir, 'hf');
    mkdirSync(hf);
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(run, 'checkpoint', f), join(hf, f));
    const hfEval = await cli(['eval', '--checkpoint', hf, '--data', data, '--batch', '16']);
    expect(hfEval.code).toBe(0);
    expect(hfEval.stdout.lines().at(-1)).toBe(e.stdout.lines().at(-1));
    expect(hfEval.stdout.text).toMatch(/^split: all: the whole file \(the checkpoint records no training data\)$/m);
    const hfGen = await cli(['generate', '--checkpoint', hf, '--prompt', 'GATTACA', '--max-new-tokens', '12', '--seed', '5']);
    expect(hfGen.stdout.text).toBe(g.stdout.text);
    const hfResume = await cli(['train', '--resume', hf, '--steps', '9']);
    expect(hfResume.code).toBe(2);
    expect(hfResume.stderr.text).toMatch(
      /^reformer: FormatError: --resume .*hf: the checkpoint has no trainer state \(inference only\); nothing to resume\n$/,
    );
  });
});
