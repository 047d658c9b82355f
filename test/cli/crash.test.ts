/**
 * Crash safety of checkpoints: a process SIGKILLed in the middle of a save (while writing, before the
 * swap, between the two renames) leaves the previous checkpoint loadable, and the next save cleans up.
 * Training killed at random moments always leaves a loadable checkpoint that resumes.
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, saveCheckpoint } from '../../src/node/checkpoint.js';
import { startNode } from './child.js';
import { REPO, requireDist } from './helpers.js';

const FREEZE = join(REPO, 'test', 'cli', 'fixtures', 'save-and-freeze.mjs');
const TRAIN = join(REPO, 'test', 'cli', 'fixtures', 'train-bigram.mjs');
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

beforeAll(requireDist);

describe('SIGKILL during a checkpoint save', () => {
  for (const stage of ['file', 'swap', 'backup'] as const) {
    it(`killed at stage "${stage}": the previous checkpoint is still loadable; the next save succeeds and cleans up`, async () => {
      const dir = join(mkdtempSync(join(tmpdir(), 'reformer-crash-')), 'checkpoint');
      saveCheckpoint(dir, { config: '{"model_type":"bigram","version":"A"}\n', weights: new Uint8Array(1000).fill(0xaa), snapshot: null });
      const child = startNode([FREEZE, dir, stage], REPO);
      await child.waitFor(/FROZEN/);
      child.proc.kill('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');

      const after = loadCheckpoint(dir);
      expect(text(after.config)).toContain('"version":"A"');
      expect(after.weights).toEqual(new Uint8Array(1000).fill(0xaa));
      expect(after.recovered).toBe(stage === 'backup'); // dir itself was moved aside: read from its backup
      expect(readdirSync(join(dir, '..')).some((n) => /\.(tmp|old)-\d+$/.test(n))).toBe(true); // debris of the crash

      saveCheckpoint(dir, { config: '{"model_type":"bigram","version":"C"}\n', weights: new Uint8Array(10).fill(0xcc), snapshot: null });
      const c = loadCheckpoint(dir);
      expect(text(c.config)).toContain('"version":"C"');
      expect(c.recovered).toBe(false);
      expect(readdirSync(join(dir, '..'))).toEqual(['checkpoint']);
    });
  }

  it('a save that was not interrupted replaces the checkpoint', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'reformer-crash-')), 'checkpoint');
    saveCheckpoint(dir, { config: '{"version":"A"}', weights: new Uint8Array(3), snapshot: null });
    const child = startNode([FREEZE, dir, 'none'], REPO);
    await child.waitFor(/SAVED/);
    expect((await child.exited).code).toBe(0);
    expect(text(loadCheckpoint(dir).config)).toContain('"version":"B"');
    expect(readdirSync(join(dir, '..'))).toEqual(['checkpoint']);
  });
});

describe('SIGKILL during training', () => {
  it('training killed at random moments always leaves a checkpoint that loads and resumes', async () => {
    const run = join(mkdtempSync(join(tmpdir(), 'reformer-kill-')), 'run');
    const args = [
      'train',
      '--backend',
      'reference',
      '--seq-len',
      '256',
      '--batch',
      '8',
      '--steps',
      '100000',
      '--checkpoint-every',
      '1',
      '--eval-every',
      '0',
      '--eval-windows',
      '1',
    ];
    let lastStep = 0;
    for (const [i, delay] of [150, 370, 230].entries()) {
      const child = startNode([TRAIN, ...args, ...(i === 0 ? ['--out', run] : ['--resume', run])], REPO);
      await child.waitFor(/^step \d+\/100000/m);
      await new Promise((r) => setTimeout(r, delay));
      child.proc.kill('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
      const ck = loadCheckpoint(run); // never throws: the newest complete checkpoint is always there
      expect(ck.snapshot!.state.step).toBeGreaterThanOrEqual(lastStep);
      lastStep = ck.snapshot!.state.step;
    }
    expect(lastStep).toBeGreaterThan(0);
    expect(existsSync(join(run, 'metrics.jsonl'))).toBe(true);
  });
});
