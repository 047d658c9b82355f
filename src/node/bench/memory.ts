/**
 * `reformer bench memory`: peak memory of one training step against depth, reversible vs
 * store-activations (paper Sec. 3, Table 3: a reversible Reformer keeps one layer's activations, so
 * its memory hardly grows with the number of layers; storing every layer's activations grows linearly):
 *
 *   reformer bench memory --seq-len 65536 --layers 2,4,8,12 --json
 *
 * For each layer count n, the config's `attn_layers` pattern is repeated to n layers (the reference
 * config alternates local, LSH) and one training step (`lossAndGrad`, batch 1) runs in a fresh child
 * process per mode (model-child.ts), which reports its peak RSS (`process.resourceUsage().maxRSS`)
 * and the WASM arena's high-water mark. A run the model refuses (its memory estimate exceeds the
 * 4 GiB WASM memory) is shown as refused, with the estimate.
 *
 * `--json`: the last stdout line is `{"seq_len": L, "rows": [{"layers": n, "reversible_peak_rss_bytes": b1,
 * "stored_peak_rss_bytes": b2, ...}, ...], ...}` (b2 null when refused; more keys: WASM peaks, estimates).
 */
import { Option } from 'commander';
import { estimateMemory } from '../../model/memory/estimate.js';
import { intListFlag } from '../cli/parse.js';
import { defaultThreads } from '../wasm.js';
import { fmtBytes, table } from './measure.js';
import { fitConfigToLength, type ModelChildResult } from './model-child.js';
import type { HostStreamsOption } from '../../backend/host-streams.js';
import { benchHostBudget, checkBenchLength, modelChildScript, readBenchConfig, runModelChildProcess, sharedModelOptions } from './model.js';
import type { BenchEnv, BenchSubcommand } from './registry.js';

interface MemoryRow {
  layers: number;
  reversible_peak_rss_bytes: number | null;
  stored_peak_rss_bytes: number | null;
  reversible_wasm_peak_bytes: number | null;
  stored_wasm_peak_bytes: number | null;
  reversible_estimated_bytes: number;
  stored_estimated_bytes: number;
  reversible_seconds: number | null;
  stored_seconds: number | null;
  /** why a mode has no measurement (refused by the memory check, or failed) */
  reversible_note: string | null;
  stored_note: string | null;
  /** the reversible run kept its residual streams in host arrays outside the WASM memory (issue 17) */
  reversible_host_streams: boolean;
  /** its estimated host arrays (null on the arena path) */
  reversible_estimated_host_bytes: number | null;
}

