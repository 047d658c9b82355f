/**
 * `reformer bench vs-pytorch`: our whole model against HuggingFace's PyTorch Reformer
 * (`ReformerModelWithLMHead` on torch + OpenBLAS, ../shared/peer-pytorch/, see peer.ts), side by side
 * on this machine, in the same minutes, on the same config file:
 *
 *   reformer bench vs-pytorch --seq-lens 4096,16384 --modes forward,train --threads 1,2 --repeats 3 --json vs.json
 *
 * - For each length, mode and thread count, the two sides run interleaved, each in its own child
 *   process (so each peak RSS is one side's alone): ours (model-child.ts, as `bench model`), then the
 *   peer (bench_hf.py); with `--rounds n` the pair repeats n times, alternating which side goes first
 *   (ours→peer, peer→ours, ...), and each side's figure is the median of all its timed calls.
 * - Each child: one warm-up call, then `--repeats` timed calls (default 3).
 * - Modes: forward = ours the evaluation loss (`model.loss`), the peer `eval()` + `no_grad` logits;
 *   train = one training step without optimizer update on both sides: loss + gradients through the
 *   reversible backward (ours `model.lossAndGrad`, the peer `loss.backward()` with `--optimizer none`).
 * - Config: the peer folder's bench-config-<L>.json, read by both sides (for a length without a file:
 *   bench-config-4096.json with axial_pos_shape [a, L/a], the rule of both `fitConfigToLength` and
 *   bench_hf.py). ratio = our tokens/s ÷ the peer's.
 * - The machine is printed with the table: CPU model, SIMD level (our kernels are 128-bit WASM SIMD,
 *   relaxed or not; the peer's OpenBLAS uses AVX2/AVX-512), the BLAS library and OpenBLAS core the
 *   peer really ran, and the load average before and after (a shared machine makes ratios noisy).
 * - Without the peer (no python, no torch, no HF package, no peer folder) it prints the reason,
 *   marks every row skipped and exits 0: the comparison is optional and never a timed test.
 *
 * `--json`: the last stdout line is `{"benchmark": "vs-pytorch", "status", "skipped_reason", "rows":
 * [{"seq_len", "mode", "threads", "status", "ours_tokens_per_s", "peer_tokens_per_s", "ratio",
 * "ours_peak_rss_bytes", "peer_peak_rss_bytes", ...}], "order", "machine", "peer", "load_average", ...}`
 * (see `vsPytorchJson`); `--json <file>` writes it to the file too.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option } from 'commander';
import type { ReformerConfig } from '../../config/reformer-config.js';
import { ResourceError } from '../../errors.js';
import { choiceListFlag, intFlag, intListFlag, nonEmptyFlag } from '../cli/parse.js';
import { defaultThreads } from '../wasm.js';
import { loadAverages, machineInfo, type MachineInfo } from './machine.js';
import { fmt, fmtBytes, median, table } from './measure.js';
import { fitConfigToLength } from './model-child.js';
import { checkBenchLength, checkBenchMemory, modelChildScript, readBenchConfig, REFERENCE_CONFIG, runModelChildProcess } from './model.js';
import { peerLocation, probePeer, runPeerCell, type PeerCellResult, type PeerLocation } from './peer.js';
import type { BenchEnv, BenchSubcommand } from './registry.js';

export type VsMode = 'forward' | 'train';
export const VS_MODES: readonly VsMode[] = ['forward', 'train'];

/** One (length, mode, threads) cell of the comparison. */
export interface VsRow {
  seq_len: number;
  mode: VsMode;
  threads: number;
  status: 'ok' | 'skipped' | 'failed';
  /** Why the row is skipped or failed (null when ok). */
  reason: string | null;
  ours_tokens_per_s: number | null;
  peer_tokens_per_s: number | null;
  /** ours ÷ peer tokens/s. */
  ratio: number | null;
  ours_seconds: number | null;
  peer_seconds: number | null;
  /** Every timed call of each side, all rounds. */
  ours_times: number[];
  peer_times: number[];
  /** Highest peak RSS of the side's child processes. */
  ours_peak_rss_bytes: number | null;
  peer_peak_rss_bytes: number | null;
  /** 1-minute load average just before the row's first child. */
  load_before: number | null;
  /** The kernel build ours ran ('relaxed-simd' or 'simd'). */
  wasm_variant: string | null;
  /** The BLAS the peer ran, e.g. openblas-SkylakeX. */
  peer_blas: string | null;
  /** torch.get_num_threads() of the peer's child. */
  peer_threads: number | null;
}

/** What the peer reported about itself (from its first successful cell). */
export interface VsPeerInfo {
  python: string;
  dir: string;
  pkg: string;
  torch_version: string;
  blas: string | null;
  openblas_core: string | null;
  openblas_config: string | null;
  sgemm_provider: string | null;
  sgemm1024_gflops: number | null;
  openblas_coretype_env: string | null;
  hf_commit: string | null;
  notes: string[];
}

