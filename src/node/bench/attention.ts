/**
 * `reformer bench attention --seq-lens 1024,4096,...`: time per token and peak memory of one LSH
 * attention layer against one exact attention layer of the reference config (attention-layer.ts), per
 * sequence length.
 *
 * Every (length, kind) runs in its own Node process (attention-child.ts) so that its peak resident set
 * (`process.resourceUsage().maxRSS`: Node itself, the kernels, the WebAssembly memory actually
 * touched, JS temporaries) is measured alone; a `baseline` child that only loads the backend gives
 * the fixed part. Times are medians (tinybench below 0.25 s per call, else `reps` direct runs after a
 * warm-up at a small length).
 *
 * Exact attention is O(L²): it is skipped (with a note) at lengths where its time, extrapolated
 * quadratically from the last measured length, would exceed `--exact-max-seconds`.
 *
 * `--json`: the last stdout line is `{"threads", "load_average": [before, after], "baseline_rss_bytes", "rows": [{"seq_len",
 * "lsh_s_per_token", "lsh_peak_rss_bytes", "exact_s_per_token" (null if skipped),
 * "exact_peak_rss_bytes", "note"}]}`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option } from 'commander';
import { UsageError } from '../../errors.js';
import { intListFlag, numberFlag } from '../cli/parse.js';
import { defaultThreads } from '../wasm.js';
import type { ChildRequest, ChildResult } from './attention-child.js';
import { fmt, fmtBytes, loadAverage, table } from './measure.js';
import type { BenchEnv, BenchSubcommand } from './registry.js';

export const DEFAULT_SEQ_LENS = [1024, 4096, 16384, 65536, 262144, 1048576] as const;

export interface AttentionRow {
  seq_len: number;
  lsh_s_per_token: number | null;
  lsh_peak_rss_bytes: number | null;
  exact_s_per_token: number | null;
  exact_peak_rss_bytes: number | null;
  note: string | null;
}

/** The compiled child script (next to this file in dist/, or under the package's dist/ when run from sources). */
function childScript(packageRoot: string): string {
  const here = fileURLToPath(new URL('./attention-child.js', import.meta.url));
  if (existsSync(here)) return here;
  const dist = join(packageRoot, 'dist', 'src', 'node', 'bench', 'attention-child.js');
  if (existsSync(dist)) return dist;
  throw new UsageError(
    `bench attention runs each length in a child process of the built library, but ${dist} is missing; run npm run build`,
  );
}

/** Runs one child; returns its result or the error line it printed. */
function runChild(script: string, req: ChildRequest): ChildResult | { error: string } {
  const r = spawnSync(process.execPath, [script, JSON.stringify(req)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status === 0 && last.startsWith('{')) return JSON.parse(last) as ChildResult;
  const why =
    r.stderr
      .trim()
      .split('\n')
      .find((l) => l.startsWith('error: '))
      ?.slice(7) ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.status}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
  return { error: why };
}

function validateSeqLens(lens: readonly number[]): void {
  for (const L of lens) {
    if (L < 128 || L % 64 !== 0 || L > 2 ** 22) {
      throw new UsageError(
        `--seq-lens: ${L} is not a length of the reference config: use multiples of lsh_attn_chunk_length 64 from 128 to 4194304`,
      );
    }
  }
}

