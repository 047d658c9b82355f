/**
 * `reformer bench generate`: tokens per second of generation with the cache (model/decode.ts) and
 * without it (every token one forward over the context), after contexts of several lengths, batch 1,
 * greedy, for the preset `small` and the reference config (bench/configs/reference.json):
 *
 *   reformer bench generate --contexts 1024,4096,16384 --new-tokens 256 --threads 2 --json
 *
 * - Each model's config is fitted to context + new tokens (axial_pos_shape and max_position_embeddings,
 *   as `bench model` does), so the cache never slides during the measurement.
 * - Cached: one prompt pass over the context, then `--new-tokens` tokens; the table gives the time per
 *   token after the first (the decode rate) and the prompt pass separately. Uncached: `--uncached-tokens`
 *   tokens (each is a whole forward, so a few give its cost; default 3).
 * - Every measurement runs in its own child process (generate-child.ts): peak RSS of that process, the
 *   WASM arena's high-water mark, and the cache's own size (plain JS memory) are reported.
 * - Timings are single runs on whatever machine this is; the output records the load averages before
 *   and after. Nothing here is asserted by tests.
 *
 * `--json`: the last stdout line is `{"threads", "new_tokens", "load_average_before", "load_average_after",
 * "machine", "rows": [{"model", "context", "cached_tokens_per_s", "cached_ms_per_token", "prompt_seconds",
 * "uncached_tokens_per_s", "speedup", "cached_peak_rss_bytes", "cache_bytes", "uncached_peak_rss_bytes", ...}],
 * "per_token_cost_ratio"}` (per model: ms/token at the longest context ÷ at the shortest).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option } from 'commander';
import { preset } from '../../config/presets.js';
import { UsageError } from '../../errors.js';
import { chunkLengthRule } from '../../model/lengths.js';
import { intFlag, intListFlag, nonEmptyFlag } from '../cli/parse.js';
import { defaultThreads } from '../wasm.js';
import type { GenerateChildRequest, GenerateChildResult } from './generate-child.js';
import { loadAverages, machineInfo } from './machine.js';
import { fmt, fmtBytes, table } from './measure.js';
import { readBenchConfig } from './model.js';
import { fitConfigToLength } from './model-child.js';
import type { BenchEnv, BenchSubcommand } from './registry.js';

/** The compiled child script (next to this file in dist/, or under the package's dist/ when run from sources). */
function childScript(packageRoot: string): string {
  const here = fileURLToPath(new URL('./generate-child.js', import.meta.url));
  if (existsSync(here)) return here;
  const dist = join(packageRoot, 'dist', 'src', 'node', 'bench', 'generate-child.js');
  if (existsSync(dist)) return dist;
  throw new UsageError(
    `bench generate runs each measurement in a child process of the built library, but ${dist} is missing; run npm run build`,
  );
}

