/** The attention-quality report: exact when LSH sees everything, sensible otherwise. */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { attentionQualityReport } from '../../src/attention/quality.js';
import { attentionConfig, type AttentionConfig } from '../../src/attention/config.js';
import { Rng } from '../../src/util/rng.js';

function setup(cfgOver: Partial<AttentionConfig>, L: number, seed = 1) {
  const be = new ReferenceBackend({ dtype: 'f64' });
  const cfg = attentionConfig({
    hidden_size: 8,
    num_attention_heads: 2,
    attention_head_size: 4,
    is_decoder: false,
    num_buckets: 8,
    lsh_attn_chunk_length: 4,
    lsh_num_chunks_before: 1,
    lsh_num_chunks_after: 0,
    ...cfgOver,
  });
  const rng = new Rng(seed);
  const x = be.floats(2 * L * 8);
  rng.fillNormal(x);
  const weights = { 'query_key.weight': be.floats(64), 'value.weight': be.floats(64) };
  rng.fillNormal(weights['query_key.weight'], 0, 0.35);
  rng.fillNormal(weights['value.weight'], 0, 0.35);
  return { be, cfg, x, weights, rng };
}

describe('attentionQualityReport', () => {
  it('a window spanning the whole sorted sequence is exact: error ~0, recall 1, every key attended', () => {
    const L = 16;
    // R·L/c = 2·16/4 = 8 chunks; before 7 → the window is everything
    const { be, cfg, x, weights, rng } = setup({ lsh_num_chunks_before: 7, is_decoder: true }, L);
    const rows = attentionQualityReport(be, cfg, weights, x, { batch: 2, seqLen: L, numHashesList: [2], rng });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.numHashes).toBe(2);
    expect(rows[0]!.relativeRmsError).toBeLessThan(1e-10);
    expect(rows[0]!.maxAbsError).toBeLessThan(1e-10);
    expect(rows[0]!.meanMassRecall).toBeCloseTo(1, 12);
    expect(rows[0]!.minMassRecall).toBeCloseTo(1, 12);
    expect(rows[0]!.meanAttendedKeys).toBe(L);
  });

  it('the short path is exact', () => {
    const { be, cfg, x, weights, rng } = setup({ lsh_attn_chunk_length: 16 }, 16);
    const [row] = attentionQualityReport(be, cfg, weights, x, { batch: 2, seqLen: 16, numHashesList: [4], rng });
    expect(row!.relativeRmsError).toBeLessThan(1e-12);
    expect(row!.meanMassRecall).toBeCloseTo(1, 12);
  });

  it('real chunking: recall in (0, 1], errors > 0, more rounds see more keys; padded queries excluded', () => {
    const L = 32;
    const { be, cfg, x, weights, rng } = setup({}, L, 3);
    const mask = new Int32Array(2 * L).fill(1);
    for (let t = 28; t < L; t++) mask[L + t] = 0;
    const rows = attentionQualityReport(be, cfg, weights, x, { batch: 2, seqLen: L, numHashesList: [1, 2, 8], rng, attentionMask: mask });
    expect(rows.map((r) => r.numHashes)).toEqual([1, 2, 8]);
    for (const r of rows) {
      expect(r.meanMassRecall).toBeGreaterThan(0);
      expect(r.meanMassRecall).toBeLessThanOrEqual(1 + 1e-12);
      expect(r.minMassRecall).toBeLessThanOrEqual(r.meanMassRecall);
      expect(r.relativeRmsError).toBeGreaterThan(0);
      expect(r.meanAttendedKeys).toBeLessThanOrEqual(L);
    }
    expect(rows[2]!.meanAttendedKeys).toBeGreaterThan(rows[0]!.meanAttendedKeys);
    expect(rows[2]!.meanMassRecall).toBeGreaterThan(rows[0]!.meanMassRecall);
    // paper-exact mode attends to fewer keys (same bucket only)
    const paper = attentionQualityReport(be, cfg, weights, x, {
      batch: 2,
      seqLen: L,
      numHashesList: [2],
      rng: new Rng(9),
      paperExact: true,
    });
    const hf = attentionQualityReport(be, cfg, weights, x, { batch: 2, seqLen: L, numHashesList: [2], rng: new Rng(9) });
    expect(paper[0]!.meanAttendedKeys).toBeLessThan(hf[0]!.meanAttendedKeys);
  });
});
