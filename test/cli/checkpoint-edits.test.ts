/**
 * Checkpoints changed by hand: an edited config.json is refused with the way forward
 * (`reformer checkpoint rehash`), which checks the files and records them, or refuses a config the
 * model cannot load (manifest untouched); a damaged trainer_state.json blocks only what needs it
 * (`train --resume`): eval, generate and verify warn on stderr and go on. Bigram engine, plus one tiny
 * Reformer for the LSH-only checks.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bigramEngine } from '../../src/node/bigram-engine.js';
import { writeManifest } from '../../src/node/atomic.js';
import { loadCheckpoint } from '../../src/node/checkpoint.js';
import { cli, CORPUS } from './helpers.js';

const bigram = { engine: bigramEngine, engines: [bigramEngine] } as const;
const tmp = (): string => mkdtempSync(join(tmpdir(), 'reformer-edit-'));
const common = ['--backend', 'reference', '--seq-len', '64', '--batch', '4', '--lr', '0.1'];

async function trainedRun(): Promise<string> {
  const run = join(tmp(), 'run');
  const r = await cli(['train', '--steps', '6', '--out', run, ...common], bigram);
  expect(r.code).toBe(0);
  return run;
}

describe('an edited config.json', () => {
  it('is refused with the rehash hint; checkpoint rehash records it and eval works again', async () => {
    const run = await trainedRun();
    const cfgPath = join(run, 'checkpoint', 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(cfgPath, `${JSON.stringify({ ...cfg, comment: 'edited by hand' }, null, 2)}\n`);
    const refused = await cli(['eval', '--checkpoint', run, '--data', CORPUS, '--backend', 'reference'], bigram);
    expect(refused.code).toBe(2);
    expect(refused.stderr.text).toMatch(
      /^reformer: FormatError: .*checkpoint: config\.json has \d+ bytes, the manifest says \d+; if you changed it on purpose, record the new contents with `reformer checkpoint rehash .*checkpoint` \(it checks the files first\); else restore the file or use another checkpoint\n$/,
    );
    const weightsBefore = readFileSync(join(run, 'checkpoint', 'model.safetensors'));
    const stateBefore = readFileSync(join(run, 'checkpoint', 'trainer_state.json'));

    const r = await cli(['checkpoint', 'rehash', run], bigram);
    expect(r.stderr.text).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.lines()).toEqual([
      expect.stringMatching(/^config\.json: \d+ bytes \(was \d+\)$/),
      'model.safetensors: unchanged',
      'trainer_state.json: unchanged',
      'optimizer.safetensors: unchanged',
      expect.stringMatching(/checkpoint: the manifest now records the current files$/),
    ]);
    const ck = loadCheckpoint(run);
    expect(JSON.parse(new TextDecoder().decode(ck.config)).comment).toBe('edited by hand');
    expect(Buffer.from(ck.weights).equals(weightsBefore)).toBe(true);
    expect(readFileSync(join(run, 'checkpoint', 'trainer_state.json')).equals(stateBefore)).toBe(true);
    expect(ck.snapshot!.state.step).toBe(6);
    const ok = await cli(['eval', '--checkpoint', run, '--data', CORPUS, '--backend', 'reference', '--split', 'val'], bigram);
    expect(ok.code).toBe(0);
    // and training continues from it
    expect((await cli(['train', '--resume', run, '--steps', '8'], bigram)).code).toBe(0);
  });

  it('rehash refuses a config the model cannot load, and leaves the manifest as it was', async () => {
    const run = await trainedRun();
    const cfgPath = join(run, 'checkpoint', 'config.json');
    const manifest = readFileSync(join(run, 'checkpoint', 'manifest.json'));
    writeFileSync(cfgPath, '{"model_type": "bigram", "vocab_size": 300}\n');
    const r = await cli(['checkpoint', 'rehash', run], bigram);
    expect(r.code).toBe(2);
    expect(r.stderr.text).toBe('reformer: ConfigError: vocab_size: bigram checkpoints use the byte vocabulary of 258 ids, got 300\n');
    expect(readFileSync(join(run, 'checkpoint', 'manifest.json')).equals(manifest)).toBe(true);
  });

  it('rehash of a truncated model.safetensors names the folder and rewrites nothing', async () => {
    const run = await trainedRun();
    const wPath = join(run, 'checkpoint', 'model.safetensors');
    const manifest = readFileSync(join(run, 'checkpoint', 'manifest.json'));
    const weights = readFileSync(wPath);
    writeFileSync(wPath, weights.subarray(0, weights.length - 10));
    const r = await cli(['checkpoint', 'rehash', run], bigram);
    expect(r.code).toBe(2);
    expect(r.stderr.text).toMatch(/^reformer: FormatError: .*checkpoint: .*safetensors.*; nothing was rewritten\n$/);
    expect(readFileSync(join(run, 'checkpoint', 'manifest.json')).equals(manifest)).toBe(true);
    expect(readFileSync(wPath).length).toBe(weights.length - 10);
  });

  it('rehash of a folder without a manifest (an HF folder) says there is nothing to rehash', async () => {
    const run = await trainedRun();
    rmSync(join(run, 'checkpoint', 'manifest.json'));
    rmSync(join(run, 'checkpoint', 'trainer_state.json'));
    rmSync(join(run, 'checkpoint', 'optimizer.safetensors'));
    const r = await cli(['checkpoint', 'rehash', run], bigram);
    expect(r.code).toBe(2);
    expect(r.stderr.text).toMatch(
      /^reformer: checkpoint rehash .*: .*checkpoint has no manifest\.json \(a HuggingFace folder: it is read as it is, with nothing to rehash\)\n$/,
    );
  });
});

describe('a damaged trainer_state.json', () => {
  it('eval and generate warn on stderr and go on; resume is refused', async () => {
    const run = await trainedRun();
    const data = join(tmp(), 'some.txt');
    writeFileSync(data, readFileSync(CORPUS).subarray(0, 20_000));
    writeFileSync(join(run, 'checkpoint', 'trainer_state.json'), '{"step": 6, "trunc');
    const e = await cli(['eval', '--checkpoint', run, '--data', data, '--backend', 'reference'], bigram);
    expect(e.code).toBe(0);
    expect(e.stderr.lines()[0]).toMatch(
      /^warning: .*checkpoint: trainer_state\.json has \d+ bytes, the manifest says \d+; .*; eval does not need the trainer state, going on \(resuming this run would be refused\)$/,
    );
    expect(e.stdout.text).toMatch(/^split: all: the whole file \(the checkpoint records no training data\)$/m);
    expect(e.stdout.lines().at(-1)).toMatch(/^bits_per_byte: \d+\.\d+$/);
    const g = await cli(['generate', '--checkpoint', run, '--prompt', 'The ', '--max-new-tokens', '5', '--backend', 'reference'], bigram);
    expect(g.code).toBe(0);
    expect(g.stderr.lines()[0]).toMatch(/^warning: .*trainer_state\.json .*; generate does not need the trainer state, going on/);
    expect(g.stdout.text.length).toBeGreaterThan(0);
    const resume = await cli(['train', '--resume', run, '--steps', '8'], bigram);
    expect(resume.code).toBe(2);
    expect(resume.stderr.text).toMatch(/^reformer: FormatError: .*trainer_state\.json has \d+ bytes, the manifest says \d+/);
  });

  it('a trainer state the manifest lists but that is not one: eval warns; rehash refuses it, or drops the deleted trainer files', async () => {
    const run = await trainedRun();
    const ckDir = join(run, 'checkpoint');
    writeFileSync(join(ckDir, 'trainer_state.json'), '{"format": "something else"}\n');
    const files = Object.fromEntries(
      ['config.json', 'model.safetensors', 'trainer_state.json', 'optimizer.safetensors'].map((f) => [
        f,
        new Uint8Array(readFileSync(join(ckDir, f))),
      ]),
    );
    writeManifest(ckDir, files); // as a tool that wrote the manifest without checking would
    const data = join(tmp(), 'some.txt');
    writeFileSync(data, readFileSync(CORPUS).subarray(0, 5000));
    const e = await cli(['eval', '--checkpoint', run, '--data', data, '--backend', 'reference'], bigram);
    expect(e.code).toBe(0);
    expect(e.stderr.lines()[0]).toMatch(
      /^warning: .*trainer_state\.json: "format" is not "reformer-ts\.trainer-state"; eval does not need the trainer state, going on/,
    );
    const refused = await cli(['checkpoint', 'rehash', run], bigram);
    expect(refused.code).toBe(2); // rehash will not record an invalid state
    expect(refused.stderr.text).toMatch(/; fix it, or delete both trainer_state\.json and optimizer\.safetensors and rehash again/);
    // record it anyway by deleting the trainer files: the checkpoint becomes inference-only
    rmSync(join(run, 'checkpoint', 'trainer_state.json'));
    rmSync(join(run, 'checkpoint', 'optimizer.safetensors'));
    const r = await cli(['checkpoint', 'rehash', run], bigram);
    expect(r.code).toBe(0);
    expect(r.stdout.text).toMatch(/^trainer_state\.json: deleted: no longer listed \(the checkpoint is inference-only now\)$/m);
    const ck = loadCheckpoint(run);
    expect(ck.snapshot).toBeNull();
    expect(Object.keys(ck.manifest!.files).sort()).toEqual(['config.json', 'model.safetensors']);
  });
});