export interface VsReport {
  rows: VsRow[];
  /** The children in the order they ran, e.g. "ours forward L=4096 threads=1". */
  order: string[];
  machine: MachineInfo;
  load_before: [number, number, number];
  load_after: [number, number, number];
  /** null when skipped before the peer ran. */
  peer: VsPeerInfo | null;
  /** Why the whole comparison was skipped (null if it ran). */
  skipped_reason: string | null;
  repeats: number;
  rounds: number;
  /** Config files, one per length. */
  configs: { seq_len: number; file: string; note: string | null }[];
}

const MODE_LABEL: Record<VsMode, string> = { forward: 'forward', train: 'train step' };

/** "1.46×", or the row's status when there is no ratio. */
export function ratioText(row: VsRow): string {
  if (row.status !== 'ok' || row.ratio === null) return row.status;
  return `${row.ratio.toFixed(2)}×`;
}

/** The table and the lines under it (machine, peer, load, definitions), as printed on stdout. */
export function formatVsPytorch(report: VsReport): string {
  const tok = (x: number | null, row: VsRow): string => (x === null ? (row.status === 'ok' ? '—' : row.status) : fmt(x));
  const lines = [
    table(
      ['seq_len', 'mode', 'threads', 'ours tok/s', 'peer tok/s', 'ratio', 'ours peak RSS', 'peer peak RSS', 'load'],
      report.rows.map((r) => [
        String(r.seq_len),
        MODE_LABEL[r.mode],
        String(r.threads),
        tok(r.ours_tokens_per_s, r),
        tok(r.peer_tokens_per_s, r),
        ratioText(r),
        fmtBytes(r.ours_peak_rss_bytes),
        fmtBytes(r.peer_peak_rss_bytes),
        r.load_before === null ? '—' : r.load_before.toFixed(2),
      ]),
    ),
  ];
  if (report.skipped_reason !== null) lines.push(`skipped: ${report.skipped_reason}`);
  for (const r of report.rows)
    if (r.status === 'failed') lines.push(`L = ${r.seq_len} ${MODE_LABEL[r.mode]}, ${r.threads} thread(s): ${r.reason}`);
  const m = report.machine;
  const variants = [...new Set(report.rows.map((r) => r.wasm_variant).filter((v) => v !== null))];
  lines.push(
    `machine: ${m.cpu}, ${m.cores} cores, ${m.simd}${m.simd_flags.length > 0 ? ` (${m.simd_flags.join(' ')})` : ''}; Node ${m.node}` +
      `; ours: WASM ${variants.length > 0 ? variants.join(', ') : '(not run)'} (128-bit SIMD)`,
  );
  const p = report.peer;
  if (p !== null) {
    const core = p.openblas_core ? `, OpenBLAS core ${p.openblas_core}` : '';
    const forced = p.openblas_coretype_env ? ` (OPENBLAS_CORETYPE=${p.openblas_coretype_env})` : '';
    lines.push(
      `peer: HF ReformerModelWithLMHead${p.hf_commit ? ` @ ${p.hf_commit.slice(0, 8)}` : ''} on torch ${p.torch_version} (${p.python}); ` +
        `BLAS ${p.blas ?? 'unknown'}: sgemm_ from ${p.sgemm_provider ?? 'unknown'}${core}${forced}` +
        `${p.openblas_config ? ` [${p.openblas_config}]` : ''}${p.sgemm1024_gflops !== null ? `; sgemm 1024³ ${fmt(p.sgemm1024_gflops)} GFLOP/s` : ''}`,
    );
  }
  const la = (x: readonly number[]): string => x.map((v) => v.toFixed(2)).join(', ');
  const busy = report.load_before[0] >= 0.5;
  lines.push(
    `load average (1, 5, 15 min): ${la(report.load_before)} before, ${la(report.load_after)} after` +
      (busy ? ` — the machine was not quiet (other processes competed for the ${m.cores} cores): treat the ratios as approximate` : ''),
  );
  lines.push(
    `(batch 1, same config file on both sides; forward: ours the evaluation loss, the peer eval() + no_grad logits; ` +
      `train step: loss + gradients, reversible backward, no optimizer update; each side in its own child process, ` +
      `interleaved${report.rounds > 1 ? `, ${report.rounds} rounds alternating which goes first` : ' ours then peer'}; ` +
      `median of ${report.repeats} timed call(s) per child after a warm-up; ratio = ours ÷ peer tokens/s; load = 1-minute load before the row)`,
  );
  return `${lines.join('\n')}\n`;
}

