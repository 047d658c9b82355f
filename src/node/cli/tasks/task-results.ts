/**
 * What every `reformer task` (duplication, passkey, genome, fashion-mnist, forecast) does with its
 * figures: rounds them for results.json, measures a phase (wall time, CPU time, load), writes
 * `<out>/results.json` atomically (src/node/atomic.ts: a reader sees the old file or the new one), and
 * prints the table on stdout as a Markdown table.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../errors.js';
import { writeFileAtomic } from '../../atomic.js';
import { checkOutputDir, displayPath } from '../../paths.js';

/** `x` rounded to `digits` decimals (half away from zero as `Math.round`), e.g. round(0.12345, 4) = 0.1235. */
export function round(x: number, digits: number): number {
  const s = 10 ** digits;
  return Math.round(x * s) / s;
}

/** What a phase cost: wall and CPU seconds of this process (0.1 s), the 1/5/15-minute load before and after. */
export interface PhaseMeter {
  wall_seconds: number;
  cpu_seconds: number;
  load_start: number[];
  load_end: number[];
}

/** Starts measuring a phase; the returned function ends it (for the docs' "measured" tables). */
export function meter(): () => PhaseMeter {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const l0 = loadavg().map((x) => round(x, 2));
  return () => {
    const c = process.cpuUsage(c0);
    return {
      wall_seconds: round((performance.now() - t0) / 1000, 1),
      cpu_seconds: round((c.user + c.system) / 1e6, 1),
      load_start: l0,
      load_end: loadavg().map((x) => round(x, 2)),
    };
  };
}

/**
 * Checks a task's `--out` before anything runs: a directory this user can create or write to
 * (`checkOutputDir`) that does not hold an earlier run's results.json, which the task would overwrite
 * with its checkpoints (as `train --out` refuses a folder that holds a checkpoint).
 * @throws UsageError naming `--out` and the way out
 */
export function checkTaskOut(out: string): void {
  checkOutputDir(out, '--out');
  const results = join(out, 'results.json');
  if (existsSync(results))
    throw new UsageError(
      `--out ${out}: ${displayPath(results)} holds an earlier run's results, which this run would overwrite; choose another --out, or delete the folder first`,
    );
}

/**
 * Writes `results` as JSON (`indent` spaces, a trailing newline) to `path`, atomically: a command
 * rewrites its results.json after each model or part, so an interrupted run leaves the last complete one.
 */
export function writeResultsJson(path: string, results: unknown, indent = 2): void {
  writeFileAtomic(path, `${JSON.stringify(results, null, indent)}\n`);
}

/** The lines of a Markdown table: `| a | b |`, the `|---|---|` rule, one line per row; columns padded to the widest cell. */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(fmt)];
}
