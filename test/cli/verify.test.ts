/**
 * `reformer verify`: one table row per LSH layer and `--num-hashes` value with errors ≥ 0 and recalls in
 * [0, 1] (tiny preset, short windows: seconds); the numbers are those of `attentionQualityReport` on the
 * captured attention inputs; more rounds see more keys; bad lengths and flag combinations exit 2.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attentionQualityReport } from '../../src/attention/quality.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { preset } from '../../src/config/presets.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { ByteTokenizer } from '../../src/train/tokenizer.js';
import { Rng } from '../../src/util/rng.js';
import type { VerifyReport } from '../../src/node/cli/verify.js';
import { readFileSync } from 'node:fs';
import { cli, CORPUS } from './helpers.js';

const TINY = ['--preset', 'tiny', '--seq-len', '256', '--backend', 'reference'];

describe('reformer verify', () => {
  it('prints one row per LSH layer and num_hashes, with errors >= 0 and recalls in [0, 1]', async () => {
    const r = await cli(['verify', ...TINY, '--num-hashes', '1,2,4']);
    expect(r.code, r.stderr.text).toBe(0);
    const lines = r.stdout.lines();
    const header = lines.findIndex((l) =>
      /^\s*layer\s+num_hashes\s+rel_rms_error\s+max_abs_error\s+mean_recall\s+min_recall\s+keys\/query$/.test(l),
    );
    expect(header).toBeGreaterThanOrEqual(0);
    const rows = lines
      .slice(header + 1)
      .filter((l) => /^\s*\d+\s+\d+\s/.test(l))
      .map((l) => l.trim().split(/\s+/).map(Number));
    // the tiny preset has one LSH layer (index 1): three rows
    expect(rows.map((x) => [x[0], x[1]])).toEqual([
      [1, 1],
      [1, 2],
      [1, 4],
    ]);
    for (const [, , rel, max, mean, min, keys] of rows) {
      expect(rel).toBeGreaterThanOrEqual(0);
      expect(max).toBeGreaterThanOrEqual(0);
      expect(mean).toBeGreaterThanOrEqual(0);
      expect(mean).toBeLessThanOrEqual(1);
      expect(min).toBeGreaterThanOrEqual(0);
      expect(min).toBeLessThanOrEqual(mean!);
      expect(keys).toBeGreaterThan(0);
      expect(keys).toBeLessThanOrEqual(256);
    }
    // more rounds: more keys seen, more exact mass recalled
    expect(rows[2]![6]).toBeGreaterThan(rows[0]![6]!);
    expect(rows[2]![4]).toBeGreaterThan(rows[0]![4]!);
    expect(r.stdout.text).toMatch(/input: 256 tokens of .*crime-and-punishment\.txt/);
  });

  it('--json: the same report as attentionQualityReport on the layer input the model computes', async () => {
    const r = await cli(['verify', ...TINY, '--num-hashes', '2', '--json', '--offset', '1000', '--seed', '3']);
    expect(r.code, r.stderr.text).toBe(0);
    const report = JSON.parse(r.stdout.text) as VerifyReport;
    expect(report.seqLen).toBe(256);
    expect(report.offset).toBe(1000);
    expect(report.rows).toHaveLength(1);
    const row = report.rows[0]!;
    expect(row.layer).toBe(1);
    // recompute independently: embeddings + layer 0 by the model (training: false), then the report
    const be = new ReferenceBackend();
    const lm = new ReformerModelWithLMHead(be, preset('tiny').config, { seed: 3 });
    const ids = new ByteTokenizer().encode(new Uint8Array(readFileSync(CORPUS))).slice(1000, 1256);
    let x: Float32Array | null = null;
    lm.reformer.forward({
      inputIds: ids,
      batch: 1,
      seqLen: 256,
      training: false,
      onAttentionInput: (l, h) => {
        if (l === 1) x = Float32Array.from(h);
      },
    });
    expect(x).not.toBeNull();
    const D = lm.config.hidden_size;
    const p = (n: string) => lm.parameters.param(`reformer.encoder.layers.1.attention.${n}`);
    const normed = be.floats(256 * D);
    be.layerNormForward({
      rows: 256,
      cols: D,
      x: x!,
      gamma: p('layer_norm.weight'),
      beta: p('layer_norm.bias'),
      eps: lm.config.layer_norm_eps,
      y: normed,
      mean: be.floats(256),
      rstd: be.floats(256),
    });
    const [want] = attentionQualityReport(
      be,
      lm.config,
      { 'query_key.weight': p('self_attention.query_key.weight'), 'value.weight': p('self_attention.value.weight') },
      normed,
      {
        batch: 1,
        seqLen: 256,
        numHashesList: [2],
        rng: new Rng(3 + 1000 * 2),
      },
    );
    expect(row.meanMassRecall).toBeCloseTo(want!.meanMassRecall, 10);
    expect(row.relativeRmsError).toBeCloseTo(want!.relativeRmsError, 10);
    expect(row.meanAttendedKeys).toBe(want!.meanAttendedKeys);
  });

  it('rejects windows it cannot compare, with one line and exit 2', async () => {
    for (const [argv, msg] of [
      [['verify', '--preset', 'tiny', '--seq-len', '64'], /take exact full attention/],
      [['verify', '--preset', 'tiny', '--seq-len', '200'], /must be a multiple of 64/],
      [['verify', '--preset', 'tiny', '--seq-len', '2048'], /at most 1024 tokens/],
      [
        ['verify', '--preset', 'tiny', '--seq-len', '256', '--offset', '99999999'],
        /--offset 99999999: the window of 256 tokens would end past the data/,
      ],
      [['verify', '--checkpoint', join(mkdtempSync(join(tmpdir(), 'reformer-verify-')), 'none')], /none/],
    ] as const) {
      const r = await cli([...argv, '--backend', 'reference']);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr.lines()).toHaveLength(1);
      expect(r.stderr.text).toMatch(msg);
    }
  });
});
