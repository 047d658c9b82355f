/**
 * `reformer bench model`: tokens per second and peak memory of the whole model
 * (`ReformerModelWithLMHead`, batch 1) at one sequence length:
 *
 *   reformer bench model --config bench/configs/reference.json --seq-len 65536 --mode train --threads 1 --json
 *
 * - `--mode forward`: the evaluation loss (`model.loss`: streamed layers, logits never held whole);
 *   `--mode train`: one training step (`model.lossAndGrad`: loss + gradients, reversible backward,
 *   no optimizer update).
 * - `--config`: an HF config.json (default: the reference config, bench/configs/reference.json). If
 *   its `axial_pos_shape` does not multiply to the length (or `max_position_embeddings` is shorter),
 *   it is adjusted and the output says so.
 * - The run happens in a child process (model-child.ts): one warm-up call at ≤ 4096 tokens, then
 *   `--repeats` timed calls (median; fewer if they pass 10 minutes), peak RSS of that process. A
 *   baseline child (Node + kernels only) is reported next to it.
 * - Before anything runs, the model's memory estimate (model/memory.ts) is compared with the 4 GiB
 *   WASM limit and this machine's memory: a run that cannot fit is refused (ResourceError, exit 1)
 *   with the numbers and the longest length that fits.
 *
 * `--json`: the last stdout line is
 * `{"mode", "seq_len", "threads", "tokens_per_s", "seconds", "peak_rss_bytes", ...}` (more keys follow:
 * WASM peak, the estimate, the timed calls, the config note).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option } from 'commander';
import { WASM_MAX_BYTES } from '../../backend/wasm/arena.js';
import type { ReformerConfig } from '../../config/reformer-config.js';
import { FormatError, ResourceError, UsageError } from '../../errors.js';
import type { HostStreamsOption } from '../../backend/host-streams.js';
import { checkBackendMemory, checkMemory } from '../../model/memory/check.js';
import type { MemoryEstimateOptions } from '../../model/memory/estimate.js';
import { checkLengthMultiple, choiceFlag, intFlag, nonEmptyFlag } from '../cli/parse.js';
import { chunkMultiple } from '../reformer-engine.js';
import { defaultThreads } from '../wasm.js';
import { fmt, fmtBytes, table } from './measure.js';
import { fitConfigToLength, type ModelBenchMode, type ModelChildRequest, type ModelChildResult } from './model-child.js';
import type { BenchEnv, BenchSubcommand } from './registry.js';

/**
 * The reference config of the benchmarks (HF config.json fields; also shipped as
 * bench/configs/reference.json): 2 layers (local, LSH), hidden 256, 4 heads of 64, 4 hash rounds,
 * chunks of 64 with one chunk before, feed-forward 1024 (relu), byte vocabulary, causal, no dropout,
 * axial positions [64, 64] (adjusted to the benchmark's length).
 */
export const REFERENCE_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  attention_head_size: 64,
  attn_layers: ['local', 'lsh'],
  axial_norm_std: 1,
  axial_pos_embds: true,
  axial_pos_embds_dim: [64, 192],
  axial_pos_shape: [64, 64],
  chunk_size_feed_forward: 0,
  chunk_size_lm_head: 0,
  classifier_dropout: null,
  eos_token_id: 2,
  feed_forward_size: 1024,
  hash_seed: null,
  hidden_act: 'relu',
  hidden_dropout_prob: 0,
  hidden_size: 256,
  initializer_range: 0.02,
  is_decoder: true,
  layer_norm_eps: 1e-12,
  local_attention_probs_dropout_prob: 0,
  local_attn_chunk_length: 64,
  local_num_chunks_after: 0,
  local_num_chunks_before: 1,
  lsh_attention_probs_dropout_prob: 0,
  lsh_attn_chunk_length: 64,
  lsh_num_chunks_after: 0,
  lsh_num_chunks_before: 1,
  max_position_embeddings: 4096,
  model_type: 'reformer',
  num_attention_heads: 4,
  num_buckets: null,
  num_hashes: 4,
  num_hidden_layers: 2,
  pad_token_id: 0,
  tie_word_embeddings: false,
  use_cache: true,
  vocab_size: 256,
});

/** Node + the loaded kernels, on top of which a run's RSS comes (a margin for the machine-memory check). */
const PROCESS_OVERHEAD_BYTES = 256 * 2 ** 20;