export const attentionBench: BenchSubcommand = {
  name: 'attention',
  summary: 'time per token and peak memory of one LSH vs one exact attention layer, per sequence length',
  options: () => [
    new Option('--seq-lens <list>', `attention: sequence lengths, comma-separated (default ${DEFAULT_SEQ_LENS.join(',')})`).argParser(
      intListFlag('--seq-lens'),
    ),
    new Option(
      '--exact-max-seconds <s>',
      'attention: skip exact attention where its extrapolated time per layer exceeds s (default 120; 0 = never run it)',
    ).argParser(numberFlag('--exact-max-seconds', 0, 1e6)),
  ],
  async run(flags: Record<string, unknown>, env: BenchEnv): Promise<number> {
    const seqLens = (flags.seqLens as number[] | undefined) ?? [...DEFAULT_SEQ_LENS];
    validateSeqLens(seqLens);
    const exactMax = (flags.exactMaxSeconds as number | undefined) ?? 120;
    const threads = env.threads ?? defaultThreads();
    const script = childScript(env.packageRoot);
    const log = (l: string): void => void env.stderr.write(`${l}\n`);
    const loadBefore = loadAverage();
    const base = runChild(script, { mode: 'baseline', seqLen: 0, threads });
    if ('error' in base) throw new Error(`bench attention: the baseline child failed: ${base.error}`);
    log(`bench attention: ${threads} thread(s), one layer per child process (baseline RSS ${fmtBytes(base.peak_rss_bytes)})`);

    const rows: AttentionRow[] = [];
    let lastExact: { L: number; seconds: number } | null = null;
    let failed = false;
    for (const L of seqLens) {
      const row: AttentionRow = {
        seq_len: L,
        lsh_s_per_token: null,
        lsh_peak_rss_bytes: null,
        exact_s_per_token: null,
        exact_peak_rss_bytes: null,
        note: null,
      };
      const notes: string[] = [];
      log(`  L = ${L}: LSH ...`);
      const lsh = runChild(script, { mode: 'lsh', seqLen: L, threads, reps: L >= 262144 ? 1 : 3 });
      if ('error' in lsh) {
        failed = true;
        notes.push(`LSH failed: ${lsh.error}`);
      } else {
        row.lsh_s_per_token = lsh.seconds! / L;
        row.lsh_peak_rss_bytes = lsh.peak_rss_bytes;
        log(`    ${fmt(lsh.seconds)} s, ${fmt((lsh.seconds! / L) * 1e6)} µs/token, peak RSS ${fmtBytes(lsh.peak_rss_bytes)}`);
      }
      const estimate = lastExact ? lastExact.seconds * (L / lastExact.L) ** 2 : null;
      if (exactMax === 0) {
        notes.push('exact not run (--exact-max-seconds 0)');
      } else if (estimate !== null && estimate > exactMax) {
        notes.push(
          `exact skipped: O(L²) time, ~${fmt(estimate)} s per layer extrapolated from L = ${lastExact!.L} (limit --exact-max-seconds ${exactMax})`,
        );
      } else {
        log(`  L = ${L}: exact ...`);
        const exact = runChild(script, { mode: 'exact', seqLen: L, threads, reps: estimate !== null && estimate > 20 ? 1 : 3 });
        if ('error' in exact) {
          notes.push(`exact failed: ${exact.error}`);
        } else {
          row.exact_s_per_token = exact.seconds! / L;
          row.exact_peak_rss_bytes = exact.peak_rss_bytes;
          lastExact = { L, seconds: exact.seconds! };
          log(`    ${fmt(exact.seconds)} s, ${fmt((exact.seconds! / L) * 1e6)} µs/token, peak RSS ${fmtBytes(exact.peak_rss_bytes)}`);
        }
      }
      row.note = notes.length > 0 ? notes.join('; ') : null;
      rows.push(row);
    }

    const us = (x: number | null): string => (x === null ? '—' : fmt(x * 1e6));
    const sec = (x: number | null, L: number): string => (x === null ? '—' : fmt(x * L));
    env.stdout.write(
      `${table(
        ['seq_len', 'LSH µs/token', 'LSH s/layer', 'LSH peak RSS', 'exact µs/token', 'exact s/layer', 'exact peak RSS', 'exact/LSH'],
        rows.map((r) => [
          String(r.seq_len),
          us(r.lsh_s_per_token),
          sec(r.lsh_s_per_token, r.seq_len),
          fmtBytes(r.lsh_peak_rss_bytes),
          us(r.exact_s_per_token),
          sec(r.exact_s_per_token, r.seq_len),
          fmtBytes(r.exact_peak_rss_bytes),
          r.exact_s_per_token !== null && r.lsh_s_per_token ? `${(r.exact_s_per_token / r.lsh_s_per_token).toFixed(2)}×` : '—',
        ]),
      )}\n`,
    );
    for (const r of rows) if (r.note) env.stdout.write(`L = ${r.seq_len}: ${r.note}\n`);
    const flat = rows.filter((r) => r.seq_len >= 4096 && r.lsh_s_per_token !== null).map((r) => r.lsh_s_per_token!);
    if (flat.length >= 2) {
      env.stdout.write(`LSH time per token, max/min over L ≥ 4096: ${(Math.max(...flat) / Math.min(...flat)).toFixed(2)}×\n`);
    }
    const loadAfter = loadAverage();
    env.stdout.write(
      `(${threads} thread(s); one attention layer of the reference config, batch 1, evaluation; medians; peak RSS of a child process per row, baseline ${fmtBytes(base.peak_rss_bytes)}; load average ${loadBefore} before, ${loadAfter} after)\n`,
    );
    if (env.json) {
      env.stdout.write(
        `${JSON.stringify({ threads, load_average: [loadBefore, loadAfter], baseline_rss_bytes: base.peak_rss_bytes, rows })}\n`,
      );
    }
    return failed ? 1 : 0;
  },
};
