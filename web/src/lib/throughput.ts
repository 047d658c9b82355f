/**
 * The throughput figures of the README's browser section, measured the same way in the browser (the
 * page's compute worker) and in Node (web/bench/throughput.ts):
 *
 *   - forward: evaluation logits of one window of `forwardTokens` seeded random byte ids, the median
 *     of `repeats` timed runs after one warm-up, as tokens per second (forward tokens / time);
 *   - generation: `generateTokens` through the page's `streamTokens` (with the model's cache, the
 *     default: one prompt pass, then one cached step per token), `newTokens` new tokens after a `promptTokens`-byte prompt, as new
 *     tokens per second, median of `repeats` runs after one warm-up.
 */
import { Rng, type ReformerModelWithLMHead } from '../../../src/index.js';
import { streamTokens } from './generation.js';

export interface ThroughputRequest {
  forwardTokens: number;
  promptTokens: number;
  newTokens: number;
  repeats: number;
}

export const DEFAULT_THROUGHPUT: ThroughputRequest = Object.freeze({ forwardTokens: 1024, promptTokens: 256, newTokens: 32, repeats: 5 });

export interface Throughput {
  readonly request: ThroughputRequest;
  /** Forward tokens per second (median run). */
  readonly forwardTokensPerSecond: number;
  /** Milliseconds of every timed forward. */
  readonly forwardMs: number[];
  /** New tokens per second (median run). */
  readonly generationTokensPerSecond: number;
  readonly generationMs: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A printable prompt of `n` bytes (lower-case letters and spaces from a fixed seed). */
function promptText(n: number): string {
  const rng = new Rng(5);
  let s = '';
  for (let i = 0; i < n; i++) s += rng.int(6) === 0 ? ' ' : String.fromCharCode(97 + rng.int(26));
  return s;
}

/** Measures `lm` (see the file header). */
export function measureThroughput(lm: ReformerModelWithLMHead, request: ThroughputRequest = DEFAULT_THROUGHPUT): Throughput {
  const be = lm.backend;
  const rng = new Rng(3);
  const inputIds = new Int32Array(request.forwardTokens);
  for (let i = 0; i < inputIds.length; i++) inputIds[i] = 2 + rng.int(256);
  const forwardMs: number[] = [];
  for (let r = 0; r <= request.repeats; r++) {
    const t0 = performance.now();
    be.scope(() => lm.logits({ inputIds, batch: 1, seqLen: inputIds.length }));
    if (r > 0) forwardMs.push(performance.now() - t0);
  }
  const prompt = promptText(request.promptTokens);
  const generationMs: number[] = [];
  for (let r = 0; r <= request.repeats; r++) {
    const t0 = performance.now();
    for (const _ of streamTokens(lm, { prompt, maxNewTokens: request.newTokens, temperature: 0.8, topK: 40, seed: r })) {
      // consume
    }
    if (r > 0) generationMs.push(performance.now() - t0);
  }
  return {
    request,
    forwardTokensPerSecond: request.forwardTokens / (median(forwardMs) / 1000),
    forwardMs,
    generationTokensPerSecond: request.newTokens / (median(generationMs) / 1000),
    generationMs,
  };
}