/** The compiled child script (next to this file in dist/, or under the package's dist/ when run from sources). */
export function modelChildScript(packageRoot: string): string {
  const here = fileURLToPath(new URL('./model-child.js', import.meta.url));
  if (existsSync(here)) return here;
  const dist = join(packageRoot, 'dist', 'src', 'node', 'bench', 'model-child.js');
  if (existsSync(dist)) return dist;
  throw new UsageError(
    `bench model/memory run each measurement in a child process of the built library, but ${dist} is missing; run npm run build`,
  );
}

/** Runs one child; its result, or the error line it printed (`resource` when the model refused for memory). */
export function runModelChildProcess(script: string, req: ModelChildRequest): ModelChildResult | { error: string; resource: boolean } {
  const r = spawnSync(process.execPath, [script, JSON.stringify(req)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status === 0 && last.startsWith('{')) return JSON.parse(last) as ModelChildResult;
  const line = r.stderr
    .trim()
    .split('\n')
    .find((l) => l.startsWith('error: '))
    ?.slice(7);
  if (line !== undefined) {
    const resource = line.startsWith('ResourceError: ');
    return { error: resource ? line.slice('ResourceError: '.length) : line, resource };
  }
  return {
    error: r.signal ? `killed by ${r.signal} (out of memory?)` : `exit code ${r.status}: ${r.stderr.trim().split('\n').pop() ?? ''}`,
    resource: false,
  };
}

/** config.json of `--config` (parsed object), or the reference config. */
export function readBenchConfig(path: string | undefined): Record<string, unknown> {
  if (path === undefined) return { ...REFERENCE_CONFIG };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(
      `--config ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give an HF config.json`,
    );
  }
  try {
    const json = JSON.parse(text) as unknown;
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('not a JSON object');
    return json as Record<string, unknown>;
  } catch (e) {
    throw new FormatError(`--config ${path}: not a JSON object (${(e as Error).message}); give an HF config.json`);
  }
}

/**
 * Refuses, before anything runs, a run whose memory estimate exceeds the 4 GiB WASM memory or this
 * machine's memory (ResourceError with the numbers and the longest length that fits).
 */
export function checkBenchMemory(
  config: ReformerConfig,
  options: MemoryEstimateOptions,
  hostStreams: HostStreamsOption = 'never',
): { hostStreams: boolean } {
  const machine = benchHostBudget();
  const what = `this machine's memory (${fmtBytes(totalmem())} minus ${fmtBytes(PROCESS_OVERHEAD_BYTES)} for Node)`;
  if (machine < WASM_MAX_BYTES) checkMemory(config, options, machine, what);
  // the arena path against the 4 GiB WASM memory; the host path (issue 17): its WASM part against it, and
  // WASM + host arrays against this machine's memory
  const { threads: _t, hostStreams: _h, ...rest } = options;
  return checkBackendMemory({ name: 'wasm', maxBufferBytes: WASM_MAX_BYTES, threads: options.threads ?? 1 }, config, {
    ...rest,
    hostStreams,
    hostBudgetBytes: machine,
    limitName: 'the 4 GiB a 32-bit WebAssembly memory can hold',
    hostStreamsName: '--host-streams',
  });
}

/** Bytes a host-streams run may take in all on this machine (its memory minus Node's own). */
export function benchHostBudget(): number {
  return totalmem() - PROCESS_OVERHEAD_BYTES;
}

/** Checks a sequence length against the config's chunking (training needs a multiple of the chunk lcm; the rule of `reformer train`). */
export function checkBenchLength(config: ReformerConfig, L: number, mode: ModelBenchMode): void {
  if (mode === 'train') checkLengthMultiple(`--seq-len ${L}`, L, chunkMultiple(config), { what: 'a training length ' });
}

/** Flags shared by `bench model` and `bench memory`. */
export function sharedModelOptions(): Option[] {
  return [
    new Option('--config <file>', 'model, memory: HF config.json (default: the reference config, bench/configs/reference.json)').argParser(
      nonEmptyFlag('--config'),
    ),
    new Option('--seq-len <n>', 'model, memory: sequence length (default: model 4096, memory 16384)').argParser(
      intFlag('--seq-len', 1, 2 ** 24),
    ),
    new Option(
      '--host-streams <mode>',
      'model, memory: residual streams in host arrays outside the WASM memory: auto (when the arena path does not fit), always, never (default auto)',
    ).argParser(choiceFlag('--host-streams', ['auto', 'always', 'never'] as const)),
  ];
}

