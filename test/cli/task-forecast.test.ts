/**
 * `reformer task forecast` in-process on tiny settings and a synthetic daily series (a yearly-style
 * cycle of 7 days plus a trend, some days missing): it trains, samples, writes results.json with finite
 * MASE / WQL for ours and both baselines, the SVG fan chart and a checkpoint, and prints the table; bad
 * flags are one line, exit 2.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'reformer-forecast-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const csv = join(dir, 'toy.csv');
{
  let text = 'date,value\n';
  const t0 = Date.UTC(2020, 0, 1);
  for (let t = 0; t < 200; t++) {
    if (t % 17 === 5) continue; // a missing day
    const date = new Date(t0 + t * 86_400_000).toISOString().slice(0, 10);
    text += `${date},${(100 + t / 20 + 3 * Math.sin((2 * Math.PI * t) / 7)).toFixed(2)}\n`;
  }
  writeFileSync(csv, text);
}

const TINY = [
  'task', 'forecast', '--series', 'co2', '--data', csv, '--gaps', 'linear', '--season', '7', '--mase-season', '7',
  '--bins', '32', '--low', '0.8', '--high', '1.2', '--horizon', '16', '--window', '64', '--context', '32',
  '--hidden', '8', '--heads', '2', '--ff', '8', '--chunk', '16', '--steps', '2', '--batch', '2', '--samples', '3',
  '--backend', 'reference',
]; // biome-ignore format: flag pairs

describe('reformer task forecast', () => {
  it('trains, samples, writes results.json, the SVG and the table', async () => {
    const out = join(dir, 'run');
    const r = await cli([...TINY, '--out', out]);
    expect(r.stderr.text).not.toMatch(/reformer: /);
    expect(r.code).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      format: string;
      results: {
        series: string;
        values: number;
        observed: number;
        test: { length: number; observed: number };
        training: { steps: number };
        sampling: { samples: number };
        scores: Record<string, { mase: number; wql: number; mae: number }>;
        forecast: { median: number[]; q10: number[]; q90: number[] };
      }[];
    };
    expect(results.format).toBe('reformer-ts.forecast-results');
    const s = results.results[0]!;
    expect(s.values).toBe(200);
    expect(s.observed).toBeLessThan(200);
    expect(s.test.length).toBe(16);
    expect(s.training.steps).toBe(2);
    expect(s.sampling.samples).toBe(3);
    expect(Object.keys(s.scores).sort()).toEqual(['naive', 'ours', 'seasonal_naive']);
    for (const v of Object.values(s.scores)) {
      for (const x of [v.mase, v.wql, v.mae]) expect(Number.isFinite(x) && x >= 0).toBe(true);
    }
    expect(s.forecast.median.length).toBe(16);
    for (const [t, q] of s.forecast.q10.entries()) expect(q).toBeLessThanOrEqual(s.forecast.q90[t]!);
    const svg = readFileSync(join(out, 'co2.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toMatch(/median \(ours\)/);
    expect(existsSync(join(out, 'co2', 'model.safetensors'))).toBe(true);
    expect(r.stdout.text).toMatch(/\| co2 \(MASE m=7\) +\| Reformer \(median, fan\) +\| [\d.]+ +\| [\d.]+/);
    expect(r.stdout.text).toMatch(/\| co2 \(MASE m=7\) +\| seasonal naive/);
  });

  it('refuses bad flags with one line naming them (exit 2)', async () => {
    const both = await cli(['task', 'forecast', '--data', csv, '--out', join(dir, 'bad')]);
    expect(both.code).toBe(2);
    expect(both.stderr.text).toMatch(/--data sets one series' data: pass it with a single --series/);
    const long = await cli([...TINY, '--horizon', '40', '--out', join(dir, 'bad')]);
    expect(long.code).toBe(2);
    expect(long.stderr.text).toMatch(/--context 32 \+ --horizon 40 exceeds --window 64/);
    const layers = await cli([...TINY, '--layers', 'local,full', '--out', join(dir, 'bad')]);
    expect(layers.code).toBe(2);
    expect(layers.stderr.text).toMatch(/--layers "local,full"/);
  });
});
