/**
 * `reformer task duplication` in-process on tiny settings: it trains each requested model, writes
 * results.json (accuracies finite, in [0, 1], `null` where the model has no weights for the attention),
 * a checkpoint per model and the table beside the paper's numbers; bad flags are one line, exit 2.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'reformer-dup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// |w| 7 → sequences of 16; chunks of 4 (LSH: 4 chunks; local: a query sees ≤ 7 back, the task needs 8)
const TINY = [
  'task', 'duplication', '--word-length', '7', '--vocab', '8', '--hidden', '16', '--heads', '2', '--ff', '16',
  '--lsh-chunk', '4', '--local-chunk', '4', '--steps', '3', '--batch', '2', '--eval-sequences', '4', '--eval-batch', '2',
  '--backend', 'reference',
]; // biome-ignore format: flag pairs

describe('reformer task duplication', () => {
  it('trains, evaluates, writes results.json, checkpoints and the table', async () => {
    const out = join(dir, 'run');
    const r = await cli([...TINY, '--train', 'lsh-2,local', '--out', out]);
    expect(r.stderr.text).not.toMatch(/reformer: /);
    expect(r.code).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      task: { seq_len: number };
      results: { train: string; steps: number; eval: Record<string, { accuracy: number; loss: number; targets: number } | null> }[];
    };
    expect(results.task.seq_len).toBe(16);
    expect(results.results.map((x) => x.train)).toEqual(['lsh-2', 'local']);
    for (const m of results.results) {
      expect(m.steps).toBe(3);
      expect(existsSync(join(out, m.train, 'model.safetensors'))).toBe(true);
      const scored = Object.entries(m.eval).filter(([, v]) => v !== null);
      expect(scored.length).toBeGreaterThan(0);
      for (const [, v] of scored) {
        expect(Number.isFinite(v!.accuracy) && v!.accuracy >= 0 && v!.accuracy <= 1).toBe(true);
        expect(Number.isFinite(v!.loss)).toBe(true);
        expect(v!.targets).toBe(4 * 7);
      }
    }
    expect(Object.keys(results.results[0]!.eval).filter((k) => results.results[0]!.eval[k] === null)).toEqual(['local']);
    expect(results.results[1]!.eval['lsh-4']).toBeNull();
    expect(results.results[1]!.eval.full).not.toBeNull();
    // the table: a row per model, the paper's number in parentheses where it has one
    expect(r.stdout.text).toMatch(/\| lsh-2 +\| [\d.]+ \(-\)/);
    expect(r.stdout.text).toMatch(/\| local +\| [\d.]+ \(-\) +\| n\/a/);
    expect(r.stderr.text).toMatch(/train lsh-2: [\d,]+ parameters/);
  });

  it('prints the paper numbers beside a full-attention model', async () => {
    const r = await cli([...TINY, '--train', 'full', '--eval', 'full,lsh-1', '--out', join(dir, 'full')]);
    expect(r.code).toBe(0);
    expect(r.stdout.text).toMatch(/\| full +\| [\d.]+ \(100\.0\) +\| [\d.]+ \(52\.5\)/);
  });

  it('refuses bad flags with one line naming them (exit 2)', async () => {
    const chunk = await cli([...TINY, '--lsh-chunk', '5', '--out', join(dir, 'bad')]);
    expect(chunk.code).toBe(2);
    expect(chunk.stderr.text).toMatch(/lsh_attn_chunk_length.*5 does not divide .* 16/);
    const train = await cli([...TINY, '--train', 'lsh-3', '--out', join(dir, 'bad')]);
    expect(train.code).toBe(2);
    expect(train.stderr.text).toMatch(/--train "lsh-3": must be a comma-separated list of distinct values from full, lsh-1/);
  });
});