export const modelBench: BenchSubcommand = {
  name: 'model',
  summary: 'tokens/s and peak memory of the whole model (forward = evaluation loss, or one training step), batch 1',
  options: () => [
    ...sharedModelOptions(),
    new Option('--mode <mode>', 'model: forward (evaluation loss) or train (loss + gradients) (default forward)').argParser(
      choiceFlag('--mode', ['forward', 'train'] as const),
    ),
    new Option(
      '--repeats <n>',
      'model: timed calls after the warm-up; the median is reported (default 3; fewer once they pass 10 minutes)',
    ).argParser(intFlag('--repeats', 1, 100)),
    new Option(
      '--optimizer [name]',
      'model, train mode: each timed step also runs one update of every parameter by this optimizer (adamw, the one choice and the value when none is given) (default: none)',
    ).argParser(choiceFlag('--optimizer', ['adamw'] as const)),
  ],
  async run(flags: Record<string, unknown>, env: BenchEnv): Promise<number> {
    const L = (flags.seqLen as number | undefined) ?? 4096;
    const mode = (flags.mode as ModelBenchMode | undefined) ?? 'forward';
    const reps = (flags.repeats as number | undefined) ?? 3;
    const optimizer = flags.optimizer === true || flags.optimizer === 'adamw';
    if (optimizer && mode !== 'train') throw new UsageError('--optimizer: only with --mode train');
    const threads = env.threads ?? defaultThreads();
    const { config, note } = fitConfigToLength(readBenchConfig(flags.config as string | undefined), L);
    checkBenchLength(config, L, mode);
    const hostOption = (flags.hostStreams as HostStreamsOption | undefined) ?? 'auto';
    const { hostStreams } = checkBenchMemory(config, { batch: 1, seqLen: L, mode, threads }, hostOption);
    const log = (l: string): void => void env.stderr.write(`${l}\n`);
    const script = modelChildScript(env.packageRoot);
    const base = runModelChildProcess(script, { config: config.toJSON(), seqLen: 0, mode: 'baseline', threads });
    if ('error' in base) throw new Error(`bench model: the baseline child failed: ${base.error}`);
    log(
      `bench model: ${mode} at ${L} tokens, ${threads} thread(s)${note ? `; ${note}` : ''} (baseline RSS ${fmtBytes(base.peak_rss_bytes)})`,
    );
    const r = runModelChildProcess(script, {
      config: config.toJSON(),
      seqLen: L,
      mode,
      threads,
      reps,
      maxSeconds: 600,
      hostStreams: hostStreams ? 'always' : 'never',
      hostMemoryBytes: benchHostBudget(),
      optimizer,
    });
    if ('error' in r) {
      if (r.resource) throw new ResourceError(r.error);
      throw new Error(`bench model: the run failed: ${r.error}`);
    }
    const seconds = r.seconds!;
    const tokensPerS = L / seconds;
    env.stdout.write(
      `${table(
        ['mode', 'seq_len', 'threads', 'tokens/s', 's/call', 'peak RSS', 'streams', 'WASM peak', 'estimate', 'host est.', 'calls'],
        [
          [
            mode,
            String(L),
            String(threads),
            fmt(tokensPerS),
            fmt(seconds),
            fmtBytes(r.peak_rss_bytes),
            r.host_streams ? 'host' : 'arena',
            fmtBytes(r.wasm_peak_bytes),
            fmtBytes(r.estimated_wasm_bytes),
            r.host_streams ? fmtBytes(r.estimated_host_bytes ?? 0) : '-',
            String(r.times.length),
          ],
        ],
      )}\n`,
    );
    if (note) env.stdout.write(`config ${note}\n`);
    env.stdout.write(
      `(ReformerModelWithLMHead, batch 1, ${config.attn_layers.length} layers [${config.attn_layers.join(', ')}]; ` +
        `${mode === 'forward' ? 'evaluation loss' : `loss + gradients, reversible${optimizer ? ' + one AdamW update' : ''}`}; median of ${r.times.length} call(s) after a warm-up; ` +
        `peak RSS of the child process, baseline ${fmtBytes(base.peak_rss_bytes)}; streams: the residual streams and their ` +
        `gradients in the WASM arena or in host arrays outside it, "host est." their estimated bytes)\n`,
    );
    if (env.json) {
      env.stdout.write(
        `${JSON.stringify({
          mode,
          seq_len: L,
          threads,
          tokens_per_s: tokensPerS,
          seconds,
          peak_rss_bytes: r.peak_rss_bytes,
          wasm_peak_bytes: r.wasm_peak_bytes,
          estimated_wasm_bytes: r.estimated_wasm_bytes,
          host_streams: r.host_streams ?? false,
          estimated_host_bytes: r.estimated_host_bytes ?? null,
          optimizer: optimizer ? 'adamw' : null,
          baseline_rss_bytes: base.peak_rss_bytes,
          times: r.times,
          loss: r.loss,
          config_note: note,
        })}\n`,
      );
    }
    return 0;
  },
};
