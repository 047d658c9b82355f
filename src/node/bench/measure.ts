/**
 * Timing and table helpers of the benchmarks.
 *
 * `medianSeconds` times a synchronous call: tinybench 6 (warm-up, then repeated runs, median latency)
 * for calls up to ~0.25 s; slower calls are run `slowReps` times after one warm-up call and the median
 * is taken. The first calls of a WASM function run in V8's baseline tier (Liftoff, ~3× slower:
 * ../shared/PERF-NOTES.md §6), which the warm-up absorbs.
 */
import { loadavg } from 'node:os';
import { Bench } from 'tinybench';

/**
 * The 1-minute load average now (other processes compete for the cores: with 2 cores, a load of 1
 * means one core was busy on average; 0 on systems without it).
 */
export function loadAverage(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

export interface TimingOptions {
  /** Time budget of the tinybench run in ms. Default 500. */
  timeMs?: number;
  /** Runs of a slow call (≥ 0.25 s). Default 3. */
  slowReps?: number;
  /**
   * The caller already warmed the code up (e.g. on a smaller size): a slow first call counts as the
   * first of the `slowReps` runs instead of being thrown away. Default false.
   */
  warmedUp?: boolean;
}

/** Median seconds per call of `fn`. */
export async function medianSeconds(fn: () => void, options: TimingOptions = {}): Promise<number> {
  const t0 = performance.now();
  fn(); // warm-up (tier-up, page faults of fresh buffers)
  const first = (performance.now() - t0) / 1000;
  if (first >= 0.25) {
    const reps = options.slowReps ?? 3;
    const times: number[] = options.warmedUp ? [first] : [];
    while (times.length < reps) {
      const s = performance.now();
      fn();
      times.push((performance.now() - s) / 1000);
    }
    return median(times);
  }
  const bench = new Bench({ time: options.timeMs ?? 500, iterations: 5, warmupTime: 50, warmupIterations: 2, throws: true });
  bench.add('task', fn);
  await bench.run();
  const result = bench.tasks[0]!.result as { latency?: { p50?: number } } | undefined;
  const p50 = result?.latency?.p50;
  if (p50 === undefined || !Number.isFinite(p50)) throw new Error('benchmark: tinybench returned no latency');
  return p50 / 1000;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** A number with 3 significant digits (or '—'). */
export function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  if (a >= 100) return x.toFixed(1);
  if (a >= 10) return x.toFixed(2);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** Bytes as MiB / GiB text. */
export function fmtBytes(b: number | null | undefined): string {
  if (b === null || b === undefined) return '—';
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(2)} GiB`;
  return `${(b / 2 ** 20).toFixed(0)} MiB`;
}

/** A plain-text table: header row, a rule, rows; columns padded (numbers right-aligned). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.every((r) => /^[\d.,—×x%-]*$|^\d/.test(r[i] ?? '')));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (numeric[i] && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