export const memoryBench: BenchSubcommand = {
  name: 'memory',
  summary: 'peak memory of one training step vs depth, reversible vs store-activations (one child process per run)',
  options: () => [
    ...sharedModelOptions(),
    new Option('--layers <list>', 'memory: layer counts, comma-separated (default 2,4,8,12)').argParser(intListFlag('--layers')),
  ],
  async run(flags: Record<string, unknown>, env: BenchEnv): Promise<number> {
    const L = (flags.seqLen as number | undefined) ?? 16384;
    const hostOption = (flags.hostStreams as HostStreamsOption | undefined) ?? 'auto';
    const layerCounts = (flags.layers as number[] | undefined) ?? [2, 4, 8, 12];
    const threads = env.threads ?? defaultThreads();
    const json = readBenchConfig(flags.config as string | undefined);
    const { config: fitted, note } = fitConfigToLength(json, L);
    checkBenchLength(fitted, L, 'train');
    const pattern = fitted.attn_layers;
    const script = modelChildScript(env.packageRoot);
    const log = (l: string): void => void env.stderr.write(`${l}\n`);
    const base = runModelChildProcess(script, { config: fitted.toJSON(), seqLen: 0, mode: 'baseline', threads });
    if ('error' in base) throw new Error(`bench memory: the baseline child failed: ${base.error}`);
    log(
      `bench memory: one training step at ${L} tokens, ${threads} thread(s)${note ? `; ${note}` : ''} (baseline RSS ${fmtBytes(base.peak_rss_bytes)})`,
    );

    const rows: MemoryRow[] = [];
    let failed = false;
    for (const n of layerCounts) {
      const config = fitted.with({ attn_layers: Array.from({ length: n }, (_, i) => pattern[i % pattern.length]!) });
      const est = (reversible: boolean): number =>
        estimateMemory(config, { batch: 1, seqLen: L, mode: 'train', reversible, threads }).bytes;
      const row: MemoryRow = {
        layers: n,
        reversible_peak_rss_bytes: null,
        stored_peak_rss_bytes: null,
        reversible_wasm_peak_bytes: null,
        stored_wasm_peak_bytes: null,
        reversible_estimated_bytes: est(true),
        stored_estimated_bytes: est(false),
        reversible_seconds: null,
        stored_seconds: null,
        reversible_note: null,
        stored_note: null,
        reversible_host_streams: false,
        reversible_estimated_host_bytes: null,
      };
      for (const reversible of [true, false]) {
        const key = reversible ? 'reversible' : 'stored';
        log(`  ${n} layers, ${key} ...`);
        const r = runModelChildProcess(script, {
          config: config.toJSON(),
          seqLen: L,
          mode: 'train',
          reversible,
          threads,
          reps: 1,
          warmup: false,
          // the stored run keeps every layer in the arena; the reversible one may stream from host arrays
          hostStreams: reversible ? hostOption : 'never',
          hostMemoryBytes: benchHostBudget(),
        });
        if ('error' in r) {
          if (!r.resource) failed = true;
          row[`${key}_note`] = r.resource ? `refused: ${r.error}` : `failed: ${r.error}`;
          log(`    ${row[`${key}_note`]}`);
          continue;
        }
        const ok = r as ModelChildResult;
        row[`${key}_peak_rss_bytes`] = ok.peak_rss_bytes;
        row[`${key}_wasm_peak_bytes`] = ok.wasm_peak_bytes;
        row[`${key}_seconds`] = ok.seconds;
        if (reversible && ok.host_streams) {
          row.reversible_host_streams = true;
          row.reversible_estimated_bytes = ok.estimated_wasm_bytes ?? row.reversible_estimated_bytes;
          row.reversible_estimated_host_bytes = ok.estimated_host_bytes ?? null;
        }
        log(
          `    peak RSS ${fmtBytes(ok.peak_rss_bytes)}, WASM peak ${fmtBytes(ok.wasm_peak_bytes)} (estimate ${fmtBytes(row[`${key}_estimated_bytes`])}), ${ok.seconds!.toFixed(1)} s`,
        );
      }
      rows.push(row);
    }

    const cell = (measured: number | null, note: string | null): string =>
      measured !== null ? fmtBytes(measured) : note?.startsWith('refused') ? 'refused' : 'failed';
    env.stdout.write(
      `${table(
        ['layers', 'reversible peak RSS', 'streams', 'WASM peak', 'estimate', 'host est.', 'stored peak RSS', 'WASM peak', 'estimate'],
        rows.map((r) => [
          String(r.layers),
          cell(r.reversible_peak_rss_bytes, r.reversible_note),
          r.reversible_host_streams ? 'host' : 'arena',
          fmtBytes(r.reversible_wasm_peak_bytes),
          fmtBytes(r.reversible_estimated_bytes),
          r.reversible_host_streams ? fmtBytes(r.reversible_estimated_host_bytes ?? 0) : '-',
          cell(r.stored_peak_rss_bytes, r.stored_note),
          fmtBytes(r.stored_wasm_peak_bytes),
          fmtBytes(r.stored_estimated_bytes),
        ]),
      )}\n`,
    );
    const growth = (key: 'reversible_peak_rss_bytes' | 'stored_peak_rss_bytes'): string | null => {
      const ok = rows.filter((r) => r[key] !== null);
      if (ok.length < 2) return null;
      const first = ok[0]!;
      const last = ok[ok.length - 1]!;
      return `${key.startsWith('rev') ? 'reversible' : 'stored'}: ${(((last[key]! - first[key]!) / first[key]!) * 100).toFixed(1)}% from ${first.layers} to ${last.layers} layers`;
    };
    const g = [growth('reversible_peak_rss_bytes'), growth('stored_peak_rss_bytes')].filter((x) => x !== null);
    if (g.length > 0) env.stdout.write(`peak RSS growth: ${g.join('; ')}\n`);
    for (const r of rows) {
      if (r.stored_note) env.stdout.write(`${r.layers} layers, stored: ${r.stored_note}\n`);
      if (r.reversible_note) env.stdout.write(`${r.layers} layers, reversible: ${r.reversible_note}\n`);
    }
    env.stdout.write(
      `(one training step of ReformerModelWithLMHead, batch 1, seq_len ${L}, layers [${pattern.join(', ')}] repeated; each run in a fresh child process; ` +
        `estimate = model/memory.ts; baseline RSS ${fmtBytes(base.peak_rss_bytes)})\n`,
    );
    if (env.json)
      env.stdout.write(`${JSON.stringify({ seq_len: L, threads, baseline_rss_bytes: base.peak_rss_bytes, config_note: note, rows })}\n`);
    return failed ? 1 : 0;
  },
};
