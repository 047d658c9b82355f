/**
 * The `reformer bench <what>` subcommands. Each lives in its own file (src/node/bench/<name>.ts) and
 * is listed in `BENCHMARKS` below; `reformer bench <name>` runs it, adds its flags to `bench --help`,
 * and refuses flags of other subcommands. A target of the CLI's list (`BENCH_TARGETS` in
 * src/node/cli/misc.ts) that is not listed here exits 3 ("not available yet").
 *
 * To add one (e.g. `model`): write `export const modelBench: BenchSubcommand = { name: 'model', ... }`
 * in src/node/bench/model.ts and append it to `BENCHMARKS`.
 *
 * Conventions: tables go to stdout, progress to stderr; with `--json` the last stdout line is one JSON
 * object; timings are medians of tinybench runs (or of a few direct runs for calls of seconds), never
 * asserted on by tests. `--json <file>` also writes that object to the file (src/node/cli/misc.ts).
 */
import type { Option } from 'commander';
import type { OutStream } from '../cli/context.js';
import { attentionBench } from './attention.js';
import { generateBench } from './generate.js';
import { kernelsBench } from './kernels.js';
import { memoryBench } from './memory.js';
import { modelBench } from './model.js';
import { profileBench } from './profile.js';
import { vsPytorchBench } from './vs-pytorch.js';

/** What a benchmark runs with. */
export interface BenchEnv {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  /** `--threads` (the first count of a list); undefined = all cores. */
  readonly threads: number | undefined;
  /** `--threads` as given (several counts only for a benchmark with `threadList`); undefined = not given. */
  readonly threadList: readonly number[] | undefined;
  /** `--json` (with or without a file): print one JSON object as the last stdout line. */
  readonly json: boolean;
  /** Package root (holds `dist/` for child processes). */
  readonly packageRoot: string;
}

export interface BenchSubcommand {
  /** The `<what>` of `reformer bench <what>`. */
  readonly name: string;
  /** One line for `bench --help`. */
  readonly summary: string;
  /** Takes `--threads` as a comma-separated list (env.threadList); others refuse more than one count. */
  readonly threadList?: boolean;
  /** Its own flags (commander Options; attribute names must not clash with other subcommands' flags). */
  options(): Option[];
  /**
   * Runs it with the parsed flags (attribute names of its options).
   * @returns the exit code
   * @throws UsageError for bad flag combinations (exit 2)
   */
  run(flags: Record<string, unknown>, env: BenchEnv): Promise<number>;
}

/** The benchmarks of this build (`model` and `memory` are added by the model's benchmark files). */
export const BENCHMARKS: readonly BenchSubcommand[] = [
  kernelsBench,
  attentionBench,
  modelBench,
  memoryBench,
  vsPytorchBench,
  generateBench,
  profileBench,
];
