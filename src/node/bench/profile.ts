/**
 * `reformer bench profile`: where one training step of ours goes, by the phases of
 * bench/profile-phases.json, beside the PyTorch peer's `bench/peer-profile.py` (same phases).
 *
 *   reformer bench profile --seq-len 4096 --threads 1,2 --json
 *
 * One child process per thread count (profile-child.ts: a warm-up step, then `--repeats` profiled
 * steps of loss + reversible backward + AdamW). For N > 1 threads the row "thread dispatch / idle" is
 * the kernels' time beyond a perfect split of the same kernels' 1-thread time (Σ kernel ms at N −
 * Σ kernel ms at 1 / N, and 0 when that is negative): handing out work, waiting for the slowest
 * thread, and whatever the machine's other load took from the workers. It needs a 1-thread child in
 * the same run (added when `--threads` leaves it out).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Option } from 'commander';
import { intFlag, nonEmptyFlag } from '../cli/parse.js';
import { loadAverages, machineInfo } from './machine.js';
import { fmt, table } from './measure.js';
import { defaultThreads } from '../wasm.js';
import { readBenchConfig } from './model.js';
import { fitConfigToLength } from './model-child.js';
import type { ProfileChildRequest, ProfileChildResult } from './profile-child.js';
import type { BenchEnv, BenchSubcommand } from './registry.js';

/** The extra row of a multi-thread profile. */
export const DISPATCH_ROW = 'thread dispatch / idle';

/** Σ kernel ms at N threads beyond a perfect split of the 1-thread kernels (≥ 0). */
export function dispatchIdleMs(one: ProfileChildResult, many: ProfileChildResult): number {
  return Math.max(0, many.kernel_ms - one.kernel_ms / many.threads);
}

function runChild(packageRoot: string, req: ProfileChildRequest): ProfileChildResult {
  const script = join(packageRoot, 'dist', 'src', 'node', 'bench', 'profile-child.js');
  const r = spawnSync(process.execPath, [script, JSON.stringify(req)], { encoding: 'utf8', maxBuffer: 1 << 22 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status === 0 && last.startsWith('{')) return JSON.parse(last) as ProfileChildResult;
  const err =
    r.stderr
      .trim()
      .split('\n')
      .find((l) => l.startsWith('error: ')) ?? r.stderr.trim().split('\n').pop();
  throw new Error(`bench profile: the ${req.threads}-thread child failed: ${err ?? `exit ${r.status}`}`);
}

export const profileBench: BenchSubcommand = {
  name: 'profile',
  summary: 'where one training step goes (hashing, sort, gathers, chunk attention, GEMMs, recompute, ...), per thread count',
  threadList: true,
  options: () => [
    new Option('--config <file>', 'profile: HF config.json (default: the reference config)').argParser(nonEmptyFlag('--config')),
    new Option('--seq-len <n>', 'profile: sequence length (default 4096)').argParser(intFlag('--seq-len', 1, 2 ** 24)),
    new Option('--repeats <n>', 'profile: profiled steps after the warm-up (default 2)').argParser(intFlag('--repeats', 1, 100)),
  ],
  async run(flags: Record<string, unknown>, env: BenchEnv): Promise<number> {
    const L = (flags.seqLen as number | undefined) ?? 4096;
    const steps = (flags.repeats as number | undefined) ?? 2;
    const counts = [...new Set([1, ...(env.threadList ?? [1, defaultThreads()])])].sort((a, b) => a - b);
    const { config, note } = fitConfigToLength(readBenchConfig(flags.config as string | undefined), L);
    const log = (l: string): void => void env.stderr.write(`${l}\n`);
    const loadBefore = loadAverages();
    const results: ProfileChildResult[] = [];
    for (const threads of counts) {
      log(`bench profile: ${L} tokens, ${threads} thread(s), ${steps} profiled step(s)${note ? `; ${note}` : ''} …`);
      results.push(runChild(env.packageRoot, { config: config.toJSON(), seqLen: L, threads, steps }));
    }
    const loadAfter = loadAverages();
    const one = results[0]!;
    const header = ['phase', ...results.flatMap((r) => [`${r.threads}T fwd ms`, 'bwd ms', 'total ms', '%'])];
    const names = [...one.phases.map((p) => p.name), DISPATCH_ROW];
    const rows = names.map((name) => [
      name,
      ...results.flatMap((r) => {
        if (name === DISPATCH_ROW) {
          if (r.threads === 1) return ['', '', '', ''];
          const ms = dispatchIdleMs(one, r);
          return ['', '', fmt(ms), fmt((100 * ms) / r.step_ms)];
        }
        const p = r.phases.find((q) => q.name === name)!;
        return [fmt(p.forward_ms), fmt(p.backward_ms), fmt(p.total_ms), fmt(p.percent)];
      }),
    ]);
    rows.push(['step', ...results.flatMap((r) => ['', '', fmt(r.step_ms), '100'])]);
    const m = machineInfo();
    env.stdout.write(`${table(header, rows)}\n`);
    env.stdout.write(
      `(${m.cpu}, ${m.cores} cores, ${m.simd}; WASM ${one.wasm_variant}; load average ${loadBefore[0]} before, ${loadAfter[0]} after; ` +
        `"thread dispatch / idle" is part of the phases' kernel time, not added to the step)\n`,
    );
    if (env.json) {
      env.stdout.write(
        `${JSON.stringify({
          benchmark: 'profile',
          seq_len: L,
          steps,
          config_note: note,
          machine: m,
          load_average: { before: loadBefore, after: loadAfter },
          runs: results.map((r) => ({ ...r, dispatch_idle_ms: r.threads === 1 ? 0 : dispatchIdleMs(one, r) })),
        })}\n`,
      );
    }
    return 0;
  },
};
