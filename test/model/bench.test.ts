/**
 * `reformer bench model` / `bench memory` (src/node/bench/model.ts, memory.ts): they run, print a table
 * and, with --json, one JSON object as the last stdout line with the documented fields; the config is
 * fitted to the length (and says so); impossible runs are refused with the memory numbers before
 * anything starts; bad lengths are usage errors. Nothing here asserts on timings.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { fitConfigToLength } from '../../src/node/bench/model-child.js';
import { REFERENCE_CONFIG } from '../../src/node/bench/model.js';
import { cli, lastJson } from '../cli/helpers.js';

describe('reformer bench model', () => {
  it('--mode forward --json: table, config note, and the JSON line with mode, seq_len, threads, tokens_per_s, seconds, peak_rss_bytes', async () => {
    const r = await cli(['bench', 'model', '--seq-len', '256', '--mode', 'forward', '--repeats', '1', '--threads', '1', '--json']);
    expect(r.code, r.stderr.text).toBe(0);
    expect(r.stdout.text).toMatch(/^mode +seq_len +threads +tokens\/s +s\/call +peak RSS/m);
    expect(r.stdout.text).toMatch(/config adjusted to seq_len 256: axial_pos_shape \[64, 64\] → \[16, 16\]/);
    const j = lastJson(r.stdout);
    expect(Object.keys(j).slice(0, 6)).toEqual(['mode', 'seq_len', 'threads', 'tokens_per_s', 'seconds', 'peak_rss_bytes']);
    expect(j.mode).toBe('forward');
    expect(j.seq_len).toBe(256);
    expect(j.threads).toBe(1);
    for (const k of ['tokens_per_s', 'seconds', 'peak_rss_bytes', 'wasm_peak_bytes', 'estimated_wasm_bytes'])
      expect((j[k] as number) > 0, k).toBe(true);
    expect(j.estimated_wasm_bytes as number).toBeGreaterThanOrEqual(j.wasm_peak_bytes as number);
  });

  it('--mode train with an HF config.json of the user', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-model-'));
    const path = join(dir, 'config.json');
    writeFileSync(
      path,
      JSON.stringify({
        ...REFERENCE_CONFIG,
        hidden_size: 64,
        attention_head_size: 16,
        feed_forward_size: 128,
        axial_pos_embds_dim: [32, 32],
        attn_layers: ['lsh', 'local', 'lsh'],
        num_hidden_layers: 3,
      }),
    );
    const r = await cli([
      'bench',
      'model',
      '--config',
      path,
      '--seq-len',
      '128',
      '--mode',
      'train',
      '--repeats',
      '2',
      '--threads',
      '1',
      '--json',
    ]);
    expect(r.code, r.stderr.text).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.mode).toBe('train');
    expect((j.times as number[]).length).toBe(2);
    expect(r.stdout.text).toMatch(/3 layers \[lsh, local, lsh\]/);
  });

  it('refuses a run that cannot fit the 4 GiB WASM memory before starting it (exit 1, one line with the numbers)', async () => {
    const r = await cli(['bench', 'model', '--seq-len', '1048576', '--mode', 'train', '--threads', '1', '--host-streams', 'never']);
    expect(r.code).toBe(1);
    expect(r.stderr.text).toMatch(
      /ResourceError.*training step of batch 1 × 1048576 tokens needs about [\d.]+ GiB.*more than the 4 GiB.*use a sequence length of at most \d+ \(with axial_pos_shape changed to factors of it\), or evaluation only/,
    );
    expect(r.stdout.text).toBe('');
    // the default ('auto') would take host-resident streams at 2^20; 2^22 fits neither path
    const big = await cli(['bench', 'model', '--seq-len', '4194304', '--mode', 'train', '--threads', '1']);
    expect(big.code).toBe(1);
    expect(big.stderr.text).toMatch(/ResourceError.*training step of batch 1 × 4194304 tokens.*host-resident streams \(--host-streams\)/);
    expect(big.stdout.text).toBe('');
  });

  it('a forward length that is not a multiple of the chunk lengths runs, its positions fitted to the padded length', async () => {
    const r = await cli(['bench', 'model', '--seq-len', '1000', '--repeats', '1', '--threads', '1', '--json']);
    expect(r.code, r.stderr.text).toBe(0);
    expect(r.stdout.text).toMatch(/adjusted to seq_len 1000 \(padded to 1024\): axial_pos_shape \[64, 64\] → \[32, 32\]/);
    expect(lastJson(r.stdout).seq_len).toBe(1000);
  });

  it('--optimizer adds one AdamW update to each timed training step; only with --mode train', async () => {
    const r = await cli([
      'bench',
      'model',
      '--seq-len',
      '256',
      '--mode',
      'train',
      '--optimizer',
      '--repeats',
      '1',
      '--threads',
      '1',
      '--json',
    ]);
    expect(r.code, r.stderr.text).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.optimizer).toBe('adamw');
    expect(Number.isFinite(j.loss as number)).toBe(true);
    expect(r.stdout.text).toMatch(/loss \+ gradients, reversible \+ one AdamW update/);
    const named = await cli([
      'bench',
      'model',
      '--seq-len',
      '256',
      '--mode',
      'train',
      '--optimizer',
      'adamw',
      '--repeats',
      '1',
      '--threads',
      '1',
      '--json',
    ]);
    expect(named.code, named.stderr.text).toBe(0);
    expect(lastJson(named.stdout).optimizer).toBe('adamw');
    const other = await cli(['bench', 'model', '--seq-len', '256', '--mode', 'train', '--optimizer', 'sgd', '--threads', '1']);
    expect(other.code).toBe(2);
    expect(other.stderr.text).toMatch(/--optimizer "?sgd"?: must be .*adamw/);
    const bad = await cli(['bench', 'model', '--seq-len', '256', '--optimizer', '--threads', '1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.text).toMatch(/--optimizer: only with --mode train/);
  });

  it('a training length that is not a multiple of the chunk lengths is a usage error', async () => {
    const r = await cli(['bench', 'model', '--seq-len', '200', '--mode', 'train', '--threads', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr.text.trim()).toMatch(
      /^reformer: --seq-len 200: a training length must be a multiple of 64 \(lsh_attn_chunk_length \/ local_attn_chunk_length of this model\), e\.g\. 192 or 256$/,
    );
  });

  it('bench/configs/reference.json is the built-in reference config', () => {
    const file = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'bench', 'configs', 'reference.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(file).toEqual({ ...REFERENCE_CONFIG });
    expect(() => ReformerConfig.fromJSON(file)).not.toThrow();
  });

  it('fitConfigToLength: axial shape with product L, max_position_embeddings = L; no change when it fits', () => {
    const fit = fitConfigToLength({ ...REFERENCE_CONFIG }, 65536);
    expect(fit.config.axial_pos_shape).toEqual([256, 256]);
    expect(fit.config.max_position_embeddings).toBe(65536);
    expect(fitConfigToLength({ ...REFERENCE_CONFIG }, 12288).config.axial_pos_shape).toEqual([96, 128]);
    expect(fitConfigToLength({ ...REFERENCE_CONFIG }, 4096).note).toBeNull();
  });
});

describe('reformer bench memory', () => {
  it('--layers 2,4 --json: one training step per layer count and mode, peak RSS of child processes', async () => {
    const r = await cli(['bench', 'memory', '--seq-len', '256', '--layers', '2,4', '--threads', '1', '--json']);
    expect(r.code, r.stderr.text).toBe(0);
    expect(r.stdout.text).toMatch(/^layers +reversible peak RSS +streams +WASM peak +estimate +host est\. +stored peak RSS/m);
    const j = lastJson(r.stdout) as { seq_len: number; rows: Array<Record<string, number | null>> };
    expect(j.seq_len).toBe(256);
    expect(j.rows.map((x) => x.layers)).toEqual([2, 4]);
    for (const row of j.rows) {
      for (const k of ['reversible_peak_rss_bytes', 'stored_peak_rss_bytes', 'reversible_wasm_peak_bytes', 'stored_wasm_peak_bytes'])
        expect((row[k] as number) > 0, k).toBe(true);
      expect(row.reversible_estimated_bytes!).toBeGreaterThanOrEqual(row.reversible_wasm_peak_bytes!);
      expect(row.stored_estimated_bytes!).toBeGreaterThanOrEqual(row.stored_wasm_peak_bytes!);
    }
    // storing activations costs more WASM memory per extra layer than the reversible backward
    const [a, b] = j.rows as [Record<string, number>, Record<string, number>];
    expect(b.stored_wasm_peak_bytes! - a.stored_wasm_peak_bytes!).toBeGreaterThan(
      b.reversible_wasm_peak_bytes! - a.reversible_wasm_peak_bytes!,
    );
  });

  it('--mode is a flag of bench model only', async () => {
    const r = await cli(['bench', 'memory', '--mode', 'train', '--threads', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr.text).toMatch(/--mode applies to bench model, not to bench memory/);
  });
});