/** The `--json` object. */
export function vsPytorchJson(report: VsReport): Record<string, unknown> {
  const failed = report.rows.some((r) => r.status === 'failed');
  return {
    benchmark: 'vs-pytorch',
    status: report.skipped_reason !== null ? 'skipped' : failed ? 'failed' : 'ok',
    skipped_reason: report.skipped_reason,
    rows: report.rows,
    order: report.order,
    machine: { ...report.machine, wasm_variant: report.rows.find((r) => r.wasm_variant !== null)?.wasm_variant ?? null },
    peer: report.peer,
    load_average: { before: report.load_before, after: report.load_after },
    repeats: report.repeats,
    rounds: report.rounds,
    configs: report.configs,
  };
}

/** The config of length L from the peer folder (its own file, else the 4096 one fitted), or the reference config. */
function configFor(dir: string, L: number): { config: ReformerConfig; file: string; note: string | null } {
  const own = join(dir, `bench-config-${L}.json`);
  const file = existsSync(own) ? own : join(dir, 'bench-config-4096.json');
  if (!existsSync(file)) return { ...fitConfigToLength({ ...REFERENCE_CONFIG }, L), file: 'bench/configs/reference.json' };
  return { ...fitConfigToLength(readBenchConfig(file), L), file };
}

function emptyRow(seq_len: number, mode: VsMode, threads: number): VsRow {
  return {
    seq_len,
    mode,
    threads,
    status: 'ok',
    reason: null,
    ours_tokens_per_s: null,
    peer_tokens_per_s: null,
    ratio: null,
    ours_seconds: null,
    peer_seconds: null,
    ours_times: [],
    peer_times: [],
    ours_peak_rss_bytes: null,
    peer_peak_rss_bytes: null,
    load_before: null,
    wasm_variant: null,
    peer_blas: null,
    peer_threads: null,
  };
}

function peerInfo(loc: PeerLocation, torch: string, r: PeerCellResult): VsPeerInfo {
  return {
    python: loc.python,
    dir: loc.dir,
    pkg: loc.pkg,
    torch_version: r.torch_version !== 'unknown' ? r.torch_version : torch,
    blas: r.blas,
    openblas_core: r.openblas_core,
    openblas_config: r.openblas_config,
    sgemm_provider: r.sgemm_provider,
    sgemm1024_gflops: r.sgemm1024_gflops,
    openblas_coretype_env: r.openblas_coretype_env,
    hf_commit: r.hf_commit,
    notes: r.notes,
  };
}

