/** `reformer conformance` and `bench`: wired where the engine exists, a clear "not available" otherwise (`verify`: verify.ts). */
import { ReferenceBackend } from '../../backend/reference.js';
import { formatConformanceReport } from '../../conformance/runner.js';
import { runConformanceFolder } from '../conformance.js';
import type { Option } from 'commander';
import { UsageError } from '../../errors.js';
import { BENCHMARKS } from '../bench/registry.js';
import { TaskProgress } from '../progress.js';
import { NotAvailableError, type CliContext } from './context.js';

export interface ConformanceFlags {
  dtype: 'f32' | 'f64';
  filter?: string;
}

/**
 * Runs an HF fixture folder; exit 0 if no case failed, 1 otherwise.
 * @throws UsageError if `--filter` matches no case (naming it and listing a few cases and the components).
 */
export function conformanceCommand(dir: string, flags: ConformanceFlags, ctx: CliContext): number {
  const seen: { name: string; component: string }[] = [];
  let matched = 0;
  const text = flags.filter;
  let progress: TaskProgress | null = null;
  const report = runConformanceFolder(dir, {
    backend: new ReferenceBackend({ dtype: flags.dtype }),
    onProgress: (done, total) => {
      progress ??= new TaskProgress({ stream: ctx.stderr, label: 'conformance', unit: 'cases', total });
      progress.update(done);
    },
    ...(text
      ? {
          filter: (name: string, component: string) => {
            seen.push({ name, component });
            const ok = name.includes(text) || component.includes(text);
            if (ok) matched++;
            return ok;
          },
        }
      : {}),
  });
  (progress as TaskProgress | null)?.stop();
  if (text && matched === 0) {
    const few = seen.slice(0, 4).map((c) => c.name);
    const components = [...new Set(seen.map((c) => c.component))].sort();
    throw new UsageError(
      `--filter ${JSON.stringify(text)}: matches no case name or component of the ${seen.length} cases in ${dir} ` +
        `(cases: ${few.join(', ')}${seen.length > few.length ? ', ...' : ''}; components: ${components.join(', ')}); pass a part of one of them, or leave --filter out to run all`,
    );
  }
  ctx.stdout.write(`${formatConformanceReport(report)}\n`);
  return report.failed === 0 ? 0 : 1;
}

export const BENCH_TARGETS = ['kernels', 'attention', 'model', 'memory'] as const;
export type BenchTarget = (typeof BENCH_TARGETS)[number];

/** Every flag of every benchmark (for `bench --help`), each once. */
export function benchOptions(): Option[] {
  const seen = new Set<string>();
  const out: Option[] = [];
  for (const b of BENCHMARKS) {
    for (const o of b.options()) {
      if (seen.has(o.attributeName())) continue;
      seen.add(o.attributeName());
      out.push(o);
    }
  }
  return out;
}

export interface BenchFlags {
  json?: boolean;
  threads?: number;
  [flag: string]: unknown;
}

/**
 * Runs `reformer bench <target>` (src/node/bench/registry.ts); a target without a benchmark in this
 * build exits 3. `explicit`: the flags given on the command line (flags of another benchmark are refused).
 */
export async function benchCommand(
  target: BenchTarget,
  flags: BenchFlags,
  explicit: ReadonlySet<string>,
  ctx: CliContext,
): Promise<number> {
  const bench = BENCHMARKS.find((b) => b.name === target);
  if (!bench) {
    throw new NotAvailableError(
      `bench ${target}: not available yet: the ${target} benchmark has not landed (available: ${BENCHMARKS.map((b) => b.name).join(', ')})`,
    );
  }
  const own = new Set(bench.options().map((o) => o.attributeName()));
  for (const o of benchOptions()) {
    if (explicit.has(o.attributeName()) && !own.has(o.attributeName())) {
      const owner = BENCHMARKS.find((b) => b.options().some((x) => x.attributeName() === o.attributeName()));
      throw new UsageError(`${o.long ?? o.flags} applies to bench ${owner?.name ?? '?'}, not to bench ${target}`);
    }
  }
  return bench.run(flags, {
    stdout: ctx.stdout,
    stderr: ctx.stderr,
    threads: flags.threads,
    json: flags.json === true,
    packageRoot: ctx.packageRoot,
  });
}
