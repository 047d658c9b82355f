/**
 * Child process of `reformer bench generate`: ONE generation measurement (a `ReformerModelWithLMHead`
 * of the given config, one context length, cached or uncached) in a fresh Node process, so that its
 * peak resident memory belongs to that run alone.
 *
 *   node dist/src/node/bench/generate-child.js '{"config":{...},"context":4096,"newTokens":256,"mode":"cached","threads":2}'
 *
 * - mode "cached": `generateTokens` with the cache (greedy, the model's whole context as the window):
 *   the prompt pass, then `newTokens` tokens; reports the prompt time and the time per token after it.
 * - mode "uncached": `generateTokens` with `useCache: false` for `newTokens` tokens (every token one
 *   forward over the whole context; the bench asks for a few and reports the time per token).
 * - A warm-up (a short cached and uncached generation on a small model of the same config) runs first.
 * Tokens are seeded pseudo-random ids. Prints one JSON line (`GenerateChildResult`); on an error, one
 * line `error: <message>` on stderr and exit code 1.
 */
import { runAsChild } from './child.js';
import { ReformerConfig } from '../../config/reformer-config.js';
import { ReformerModelWithLMHead } from '../../model/lm-model.js';
import { maxContextLength } from '../../model/lengths.js';
import { decodeCacheBytes } from '../../model/memory/decode.js';
import { generateTokens, newStats } from '../../train/generate.js';
import { Rng } from '../../util/rng.js';
import { loadWasmBackend } from '../wasm.js';
import { fitConfigToLength } from './model-child.js';

export type GenerateBenchMode = 'cached' | 'uncached';

export interface GenerateChildRequest {
  /** HF config.json fields (already fitted to context + newTokens). */
  config: Record<string, unknown>;
  context: number;
  newTokens: number;
  mode: GenerateBenchMode;
  /** undefined: all cores */
  threads?: number;
}

export interface GenerateChildResult {
  mode: GenerateBenchMode;
  context: number;
  tokens: number;
  /** Seconds of the whole generation (prompt pass included). */
  seconds: number;
  /** Seconds until the first token (cached: the prompt pass; uncached: the first forward). */
  first_token_seconds: number;
  /** Seconds per token after the first. */
  per_token_seconds: number;
  peak_rss_bytes: number;
  /** High-water mark of the WASM arena during the measured generation (parameters included). */
  wasm_peak_bytes: number;
  /** Cached: the decode cache (plain JS memory, memory/decode.ts) for context + tokens positions. */
  cache_bytes: number | null;
  wasm_variant: string;
}

function tokens(n: number, vocab: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.int(vocab));
}

export async function runGenerateChild(req: GenerateChildRequest): Promise<GenerateChildResult> {
  const be = await loadWasmBackend(req.threads !== undefined ? { threads: req.threads } : {});
  try {
    const config = ReformerConfig.fromJSON(req.config);
    const useCache = req.mode === 'cached';
    // warm-up: the same code paths on a small model of this config (V8 tiers the kernels' callers up)
    be.scope(() => {
      const small = fitConfigToLength(req.config, 512).config;
      const m = new ReformerModelWithLMHead(be, small);
      for (const _ of generateTokens(m, tokens(256, small.vocab_size, 1), { maxNewTokens: useCache ? 32 : 2, temperature: 0, useCache }));
    });
    const model = new ReformerModelWithLMHead(be, config);
    const prompt = tokens(req.context, config.vocab_size, 2);
    const stats = newStats();
    be.arena.resetPeak();
    const t0 = performance.now();
    let n = 0;
    for (const _ of generateTokens(
      model,
      prompt,
      { maxNewTokens: req.newTokens, temperature: 0, useCache, window: maxContextLength(config) },
      stats,
    ))
      n++;
    const seconds = (performance.now() - t0) / 1000;
    const first = stats.firstTokenMs / 1000;
    return {
      mode: req.mode,
      context: req.context,
      tokens: n,
      seconds,
      first_token_seconds: first,
      per_token_seconds: n > 1 ? (seconds - first) / (n - 1) : seconds,
      peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
      wasm_peak_bytes: be.arena.peakBytes,
      cache_bytes: useCache ? decodeCacheBytes(config, req.context + req.newTokens) : null,
      wasm_variant: be.variant,
    };
  } finally {
    be.close();
  }
}

await runAsChild(import.meta.url, runGenerateChild);
