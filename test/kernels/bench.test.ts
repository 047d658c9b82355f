/**
 * `reformer bench kernels` / `bench attention` (src/node/bench/): they run, print a table and, with
 * --json, one JSON object as the last stdout line with the documented fields; flags of the other
 * benchmark and bad lengths are usage errors; targets without a benchmark exit 3. Nothing here asserts
 * on timings (they are measurements, not tests). Also: the exact-attention layer the benchmark compares
 * against computes exact attention (== the f64 oracle).
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { exactSharedQkAttention } from '../../src/attention/oracle.js';
import { createBenchLayer } from '../../src/node/bench/attention-layer.js';
import { BENCHMARKS } from '../../src/node/bench/registry.js';
import { BENCH_TARGETS } from '../../src/node/cli/misc.js';
import { cli, lastJson } from '../cli/helpers.js';

describe('reformer bench kernels', () => {
  it('--quick --json: a table, then one JSON object with 1-thread and N-thread figures per kernel', async () => {
    const r = await cli(['bench', 'kernels', '--quick', '--json', '--threads', '2']);
    expect(r.code, r.stderr.text).toBe(0);
    expect(r.stdout.text).toMatch(/^kernel +unit +1 thread +2 threads +speedup$/m);
    const json = lastJson(r.stdout) as { threads: number; variant: string; rows: Array<Record<string, unknown>> };
    expect(json.threads).toBe(2);
    expect(['simd', 'relaxed-simd']).toContain(json.variant);
    const names = json.rows.map((x) => x.name as string);
    for (const want of [
      /^matmul A·B 256×256$/,
      /^matmul A·Bᵀ 256×256$/,
      /^chunk attention forward/,
      /^chunk attention backward/,
      /^LSH hash/,
      /^counting sort/,
      /^gather rows/,
    ]) {
      expect(
        names.some((n) => want.test(n)),
        `${want}`,
      ).toBe(true);
    }
    for (const row of json.rows) {
      for (const k of ['one_thread', 'all_threads', 'speedup'])
        expect(Number.isFinite(row[k]) && (row[k] as number) > 0, `${row.name} ${k}`).toBe(true);
      expect(typeof row.higher_is_better).toBe('boolean');
    }
  });
});

describe('reformer bench attention', () => {
  it('--seq-lens 128,256 --json: LSH per length, exact where its extrapolated time fits, peak RSS from child processes', async () => {
    // exact runs at 128 (nothing to extrapolate from), then is skipped at 256: 4× the time of 128 exceeds 1e-6 s
    const r = await cli(['bench', 'attention', '--seq-lens', '128,256', '--exact-max-seconds', '0.000001', '--json', '--threads', '2']);
    expect(r.code, r.stderr.text).toBe(0);
    expect(r.stdout.text).toMatch(/^seq_len +LSH µs\/token/m);
    const json = lastJson(r.stdout) as { threads: number; baseline_rss_bytes: number; rows: Array<Record<string, unknown>> };
    expect(json.threads).toBe(2);
    expect(json.rows.map((x) => x.seq_len)).toEqual([128, 256]);
    for (const row of json.rows) {
      for (const k of ['lsh_s_per_token', 'lsh_peak_rss_bytes'])
        expect(Number.isFinite(row[k]) && (row[k] as number) > 0, `${String(row.seq_len)} ${k}`).toBe(true);
      expect(row.lsh_peak_rss_bytes as number).toBeGreaterThan(json.baseline_rss_bytes * 0.5);
    }
    const [first, second] = json.rows as [Record<string, unknown>, Record<string, unknown>];
    expect(Number.isFinite(first.exact_s_per_token) && Number.isFinite(first.exact_peak_rss_bytes)).toBe(true);
    expect(first.note).toBeNull();
    expect(second.exact_s_per_token).toBeNull();
    expect(second.note).toMatch(/^exact skipped: O\(L²\) time, ~.* s per layer extrapolated from L = 128/);
    expect(r.stdout.text).toContain('L = 256: exact skipped');
  });

  it('the exact layer computes exact causal shared-QK attention (== the f64 oracle), across chunk windows', () => {
    const be = new ReferenceBackend({ dtype: 'f64' });
    const L = 192; // 3 chunks of 64: every query chunk's window wraps over all keys
    const layer = createBenchLayer(be, 'exact', L, 5);
    layer.run();
    const D = 256;
    const all = 256;
    const xn = be.floats(L * D);
    be.layerNormForward({
      rows: L,
      cols: D,
      x: layer.x,
      gamma: layer.weights['layer_norm.weight'],
      beta: layer.weights['layer_norm.bias'],
      eps: 1e-12,
      y: xn,
      mean: be.floats(L),
      rstd: be.floats(L),
    });
    const qk = be.floats(L * all);
    const v = be.floats(L * all);
    be.gemm({
      m: L,
      n: all,
      k: D,
      a: xn,
      lda: D,
      b: layer.weights['self_attention.query_key.weight'],
      ldb: D,
      transB: true,
      c: qk,
      ldc: all,
    });
    be.gemm({ m: L, n: all, k: D, a: xn, lda: D, b: layer.weights['self_attention.value.weight'], ldb: D, transB: true, c: v, ldc: all });
    const o = exactSharedQkAttention({ qk, v, batch: 1, seqLen: L, heads: 4, headSize: 64, causal: true }).out;
    const ob = be.floats(L * all);
    ob.set(o);
    const want = be.floats(L * D);
    be.gemm({ m: L, n: D, k: all, a: ob, lda: all, b: layer.weights['output.dense.weight'], ldb: all, transB: true, c: want, ldc: D });
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(layer.y[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
    expect(worst).toBeLessThan(1e-9);
  });
});

describe('bench usage', () => {
  it('a flag of another benchmark exits 2 naming its owner', async () => {
    const r = await cli(['bench', 'kernels', '--seq-lens', '1024']);
    expect(r.code).toBe(2);
    expect(r.stderr.text.trim()).toBe('reformer: --seq-lens applies to bench attention, not to bench kernels');
  });

  it('a length that is not a multiple of the chunk length exits 2', async () => {
    const r = await cli(['bench', 'attention', '--seq-lens', '1000']);
    expect(r.code).toBe(2);
    expect(r.stderr.text).toMatch(/--seq-lens: 1000 is not a length of the reference config: use multiples of lsh_attn_chunk_length 64/);
  });

  it('targets without a benchmark in this build exit 3 (once all have landed: every target has one)', async () => {
    const missing = BENCH_TARGETS.filter((t) => !BENCHMARKS.some((b) => b.name === t));
    for (const t of missing) {
      const r = await cli(['bench', t]);
      expect(r.code).toBe(3);
      expect(r.stderr.text).toMatch(new RegExp(`^reformer: bench ${t}: not available yet: .*available: kernels, attention`));
    }
    if (missing.length === 0) expect(BENCHMARKS.map((b) => b.name).sort()).toEqual([...BENCH_TARGETS].sort());
  });
});