function runChild(script: string, req: GenerateChildRequest): GenerateChildResult {
  const r = spawnSync(process.execPath, [script, JSON.stringify(req)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status === 0 && last.startsWith('{')) return JSON.parse(last) as GenerateChildResult;
  const line = r.stderr
    .trim()
    .split('\n')
    .find((l) => l.startsWith('error: '));
  throw new Error(
    `bench generate: the ${req.mode} run at context ${req.context} failed: ${line?.slice(7) ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`)}`,
  );
}

/** A row of the table. */
interface Row {
  model: string;
  context: number;
  cached_tokens_per_s: number;
  cached_ms_per_token: number;
  prompt_seconds: number;
  cached_total_tokens_per_s: number;
  uncached_tokens_per_s: number;
  uncached_ms_per_token: number;
  speedup: number;
  cached_peak_rss_bytes: number;
  cached_wasm_peak_bytes: number;
  cache_bytes: number;
  uncached_peak_rss_bytes: number;
  config_note: string | null;
}

export const generateBench: BenchSubcommand = {
  name: 'generate',
  summary:
    'tokens/s of generation with the cache vs without it after contexts of 1K-16K tokens, peak memory (preset small, reference config)',
  options: () => [
    new Option('--contexts <list>', 'generate: context lengths, comma-separated (default 1024,4096,16384)').argParser(
      intListFlag('--contexts', 2 ** 20),
    ),
    new Option('--new-tokens <n>', 'generate: tokens generated with the cache after each context (default 256)').argParser(
      intFlag('--new-tokens', 2, 65536),
    ),
    new Option(
      '--uncached-tokens <n>',
      'generate: tokens generated without the cache (each one forward over the context; default 3)',
    ).argParser(intFlag('--uncached-tokens', 1, 1000)),
    new Option('--preset <name>', 'generate: only this preset (default: preset small and the reference config)').argParser(
      nonEmptyFlag('--preset'),
    ),
    new Option('--config <file>', 'generate: only this HF config.json').argParser(nonEmptyFlag('--config')),
  ],
  async run(flags: Record<string, unknown>, env: BenchEnv): Promise<number> {
    const contexts = (flags.contexts as number[] | undefined) ?? [1024, 4096, 16384];
    const newTokens = (flags.newTokens as number | undefined) ?? 256;
    const uncachedTokens = (flags.uncachedTokens as number | undefined) ?? 3;
    const threads = env.threads ?? defaultThreads();
    const models: Array<{ name: string; json: Record<string, unknown> }> = [];
    if (flags.preset !== undefined) models.push({ name: `preset ${flags.preset}`, json: preset(flags.preset as 'small').config.toJSON() });
    if (flags.config !== undefined) models.push({ name: String(flags.config), json: readBenchConfig(flags.config as string) });
    if (models.length === 0) {
      models.push({ name: 'preset small', json: preset('small').config.toJSON() });
      models.push({ name: 'reference config', json: readBenchConfig(undefined) });
    }
    const script = childScript(env.packageRoot);
    const log = (l: string): void => void env.stderr.write(`${l}\n`);
    const before = loadAverages();
    const rows: Row[] = [];
    for (const m of models) {
      for (const context of contexts) {
        // fitted to the whole generation: positions context … context + newTokens − 1 exist, no sliding
        const { lcm } = chunkLengthRule(fitConfigToLength(m.json, Math.max(context, 64)).config);
        const L = Math.ceil((context + newTokens) / lcm) * lcm;
        const { config, note } = fitConfigToLength(m.json, L);
        log(`bench generate: ${m.name}, context ${context}: cached (${newTokens} tokens) …`);
        const c = runChild(script, { config: config.toJSON(), context, newTokens, mode: 'cached', threads });
        log(`bench generate: ${m.name}, context ${context}: uncached (${uncachedTokens} tokens) …`);
        const u = runChild(script, { config: config.toJSON(), context, newTokens: uncachedTokens, mode: 'uncached', threads });
        const uncachedPer = u.seconds / u.tokens; // every uncached token is one forward
        rows.push({
          model: m.name,
          context,
          cached_tokens_per_s: 1 / c.per_token_seconds,
          cached_ms_per_token: 1000 * c.per_token_seconds,
          prompt_seconds: c.first_token_seconds,
          cached_total_tokens_per_s: c.tokens / c.seconds,
          uncached_tokens_per_s: 1 / uncachedPer,
          uncached_ms_per_token: 1000 * uncachedPer,
          speedup: uncachedPer / c.per_token_seconds,
          cached_peak_rss_bytes: c.peak_rss_bytes,
          cached_wasm_peak_bytes: c.wasm_peak_bytes,
          cache_bytes: c.cache_bytes ?? 0,
          uncached_peak_rss_bytes: u.peak_rss_bytes,
          config_note: note,
        });
      }
    }
    const after = loadAverages();
    const ratio: Record<string, number> = {};
    for (const m of models) {
      const own = rows.filter((r) => r.model === m.name).sort((a, b) => a.context - b.context);
      if (own.length > 1) ratio[m.name] = own.at(-1)!.cached_ms_per_token / own[0]!.cached_ms_per_token;
    }
    env.stdout.write(
      `${table(
        [
          'model',
          'context',
          'cached tok/s',
          'ms/token',
          'prompt s',
          'uncached tok/s',
          'speed-up',
          'peak RSS cached',
          'cache',
          'peak RSS uncached',
        ],
        rows.map((r) => [
          r.model,
          String(r.context),
          fmt(r.cached_tokens_per_s),
          fmt(r.cached_ms_per_token),
          fmt(r.prompt_seconds),
          fmt(r.uncached_tokens_per_s),
          `${fmt(r.speedup)}×`,
          fmtBytes(r.cached_peak_rss_bytes),
          fmtBytes(r.cache_bytes),
          fmtBytes(r.uncached_peak_rss_bytes),
        ]),
      )}\n`,
    );
    for (const [name, x] of Object.entries(ratio)) {
      env.stdout.write(`${name}: per-token cost at ${Math.max(...contexts)} ÷ at ${Math.min(...contexts)} tokens of context: ${fmt(x)}\n`);
    }
    env.stdout.write(
      `(batch 1, greedy, ${threads} thread(s); cached: ${newTokens} tokens after the prompt pass, tok/s after the first token; ` +
        `uncached: ${uncachedTokens} tokens, each one forward over the context; configs fitted to context + ${newTokens}; ` +
        `load average ${before.join(' ')} before, ${after.join(' ')} after)\n`,
    );
    if (env.json) {
      env.stdout.write(
        `${JSON.stringify({
          threads,
          new_tokens: newTokens,
          uncached_tokens: uncachedTokens,
          load_average_before: before,
          load_average_after: after,
          machine: machineInfo(),
          rows,
          per_token_cost_ratio: ratio,
        })}\n`,
      );
    }
    return 0;
  },
};
