/** `reformer conformance` and `bench`: wired where the engine exists, a clear "not available" otherwise (`verify`: verify.ts). */
import { ReferenceBackend } from '../../backend/reference.js';
import { formatConformanceReport } from '../../conformance/runner.js';
import { runConformanceFolder } from '../conformance.js';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Option } from 'commander';
import { UsageError } from '../../errors.js';
import { writeFileAtomic } from '../atomic.js';
import { BENCHMARKS } from '../bench/registry.js';
import { TaskProgress } from '../progress.js';
import { NotAvailableError, type CliContext, type OutStream } from './context.js';

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

export const BENCH_TARGETS = ['kernels', 'attention', 'model', 'memory', 'vs-pytorch', 'generate', 'profile'] as const;
export type BenchTarget = (typeof BENCH_TARGETS)[number];

/**
 * Every flag of every benchmark (for `bench --help`), each once: a flag that several benchmarks share
 * (same name and parser, e.g. `--seq-lens`) is listed once with each one's description joined by "; ".
 */
export function benchOptions(): Option[] {
  const seen = new Map<string, Option>();
  for (const b of BENCHMARKS) {
    for (const o of b.options()) {
      const first = seen.get(o.attributeName());
      if (first) {
        if (!first.description.split('; ').includes(o.description)) first.description = `${first.description}; ${o.description}`;
      } else seen.set(o.attributeName(), o);
    }
  }
  return [...seen.values()];
}

export interface BenchFlags {
  /** `--json` (true) or `--json <file>`. */
  json?: boolean | string;
  /** `--threads`: one count, or a list for benchmarks that take one (vs-pytorch). */
  threads?: number[];
  [flag: string]: unknown;
}

/** Checks that `--json <file>` can be written (its folder exists) before a long benchmark starts. */
function checkJsonFile(file: string): void {
  const dir = dirname(resolve(file));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`--json ${file}: folder ${dir} does not exist; create it or give another path`);
  }
  if (existsSync(file) && statSync(file).isDirectory()) throw new UsageError(`--json ${file}: is a folder; give a file path`);
}

/** `out`, also remembering the last line that starts with '{' (the `--json` object). */
function jsonTap(out: OutStream): { stream: OutStream; last: () => string | null } {
  let last: string | null = null;
  let pending = '';
  const stream: OutStream = {
    write(text: string): boolean {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) if (l.startsWith('{')) last = l;
      return out.write(text);
    },
    ...(out.isTTY !== undefined ? { isTTY: out.isTTY } : {}),
  };
  return { stream, last: () => last };
}

/**
 * Runs `reformer bench <target>` (src/node/bench/registry.ts); a target without a benchmark in this
 * build exits 3. `explicit`: the flags given on the command line (flags of another benchmark are refused).
 * `--json <file>` also writes the JSON object (the last stdout line) to the file, atomically.
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
  const threadList = flags.threads;
  if (threadList !== undefined && threadList.length > 1 && !bench.threadList) {
    const lists = BENCHMARKS.filter((b) => b.threadList).map((b) => `bench ${b.name}`);
    throw new UsageError(
      `--threads ${threadList.join(',')}: bench ${target} takes one thread count (a list is for ${lists.join(', ') || 'no benchmark'})`,
    );
  }
  const jsonFile = typeof flags.json === 'string' ? flags.json : undefined;
  if (jsonFile !== undefined) checkJsonFile(jsonFile);
  const tap = jsonTap(ctx.stdout);
  const code = await bench.run(flags, {
    stdout: tap.stream,
    stderr: ctx.stderr,
    threads: threadList?.[0],
    threadList,
    json: flags.json !== undefined && flags.json !== false,
    packageRoot: ctx.packageRoot,
  });
  if (jsonFile !== undefined) {
    const line = tap.last();
    if (line === null) throw new Error(`bench ${target}: printed no JSON object, so --json ${jsonFile} was not written`);
    writeFileAtomic(jsonFile, `${JSON.stringify(JSON.parse(line), null, 1)}\n`);
    ctx.stderr.write(`wrote ${jsonFile}\n`);
  }
  return code;
}
