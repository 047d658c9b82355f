/**
 * The README's library example and HF import example are real files (examples/*.mjs), shown verbatim in
 * README.md and run here as child processes against the compiled package (`reformer-ts` and
 * `reformer-ts/node` resolve to dist/ through package.json "exports"), so the README stays true.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/node/checkpoint.js';
import { reformerEngine } from '../../src/node/reformer-engine.js';
import { REPO, requireDist } from '../cli/helpers.js';

const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
const example = (name: string): string => readFileSync(join(REPO, 'examples', name), 'utf8');

/** A run directory holding an (untrained) tiny Reformer checkpoint. */
function tinyRun(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'reformer-readme-')), 'run');
  const em = reformerEngine.create(new ReferenceBackend(), { preset: 'tiny', seed: 5 });
  saveCheckpoint(join(dir, 'checkpoint'), { config: em.configJson(), weights: em.weights() });
  return dir;
}

describe('README examples', () => {
  it('README.md shows examples/library.mjs and examples/hf-import.mjs verbatim', () => {
    for (const name of ['library.mjs', 'hf-import.mjs']) expect(readme, name).toContain(example(name).trimEnd());
  });

  it('library.mjs: loads a checkpoint, computes logits and bits per byte, generates', () => {
    requireDist();
    const out = execFileSync(process.execPath, [join(REPO, 'examples', 'library.mjs'), tinyRun()], { cwd: REPO, encoding: 'utf8' });
    expect(out).toMatch(/^most likely next byte after "Raskolnikov ": ".*"$/m);
    const bpb = Number(/^bits per byte: (\d+\.\d{3})$/m.exec(out)?.[1]);
    expect(bpb).toBeGreaterThan(7); // untrained: ≈ log2(258)
    expect(bpb).toBeLessThan(9);
    expect(out).toMatch(/^sample: Raskolnikov [\s\S]+$/m);
  });

  it('library.mjs without a checkpoint: a one-line usage message (what to pass, how to make one) and exit 2, no stack trace', () => {
    requireDist();
    const empty = mkdtempSync(join(tmpdir(), 'reformer-readme-')); // no runs/default here
    const usage =
      / Usage: node examples\/library\.mjs \[run-or-checkpoint-dir\] \(default runs\/default, which `npm start` trains; `npx reformer train --out <dir>` writes others\)$/;
    for (const [args, first] of [
      [[], 'runs/default: no such checkpoint directory.'],
      [[join(REPO, 'README.md')], `${join(REPO, 'README.md')}: is a file; pass the run directory`],
    ] as const) {
      const r = spawnSync(process.execPath, [join(REPO, 'examples', 'library.mjs'), ...args], { cwd: empty, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]!.startsWith(first), lines[0]).toBe(true);
      expect(lines[0]).toMatch(usage);
    }
  });

  it('hf-import.mjs: a plain config.json + model.safetensors folder becomes a run directory with the same weights', () => {
    requireDist();
    const run = tinyRun();
    const hf = join(mkdtempSync(join(tmpdir(), 'reformer-hf-')), 'hf');
    mkdirSync(hf);
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(run, 'checkpoint', f), join(hf, f)); // HF save_pretrained layout
    const dest = join(hf, '..', 'imported');
    const out = execFileSync(process.execPath, [join(REPO, 'examples', 'hf-import.mjs'), hf, dest], { cwd: REPO, encoding: 'utf8' });
    expect(out).toMatch(/^imported 114,434 parameters \(local\/lsh\) into /);
    const ck = loadCheckpoint(dest);
    expect(Buffer.from(ck.weights).equals(readFileSync(join(hf, 'model.safetensors')))).toBe(true);
    expect(ck.snapshot).toBeNull();
  });
});
