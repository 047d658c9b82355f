/**
 * `reformer task passkey` in-process on tiny settings: it trains the three models, evaluates each at every
 * length (the full one up to --full-max-length), writes results.json (exact match and per-digit accuracy finite, in [0, 1]; chance 10⁻ⁿ), a
 * checkpoint per model and the table; bad flags are one line, exit 2.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'reformer-passkey-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// rows of 128 tokens (sequences of 100 … 128: 2 … 30 filler bytes), evaluated at 128 and 256; chunks of 16
const TINY = [
  'task', 'passkey', '--train-length', '128', '--min-length', '100', '--lengths', '128,256', '--digits', '3', '--hidden', '16',
  '--heads', '2', '--layers', '2', '--ff', '16', '--lsh-chunk', '16', '--local-chunk', '16', '--local-model-chunk', '32',
  '--axial-cols', '16', '--steps', '2', '--batch', '2', '--eval-sequences', '3,2', '--full-max-length', '128', '--backend', 'reference',
]; // biome-ignore format: flag pairs

describe('reformer task passkey', () => {
  it('trains, evaluates per length, writes results.json, checkpoints and the table', { timeout: 60_000 }, async () => {
    const out = join(dir, 'run');
    const r = await cli([...TINY, '--out', out]);
    expect(r.stderr.text).not.toMatch(/reformer: /);
    expect(r.code).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      format: string;
      task: { chance_exact: number; lengths: number[] };
      results: {
        attention: string;
        attn_layers: string[];
        lsh_attn_chunk_length: number | string;
        local_attn_chunk_length: number;
        steps: number;
        eval: Record<string, { exactMatch: number; digitAccuracy: number; loss: number; sequences: number }>;
        skipped: Record<string, string>;
      }[];
    };
    expect(results.format).toBe('reformer-ts.passkey-results');
    expect(results.task.chance_exact).toBeCloseTo(1e-3, 12);
    expect(results.results.map((x) => x.attention)).toEqual(['full', 'lsh', 'local']);
    expect(results.results.map((x) => x.attn_layers)).toEqual([
      ['local', 'lsh'],
      ['local', 'lsh'],
      ['local', 'local'],
    ]);
    expect(results.results.map((x) => [x.lsh_attn_chunk_length, x.local_attn_chunk_length])).toEqual([
      ['sequence length', 16],
      [16, 16],
      [16, 32],
    ]);
    for (const m of results.results) {
      expect(m.steps).toBe(2);
      expect(existsSync(join(out, m.attention, 'model.safetensors'))).toBe(true);
      // full attention only up to --full-max-length
      expect(Object.keys(m.eval)).toEqual(m.attention === 'full' ? ['128'] : ['128', '256']);
      expect(Object.keys(m.skipped)).toEqual(m.attention === 'full' ? ['256'] : []);
      expect(m.eval['128']!.sequences).toBe(3);
      if (m.attention !== 'full') expect(m.eval['256']!.sequences).toBe(2);
      for (const v of Object.values(m.eval)) {
        for (const x of [v.exactMatch, v.digitAccuracy]) expect(Number.isFinite(x) && x >= 0 && x <= 1).toBe(true);
        expect(Number.isFinite(v.loss)).toBe(true);
      }
    }
    expect(r.stdout.text).toMatch(
      /\| tokens +\| chance \(exact \/ digit\) +\| full exact +\| full per digit +\| lsh exact +\| lsh per digit +\| local exact/,
    );
    expect(r.stdout.text).toMatch(/\| 256 +\| 0\.10% \/ 10% +\| - +\| - +\| [\d.]+% +\|/);
    expect(r.stderr.text).toMatch(/train lsh \[local, lsh\]: [\d,]+ parameters/);
    // the default curriculum (1-digit keys first) covers all of a 2-step training
    expect(r.stderr.text).toMatch(/curriculum: the first 2 steps on 1-digit keys \(all of them/);
    // a second run into the same --out is refused before it trains: the results stay as they were
    const before = readFileSync(join(out, 'results.json'), 'utf8');
    const again = await cli([...TINY, '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr.text.trim()).toMatch(
      /^reformer: --out .*: .*results\.json holds an earlier run's results, which this run would overwrite; choose another --out/,
    );
    expect(readFileSync(join(out, 'results.json'), 'utf8')).toBe(before);
  });

  it('probes the answer distribution and stops a dead training (--stop-if-dead)', { timeout: 60_000 }, async () => {
    const out = join(dir, 'dead');
    const r = await cli([
      ...TINY,
      '--train',
      'full',
      '--lengths',
      '128',
      '--eval-sequences',
      '3',
      '--probe-every',
      '1',
      '--stop-if-dead',
      '1',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    const m = (
      JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
        results: { steps: number; stopped_by: string; dead: boolean; probes: { step: number; spread: number }[] }[];
      }
    ).results[0]!;
    // an untrained model's answer barely depends on its input: dead at the first probe
    expect([m.steps, m.stopped_by, m.dead]).toEqual([1, 'stop-request', true]);
    expect(m.probes.map((p) => p.step)).toEqual([1]);
    expect(m.probes[0]!.spread).toBeGreaterThanOrEqual(0);
    expect(m.probes[0]!.spread).toBeLessThan(0.01);
    expect(r.stderr.text).toMatch(/probe full @ step 1: spread/);
  });

  it('refuses bad flags with one line naming them (exit 2)', async () => {
    const len = await cli([...TINY, '--lengths', '128,200', '--out', join(dir, 'bad')]);
    expect(len.code).toBe(2);
    expect(len.stderr.text).toMatch(/--lengths 200: must be a multiple of --train-length 128/);
    const seqs = await cli([...TINY, '--eval-sequences', '1,2,3', '--out', join(dir, 'bad')]);
    expect(seqs.code).toBe(2);
    expect(seqs.stderr.text).toMatch(/--eval-sequences: give one count or one per length \(2\)/);
    const short = await cli([...TINY, '--train-length', '96', '--lengths', '96', '--axial-cols', '16', '--out', join(dir, 'bad')]);
    expect(short.code).toBe(2);
    expect(short.stderr.text).toMatch(/seq_len.*> 98/);
    const min = await cli([...TINY, '--min-length', '129', '--out', join(dir, 'bad')]);
    expect(min.code).toBe(2);
    expect(min.stderr.text).toMatch(/min_length.*must be an integer in 99 … 128/);
    const cur = await cli([...TINY, '--curriculum-steps', '5', '--curriculum-digits', '4', '--out', join(dir, 'bad')]);
    expect(cur.code).toBe(2);
    expect(cur.stderr.text).toMatch(/--curriculum-digits 4: must be at most --digits 3/);
  });
});
