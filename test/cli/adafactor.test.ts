/**
 * `reformer train --optimizer adamw|adafactor`: a tiny Reformer trains with Adafactor (its own default
 * --lr), writes a checkpoint that resumes with Adafactor, and a run keeps its optimizer; a bad value is
 * a usage error naming the allowed values.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { loadCheckpoint } from '../../src/node/checkpoint.js';
import { TRAIN_LR } from '../../src/train/plan.js';
import { cli, writeRandomFasta } from './helpers.js';

describe('reformer train --optimizer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'reformer-adafactor-'));
  const data = join(dir, 'genome.fa');
  writeRandomFasta(data, 2, 4000);
  const common = ['--preset', 'tiny', '--seq-len', '128', '--batch', '2', '--eval-every', '3', '--eval-windows', '2', '--data', data];

  it('adafactor: trains a tiny Reformer, writes a checkpoint that resumes with Adafactor; the other optimizer is refused on resume', async () => {
    const run = join(dir, 'af');
    const t = await cli(['train', ...common, '--steps', '6', '--optimizer', 'adafactor', '--out', run]);
    expect(t.stderr.text).toBe('');
    expect(t.code).toBe(0);
    expect(t.stdout.text).toContain(`Adafactor lr ${TRAIN_LR.tiny!.adafactor} (cosine`);
    const ck = loadCheckpoint(run);
    expect(ck.snapshot!.state.step).toBe(6);
    expect(ck.snapshot!.state.options).toMatchObject({
      lr: TRAIN_LR.tiny!.adafactor,
      optimizer: { name: 'adafactor', scaleParameter: true, relativeStep: false },
    });
    const state = parseSafetensors(ck.snapshot!.optimizer);
    expect(state.metadata).toMatchObject({ format: 'reformer-ts.adafactor', step: '6' });
    expect(state.entry('reformer.embeddings.word_embeddings.weight.row').shape).toEqual([258]);

    const r = await cli(['train', '--resume', run, '--steps', '8']);
    expect(r.stderr.text).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.text).toMatch(new RegExp(`^training from step 6 until step 8: .* Adafactor lr ${TRAIN_LR.tiny!.adafactor} `, 'm'));
    const after = loadCheckpoint(run);
    expect(after.snapshot!.state.step).toBe(8);
    expect(parseSafetensors(after.snapshot!.optimizer).metadata.step).toBe('8');

    const other = await cli(['train', '--resume', run, '--steps', '10', '--optimizer', 'adamw']);
    expect(other.code).toBe(2);
    expect(other.stderr.lines()).toHaveLength(1);
    expect(other.stderr.text).toMatch(
      /^reformer: --optimizer adamw: .* was trained with Adafactor, and a run keeps its optimizer .*; leave --optimizer out to resume with Adafactor, or start a new run/,
    );
    expect(loadCheckpoint(run).snapshot!.state.step).toBe(8); // untouched
    // naming the same optimizer again is fine
    const same = await cli(['train', '--resume', run, '--steps', '9', '--optimizer', 'adafactor']);
    expect(same.code).toBe(0);
  });

  it("adamw (the default): --lr defaults to AdamW's; resuming it with --optimizer adafactor is refused", async () => {
    const run = join(dir, 'adamw');
    const t = await cli(['train', ...common, '--steps', '3', '--out', run]);
    expect(t.code).toBe(0);
    expect(t.stdout.text).toContain(`AdamW lr ${TRAIN_LR.tiny!.adamw} (cosine`);
    expect(loadCheckpoint(run).snapshot!.state.options.optimizer).toMatchObject({ name: 'adamw' });
    const r = await cli(['train', '--resume', run, '--steps', '5', '--optimizer', 'adafactor']);
    expect(r.code).toBe(2);
    expect(r.stderr.text).toMatch(
      /^reformer: --optimizer adafactor: .* was trained with AdamW, .*leave --optimizer out to resume with AdamW/,
    );
  });

  it('a bad --optimizer value is a usage error (exit 2) naming the allowed values; --help documents the flag', async () => {
    const r = await cli(['train', ...common, '--steps', '3', '--optimizer', 'sgd', '--out', join(dir, 'never')]);
    expect(r.code).toBe(2);
    expect(r.stderr.text).toBe('reformer: --optimizer "sgd": must be one of adamw, adafactor\n');
    const h = await cli(['train', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout.text).toMatch(/--optimizer <name>\s+adamw or adafactor \(default adamw\)/);
  });
});
