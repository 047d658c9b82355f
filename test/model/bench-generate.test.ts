/**
 * `reformer bench generate` (src/node/bench/generate.ts): it runs, prints the table, the per-token
 * cost ratio and the load averages, and with --json one JSON object as the last stdout line with the
 * documented fields. Nothing here asserts on timings.
 */
import { describe, expect, it } from 'vitest';
import { cli, lastJson } from '../cli/helpers.js';

describe('reformer bench generate', () => {
  it('--json: cached and uncached rows per context, memory, the cost ratio and the load averages', async () => {
    const r = await cli([
      'bench',
      'generate',
      '--preset',
      'tiny',
      '--contexts',
      '64,128',
      '--new-tokens',
      '4',
      '--uncached-tokens',
      '1',
      '--threads',
      '1',
      '--json',
    ]);
    expect(r.code, r.stderr.text).toBe(0);
    expect(r.stdout.text).toMatch(
      /^model +context +cached tok\/s +ms\/token +prompt s +uncached tok\/s +speed-up +peak RSS cached +cache/m,
    );
    expect(r.stdout.text).toMatch(/preset tiny: per-token cost at 128 ÷ at 64 tokens of context: \d/);
    expect(r.stdout.text).toMatch(/load average [\d.]+ [\d.]+ [\d.]+ before/);
    const j = lastJson(r.stdout);
    expect(j.threads).toBe(1);
    expect(j.new_tokens).toBe(4);
    const rows = j.rows as Array<Record<string, unknown>>;
    expect(rows.map((x) => [x.model, x.context])).toEqual([
      ['preset tiny', 64],
      ['preset tiny', 128],
    ]);
    for (const row of rows) {
      for (const k of ['cached_tokens_per_s', 'uncached_tokens_per_s', 'speedup', 'prompt_seconds', 'cached_peak_rss_bytes', 'cache_bytes'])
        expect((row[k] as number) > 0, k).toBe(true);
    }
    expect(Object.keys(j.per_token_cost_ratio as object)).toEqual(['preset tiny']);
  }, 120_000);

  it('refuses an unknown preset and flags of other benchmarks', async () => {
    const bad = await cli(['bench', 'generate', '--preset', 'huge', '--contexts', '64']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.text).toMatch(/preset: is "huge"; choose one of tiny, small, base/);
    const other = await cli(['bench', 'generate', '--seq-len', '64']);
    expect(other.code).toBe(2);
    expect(other.stderr.text).toMatch(/--seq-len applies to bench/);
  });
});