export const vsPytorchBench: BenchSubcommand = {
  name: 'vs-pytorch',
  summary: "our model vs HF's PyTorch Reformer on this machine, interleaved child processes, same config: tokens/s ratio table",
  threadList: true,
  options: () => [
    new Option('--seq-lens <list>', 'vs-pytorch: sequence lengths (default 4096)').argParser(intListFlag('--seq-lens')),
    new Option('--modes <list>', 'vs-pytorch: forward, train or both, comma-separated (default forward,train)').argParser(
      choiceListFlag('--modes', VS_MODES),
    ),
    new Option('--repeats <n>', 'vs-pytorch: timed calls per child after its warm-up (default 3)').argParser(intFlag('--repeats', 1, 100)),
    new Option('--rounds <n>', 'vs-pytorch: ours/peer pairs per row, alternating which runs first (default 1)').argParser(
      intFlag('--rounds', 1, 20),
    ),
    new Option('--python <path>', 'vs-pytorch: interpreter with torch (default /usr/bin/python3)').argParser(nonEmptyFlag('--python')),
    new Option(
      '--peer-dir <dir>',
      'vs-pytorch: the PyTorch peer folder with bench_hf.py (default $REFORMER_PEER_DIR, else ../shared/peer-pytorch next to the package)',
    ).argParser(nonEmptyFlag('--peer-dir')),
    new Option(
      '--peer-pkg <dir>',
      "vs-pytorch: the HF package its install.sh assembled (default $ORACLE_PKG, else $TMPDIR or /tmp, then reformer-peer-pytorch/hfpkg: install.sh's default)",
    ).argParser(nonEmptyFlag('--peer-pkg')),
  ],
  async run(flags: Record<string, unknown>, env: BenchEnv): Promise<number> {
    const seqLens = (flags.seqLens as number[] | undefined) ?? [4096];
    const modes = (flags.modes as VsMode[] | undefined) ?? [...VS_MODES];
    const threadCounts = [...new Set(env.threadList ?? [1, defaultThreads()])];
    const repeats = (flags.repeats as number | undefined) ?? 3;
    const rounds = (flags.rounds as number | undefined) ?? 1;
    const loc = peerLocation(
      { dir: flags.peerDir as string | undefined, pkg: flags.peerPkg as string | undefined, python: flags.python as string | undefined },
      env.packageRoot,
    );
    const log = (l: string): void => void env.stderr.write(`${l}\n`);
    const configs = new Map(seqLens.map((L) => [L, configFor(loc.dir, L)]));
    for (const [L, c] of configs) for (const mode of modes) checkBenchLength(c.config, L, mode);

    const loadBefore = loadAverages();
    const rows: VsRow[] = [];
    for (const L of seqLens) for (const mode of modes) for (const t of threadCounts) rows.push(emptyRow(L, mode, t));
    const report: VsReport = {
      rows,
      order: [],
      machine: machineInfo(),
      load_before: loadBefore,
      load_after: loadBefore,
      peer: null,
      skipped_reason: null,
      repeats,
      rounds,
      configs: [...configs].map(([L, c]) => ({ seq_len: L, file: c.file, note: c.note })),
    };
    const finish = (): number => {
      report.load_after = loadAverages();
      env.stdout.write(formatVsPytorch(report));
      if (env.json) env.stdout.write(`${JSON.stringify(vsPytorchJson(report))}\n`);
      return rows.some((r) => r.status === 'failed') ? 1 : 0;
    };

    const probe = probePeer(loc);
    if (!probe.ok) {
      log(`bench vs-pytorch: skipped: ${probe.reason}`);
      report.skipped_reason = probe.reason;
      for (const r of rows) {
        r.status = 'skipped';
        r.reason = probe.reason;
      }
      return finish();
    }
    for (const r of rows)
      checkBenchMemory(configs.get(r.seq_len)!.config, { batch: 1, seqLen: r.seq_len, mode: r.mode, threads: r.threads });
    const script = modelChildScript(env.packageRoot);
    log(
      `bench vs-pytorch: ${rows.length} row(s) × ${rounds} round(s), ours vs torch ${probe.torch} (${loc.python}); ` +
        `peer ${loc.dir}, package ${loc.pkg}; load ${loadBefore[0]}`,
    );

    for (const row of rows) {
      const { config } = configs.get(row.seq_len)!;
      const label = `${row.mode} L=${row.seq_len} threads=${row.threads}`;
      const errors: string[] = [];
      row.load_before = loadAverages()[0];
      for (let round = 0; round < rounds; round++) {
        const sides: ('ours' | 'peer')[] = round % 2 === 0 ? ['ours', 'peer'] : ['peer', 'ours'];
        for (const side of sides) {
          const tag = `${side} ${label}${rounds > 1 ? ` round ${round + 1}` : ''}`;
          report.order.push(tag);
          log(`  ${tag} ...`);
          if (side === 'ours') {
            const r = runModelChildProcess(script, {
              config: config.toJSON(),
              seqLen: row.seq_len,
              mode: row.mode,
              threads: row.threads,
              reps: repeats,
              maxSeconds: 600,
            });
            if ('error' in r) {
              if (r.resource) throw new ResourceError(r.error);
              errors.push(`ours: ${r.error}`);
              continue;
            }
            row.ours_times.push(...r.times);
            row.ours_peak_rss_bytes = Math.max(row.ours_peak_rss_bytes ?? 0, r.peak_rss_bytes);
            row.wasm_variant = r.wasm_variant;
            log(`    ${fmt(row.seq_len / r.seconds!)} tok/s, peak RSS ${fmtBytes(r.peak_rss_bytes)} (${r.wasm_variant})`);
          } else {
            const r = runPeerCell(loc, { seqLen: row.seq_len, mode: row.mode, threads: row.threads, repeats });
            if ('error' in r) {
              errors.push(`peer: ${r.error}`);
              continue;
            }
            row.peer_times.push(...r.all_seconds);
            row.peer_peak_rss_bytes = Math.max(row.peer_peak_rss_bytes ?? 0, r.peak_rss_bytes);
            row.peer_blas = r.blas;
            row.peer_threads = r.threads;
            report.peer ??= peerInfo(loc, probe.torch, r);
            log(`    ${fmt(r.tokens_per_s)} tok/s, peak RSS ${fmtBytes(r.peak_rss_bytes)} (${r.blas}, ${r.threads} thread(s))`);
          }
        }
      }
      if (row.ours_times.length > 0) {
        row.ours_seconds = median(row.ours_times);
        row.ours_tokens_per_s = row.seq_len / row.ours_seconds;
      }
      if (row.peer_times.length > 0) {
        row.peer_seconds = median(row.peer_times);
        row.peer_tokens_per_s = row.seq_len / row.peer_seconds;
      }
      if (errors.length > 0) {
        row.status = 'failed';
        row.reason = errors.join('; ');
      } else if (row.ours_tokens_per_s !== null && row.peer_tokens_per_s !== null) {
        row.ratio = row.ours_tokens_per_s / row.peer_tokens_per_s;
      }
    }
    return finish();
  },
};
